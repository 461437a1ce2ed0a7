"""Text safety policy (docs/design.md §6) through the switchboard, with injected scans: each
risk level's effect, each pool rule, and the evidence a text case keeps."""

import pytest

from strangers.core.flags import FlagKind
from strangers.core.limits import Limits
from strangers.core.messages import (
    AgeBand,
    Ended,
    Find,
    Message,
    Mode,
    Notice,
    SendText,
)
from strangers.core.switchboard import EnforceFlag, Restage, Switchboard
from strangers.core.text import SignalKind, TextScan, TextSignal
from strangers.core.text_policy import RiskLevel, RiskThresholds, TextWatch, judge_line

from .test_switchboard import Harness

K = SignalKind


class Scripted:
    """A scanner that finds what the test says a line holds."""

    def __init__(self):
        self.scans: dict[str, TextScan] = {}

    def says(self, text, *kinds, age=None):
        self.scans[text] = TextScan(tuple(TextSignal(k) for k in kinds), age)
        return text

    def scan(self, text):
        return self.scans.get(text, TextScan())


class Chat(Harness):
    def __init__(self, band=AgeBand.ADULT):
        super().__init__()
        self.scanner = Scripted()
        self.board = Switchboard(
            Limits(messages_per_second=100, message_burst=100),
            self.board.rules,
            scanner=self.scanner,
        )
        self.deferred = []
        self.open("a", "b", band=band)
        self.send("a", Find(mode=Mode.TEXT))
        self.send("b", Find(mode=Mode.TEXT))
        self.match = self.board.sessions["a"].match
        self.inbox("a"), self.inbox("b")

    def other(self, effect):
        if isinstance(effect, EnforceFlag | Restage):
            self.deferred.append(effect)

    def says(self, sender, text, *kinds, age=None):
        self.send(sender, SendText(text=self.scanner.says(text, *kinds, age=age)))


def notices(messages):
    return [m.kind for m in messages if isinstance(m, Notice)]


def test_a_clean_line_goes_as_sent_and_nudges_nobody():
    chat = Chat()
    chat.says("a", "hi! how's your day")
    assert chat.inbox("b") == [Message(text="hi! how's your day")]


def test_a_first_signal_nudges_the_recipient_once_per_kind():
    chat = Chat()
    chat.says("a", "how old r u", K.ASKS_AGE)
    assert chat.inbox("b") == [
        Message(text="how old r u"),
        Notice(kind="asks_age", match=chat.match),
    ]
    chat.says("a", "u didnt say how old", K.ASKS_AGE)
    assert notices(chat.inbox("b")) == []  # told once per match
    assert chat.inbox("a") == []  # the sender is not told


def test_contact_details_in_the_adult_pool_are_relayed_with_a_nudge():
    chat = Chat()
    chat.says("a", "add me on snap: coolkid_22", K.HANDLE)
    got = chat.inbox("b")
    assert got[0] == Message(text="add me on snap: coolkid_22")
    assert notices(got) == ["contact"]


def test_contact_details_and_links_in_the_teen_pool_are_always_hidden():
    chat = Chat(band=AgeBand.TEEN)
    chat.says("a", "my number 0612345678", K.PHONE)
    chat.says("a", "see example.org", K.LINK)
    got = chat.inbox("b")
    assert [m for m in got if isinstance(m, Message)] == [
        Message(text="", hidden="contact"),
        Message(text="", hidden="contact"),
    ]
    assert notices(got) == ["contact"]
    # The evidence keeps what was really sent, on both sides.
    assert [line.text for line in chat.board.sessions["b"].transcript] == [
        "my number 0612345678",
        "see example.org",
    ]


def test_risk_adds_up_to_masking_then_to_ending_the_match():
    chat = Chat()
    chat.says("a", "are you alone", K.ASKS_ALONE)  # 3: nudge
    chat.says("a", "dont tell anyone", K.SECRECY)  # 7: mask
    got = chat.inbox("b")
    assert got[0] == Message(text="are you alone")
    assert Message(text="", hidden="risk") in got
    assert notices(got) == ["asks_alone", "secrecy"]
    chat.says("a", "nice weather")  # a clean line still goes through
    assert chat.inbox("b") == [Message(text="nice weather")]
    chat.says("a", "lets meet", K.MEET)  # 10: end
    assert chat.inbox("b")[-1] == Ended(reason="safety", match=chat.match)
    assert chat.inbox("a") == [Ended(reason="safety", match=chat.match)]
    assert chat.deferred == []  # ended, but no case below the case level


def test_the_case_level_opens_a_case_with_the_transcript():
    chat = Chat()
    chat.says("b", "hello")
    chat.says("a", "send me a pic", K.ASKS_PICTURES)  # 4
    chat.says("a", "i can buy you robux", K.GIFTS)  # 7
    chat.says("a", "meet me at the park, our secret", K.MEET, K.SECRECY)  # 14: case
    (work,) = chat.deferred
    flag = work.flag
    assert flag.kind is FlagKind.TEXT_RISK
    assert flag.subject.device == "dev-a" and flag.sampler.device == "dev-b"
    assert flag.verdict is None and flag.enforcement.review
    assert [kind for kind, _ in flag.signals] == ["asks_pictures", "gifts", "meet", "secrecy"]
    assert [(line.side, line.text) for line in flag.transcript] == [
        ("reporter", "hello"),
        ("reported", "send me a pic"),
        ("reported", "i can buy you robux"),
        ("reported", "meet me at the park, our secret"),
    ]
    assert chat.inbox("a")[-1] == Ended(reason="safety", match=chat.match)


def test_an_adult_age_statement_in_the_teen_pool_ends_the_match_opens_a_case_and_bars_it():
    chat = Chat(band=AgeBand.TEEN)
    chat.says("a", "im 32 btw", K.AGE, age=32)
    got = chat.inbox("b")
    assert got == [Ended(reason="safety", match=chat.match)]  # the line itself is withheld
    work, restage = chat.deferred
    assert work.flag.kind is FlagKind.ADULT_IN_TEEN
    assert work.flag.pool == "teen-text"
    # The device, not just this chat: the gateway bars it from the teen pool.
    assert restage == Restage("a", "dev-a", 32)


def test_a_minor_age_statement_in_the_adult_pool_sends_the_device_to_the_age_question():
    chat = Chat()
    chat.says("a", "im 14", K.AGE, age=14)
    assert chat.inbox("b") == [Ended(reason="safety", match=chat.match)]
    assert chat.inbox("a") == [Ended(reason="safety", match=chat.match)]
    assert chat.deferred == [Restage("a", "dev-a", 14)]


def test_age_statements_that_fit_the_pool_do_nothing():
    adults, teens = Chat(), Chat(band=AgeBand.TEEN)
    adults.says("a", "im 30", K.AGE, age=30)
    teens.says("a", "im 15", K.AGE, age=15)
    assert adults.inbox("b") == [Message(text="im 30")]
    assert teens.inbox("b") == [Message(text="im 15")]
    assert adults.deferred == teens.deferred == []


def test_the_risk_starts_afresh_with_each_match():
    chat = Chat()
    chat.says("a", "are you alone", K.ASKS_ALONE)
    assert chat.board.sessions["a"].text_watch.risk == 3
    chat.send("a", SendText(text="bye"))
    from strangers.core.messages import Skip

    chat.send("b", Skip())
    assert chat.board.sessions["a"].text_watch == TextWatch()


def test_weak_and_low_confidence_signals_do_not_count():
    watch = TextWatch()
    scan = TextScan((TextSignal(K.SECRECY, 0.3), TextSignal(K.PROFANITY, 0.9)))
    decision = judge_line(watch, scan, teen=False)
    assert watch.risk == pytest.approx(0.45)
    assert decision.level is RiskLevel.NONE and decision.nudges == ()


def test_a_lone_age_question_at_the_detectors_confidence_earns_its_notice():
    # 0.9 x weight 1 stays under the notice level: the notice must not wait for more.
    watch = TextWatch()
    decision = judge_line(watch, TextScan((TextSignal(K.ASKS_AGE, 0.9),)), teen=False)
    assert decision.nudges == ("asks_age",)
    assert decision.level is RiskLevel.NONE and decision.hidden is None
    again = judge_line(watch, TextScan((TextSignal(K.ASKS_AGE, 0.9),)), teen=False)
    assert again.nudges == ()  # once per match


def test_a_raised_notice_level_silences_kinds_too_light_to_reach_it_alone():
    thresholds = RiskThresholds(nudge=2.0)
    watch = TextWatch()
    lone = judge_line(
        watch, TextScan((TextSignal(K.ASKS_AGE, 0.9),)), teen=False, thresholds=thresholds
    )
    assert lone.nudges == ()
    heavier = judge_line(
        watch, TextScan((TextSignal(K.ASKS_ALONE, 0.6),)), teen=False, thresholds=thresholds
    )
    assert heavier.nudges == ("asks_alone",)  # weight 3 reaches 2 alone, at any confidence


def test_a_handle_and_an_invitation_to_another_app_in_one_line_count_once():
    watch = TextWatch()
    scan = TextScan((TextSignal(K.HANDLE, 0.9), TextSignal(K.OTHER_APP, 0.9)))
    decision = judge_line(watch, scan, teen=False)
    assert watch.risk == pytest.approx(2.7)  # the heavier of the two, not their sum
    assert decision.hidden is None and decision.level is RiskLevel.NUDGE
    assert decision.nudges == ("contact", "other_app")
    assert [kind for kind, _ in watch.signals] == ["handle", "other_app"]  # both recorded
    # On other lines they add up as any signals do.
    judge_line(watch, TextScan((TextSignal(K.SECRECY, 1.0),)), teen=False)
    assert watch.risk == pytest.approx(6.7)


def test_thresholds_must_rise():
    with pytest.raises(ValueError):
        RiskThresholds(nudge=5, mask=4)
