"""What the built-in facial age estimator says on every benign face obtainable offline
(docs/safety.md, "Age from the camera" → "What the model says").

All pictures ship inside scikit-image: the astronaut Eileen Collins and the cameraman
(adults), its LFW subset (100 adult faces of public figures, 25×25 grey crops, and 100
non-face patches), and faceless scenes. Every frame goes through the real
:class:`~strangers.safety.checker.ModelFrameChecker` with ``estimate_age=True``, as an
own-camera frame would: decode, NudeNet, the Haar fallback, then the age model on the
face box found. Nothing here is a child's face: accuracy on children cannot be
measured with these pictures.

    .venv/bin/python bench/age_eval.py
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.safety.pictures import ASTRONAUT, FACELESS_FRAMES, OTHER_FRAMES, rgb

from strangers.safety.age import DlibAgeEstimator
from strangers.safety.checker import ModelFrameChecker


def encode(image: np.ndarray, quality: int = 80) -> bytes:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb(image), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return data.tobytes()


def frame(image: np.ndarray, width: int, quality: int = 80) -> bytes:
    image = rgb(image)
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return encode(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), quality)


def summary(name: str, ages: list[float | None]) -> None:
    found = [a for a in ages if a is not None]
    share = 1 - len(found) / len(ages)
    if found:
        spread = max(found) - min(found)
        stdev = statistics.pstdev(found)
        print(
            f"{name:<44} n={len(ages):>3}  no estimate {share:5.0%}  "
            f"median {statistics.median(found):5.1f}  min {min(found):4.0f}  "
            f"max {max(found):4.0f}  spread {spread:4.0f}  sd {stdev:4.1f}  "
            f"<18: {sum(a < 18 for a in found)}  <16: {sum(a < 16 for a in found)}  "
            f"longest run <16: {longest_run(ages, 16)}"
        )
    else:
        print(f"{name:<44} n={len(ages):>3}  no estimate {share:5.0%}")


def longest_run(ages: list[float | None], under: float) -> int:
    """The most estimates in a row under ``under`` (a frame with no estimate breaks a
    run): what a rule acting on several estimates in a row would see."""
    best = run = 0
    for age in ages:
        run = run + 1 if age is not None and age < under else 0
        best = max(best, run)
    return best


def ages(checker: ModelFrameChecker, frames: Iterable[bytes]) -> list[float | None]:
    out: list[float | None] = []
    for jpeg in frames:
        age = checker.check(jpeg, estimate_age=True).verdict.age
        out.append(None if age is None else age.years)
    return out


def jittered(image: np.ndarray, count: int, seed: int) -> list[bytes]:
    """``count`` 320×240 webcam-like windows of ``image``: shifted up to 8% and zoomed
    ±10% from frame to frame, as a chatter moving in front of a camera."""
    image = rgb(image)
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    base = min(width, height * 4 // 3)
    frames = []
    for _ in range(count):
        side = int(base * rng.uniform(0.9, 1.0))
        left = int(rng.uniform(0, width - side + 1))
        top = int(rng.uniform(0, max(1, height - side * 3 // 4) + 1))
        window = image[top : top + side * 3 // 4, left : left + side]
        frames.append(frame(window, 320, int(rng.integers(60, 90))))
    return frames


def lfw_frames() -> tuple[list[bytes], list[bytes]]:
    """LFW's 100 faces and 100 non-face patches, each scaled to 60–140 px and pasted
    into a 320×240 scene (as tests/safety/test_checker.py builds them)."""
    patches = skimage.data.lfw_subset()
    scenes = [
        skimage.data.rocket(),
        skimage.data.coffee(),
        skimage.data.brick(),
        ASTRONAUT[320:],
        skimage.data.stereo_motorcycle()[0],
    ]
    rng = np.random.default_rng(1)
    made: list[bytes] = []
    for index in range(200):
        scene = rgb(scenes[index % len(scenes)])
        side = min(scene.shape[1], scene.shape[0] * 4 // 3)
        canvas = cv2.resize(scene[: side * 3 // 4, :side], (320, 240), interpolation=cv2.INTER_AREA)
        size = int(rng.integers(60, 141))
        patch = cv2.resize(rgb(patches[index]), (size, size), interpolation=cv2.INTER_CUBIC)
        x, y = int(rng.integers(0, 320 - size)), int(rng.integers(0, 240 - size))
        canvas[y : y + size, x : x + size] = patch
        made.append(encode(canvas))
    return made[:100], made[100:]


def main() -> None:
    checker = ModelFrameChecker(age_estimator=DlibAgeEstimator(instances=1))
    print("Age estimates through the frame checker (estimate_age=True), in years\n")

    print("The astronaut (adult), whole portrait, by frame width (JPEG quality 80):")
    for width in (128, 160, 240, 320, 480, 640):
        summary(f"  astronaut {width} px", ages(checker, [frame(ASTRONAUT, width)]))
    print("The astronaut at 320 px by JPEG quality:")
    for quality in (20, 40, 60, 80, 95):
        summary(f"  astronaut q{quality}", ages(checker, [frame(ASTRONAUT, 320, quality)]))
    print("The same face over frames (webcam-like jitter, 320×240, q60–90):")
    summary("  astronaut, 40 frames", ages(checker, jittered(ASTRONAUT, 40, seed=2)))
    summary("  cameraman, 40 frames", ages(checker, jittered(skimage.data.camera(), 40, seed=3)))

    faces, non_faces = lfw_frames()
    print("scikit-image's LFW subset (adults; 25×25 grey crops scaled to 60–140 px):")
    summary("  100 faces pasted into scenes", ages(checker, faces))
    summary("  100 non-face patches pasted into scenes", ages(checker, non_faces))

    print("Faceless and other benign frames (tests/safety/pictures.py):")
    for name, jpeg in {**FACELESS_FRAMES, **OTHER_FRAMES}.items():
        summary(f"  {name}", ages(checker, [jpeg]))


if __name__ == "__main__":
    main()
