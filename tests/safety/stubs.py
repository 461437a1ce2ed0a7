"""Checkers for tests: load_checker's ``package.module:attr`` targets, and the stand-in
the pool's tests drive (its check blocks until the test lets it go)."""

from __future__ import annotations

import os
import signal
import threading
import time

from strangers.core.frames import FrameVerdict, HashHit
from strangers.safety.checker import CheckResult
from strangers.safety.jpeg import FrameRejected

NOT_CALLABLE = 42


class FixedChecker:
    """Returns the verdict it was made with, for every frame."""

    def __init__(self, *, verdict: FrameVerdict | None = None, **_: object) -> None:
        self.verdict = verdict or FrameVerdict()

    def check(self, jpeg: bytes) -> CheckResult:
        return CheckResult(self.verdict, {})


def make_fixed(*, label: str) -> FixedChecker:
    return FixedChecker(verdict=FrameVerdict(hash_hit=HashHit(label, 0)))


def make_nothing() -> object:
    return object()


#: Verdicts the gated checker gives by the frame's bytes; anything else is clean.
VERDICTS = {
    b"nudity": FrameVerdict(nudity=("FEMALE_BREAST_EXPOSED",)),
    b"no face": FrameVerdict(face=False),
    b"known": FrameVerdict(hash_hit=HashHit("list-1", 3)),
}
STAGES = {"decode": 0.001, "nudity": 0.02, "face": 0.0001, "hash": 0.001, "odd": 1.0}


class GatedChecker:
    """Records the frames it is given, in order, and blocks each call until ``gate`` is
    set. ``b"reject"`` raises FrameRejected, ``b"boom"`` a RuntimeError."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.started: list[bytes] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def check(self, jpeg: bytes) -> CheckResult:
        with self._lock:
            self.started.append(jpeg)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.entered.release()
        try:
            if not self.gate.wait(timeout=10):
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.001)
            if jpeg == b"reject":
                raise FrameRejected("not_jpeg", "The frame is not a JPEG image.")
            if jpeg == b"boom":
                raise RuntimeError("the checker broke")
            return CheckResult(VERDICTS.get(jpeg, FrameVerdict()), dict(STAGES))
        finally:
            with self._lock:
                self.running -= 1


class Misbehaving:
    """A checker for the check-worker tests (``safety/workers.py``), run by name in a
    worker process; what it does depends on the frame's bytes: ``b"sleep:S"`` sleeps S
    seconds, ``b"crash"`` dies as a segfault does (SIGSEGV), ``b"boom"`` raises,
    ``b"nan"`` answers a score that is no number, ``b"odd"`` a face source no checker
    has, ``b"reject"`` raises FrameRejected; anything else is clean, with the worker's
    pid as the only stage's name (``pid:<n>``), so a test can tell the workers apart."""

    def check(self, jpeg: bytes) -> CheckResult:
        if jpeg.startswith(b"sleep:"):
            time.sleep(float(jpeg[6:]))
        elif jpeg == b"crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif jpeg == b"boom":
            raise RuntimeError("the checker broke")
        elif jpeg == b"nan":
            return CheckResult(FrameVerdict(scores=(("FACE_FEMALE", float("nan")),)), {})
        elif jpeg == b"odd":
            return CheckResult(FrameVerdict(), {}, "elsewhere")  # type: ignore[arg-type]
        elif jpeg == b"reject":
            raise FrameRejected("not_jpeg", "The frame is not a JPEG image.")
        return CheckResult(FrameVerdict(), {f"pid:{os.getpid()}": 0.0})


def misbehaving(**_settings: object) -> Misbehaving:
    return Misbehaving()


def slow_to_load(**_settings: object) -> FixedChecker:
    """A checker that takes 2 s to load, as the models do on a busy machine."""
    time.sleep(2.0)
    return FixedChecker()
