"""Video safety policy (docs/design.md §6) through the switchboard, with injected verdicts:
safe start, the face rules, nudity in each pool, known-abuse hashes, late verdicts,
the frame rate and priorities, bans of online sessions, and evidence kept."""

import pytest

from strangers.core.errors import LimitExceeded, MatchOver
from strangers.core.flags import PERMANENT, Corroboration, Enforcement, FlagKind
from strangers.core.frame_tokens import FrameTokens
from strangers.core.frames import FrameSource, FrameVerdict, HashHit
from strangers.core.limits import Limits
from strangers.core.matching import Matchmaker, MatchRules
from strangers.core.messages import (
    AgeBand,
    Banned,
    Blur,
    Ended,
    Find,
    Matched,
    Mode,
    Notice,
    PartnerLeft,
    Report,
    SendText,
)
from strangers.core.reports import ReportReason
from strangers.core.session import State
from strangers.core.switchboard import (
    EnforceFlag,
    Enqueue,
    FileReport,
    Kick,
    Send,
    Switchboard,
)
from strangers.core.video import (
    STRIKE_BAN_SECONDS,
    TEEN_NUDITY_BAN_SECONDS,
    FrameWatch,
    Outcome,
    ban_after_strikes,
    judge,
)

from .test_switchboard import Harness

CLEAN = FrameVerdict(face=True)
NO_FACE = FrameVerdict(face=False)
NUDE = FrameVerdict(nudity=("FEMALE_BREAST_EXPOSED",), face=True)
LISTED = FrameVerdict(face=True, hash_hit=HashHit(label="test-list", distance=4))
PARTNER, OWN = FrameSource.PARTNER, FrameSource.OWN


class Video(Harness):
    """Two chatters in a video match on one switchboard; effects run as a node runs them."""

    def __init__(self, band=AgeBand.ADULT, limits=None):
        super().__init__(limits)
        self.board = Switchboard(
            limits or Limits(), MatchRules(), frame_tokens=FrameTokens(b"k" * 32)
        )
        self.records: list[object] = []
        self.kicked: list[str] = []
        for name in ("a", "b"):
            self.board.open(name, f"dev-{name}", band, "en", 0.0, network=f"net-{name}")
        self.run(self.board.receive("a", Find(mode=Mode.VIDEO), 0.0))
        self.run(self.board.receive("b", Find(mode=Mode.VIDEO), 0.0))
        self.match = self.board.sessions["a"].match
        assert self.match is not None

    def other(self, effect):
        if isinstance(effect, EnforceFlag | FileReport):
            self.records.append(effect)
        elif isinstance(effect, Kick):
            self.kicked.append(effect.session)

    def frame(self, sampler, verdict, source=PARTNER, now=1.0, jpeg=b"\xff\xd8\xffjpeg"):
        post = self.board.frame_posted(sampler, self.match, source, now)
        self.run(self.board.frame_checked(post, verdict, jpeg, now), now)

    def inbox(self, session, kind=None):
        return [m for m in super().inbox(session) if kind is None or isinstance(m, kind)]

    def flags(self):
        return [r.flag for r in self.records if isinstance(r, EnforceFlag)]


def slow_limits(**kw):
    return Limits(frame_posts_per_second=1000.0, frame_post_burst=1000, **kw)


def test_a_video_match_gives_each_side_its_own_frame_token():
    video = Video()
    tokens = FrameTokens(b"k" * 32)
    for side in ("a", "b"):
        (matched,) = video.inbox(side, Matched)
        grant = tokens.verify(matched.frame_token)
        assert grant is not None and grant.session == side and grant.match == video.match


def test_frame_tokens_refuse_forgeries_and_other_keys():
    tokens = FrameTokens(b"k" * 32)
    token = tokens.issue("m1", "s1")
    assert tokens.verify(token).match == "m1"
    assert FrameTokens(b"x" * 32).verify(token) is None
    forged = token.replace("s1", "s2")
    for bad in (None, "", forged, "a.b", "a.b.c.d", token + "x", "é.é.é", "." * 300):
        assert tokens.verify(bad) is None


def test_safe_start_lifts_on_the_first_clean_frame_the_viewer_sampled():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN, source=OWN)  # a's own camera: says nothing of b's video
    assert video.inbox("a", Blur) == []
    video.frame("b", CLEAN, source=OWN)  # b's page keeps its own camera checked
    assert video.inbox("a", Blur) == []  # but a has seen nothing of b's video yet
    video.frame("a", CLEAN)
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]
    video.frame("a", CLEAN)
    assert video.inbox("a", Blur) == []  # already clear


def test_safe_start_holds_until_the_senders_own_camera_is_checked_then_lifts_at_once():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN, now=1.0)
    # b's own check has not come back yet, and b still has time: safe start holds quietly.
    assert video.inbox("a", Blur) == []
    video.frame("b", CLEAN, source=OWN, now=1.5)
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]


def test_a_sender_that_never_posts_its_own_frames_is_never_shown():
    video = Video(limits=slow_limits())
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN, now=1.0)
    assert video.inbox("a", Blur) == []
    video.frame("a", CLEAN, now=13.0)  # past own_check_seconds (12) without one
    assert video.inbox("a", Blur) == [Blur(on=True, reason="not_checked", match=video.match)]
    for now in (18.0, 23.0, 28.0):
        video.frame("a", CLEAN, now=now)
    assert video.inbox("a", Blur) == []  # still blurred, told once
    video.frame("b", NO_FACE, source=OWN, now=29.0)  # checked, nothing flagged
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]


def test_a_shown_video_is_blurred_when_the_senders_own_checks_lapse():
    video = Video(limits=slow_limits())
    video.inbox("a"), video.inbox("b")
    video.frame("b", CLEAN, source=OWN, now=1.0)
    video.frame("a", CLEAN, now=1.0)
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]
    video.frame("a", CLEAN, now=13.0)  # 12 s after b's own check: still current
    assert video.inbox("a", Blur) == []
    video.frame("a", CLEAN, now=13.5)
    assert video.inbox("a", Blur) == [Blur(on=True, reason="not_checked", match=video.match)]
    video.frame("b", CLEAN, source=OWN, now=14.0)
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]


def test_a_flagged_own_frame_does_not_count_as_checked():
    video = Video(limits=slow_limits())
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN, now=1.0)
    video.frame("b", NUDE, source=OWN, now=1.5)
    assert Blur(on=False, reason="clear", match=video.match) not in video.inbox("a")


def test_no_face_three_times_blurs_the_viewer_and_prompts_the_sender_then_ends():
    video = Video(limits=slow_limits())
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN)
    video.inbox("a")
    for _ in range(2):
        video.frame("a", NO_FACE)
    assert video.inbox("a", Blur) == [] and video.inbox("b", Notice) == []
    video.frame("a", NO_FACE)
    assert video.inbox("a", Blur) == [Blur(on=True, reason="face_not_visible", match=video.match)]
    assert video.inbox("b", Notice) == [Notice(kind="show_face", active=True, match=video.match)]
    video.frame("a", NO_FACE)
    video.frame("a", NO_FACE)
    assert video.inbox("a") == [] and video.inbox("b") == []
    video.frame("a", NO_FACE)  # the sixth in a row
    # Each side is told whose face was missing: a's page stopped seeing b's face.
    assert video.inbox("a", Ended) == [Ended(reason="no_face", match=video.match, face="partner")]
    assert video.inbox("b", Ended) == [Ended(reason="no_face", match=video.match, face="own")]
    assert video.board.sessions["a"].state is State.IDLE
    assert video.flags() == []  # no face is not a flag: no strike, no case


def test_a_face_again_lifts_the_blur_and_clears_the_prompt():
    video = Video()
    video.frame("b", CLEAN, source=OWN)
    video.inbox("a"), video.inbox("b")
    for _ in range(3):
        video.frame("a", NO_FACE)
    video.inbox("a"), video.inbox("b")
    video.frame("a", CLEAN)
    assert video.inbox("a", Blur) == [Blur(on=False, reason="clear", match=video.match)]
    assert video.inbox("b", Notice) == [Notice(kind="show_face", active=False, match=video.match)]


def test_the_senders_own_frames_prompt_it_but_never_touch_the_viewer():
    video = Video()
    video.inbox("a"), video.inbox("b")
    for _ in range(3):
        video.frame("b", NO_FACE, source=OWN)
    assert video.inbox("b", Notice) == [Notice(kind="show_face", active=True, match=video.match)]
    assert video.inbox("a") == []
    video.frame("b", CLEAN, source=OWN)
    assert video.inbox("b", Notice) == [Notice(kind="show_face", active=False, match=video.match)]
    assert video.inbox("a") == []  # a forged "own" frame cannot lift a's safe start


def test_nudity_the_viewer_sampled_blurs_ends_and_opens_a_case_but_strikes_no_one():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.run(video.board.receive("b", SendText(text="hi"), 0.5))
    video.frame("a", CLEAN)
    video.frame("a", NUDE)
    got = video.inbox("a")
    assert got[-2:] == [
        Blur(on=True, reason="nudity", match=video.match),
        Ended(reason="safety", match=video.match),
    ]
    assert video.inbox("b", Ended) == [Ended(reason="safety", match=video.match)]
    (flag,) = video.flags()
    assert flag.kind is FlagKind.NUDITY
    assert flag.subject.device == "dev-b" and flag.subject.network == "net-b"
    assert flag.sampler.device == "dev-a"
    # One viewer's word: a case for a moderator, no strike, no ban by itself ...
    assert flag.enforcement == Enforcement(review=True)
    # ... and the strike only once independent viewers agree.
    assert flag.corroboration == Corroboration(Enforcement(strike=True), 3, 24 * 3600.0)
    # The evidence: the frames a's page checked, the flagged one last, and the lines.
    assert [f.verdict for f in flag.frames] == [CLEAN, NUDE]
    assert [(line.side, line.text) for line in flag.transcript] == [("reported", "hi")]
    for side in ("a", "b"):
        assert video.board.sessions[side].watch == FrameWatch()  # nothing kept after


def test_nudity_on_the_senders_own_camera_blurs_the_partner_and_flags_the_sender():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.run(video.board.receive("b", SendText(text="hello"), 0.5))
    video.frame("b", NUDE, source=OWN)
    assert video.inbox("a")[-2:] == [
        Blur(on=True, reason="nudity", match=video.match),
        Ended(reason="safety", match=video.match),
    ]
    (flag,) = video.flags()
    assert flag.subject.device == "dev-b" and flag.sampler.device == "dev-b"
    # b's own camera is b's own evidence: the strike at once.
    assert flag.enforcement == Enforcement(strike=True) and flag.corroboration is None
    # b's own line, turned so that "reported" marks the subject.
    assert [(line.side, line.text) for line in flag.transcript] == [("reported", "hello")]


def test_nudity_on_a_teens_own_camera_bans_at_once_and_opens_a_case_for_review():
    video = Video(band=AgeBand.TEEN)
    video.frame("b", NUDE, source=OWN)
    (flag,) = video.flags()
    assert flag.pool.startswith("teen")
    assert flag.enforcement.strike and flag.enforcement.review
    assert flag.enforcement.ban_seconds == TEEN_NUDITY_BAN_SECONDS


def test_nudity_a_teen_viewer_sampled_opens_a_case_and_bans_only_when_corroborated():
    video = Video(band=AgeBand.TEEN)
    video.frame("a", NUDE)
    (flag,) = video.flags()
    assert flag.subject.device == "dev-b"
    assert flag.enforcement == Enforcement(review=True)
    assert flag.corroboration is not None
    assert flag.corroboration.enforcement.ban_seconds == TEEN_NUDITY_BAN_SECONDS


def test_a_known_abuse_hash_on_the_senders_own_camera_bans_for_good_and_escalates():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.frame("b", LISTED, source=OWN)
    assert Blur(on=True, reason="known_abuse", match=video.match) in video.inbox("a")
    (flag,) = video.flags()
    assert flag.kind is FlagKind.KNOWN_ABUSE and flag.subject.device == "dev-b"
    assert flag.enforcement.ban_seconds == PERMANENT
    assert flag.enforcement.network_ban_seconds == 30 * 24 * 3600
    assert flag.enforcement.escalate
    assert flag.verdict.hash_hit == HashHit("test-list", 4)


def test_a_known_abuse_hash_the_viewer_sampled_waits_for_a_moderator():
    video = Video()
    video.inbox("a"), video.inbox("b")
    video.frame("a", LISTED)
    assert video.inbox("a")[-2:] == [
        Blur(on=True, reason="known_abuse", match=video.match),
        Ended(reason="safety", match=video.match),
    ]
    (flag,) = video.flags()
    assert flag.kind is FlagKind.KNOWN_ABUSE and flag.subject.device == "dev-b"
    # No ban, no escalation, no corroboration that could make one: a person looks first.
    assert flag.enforcement == Enforcement(review=True) and flag.corroboration is None
    assert flag.verdict.hash_hit == HashHit("test-list", 4)


def test_a_verdict_after_the_match_ended_is_moot_unless_it_flags():
    video = Video()
    post = video.board.frame_posted("a", video.match, PARTNER, 1.0)
    late = video.board.frame_posted("a", video.match, PARTNER, 1.0)
    video.run(video.board.close("b"))
    video.inbox("a")
    assert video.board.frame_checked(post, CLEAN, b"jpeg", 2.0) == []
    (effect,) = video.board.frame_checked(late, NUDE, b"jpeg", 2.0)
    assert isinstance(effect, EnforceFlag)
    assert effect.flag.subject.device == "dev-b"
    assert [f.jpeg for f in effect.flag.frames] == [b"jpeg"]
    assert video.inbox("a") == []


def test_frames_are_refused_once_the_match_is_over_or_for_another_match():
    video = Video()
    with pytest.raises(MatchOver):
        video.board.frame_posted("a", "another-match", PARTNER, 1.0)
    with pytest.raises(MatchOver):
        video.board.frame_posted("nobody", video.match, PARTNER, 1.0)
    match = video.match
    video.run(video.board.close("b"))
    with pytest.raises(MatchOver):
        video.board.frame_posted("a", match, PARTNER, 1.0)


def test_text_matches_take_no_frames():
    board = Switchboard(Limits(), MatchRules(), frame_tokens=FrameTokens(b"k" * 32))
    mm = Matchmaker(MatchRules())
    for name in ("a", "b"):
        board.open(name, f"dev-{name}", AgeBand.ADULT, "en", 0.0)
    matched = []
    for name in ("a", "b"):
        for effect in board.receive(name, Find(mode=Mode.TEXT), 0.0):
            if isinstance(effect, Enqueue):
                for pair in mm.join(effect.ticket, 0.0):
                    matched += board.paired(pair, 0.0)
    sends = [e.message for e in matched if isinstance(e, Send)]
    assert all(isinstance(m, Matched) and m.frame_token is None for m in sends)
    with pytest.raises(MatchOver):
        board.frame_posted("a", sends[0].match, PARTNER, 1.0)


def test_a_frame_flood_is_refused_past_the_rate_and_changes_nothing():
    video = Video(limits=Limits(frame_posts_per_second=1.0, frame_post_burst=3))
    for _ in range(3):
        video.board.frame_posted("a", video.match, PARTNER, 1.0)
    with pytest.raises(LimitExceeded) as refused:
        video.board.frame_posted("a", video.match, PARTNER, 1.0)
    assert refused.value.retry_after > 0
    assert video.board.sessions["a"].watch.posts == 3
    video.board.frame_posted("b", video.match, PARTNER, 1.0)  # the other side is unaffected


def test_first_frames_and_the_teen_pool_are_checked_first():
    adult, teen = Video(), Video(band=AgeBand.TEEN)
    first = [adult.board.frame_posted("a", adult.match, PARTNER, 1.0) for _ in range(3)]
    teen_first = teen.board.frame_posted("a", teen.match, PARTNER, 1.0)
    teen_first.priority  # noqa: B018 - the property is what is tested below
    teen.board.frame_posted("a", teen.match, PARTNER, 1.0)
    teen_later = teen.board.frame_posted("a", teen.match, PARTNER, 1.0)
    assert [p.first for p in first] == [True, True, False]
    assert teen_first.priority < first[0].priority < teen_later.priority < first[2].priority


def test_a_ban_ends_the_chat_tells_every_session_of_the_device_and_closes_them():
    video = Video()
    video.board.open("a2", "dev-a", AgeBand.ADULT, "en", 0.0, network="net-x")
    video.inbox("a"), video.inbox("b")
    notice = Banned(reason="Nudity on camera", case="S-000001", until=123)
    video.run(video.board.ban("dev-a", None, notice))
    assert video.inbox("a") == [notice] and video.inbox("a2") == [notice]
    assert sorted(video.kicked) == ["a", "a2"]
    assert video.inbox("b") == [PartnerLeft(match=video.match)]
    assert video.board.sessions["a"].state is State.BANNED
    assert video.board.sessions["b"].state is State.IDLE


def test_a_network_ban_reaches_every_session_on_that_network():
    video = Video()
    video.run(video.board.ban("dev-other", "net-b", Banned(reason="r")))
    assert video.kicked == ["b"]


def test_a_report_keeps_the_checked_frames_of_both_videos():
    video = Video(limits=slow_limits(evidence_frames=2))
    for n in range(3):
        video.frame("a", CLEAN, jpeg=f"partner-{n}".encode())
        video.frame("a", CLEAN, source=OWN, jpeg=f"own-{n}".encode())
    video.run(video.board.receive("a", Report(reason=ReportReason.SEXUAL), 2.0))
    (report,) = [r for r in video.records if isinstance(r, FileReport)]
    kept = [(f.shows, f.jpeg) for f in report.filing.frames]
    assert kept == [
        (PARTNER, b"partner-1"),
        (OWN, b"own-1"),
        (PARTNER, b"partner-2"),
        (OWN, b"own-2"),
    ]


def test_two_strikes_in_a_day_earn_a_day_long_ban():
    assert ban_after_strikes(1) is None
    assert ban_after_strikes(2) == STRIKE_BAN_SECONDS == 24 * 3600
    assert ban_after_strikes(5) == STRIKE_BAN_SECONDS


def test_judge_refuses_inconsistent_face_limits():
    with pytest.raises(ValueError):
        judge(FrameWatch(), PARTNER, CLEAN, no_face_blur=4, no_face_end=3)
    assert judge(FrameWatch(), PARTNER, CLEAN).outcome is Outcome.UNBLUR
