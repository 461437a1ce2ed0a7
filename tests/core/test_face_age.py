"""Age from the camera (docs/safety.md, "Age from the camera"): the challenge-age policy
alone, then through the switchboard with injected estimates of the chatters' own faces."""

import pytest

from strangers.core.face_age import (
    FaceAgeOutcome,
    FaceAgeRules,
    FaceAgeWatch,
    judge_face_age,
)
from strangers.core.flags import FlagKind
from strangers.core.frames import AgeEstimate, FrameSource, FrameVerdict
from strangers.core.messages import AgeBand, Ended
from strangers.core.switchboard import Restage

from .test_video_policy import Video, slow_limits

RULES = FaceAgeRules()  # challenge 16, clearly adult 30, 3 in a row


def judge(watch, years, *, teen=False, rules=RULES):
    return judge_face_age(watch, AgeEstimate(years, 0.9), teen=teen, rules=rules)


def test_estimates_under_the_challenge_age_in_a_row_act_in_the_adult_pool():
    watch = FaceAgeWatch()
    assert judge(watch, 11.0).outcome is FaceAgeOutcome.NOTHING
    assert judge(watch, 13.5).outcome is FaceAgeOutcome.NOTHING
    judged = judge(watch, 12.2)
    assert judged.outcome is FaceAgeOutcome.UNDER_CHALLENGE
    assert judged.age == 12  # the median, rounded down: locks as a child
    assert judged.signals == (("face_age", 11.0), ("face_age", 13.5), ("face_age", 12.2))
    assert watch.estimates == []  # the next decision needs new estimates


def test_one_estimate_in_the_uncertain_band_breaks_the_run():
    watch = FaceAgeWatch()
    for years in (12.0, 12.0, 19.0, 12.0, 12.0):
        assert judge(watch, years).outcome is FaceAgeOutcome.NOTHING
    assert judge(watch, 12.0).outcome is FaceAgeOutcome.UNDER_CHALLENGE


@pytest.mark.parametrize("years", [16.0, 17.9, 22.0, 29.9])
def test_the_uncertain_band_does_nothing_in_either_pool(years):
    adults, teens = FaceAgeWatch(), FaceAgeWatch()
    for _ in range(6):
        assert judge(adults, years).outcome is FaceAgeOutcome.NOTHING
        assert judge(teens, years, teen=True).outcome is FaceAgeOutcome.NOTHING
    assert len(adults.estimates) == 6  # kept, as numbers, for a moderator


def test_clearly_adult_estimates_in_a_row_act_in_the_teen_pool_only():
    teens, adults = FaceAgeWatch(), FaceAgeWatch()
    for years in (34.0, 41.0):
        assert judge(teens, years, teen=True).outcome is FaceAgeOutcome.NOTHING
        assert judge(adults, years).outcome is FaceAgeOutcome.NOTHING
    judged = judge(teens, 30.0, teen=True)
    assert (judged.outcome, judged.age) == (FaceAgeOutcome.CLEARLY_ADULT, 34)
    assert judge(adults, 30.0).outcome is FaceAgeOutcome.NOTHING
    # A child's face in the teen pool is not this policy's business (the age lock is).
    kids = FaceAgeWatch()
    for _ in range(4):
        assert judge(kids, 10.0, teen=True).outcome is FaceAgeOutcome.NOTHING


def test_only_the_newest_estimates_are_kept():
    watch = FaceAgeWatch()
    for years in range(20, 40):
        judge(watch, float(years))
    assert watch.estimates == [float(y) for y in range(30, 40)]


@pytest.mark.parametrize(
    "kw",
    [
        {"challenge_age": 19.0},
        {"challenge_age": 0.0},
        {"clearly_adult": 17.0},
        {"checks": 0},
        {"checks": 11},
    ],
)
def test_rules_refuse_settings_that_would_cross_18(kw):
    with pytest.raises(ValueError):
        FaceAgeRules(**kw)


# --- through the switchboard -----------------------------------------------------------


def aged(years):
    return FrameVerdict(face=True, age=AgeEstimate(years, 0.9))


class Deferred(Video):
    def __init__(self, band=AgeBand.ADULT):
        super().__init__(band, slow_limits())
        self.deferred: list[object] = []

    def other(self, effect):
        super().other(effect)
        if isinstance(effect, Restage):
            self.deferred.append(effect)


def test_a_childs_face_in_the_adult_pool_ends_the_match_and_restages_without_a_case():
    video = Deferred()
    for i in range(3):
        video.frame("a", aged(11.0 + i * 0.5), source=FrameSource.OWN, now=1.0 + i)
    assert video.inbox("b", Ended) == [Ended(reason="safety", match=video.match)]
    assert video.inbox("a", Ended) == [Ended(reason="safety", match=video.match)]
    assert video.deferred == [Restage("a", "dev-a", 11)]
    assert video.flags() == []  # a child is not a suspect


def test_an_adult_face_in_the_teen_pool_ends_it_opens_a_case_and_bars_the_device():
    video = Deferred(AgeBand.TEEN)
    for i in range(3):
        video.frame("a", aged(35.0), source=FrameSource.OWN, now=1.0 + i)
    assert video.inbox("b", Ended) == [Ended(reason="safety", match=video.match)]
    (flag,) = video.flags()
    assert flag.kind is FlagKind.ADULT_IN_TEEN and flag.subject.device == "dev-a"
    assert flag.enforcement.review and flag.enforcement.ban_seconds is None
    assert ("face_age", 35.0) in flag.signals
    assert all(frame.shows is FrameSource.OWN for frame in flag.frames)
    assert video.deferred == [Restage("a", "dev-a", 35)]


def test_an_estimate_on_the_strangers_video_is_not_the_viewers_business():
    """Only the poster's own camera says anything of its age: a viewer cannot post the
    stranger's video with forged estimates to send the stranger back."""
    video = Deferred()
    for i in range(5):
        video.frame("a", aged(10.0), source=FrameSource.PARTNER, now=1.0 + i)
    assert video.deferred == [] and video.flags() == []
    assert video.board.sessions["b"].face_ages.estimates == []
