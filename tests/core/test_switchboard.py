"""The switchboard's transitions: what each input does, what it refuses, and that
a refusal changes nothing."""

import pytest

from strangers.core.errors import LimitExceeded, NotRecent, StateError
from strangers.core.limits import Limits
from strangers.core.matching import Matchmaker, MatchRules, Pair
from strangers.core.messages import (
    AgeBand,
    Ended,
    Find,
    Matched,
    Message,
    Mode,
    PartnerLeft,
    PartnerTyping,
    Ping,
    Pong,
    Refused,
    Report,
    SendText,
    Signal,
    Skip,
    Stop,
    Typing,
    Waiting,
)
from strangers.core.reports import ReportReason
from strangers.core.session import State
from strangers.core.switchboard import (
    BlockPair,
    Dequeue,
    Enqueue,
    FileReport,
    Kick,
    PeerLeft,
    PeerText,
    Relay,
    Send,
    Switchboard,
)
from tests.core.helpers import ticket


class Harness:
    """A switchboard and matchmaker wired as the in-memory node wires them."""

    def __init__(self, limits=None):
        self.board = Switchboard(limits or Limits(), MatchRules())
        self.mm = Matchmaker(MatchRules())
        self.sent: list[tuple[str, object]] = []

    def open(self, *names, band=AgeBand.ADULT):
        for name in names:
            self.board.open(name, f"dev-{name}", band, "en", 0.0)

    def run(self, effects, now=0.0):
        work = list(effects)
        while work:
            effect = work.pop(0)
            if isinstance(effect, Send):
                self.sent.append((effect.session, effect.message))
            elif isinstance(effect, Relay):
                work.extend(self.board.from_peer(effect.to, effect.event, now))
            elif isinstance(effect, Enqueue):
                for pair in self.mm.join(effect.ticket, now):
                    work.extend(self.board.paired(pair, now))
            elif isinstance(effect, Dequeue):
                self.mm.leave(effect.session)
            else:
                self.other(effect)

    def other(self, effect):
        """Effects the node hands to the records or the sockets; ignored here."""

    def send(self, session, message, now=0.0):
        self.run(self.board.receive(session, message, now), now)

    def inbox(self, session):
        got = [m for s, m in self.sent if s == session]
        self.sent = [(s, m) for s, m in self.sent if s != session]
        return got

    def state(self, session):
        return self.board.sessions[session].state


@pytest.fixture
def chatting():
    h = Harness()
    h.open("a", "b")
    h.send("a", Find())
    h.send("b", Find())
    assert h.state("a") is h.state("b") is State.CHATTING
    h.match = h.board.sessions["a"].match
    h.inbox("a"), h.inbox("b")
    return h


def test_find_waits_then_both_are_told_of_the_match():
    h = Harness()
    h.open("a", "b")
    h.send("a", Find(interests=("x",)))
    assert h.inbox("a") == [Waiting(mode=Mode.TEXT)]
    assert h.state("a") is State.WAITING
    h.send("b", Find(interests=("x",)))
    [waiting, matched] = h.inbox("b")
    assert waiting == Waiting(mode=Mode.TEXT)
    assert isinstance(matched, Matched) and matched.interests == ("x",) and not matched.fallback
    assert h.inbox("a") == [matched]


def test_messages_and_typing_reach_the_partner_only(chatting):
    h = chatting
    h.open("c")
    h.send("a", Typing(active=True))
    h.send("a", SendText(text="hello"))
    assert h.inbox("b") == [PartnerTyping(active=True), Message(text="hello")]
    assert h.inbox("a") == [] and h.inbox("c") == []


@pytest.mark.parametrize("state", ["waiting", "chatting"])
def test_find_is_refused_while_waiting_or_chatting_and_changes_nothing(chatting, state):
    h = chatting
    session = "a"
    if state == "waiting":
        h.open("w")
        h.send("w", Find())
        session = "w"
    before = (h.state(session), h.board.sessions[session].serial, h.mm.waiting_count())
    with pytest.raises(StateError):
        h.board.receive(session, Find(), 0.0)
    after = (h.state(session), h.board.sessions[session].serial, h.mm.waiting_count())
    assert before == after


def test_message_while_not_chatting_is_refused():
    h = Harness()
    h.open("a")
    with pytest.raises(StateError):
        h.board.receive("a", SendText(text="anyone?"), 0.0)


def test_skip_ends_the_chat_tells_the_partner_and_looks_again(chatting):
    h = chatting
    h.send("a", Skip())
    assert h.inbox("a") == [Ended(reason="skip", match=h.match), Waiting(mode=Mode.TEXT)]
    assert h.inbox("b") == [PartnerLeft(match=h.match)]
    assert h.state("a") is State.WAITING and h.state("b") is State.IDLE


def test_stop_ends_the_chat_and_stays_idle(chatting):
    h = chatting
    h.send("b", Stop())
    assert h.inbox("b") == [Ended(reason="stop", match=h.match)]
    assert h.inbox("a") == [PartnerLeft(match=h.match)]
    assert h.state("a") is h.state("b") is State.IDLE
    h.send("b", Stop())  # idle: nothing to stop
    assert h.inbox("b") == []


def test_stop_while_waiting_leaves_the_queue():
    h = Harness()
    h.open("a")
    h.send("a", Find())
    h.send("a", Stop())
    assert h.mm.waiting_count() == 0 and h.state("a") is State.IDLE


def test_skip_from_idle_after_a_chat_looks_again_without_an_ended(chatting):
    h = chatting
    h.send("b", Stop())
    h.inbox("a"), h.inbox("b")
    h.send("a", Skip())
    assert h.inbox("a") == [Waiting(mode=Mode.TEXT)]


def test_skip_before_any_find_is_refused():
    h = Harness()
    h.open("a")
    with pytest.raises(StateError):
        h.board.receive("a", Skip(), 0.0)


def test_a_closed_socket_tells_the_partner(chatting):
    h = chatting
    h.run(h.board.close("a"))
    assert h.inbox("b") == [PartnerLeft(match=h.match)]
    assert "a" not in h.board.sessions and h.state("b") is State.IDLE


def test_events_from_anyone_but_the_current_partner_are_dropped(chatting):
    h = chatting
    h.open("c")
    assert h.board.from_peer("b", PeerText(h.match, "c", "intruder"), 0.0) == []
    assert h.board.from_peer("b", PeerText("old-match", "a", "late"), 0.0) == []
    assert h.board.from_peer("b", PeerLeft("old-match", "a"), 0.0) == []
    assert h.state("b") is State.CHATTING


def test_messages_beyond_the_rate_are_refused_with_the_wait(chatting):
    h = Harness(Limits(messages_per_second=1.0, message_burst=2))
    h.open("a", "b")
    h.send("a", Find())
    h.send("b", Find())
    h.send("a", SendText(text="1"))
    h.send("a", SendText(text="2"))
    with pytest.raises(LimitExceeded) as caught:
        h.board.receive("a", SendText(text="3"), 0.0)
    assert caught.value.retry_after == pytest.approx(1.0)
    h.send("a", SendText(text="3"), now=1.0)
    assert [m.text for m in h.inbox("b") if isinstance(m, Message)] == ["1", "2", "3"]


def test_skips_beyond_the_rate_are_refused():
    h = Harness(Limits(skips_per_minute=2))
    h.open("a")
    h.send("a", Find())
    h.send("a", Stop())
    h.send("a", Find())
    h.send("a", Stop())
    with pytest.raises(LimitExceeded):
        h.board.receive("a", Find(), 0.0)
    assert h.state("a") is State.IDLE


def test_a_pair_for_a_wait_that_ended_is_void_and_the_other_keeps_its_place():
    h = Harness()
    h.open("a", "b")
    h.send("a", Find())
    stale = h.mm.leave("a")
    h.send("a", Stop())
    h.send("b", Find())
    fresh = h.mm.leave("b")
    effects = h.board.paired(Pair("m9", stale, fresh, ()), 0.0)
    assert effects == [Enqueue(fresh)]
    assert h.state("b") is State.WAITING and h.state("a") is State.IDLE


def test_a_stale_side_tells_a_partner_on_another_node_that_the_match_is_over():
    h = Harness()
    h.open("a")
    h.send("a", Find())
    stale = h.mm.leave("a")
    h.send("a", Stop())
    elsewhere = ticket("g2-x~b")  # held by another node: not in this switchboard
    effects = h.board.paired(Pair("m9", stale, elsewhere, ()), 0.0)
    assert effects == [Relay("g2-x~b", PeerLeft("m9", "a"))]
    assert h.state("a") is State.IDLE


def test_a_pair_with_a_partner_on_another_node_starts_the_local_side():
    h = Harness()
    h.open("a")
    h.send("a", Find())
    mine = h.mm.leave("a")
    effects = h.board.paired(Pair("m9", mine, ticket("g2-x~b"), ()), 0.0)
    assert [type(e.message) for e in effects if isinstance(e, Send)] == [Matched]
    assert h.board.sessions["a"].partner == "g2-x~b"
    # Its lines go to the partner's node through a relay.
    [relay] = h.board.receive("a", SendText(text="hi"), 1.0)
    assert isinstance(relay, Relay) and relay.to == "g2-x~b"


def test_ping_is_answered():
    h = Harness()
    h.open("a")
    h.send("a", Ping(id=3))
    assert h.inbox("a") == [Pong(id=3)]


def test_a_banned_session_cannot_look_for_anyone():
    h = Harness()
    h.open("a")
    h.board.sessions["a"].state = State.BANNED
    with pytest.raises(StateError):
        h.board.receive("a", Find(), 0.0)


def test_a_report_ends_the_chat_blocks_the_pair_and_files_both_sides_lines(chatting):
    h = chatting
    h.send("a", SendText(text="hi"))
    h.send("b", SendText(text="something awful"))
    h.inbox("a"), h.inbox("b")
    effects = h.board.receive("a", Report(reason=ReportReason.HARASSMENT, note="rude"), 2.0)
    block = next(e for e in effects if isinstance(e, BlockPair))
    assert {block.device_a, block.device_b} == {"dev-a", "dev-b"}
    filing = next(e for e in effects if isinstance(e, FileReport)).filing
    assert filing.reason is ReportReason.HARASSMENT and filing.note == "rude"
    assert (filing.reporter.device, filing.reported.device) == ("dev-a", "dev-b")
    assert [(line.side, line.text) for line in filing.transcript] == [
        ("reporter", "hi"),
        ("reported", "something awful"),
    ]
    h.run(effects)
    assert h.inbox("b") == [PartnerLeft(match=h.match)]
    assert h.inbox("a") == [Ended(reason="report", match=h.match)]
    assert h.state("a") is h.state("b") is State.IDLE
    assert h.board.sessions["a"].transcript == []  # nothing kept once the match is over


def test_a_report_without_a_chat_is_refused():
    h = Harness()
    h.open("a")
    with pytest.raises(StateError):
        h.board.receive("a", Report(reason=ReportReason.SPAM), 0.0)


def test_only_the_newest_lines_of_a_long_chat_are_kept():
    h = Harness(Limits(transcript_lines=3, messages_per_second=100, message_burst=100))
    h.open("a", "b")
    h.send("a", Find())
    h.send("b", Find())
    for i in range(5):
        h.send("a", SendText(text=str(i)))
    assert [line.text for line in h.board.sessions["a"].transcript] == ["2", "3", "4"]


def video_pair(relay_only=True):
    h = Harness()
    h.board.relay_only = relay_only
    h.open("a", "b")
    h.send("a", Find(mode=Mode.VIDEO))
    h.send("b", Find(mode=Mode.VIDEO))
    h.inbox("a"), h.inbox("b")
    return h


def test_signals_reach_the_partner_with_relay_candidates_only():
    h = video_pair()
    relay = "candidate:3 1 udp 4 203.0.113.5 3478 typ relay raddr 0.0.0.0 rport 0"
    host = "candidate:1 1 udp 9 192.0.2.10 5000 typ host"
    h.send("a", Signal(kind="candidate", candidate=host, sdp_mid="0", sdp_mline_index=0))
    h.send("a", Signal(kind="candidate", candidate=relay, sdp_mid="0", sdp_mline_index=0))
    [got] = h.inbox("b")
    assert got.type == "signal" and got.candidate == relay and got.sdp_mid == "0"
    assert h.inbox("a") == []


def test_without_turn_every_candidate_passes():
    h = video_pair(relay_only=False)
    host = "candidate:1 1 udp 9 192.0.2.10 5000 typ host"
    h.send("a", Signal(kind="candidate", candidate=host))
    assert [m.candidate for m in h.inbox("b")] == [host]


def test_signalling_is_refused_in_a_text_chat_and_dropped_after_the_match(chatting):
    h = chatting
    with pytest.raises(StateError):
        h.board.receive("a", Signal(kind="offer", sdp="v=0"), 0.0)
    h.send("a", Stop())
    assert h.board.receive("a", Signal(kind="offer", sdp="v=0"), 0.0) == []


def test_no_video_on_a_server_without_it():
    h = Harness()
    h.board.video = False
    h.open("a")
    with pytest.raises(StateError):
        h.board.receive("a", Find(mode=Mode.VIDEO), 0.0)


# --- reporting a stranger who has left (docs/safety.md, "Evidence") ---------------------


def chat_then_part(h, a, b, start, part=None):
    """``a`` and ``b`` meet at ``start``, ``b`` says two lines, then leaves by ``part``
    a second later. Returns the match."""
    h.send(a, Find(), start)
    h.send(b, Find(), start)
    match = h.board.sessions[a].match
    assert match is not None and h.board.sessions[b].match == match
    h.send(a, SendText(text="hi"), start)
    h.send(b, SendText(text="look at this"), start)
    h.send(b, SendText(text="bye"), start)
    h.send(b, part or Stop(), start + 1.0)
    h.inbox(a), h.inbox(b)
    return match


def report(match, reason=ReportReason.SEXUAL, note=""):
    return Report(reason=reason, note=note, match=match)


@pytest.mark.parametrize("part", [Skip(), Stop()], ids=["skip", "stop"])
def test_a_stranger_who_left_is_reported_with_that_matchs_lines(part):
    h = Harness()
    h.open("a", "b")
    match = chat_then_part(h, "a", "b", 10.0, part)
    assert h.state("a") is State.IDLE
    effects = h.board.receive("a", report(match, note="flashed then skipped"), 70.0)
    [block, filed] = effects  # no ``ended``: there is no chat to end
    assert isinstance(block, BlockPair) and {block.device_a, block.device_b} == {"dev-a", "dev-b"}
    assert isinstance(filed, FileReport)
    filing = filed.filing
    assert filing.match == match and filing.note == "flashed then skipped"
    assert (filing.reporter.device, filing.reported.device) == ("dev-a", "dev-b")
    assert (filing.reported.session, filing.matched_at, filing.reported_at) == ("b", 10.0, 70.0)
    assert [(line.side, line.text) for line in filing.transcript] == [
        ("reporter", "hi"),
        ("reported", "look at this"),
        ("reported", "bye"),
    ]
    assert h.state("a") is State.IDLE


def test_a_stranger_whose_socket_closed_can_still_be_reported():
    h = Harness()
    h.open("a", "b")
    h.send("a", Find())
    h.send("b", Find())
    match = h.board.sessions["a"].match
    h.send("b", SendText(text="gone"))
    h.run(h.board.close("b"))
    [_, filed] = h.board.receive("a", report(match), 5.0)
    assert filed.filing.reported.device == "dev-b"
    assert [line.text for line in filed.filing.transcript] == ["gone"]


def test_a_past_match_is_reported_once_and_the_refusal_changes_nothing():
    h = Harness(Limits(report_burst=2, reports_per_hour=1))
    h.open("a", "b")
    match = chat_then_part(h, "a", "b", 0.0)
    h.board.receive("a", report(match), 5.0)
    kept = h.board.sessions["a"].recent
    assert [(r.match, r.reported, r.transcript) for r in kept] == [(match, True, ())]
    with pytest.raises(NotRecent):
        h.board.receive("a", report(match), 6.0)
    # The refused report spent no report token: the next one goes through.
    h.open("c")
    other = chat_then_part(h, "a", "c", 10.0)
    assert h.board.receive("a", report(other), 12.0)


def test_the_current_match_once_reported_cannot_be_reported_again_by_its_id(chatting):
    h = chatting
    h.send("a", report(h.match), 1.0)
    assert h.state("a") is State.IDLE
    with pytest.raises(NotRecent):
        h.board.receive("a", report(h.match), 2.0)


@pytest.mark.parametrize("match", ["made-up", "other"])
def test_a_match_not_among_the_sessions_own_is_refused_and_files_nothing(match):
    h = Harness()
    h.open("a", "b", "c")
    own = chat_then_part(h, "a", "b", 0.0)
    if match == "other":
        match = own  # c was never in it
    before = h.board.sessions["c"].report_rate._tokens
    with pytest.raises(NotRecent):
        h.board.receive("c", report(match), 5.0)
    assert h.board.sessions["c"].report_rate._tokens == before


def test_only_the_last_three_matches_can_be_reported():
    h = Harness()
    h.open("a", "b1", "b2", "b3", "b4")
    matches = [chat_then_part(h, "a", f"b{i}", 10.0 * i) for i in range(1, 5)]
    with pytest.raises(NotRecent):
        h.board.receive("a", report(matches[0]), 50.0)
    assert [r.match for r in h.board.sessions["a"].recent] == matches[1:]
    for match in matches[1:]:
        assert h.board.receive("a", report(match), 50.0)


def test_a_match_that_ended_longer_than_recent_seconds_ago_is_forgotten():
    h = Harness(Limits(recent_seconds=600))
    h.open("a", "b", "c")
    old = chat_then_part(h, "a", "b", 0.0)  # ends at 1.0
    fresh = chat_then_part(h, "a", "c", 500.0)  # ends at 501.0
    h.send("a", Ping(id=1), 601.5)  # any message prunes: the first one is forgotten
    assert [r.match for r in h.board.sessions["a"].recent] == [fresh]
    with pytest.raises(NotRecent):
        h.board.receive("a", report(old), 601.5)
    assert h.board.receive("a", report(fresh), 1101.0)  # exactly 600 s after it ended


def test_a_past_match_is_reported_while_the_current_chat_goes_on():
    h = Harness()
    h.open("a", "b", "c")
    past = chat_then_part(h, "a", "b", 0.0)
    h.send("a", Find(), 5.0)
    h.send("c", Find(), 5.0)
    current = h.board.sessions["a"].match
    h.inbox("a"), h.inbox("c")
    effects = h.board.receive("a", report(past), 6.0)
    assert [type(e) for e in effects] == [BlockPair, FileReport]
    assert h.state("a") is State.CHATTING and h.board.sessions["a"].match == current


def test_a_report_without_a_match_after_the_chat_ended_is_still_refused():
    h = Harness()
    h.open("a", "b")
    chat_then_part(h, "a", "b", 0.0)
    with pytest.raises(StateError):
        h.board.receive("a", Report(reason=ReportReason.SPAM), 5.0)


def test_sent_to_the_age_question_every_session_of_the_device_in_that_band_leaves():
    h = Harness()
    h.open("a", "b")
    h.board.open("a2", "dev-a", AgeBand.ADULT, "en", 0.0)  # a second tab of a's device
    h.board.open("a3", "dev-a", AgeBand.TEEN, "en", 0.0)  # another band: not concerned
    h.send("a", Find())
    h.send("b", Find())
    match = h.board.sessions["a"].match
    h.send("a2", Find())  # waits: b is taken
    for name in ("a", "b", "a2"):
        h.inbox(name)
    notice = Refused(reason="age_check", until=100, device="token")
    effects = h.board.send_to_age_question("dev-a", AgeBand.ADULT, notice, 1.0)
    assert {e.session for e in effects if isinstance(e, Kick)} == {"a", "a2"}
    assert Dequeue("a2") in effects
    h.run(effects)
    assert h.inbox("a") == [notice] and h.inbox("a2") == [notice]
    assert h.inbox("b") == [PartnerLeft(match=match)]
    assert h.state("a") is h.state("a2") is State.AGE_CHECK
    assert h.state("a3") is State.IDLE
    with pytest.raises(StateError):
        h.board.receive("a", Find(), 2.0)
    with pytest.raises(StateError):
        h.board.receive("a2", Skip(), 2.0)
    # Told once: a second change finds nobody left to send back.
    assert h.board.send_to_age_question("dev-a", AgeBand.ADULT, notice, 2.0) == []
