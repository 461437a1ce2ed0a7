"""A frame checker for browser tests that finds nudity on every frame, without
looking at it (the cameras show benign pictures only).

Loaded by the server through ``STRANGERS_FRAME_CHECKER=fake_checker:nudity_checker``
with this folder on its ``PYTHONPATH``. A plain module, no package-relative imports.
"""

from __future__ import annotations

from typing import Any


class NudityChecker:
    """Says every frame shows an exposed breast, with a face."""

    def check(self, jpeg: bytes) -> Any:
        from strangers.core.frames import FrameVerdict
        from strangers.safety.checker import CheckResult

        verdict = FrameVerdict(nudity=("FEMALE_BREAST_EXPOSED",), face=True)
        return CheckResult(verdict=verdict, stages={})


def nudity_checker(**kwargs: object) -> NudityChecker:
    return NudityChecker()


class AgeChecker:
    """Finds a face on every frame and nothing else; on frames of a page's own camera
    (``estimate_age``) it gives an age estimate: ``marked`` years when the frame carries
    the green square of :func:`cameras.marked_face_picture` in its top-left corner,
    ``plain`` years otherwise. The cameras show the same benign portrait; only the mark
    tells the two chatters apart."""

    estimates_age = True

    def __init__(self, marked: float, plain: float) -> None:
        self.marked, self.plain = marked, plain

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> Any:
        from strangers.core.frames import AgeEstimate, FrameVerdict
        from strangers.safety.checker import CheckResult
        from strangers.safety.jpeg import decode_jpeg

        age = None
        if estimate_age:
            image = decode_jpeg(jpeg)  # BGR
            corner = image[2:14, 2:14].reshape(-1, 3).mean(axis=0)
            green = corner[1] > 150 and corner[0] < 100 and corner[2] < 100
            age = AgeEstimate(self.marked if green else self.plain, 0.9)
        return CheckResult(verdict=FrameVerdict(face=True, age=age), stages={})


def age_checker(**kwargs: object) -> AgeChecker:
    """``STRANGERS_TEST_MARKED_AGE`` and ``STRANGERS_TEST_PLAIN_AGE`` set the two ages."""
    import os

    return AgeChecker(
        float(os.environ.get("STRANGERS_TEST_MARKED_AGE", "11")),
        float(os.environ.get("STRANGERS_TEST_PLAIN_AGE", "30")),
    )
