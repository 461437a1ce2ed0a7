"""The built-in checker on real models (NudeNet on onnxruntime, OpenCV's Haar cascade,
PDQ), offline, on benign pictures only: made here or shipped inside scikit-image."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import skimage.data

from strangers.core.frames import FrameVerdict, HashHit
from strangers.safety.checker import (
    FLAGGED_CLASSES,
    CheckResult,
    FrameChecker,
    ModelFrameChecker,
    NudityThresholds,
    load_checker,
)
from strangers.safety.hashes import PDQ_MIN_QUALITY, HashList, pdq_hex
from strangers.safety.jpeg import FrameRejected, decode_jpeg
from strangers.safety.pool import CheckPool

from . import stubs
from .pictures import (
    ASTRONAUT,
    BENIGN_FRAMES,
    FACE_FRAMES,
    FACELESS_FRAMES,
    gradient,
    jpeg,
    rgb,
)


@pytest.fixture(scope="module")
def checker() -> ModelFrameChecker:
    return ModelFrameChecker()


def _lfw_frames(count: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` of the LFW faces shipped with scikit-image (25×25 crops) and as many
    of its non-face patches, each scaled to 60–140 px and pasted into a 320×240 scene."""
    patches = skimage.data.lfw_subset()  # 100 faces, then 100 non-faces
    scenes = [
        skimage.data.rocket(),
        skimage.data.coffee(),
        skimage.data.brick(),
        ASTRONAUT[320:],
        skimage.data.stereo_motorcycle()[0],
    ]
    rng = np.random.default_rng(1)
    made: list[bytes] = []
    for index in [*range(count), *range(100, 100 + count)]:
        scene = rgb(scenes[index % len(scenes)])
        side = min(scene.shape[1], scene.shape[0] * 4 // 3)
        frame = cv2.resize(scene[: side * 3 // 4, :side], (320, 240), interpolation=cv2.INTER_AREA)
        size = int(rng.integers(60, 140))
        patch = cv2.resize(rgb(patches[index]), (size, size), interpolation=cv2.INTER_CUBIC)
        top, left = int(rng.integers(0, 240 - size)), int(rng.integers(0, 320 - size))
        frame[top : top + size, left : left + size] = patch
        made.append(jpeg(frame))
    return made[:count], made[count:]


def test_the_model_loads_and_checks_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the frame checker tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    offline = ModelFrameChecker()
    result = offline.check(FACE_FRAMES["astronaut"])
    assert isinstance(offline, FrameChecker)
    assert set(result.stages) == {"decode", "nudity", "face"}


@pytest.mark.parametrize("name", sorted(BENIGN_FRAMES))
def test_benign_pictures_show_no_nudity(checker, name):
    verdict = checker.check(BENIGN_FRAMES[name]).verdict
    assert verdict.nudity == ()
    assert verdict.hash_hit is None


@pytest.mark.parametrize("name", sorted(FACE_FRAMES))
def test_a_face_is_found_on_portraits_by_nudenet(checker, name):
    result = checker.check(FACE_FRAMES[name])
    assert result.verdict.face and result.face_source == "nudenet"
    assert any(label.startswith("FACE_") for label, _ in result.verdict.scores)


@pytest.mark.parametrize("name", sorted(FACELESS_FRAMES))
def test_no_face_on_faceless_frames_by_either_detector(checker, name):
    frame = FACELESS_FRAMES[name]
    result = checker.check(frame)
    assert not result.verdict.face and result.face_source is None
    assert not result.verdict.clean
    # The Haar fallback ran (the face stage took time of its own) and found nothing.
    assert not checker.find_face(decode_jpeg(frame))


def test_the_haar_cascade_alone_finds_the_portrait():
    portrait = decode_jpeg(FACE_FRAMES["astronaut"])
    assert ModelFrameChecker().find_face(portrait)
    # A wider frame is scaled down to 320 px first and the face is still found.
    wide = decode_jpeg(jpeg(ASTRONAUT, width=800), max_bytes=1 << 20, max_pixels=1 << 20)
    assert ModelFrameChecker().find_face(wide)


def test_the_haar_fallback_finds_faces_nudenet_misses_and_no_false_ones(checker):
    faces, non_faces = _lfw_frames(30)
    found = [checker.check(frame).face_source for frame in faces]
    assert sum(source is not None for source in found) >= 27
    by_haar = [frame for frame, source in zip(faces, found, strict=True) if source == "haar"]
    assert len(by_haar) >= 5  # small grey faces that NudeNet scores under 0.35
    assert all(checker.check(frame).face_source is None for frame in non_faces)
    without_haar = ModelFrameChecker(haar_fallback=False)
    assert not any(without_haar.check(frame).verdict.face for frame in by_haar)


def test_scores_are_detections_over_0_2_rounded_best_first(checker):
    scores = checker.check(FACE_FRAMES["astronaut"]).verdict.scores
    assert 1 <= len(scores) <= 10
    values = [score for _, score in scores]
    assert values == sorted(values, reverse=True) and all(v >= 0.2 for v in values)
    assert all(round(v, 3) == v for v in values)


def test_thresholds_decide_what_counts_as_nudity(checker):
    # A colour wheel is a known false positive of NudeNet 3.4 (BUTTOCKS_EXPOSED about
    # 0.77): a benign picture that exercises the flagging path and its thresholds.
    wheel = jpeg(skimage.data.colorwheel())
    score = dict(checker.check(wheel).verdict.scores)["BUTTOCKS_EXPOSED"]
    assert 0.6 < score < 0.9
    assert checker.check(wheel).verdict.nudity == ("BUTTOCKS_EXPOSED",)
    stricter = ModelFrameChecker(nudity=NudityThresholds(0.5, {"BUTTOCKS_EXPOSED": 0.95}))
    assert stricter.check(wheel).verdict.nudity == ()
    assert ModelFrameChecker(nudity=NudityThresholds(0.95)).check(wheel).verdict.nudity == ()


def test_threshold_settings_are_validated():
    assert NudityThresholds().for_class("ANUS_EXPOSED") == 0.5
    assert NudityThresholds(0.4, {"ANUS_EXPOSED": 0.3}).for_class("ANUS_EXPOSED") == 0.3
    assert NudityThresholds().for_class("MALE_BREAST_EXPOSED") == float("inf")
    assert NudityThresholds(0.6) == NudityThresholds(0.6, {})
    assert len(FLAGGED_CLASSES) == 5
    for bad in (0, -0.1, 1.5, True, "0.5", float("nan")):
        with pytest.raises(ValueError):
            NudityThresholds(bad)
        with pytest.raises(ValueError):
            NudityThresholds(0.5, {"ANUS_EXPOSED": bad})
    with pytest.raises(ValueError, match="not a flagged class"):
        NudityThresholds(0.5, {"FACE_FEMALE": 0.5})
    with pytest.raises(ValueError):
        ModelFrameChecker(face_threshold=0)


def test_a_listed_frame_is_matched_after_reencoding(checker):
    listed = HashList([(pdq_hex(jpeg(skimage.data.coffee(), width=600, quality=95)), "case-9")])
    hashing = ModelFrameChecker(hashes=listed)
    copy = jpeg(skimage.data.coffee(), quality=60)
    result = hashing.check(copy)
    assert result.verdict.hash_hit is not None and result.verdict.hash_hit.label == "case-9"
    assert result.verdict.hash_hit.distance <= 10 and "hash" in result.stages
    assert result.hash_quality is not None and result.hash_quality >= PDQ_MIN_QUALITY
    assert hashing.check(FACE_FRAMES["astronaut"]).verdict.hash_hit is None
    # No list, or an empty one: no hashing at all.
    assert "hash" not in checker.check(copy).stages
    assert "hash" not in ModelFrameChecker(hashes=HashList()).check(copy).stages


def test_a_flat_frame_is_not_matched_even_when_listed():
    flat = jpeg(gradient())
    hashing = ModelFrameChecker(hashes=HashList([(pdq_hex(flat), "flat")]))
    result = hashing.check(flat)
    assert result.hash_quality is not None and result.hash_quality < PDQ_MIN_QUALITY
    assert result.verdict.hash_hit is None


def test_bad_bytes_are_rejected(checker):
    for bad in (b"", b"GIF89a", FACE_FRAMES["astronaut"][:500]):
        with pytest.raises(FrameRejected):
            checker.check(bad)


def test_checks_from_many_threads_agree_with_one_thread(checker):
    frames = list(BENIGN_FRAMES.values())
    alone = [checker.check(frame) for frame in frames]
    with ThreadPoolExecutor(4) as threads:
        together = list(threads.map(checker.check, frames * 2))
    assert [r.verdict for r in together] == [r.verdict for r in alone] * 2
    assert [r.face_source for r in together] == [r.face_source for r in alone] * 2


async def test_the_real_checker_through_the_pool(checker):
    pool = CheckPool(checker, workers=2, capacity=8)
    try:
        results = await asyncio.gather(
            pool.check(FACE_FRAMES["astronaut"], priority=1),
            pool.check(FACELESS_FRAMES["rocket on its pad"], priority=3),
        )
    finally:
        await pool.close()
    assert [r.verdict.face for r in results] == [True, False]


def test_load_checker_builtin_and_an_operators_own():
    assert isinstance(load_checker("builtin", haar_fallback=False), ModelFrameChecker)
    verdict = FrameVerdict(face=False)
    injected = load_checker("tests.safety.stubs:FixedChecker", verdict=verdict)
    assert isinstance(injected, stubs.FixedChecker)
    assert injected.check(b"anything") == CheckResult(verdict, {})
    made = load_checker("tests.safety.stubs:make_fixed", label="x")
    assert made.check(b"").verdict.hash_hit == HashHit("x", 0)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Builtin",
        "tests.safety.stubs",
        "tests.safety.stubs:",
        ":FixedChecker",
        "tests.safety.no_such_module:FixedChecker",
        "tests.safety.stubs:NoSuchThing",
        "tests.safety.stubs:NOT_CALLABLE",
        "tests.safety.stubs:make_nothing",
    ],
)
def test_load_checker_refuses_a_bad_spec_clearly(spec):
    with pytest.raises(ValueError, match="frame checker"):
        load_checker(spec)
