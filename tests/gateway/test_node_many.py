"""The node's side of many gateways: a lost node ends its partners' chats here, and
facts from other nodes (blocks, bans, age records) take effect here."""

from __future__ import annotations

from datetime import UTC, datetime

from strangers.brokers.wire import AgeFact, BanFact, BlockFact
from strangers.core.age import AgeRecord, DeviceAge, Stage
from strangers.core.bans import BanEntry
from strangers.core.matching import Matchmaker, Pair
from strangers.core.messages import AgeBand, Banned, Find, PartnerLeft, Report
from strangers.core.reports import ReportReason
from strangers.core.session import State
from strangers.core.switchboard import Switchboard
from strangers.gateway.app import build_services
from strangers.gateway.enforcement import apply_fact
from strangers.gateway.node import Node
from strangers.gateway.settings import Settings
from tests.core.helpers import ticket


class Elsewhere:
    """A broker for a node named ``g1-aaaaaa`` whose partners live on other nodes;
    it writes down what it is asked to send."""

    node_id = "g1-aaaaaa"

    def __init__(self) -> None:
        self.relayed: list[tuple[str, object]] = []
        self.shared: list[object] = []
        self.queued: list[object] = []

    async def start(self, sink) -> None: ...

    async def close(self) -> None: ...

    def enqueue(self, ticket, now):
        self.queued.append(ticket)
        return []

    def dequeue(self, session) -> None: ...

    def relay(self, to, event) -> None:
        self.relayed.append((to, event))

    def share(self, fact) -> None:
        self.shared.append(fact)


class Outbox:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def put(self, frame: str) -> None:
        self.frames.append(frame)


def chatting_node() -> tuple[Node, Elsewhere, dict[str, Outbox]]:
    broker = Elsewhere()
    node = Node(Switchboard(), broker, clock=lambda: 1.0)
    outboxes: dict[str, Outbox] = {}
    for name, partner in (("g1-aaaaaa~a", "g2-bbbbbb~x"), ("g1-aaaaaa~b", "g3-cccccc~y")):
        node.switchboard.open(name, f"dev-{name}", AgeBand.ADULT, "en", 0.0)
        outboxes[name] = Outbox()
        node.outboxes[name] = outboxes[name]  # type: ignore[assignment]
        node.run(node.switchboard.receive(name, Find(), 0.0))
        [mine] = [t for t in broker.queued if t.session == name]
        node.on_pairs([Pair(f"m-{name[-1]}", mine, ticket(partner), ())])
    return node, broker, outboxes


def test_a_lost_node_ends_only_the_chats_with_its_sessions() -> None:
    node, broker, outboxes = chatting_node()
    node.on_nodes_lost(frozenset({"g2-bbbbbb"}))
    a, b = node.switchboard.sessions["g1-aaaaaa~a"], node.switchboard.sessions["g1-aaaaaa~b"]
    assert a.state is State.IDLE and b.state is State.CHATTING
    assert PartnerLeft(match="m-a").model_dump_json() in outboxes["g1-aaaaaa~a"].frames[-1]
    assert broker.relayed == []  # the lost node cannot hear anything


def test_a_node_cut_off_itself_ends_every_chat_elsewhere_and_tells_the_partners() -> None:
    node, broker, _ = chatting_node()
    node.on_nodes_lost(None)
    assert all(s.state is State.IDLE for s in node.switchboard.sessions.values())
    assert {to for to, _ in broker.relayed} == {"g2-bbbbbb~x", "g3-cccccc~y"}


def test_a_block_from_another_node_reaches_this_nodes_matchmaker() -> None:
    node, _, _ = chatting_node()
    node.on_fact(BlockFact("dev-1", "dev-2"))
    assert node.blocks.blocked("dev-2", "dev-1")


def test_a_report_here_is_shared_with_every_other_node() -> None:
    node, broker, _ = chatting_node()
    report = Report(reason=ReportReason.HARASSMENT)
    node.run(node.switchboard.receive("g1-aaaaaa~a", report, 2.0))
    assert BlockFact("dev-g1-aaaaaa~a", "dev-g2-bbbbbb~x") in broker.shared


def test_a_ban_and_an_age_record_from_another_node_apply_here(tmp_path) -> None:
    services = build_services(Settings(data_dir=tmp_path))
    node = services.node
    node.switchboard.open("s1", "dev-1", AgeBand.ADULT, "en", 0.0)
    outbox = Outbox()
    node.outboxes["s1"] = outbox  # type: ignore[assignment]
    closed: list[str] = []
    node.closers["s1"] = lambda: closed.append("s1")
    until = datetime(2031, 1, 1, tzinfo=UTC)
    node.on_fact(BanFact("dev-1", None, BanEntry("nudity", "C-000009", until)))
    assert services.bans.lookup("dev-1", "", datetime.now(UTC)) is not None
    assert node.switchboard.sessions["s1"].state is State.BANNED and closed == ["s1"]
    notice = Banned(reason="nudity", case="C-000009", until=int(until.timestamp()))
    assert notice.model_dump_json(exclude_none=True) in outbox.frames[-1]
    state = DeviceAge(AgeRecord(Stage.TEEN, 4_000_000_000), recheck_until=3_999_000_000)
    apply_fact(services, AgeFact("dev-2", state))
    assert services.ages.youngest("dev-2", None, 1_900_000_000) == AgeRecord(
        Stage.TEEN, 4_000_000_000
    )
    assert services.ages.recheck_until("dev-2", 1_900_000_000) == 3_999_000_000


def test_an_age_state_from_another_node_sends_the_devices_sessions_here_back(tmp_path) -> None:
    """A device another gateway moved to the teen band: its adult session here leaves
    its pool, is told ``refused`` and is closed; its teen session stays."""
    services = build_services(Settings(data_dir=tmp_path, teen_pool=True))
    node = services.node
    node.switchboard.open("s1", "dev-1", AgeBand.ADULT, "en", 0.0)
    node.switchboard.open("s2", "dev-1", AgeBand.TEEN, "en", 0.0)
    outbox = Outbox()
    node.outboxes["s1"] = outbox  # type: ignore[assignment]
    closed: list[str] = []
    node.closers["s1"] = lambda: closed.append("s1")
    node.closers["s2"] = lambda: closed.append("s2")
    node.on_fact(AgeFact("dev-1", DeviceAge(AgeRecord(Stage.TEEN, 4_000_000_000))))
    assert closed == ["s1"]
    assert node.switchboard.sessions["s1"].state is State.AGE_CHECK
    assert '"type":"refused"' in outbox.frames[-1] and '"age_check"' in outbox.frames[-1]
    assert node.switchboard.sessions["s2"].state is State.IDLE


def test_the_matchmaker_of_a_node_consults_the_shared_block_list(tmp_path) -> None:
    services = build_services(Settings(data_dir=tmp_path))
    matchmaker: Matchmaker = services.node.broker.matchmaker  # type: ignore[attr-defined]
    services.node.on_fact(BlockFact("dev-a", "dev-b"))
    assert matchmaker.join(ticket("a"), 0.0) == []
    assert matchmaker.join(ticket("b"), 0.0) == []
