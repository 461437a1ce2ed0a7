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
