"""The Redis broker against the real Redis, several brokers in one process (docs/design.md §5).

Each broker stands for a gateway; a recording sink stands for its node. Timings are
shortened (dead after 0.6 s, lease 0.6 s) so failover shows in well under a second;
the defaults and the 5 s of docs/design.md §5 are covered by the gateway tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import redis.exceptions as redis_errors

from strangers.brokers.keys import Keys
from strangers.brokers.redis import RedisBroker, RedisUnavailable
from strangers.brokers.wire import BanFact, BlockFact
from strangers.core.bans import BanEntry
from strangers.core.matching import Matchmaker, MatchRules, Pair, Ticket
from strangers.core.messages import AgeBand, Mode
from strangers.core.pools import Pool
from strangers.core.switchboard import PeerEvent, PeerText
from tests.brokers.gateways import REDIS_URL

ADULT_TEXT = Pool(AgeBand.ADULT, Mode.TEXT)
TEEN_TEXT = Pool(AgeBand.TEEN, Mode.TEXT)
FAST = dict(
    heartbeat_seconds=0.2,
    dead_after=0.6,
    watch_seconds=0.1,
    lease_seconds=0.6,
    lease_check_seconds=0.1,
    tick_seconds=0.05,
)


class Recorder:
    """A node that writes down what its broker hands it."""

    def __init__(self) -> None:
        self.pairs: list[Pair] = []
        self.events: list[tuple[str, PeerEvent]] = []
        self.facts: list[object] = []
        self.lost: list[frozenset[str] | None] = []

    def on_pairs(self, pairs: list[Pair]) -> None:
        self.pairs.extend(pairs)

    def on_peer(self, to: str, event: PeerEvent) -> None:
        self.events.append((to, event))

    def on_fact(self, fact: object) -> None:
        self.facts.append(fact)

    def on_nodes_lost(self, nodes: frozenset[str] | None) -> None:
        self.lost.append(nodes)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.02)


async def crash(broker: RedisBroker) -> None:
    """Stop a broker as a SIGKILL would: no flush, no lease handed back, no goodbye."""
    broker.link.running = False
    tasks = [*broker._tasks, *broker.leases.readers()]
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=2.0)
    broker._tasks = []
    await broker.link.aclose()


@pytest.fixture
async def gateways(namespace: str) -> AsyncIterator[Callable[..., object]]:
    started: list[RedisBroker] = []

    async def start(
        rules: MatchRules | None = None, **timings: float
    ) -> tuple[RedisBroker, Recorder]:
        broker = RedisBroker(
            REDIS_URL,
            Matchmaker(rules or MatchRules(same_device=False)),
            namespace=namespace,
            gateway=f"g{len(started) + 1}",
            pools=(ADULT_TEXT, TEEN_TEXT),
            **(FAST | timings),
        )
        recorder = Recorder()
        await broker.start(recorder)
        started.append(broker)
        return broker, recorder

    yield start
    for broker in started:
        if broker.link.client is not None:
            await broker.close()


def ticket(broker: RedisBroker, name: str, now: float, pool: Pool = ADULT_TEXT) -> Ticket:
    return Ticket(
        session=f"{broker.node_id}~{name}",
        device=f"device-{name}",
        pool=pool,
        language="en",
        interests=frozenset(),
        joined_at=now,
        serial=1,
    )


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_chatters_of_two_gateways_are_paired_and_each_gets_its_own_ticket(gateways):
    one, heard_one = await gateways()
    two, heard_two = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    mine, theirs = ticket(one, "a", now()), ticket(two, "b", now())
    assert one.enqueue(mine, now()) == []
    two.enqueue(theirs, now())
    await eventually(lambda: heard_one.pairs and heard_two.pairs)
    (pair_one,), (pair_two,) = heard_one.pairs, heard_two.pairs
    assert pair_one.match == pair_two.match
    # Each side gets back the very ticket it queued (its own clock), and the other's.
    assert mine in (pair_one.a, pair_one.b) and theirs in (pair_two.a, pair_two.b)
    assert {pair_one.a.session, pair_one.b.session} == {mine.session, theirs.session}


async def test_pools_never_mix_across_gateways(gateways):
    one, heard_one = await gateways()
    two, heard_two = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    one.enqueue(ticket(one, "adult", now()), now())
    two.enqueue(ticket(two, "teen", now(), TEEN_TEXT), now())
    await asyncio.sleep(0.5)
    assert heard_one.pairs == [] and heard_two.pairs == []
    assert one.matchmaker.waiting_count(ADULT_TEXT) == 1
    assert one.matchmaker.waiting_count(TEEN_TEXT) == 1


async def test_a_relay_reaches_the_partners_gateway_only(gateways):
    one, heard_one = await gateways()
    two, heard_two = await gateways()
    to = f"{two.node_id}~b"
    event = PeerText("m1", f"{one.node_id}~a", "hello «there» 👋", "contact")
    one.relay(to, event)
    await eventually(lambda: bool(heard_two.events))
    assert heard_two.events == [(to, event)] and heard_one.events == []


async def test_a_fact_reaches_every_other_gateway_but_not_its_sender(gateways):
    one, heard_one = await gateways()
    _two, heard_two = await gateways()
    _three, heard_three = await gateways()
    ban = BanFact("device-x", None, BanEntry("nudity", "C-1", datetime(2031, 1, 1, tzinfo=UTC)))
    one.share(ban)
    one.share(BlockFact("device-x", "device-y"))
    await eventually(lambda: len(heard_two.facts) == 2 and len(heard_three.facts) == 2)
    assert heard_two.facts == [ban, BlockFact("device-x", "device-y")]
    assert heard_one.facts == []


async def test_a_bans_written_reason_reaches_the_other_gateways_as_written(gateways):
    # The envelope names the sending node; the note must neither lose to it nor be it.
    one, _ = await gateways()
    _two, heard_two = await gateways()
    entry = BanEntry("harassment", "C-2", None, "Kept insulting after a warning.")
    one.share(BanFact("device-z", None, entry))
    await eventually(lambda: len(heard_two.facts) == 1)
    (fact,) = heard_two.facts
    assert isinstance(fact, BanFact) and fact.entry.note == "Kept insulting after a warning."


async def test_a_dead_gateway_is_noticed_and_its_waiting_chatters_leave_the_queue(gateways):
    one, heard_one = await gateways()
    two, _ = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    two.enqueue(ticket(two, "b", now()), now())
    await eventually(lambda: one.matchmaker.waiting_count(ADULT_TEXT) == 1)
    await crash(two)
    await eventually(lambda: frozenset({two.node_id}) in heard_one.lost, timeout=2.0)
    assert one.matchmaker.waiting_count(ADULT_TEXT) == 0
    assert one.counters.nodes_lost == 1


async def test_a_standby_takes_the_lease_and_rebuilds_the_waiting_set(gateways):
    one, _ = await gateways()
    two, heard_two = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    assert two.holds == frozenset()
    waiting = ticket(two, "waits", now())
    two.enqueue(waiting, now())
    await eventually(lambda: one.matchmaker.waiting(waiting.session) is not None)
    await crash(one)
    # The lease lapses (0.6 s), the standby takes it and asks for re-announcements.
    await eventually(lambda: two.holds == {ADULT_TEXT, TEEN_TEXT}, timeout=2.0)
    await eventually(lambda: two.matchmaker.waiting(waiting.session) is not None, timeout=1.0)
    newcomer = ticket(two, "new", now())
    two.enqueue(newcomer, now())
    await eventually(lambda: bool(heard_two.pairs))
    (pair,) = heard_two.pairs
    assert {pair.a.session, pair.b.session} == {waiting.session, newcomer.session}


async def test_the_cooldown_of_a_pair_survives_a_takeover(gateways):
    one, _heard_one = await gateways()
    two, heard_two = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    first, second = ticket(one, "a", now()), ticket(two, "b", now())
    one.enqueue(first, now())
    two.enqueue(second, now())
    await eventually(lambda: bool(heard_two.pairs))
    await crash(one)
    await eventually(lambda: two.holds == {ADULT_TEXT, TEEN_TEXT}, timeout=2.0)
    # The same two devices, from new sessions, must not meet again for 30 minutes.
    again = Ticket(f"{two.node_id}~a2", "device-a", ADULT_TEXT, "en", frozenset(), now(), 1)
    two.enqueue(again, now())
    two.enqueue(
        Ticket(f"{two.node_id}~b2", "device-b", ADULT_TEXT, "en", frozenset(), now(), 1), now()
    )
    await asyncio.sleep(0.5)
    assert len(heard_two.pairs) == 1
    assert two.matchmaker.waiting_count(ADULT_TEXT) == 2


async def test_a_cooldown_made_in_one_pool_holds_in_a_pool_held_elsewhere(gateways, namespace):
    one, _ = await gateways()
    await eventually(lambda: one.holds == {ADULT_TEXT, TEEN_TEXT})
    two, _heard_two = await gateways()
    # Hand the teen pool to the second gateway, as a takeover would.
    one.leases.drop(TEEN_TEXT)
    await one.link.redis.delete(Keys(namespace).pool(TEEN_TEXT).lease)
    one.leases.pools = (ADULT_TEXT,)
    await eventually(lambda: TEEN_TEXT in two.holds, timeout=2.0)
    one.enqueue(ticket(one, "a", now()), now())
    one.enqueue(ticket(one, "b", now()), now())
    await eventually(lambda: two.matchmaker.recently_paired("device-a", "device-b", now()))


async def test_a_holder_that_lost_its_lease_cannot_publish_a_pair(gateways, namespace):
    # Slow renewals, so the fence in the publish script is what stops the pair.
    one, heard_one = await gateways(lease_seconds=30.0, lease_check_seconds=10.0)
    await eventually(lambda: ADULT_TEXT in one.holds)
    lease = Keys(namespace).pool(ADULT_TEXT).lease
    await one.link.redis.set(lease, "another-node:token")
    one.enqueue(ticket(one, "a", now()), now())
    one.enqueue(ticket(one, "b", now()), now())
    await eventually(lambda: one.counters.stale_publishes == 1)
    await asyncio.sleep(0.2)
    assert heard_one.pairs == []
    assert ADULT_TEXT not in one.holds


async def test_bad_payloads_are_dropped_and_the_gateway_goes_on(gateways, namespace, redis_client):
    one, heard_one = await gateways()
    await eventually(lambda: ADULT_TEXT in one.holds)
    keys = Keys(namespace)
    await redis_client.publish(keys.inbox(one.node_id), "not json")
    await redis_client.publish(keys.inbox(one.node_id), '{"t": "pair", "m": 1}')
    await redis_client.publish(keys.everyone, '{"t": "ban", "d": null, "n": null, "r": "x"}')
    await redis_client.xadd(keys.pool(ADULT_TEXT).joins, {"k": "join", "v": "[1, 2]"})
    # A pair across pools is refused even if something wrote one.
    crossed = (
        '{"t":"pair","m":"x","c":[],'
        f'"a":{{"s":"{one.node_id}~a","d":"a","p":"adult-text","l":"en","i":[],"w":0,"n":1,"x":""}},'
        f'"b":{{"s":"{one.node_id}~b","d":"b","p":"teen-text","l":"en","i":[],"w":0,"n":1,"x":""}}}}'
    )
    await redis_client.publish(keys.inbox(one.node_id), crossed)
    await eventually(lambda: one.counters.bad_payloads >= 5)
    assert heard_one.pairs == [] and heard_one.facts == []
    one.enqueue(ticket(one, "a", now()), now())
    one.enqueue(ticket(one, "b", now()), now())
    await eventually(lambda: bool(heard_one.pairs))


async def test_an_unreachable_redis_is_a_clear_error_at_start():
    broker = RedisBroker("redis://127.0.0.1:1/0", Matchmaker(), connect_timeout=0.3)
    with pytest.raises(RedisUnavailable, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        await broker.start(Recorder())


async def test_the_url_password_never_reaches_the_error():
    broker = RedisBroker("redis://user:s3cret@127.0.0.1:1/0", Matchmaker(), connect_timeout=0.2)
    with pytest.raises(RedisUnavailable) as raised:
        await broker.start(Recorder())
    assert "s3cret" not in str(raised.value)


async def test_closing_hands_the_lease_over_at_once(gateways, redis_client, namespace):
    one, _ = await gateways(lease_seconds=30.0)
    two, _ = await gateways(lease_seconds=30.0)
    await eventually(lambda: ADULT_TEXT in one.holds)
    await one.close()
    # Not after the 30 s lease: it was handed back.
    await eventually(lambda: ADULT_TEXT in two.holds, timeout=2.0)
    assert not await redis_client.exists(Keys(namespace).heartbeat(one.node_id))


async def test_a_gateway_cut_off_from_redis_ends_its_chats_elsewhere_then_reannounces(
    gateways, monkeypatch
):
    one, heard_one = await gateways()
    await eventually(lambda: ADULT_TEXT in one.holds)
    two, heard_two = await gateways()
    waiting = ticket(two, "waits", now())
    two.enqueue(waiting, now())
    await eventually(lambda: one.matchmaker.waiting(waiting.session) is not None)
    beat = two.heartbeats.beat

    async def unreachable() -> None:
        raise redis_errors.ConnectionError("Redis went away")

    monkeypatch.setattr(two.heartbeats, "beat", unreachable)
    # The others hold it dead after 0.6 s; so does it, and its chats elsewhere end.
    await eventually(lambda: None in heard_two.lost, timeout=2.0)
    await eventually(lambda: frozenset({two.node_id}) in heard_one.lost, timeout=2.0)
    assert one.matchmaker.waiting(waiting.session) is None
    monkeypatch.setattr(two.heartbeats, "beat", beat)
    # Heard again: its waiting chatter is announced again to the matchmaker.
    await eventually(lambda: one.matchmaker.waiting(waiting.session) is not None, timeout=2.0)
