"""Why a wait goes on (issue 19): the matchmaker's notes and the switchboard's ``queue``.

The rules (docs/protocol.md, "Why a wait goes on"): a ticket waiting ``quiet_after``
seconds is told ``nobody`` when no one else waits in its pool, ``met_recently`` when the
only others are devices it met within ``repair_cooldown``, ``others`` otherwise; told
again only when that changes; a device blocked by a report is never counted, and
another pool is never looked at.
"""

from strangers.core.matching import Matchmaker, MatchRules, WaitNote
from strangers.core.messages import AgeBand, Find, Mode, QueueState, Stop
from strangers.core.switchboard import Send, Switchboard

from .helpers import ticket

RULES = MatchRules(interest_timeout=10.0, language_timeout=5.0, quiet_after=8.0)


def test_a_lone_chatter_is_told_nobody_is_looking_once_the_quiet_time_has_passed():
    mm = Matchmaker(RULES)
    mm.join(ticket("a"), 0.0)
    assert mm.wait_notes(7.9) == []
    assert mm.wait_notes(8.0) == [WaitNote("a", 0, "nobody")]
    assert mm.wait_notes(20.0) == []  # told once, not at every tick


def test_a_chatter_whose_only_company_it_met_recently_is_told_so():
    mm = Matchmaker(RULES)
    mm.join(ticket("a"), 0.0)
    [pair] = mm.join(ticket("b"), 0.0)
    assert pair
    mm.join(ticket("a2", device="dev-a", at=1.0), 1.0)
    mm.join(ticket("b2", device="dev-b", at=1.0), 1.0)
    notes = mm.wait_notes(10.0)
    assert sorted(notes, key=lambda n: n.session) == [
        WaitNote("a2", 0, "met_recently"),
        WaitNote("b2", 0, "met_recently"),
    ]


def test_the_note_changes_when_someone_new_may_meet_them():
    mm = Matchmaker(RULES)
    mm.join(ticket("a", interests=["chess"]), 0.0)
    assert mm.wait_notes(9.0) == [WaitNote("a", 0, "nobody")]
    # Someone with other interests: both still wait for their interests' timeout.
    mm.join(ticket("c", interests=["cats"], at=9.0), 9.0)
    assert mm.wait_notes(9.5) == [WaitNote("a", 0, "others")]


def test_a_blocked_device_is_never_counted_as_company():
    mm = Matchmaker(RULES, blocked=lambda a, b: {a, b} == {"dev-a", "dev-b"})
    mm.join(ticket("a"), 0.0)
    mm.join(ticket("b"), 0.0)
    notes = sorted(mm.wait_notes(8.0), key=lambda n: n.session)
    assert notes == [WaitNote("a", 0, "nobody"), WaitNote("b", 0, "nobody")]


def test_another_pool_is_never_looked_at():
    mm = Matchmaker(RULES)
    mm.join(ticket("adult"), 0.0)
    mm.join(ticket("teen", band=AgeBand.TEEN), 0.0)
    mm.join(ticket("video", mode=Mode.VIDEO), 0.0)
    notes = mm.wait_notes(8.0)
    assert {note.state for note in notes} == {"nobody"} and len(notes) == 3


def test_a_ticket_that_left_is_told_again_from_scratch_when_it_comes_back():
    mm = Matchmaker(RULES)
    mm.join(ticket("a"), 0.0)
    assert mm.wait_notes(8.0) == [WaitNote("a", 0, "nobody")]
    mm.leave("a")
    mm.join(ticket("a", at=10.0, serial=1), 10.0)
    assert mm.wait_notes(17.0) == []
    assert mm.wait_notes(18.0) == [WaitNote("a", 1, "nobody")]


def test_the_switchboard_tells_only_the_wait_the_note_is_for():
    board = Switchboard(rules=RULES)
    board.open("s", "dev-s", AgeBand.ADULT, "en", 0.0)

    board.receive("s", Find(mode=Mode.TEXT), 0.0)
    serial = board.sessions["s"].serial
    assert board.wait_note(WaitNote("s", serial - 1, "nobody")) == []
    [sent] = board.wait_note(WaitNote("s", serial, "met_recently"))
    assert sent == Send("s", QueueState(mode=Mode.TEXT, state="met_recently", repair_minutes=30))
    board.receive("s", Stop(), 1.0)
    assert board.wait_note(WaitNote("s", serial, "nobody")) == []
    assert board.wait_note(WaitNote("gone", 0, "nobody")) == []
