"""Frame checkers that inject a verdict, for tests of the code around the detectors.

A server started with ``STRANGERS_FRAME_CHECKER=tests.checkers:scripted`` reads the
verdict a test wants from a JPEG comment segment (``VERDICT:<name>``) that
:func:`with_verdict` writes into a benign frame; frames without one are clean. A
facial age estimate is injected the same way (``AGE:<years>``, :func:`with_age`) and is
given only when the check asks for one (``estimate_age``, own-camera frames), as the
real checker does; the two markers combine. The real detectors are tested on their own
(``tests/safety``)."""

from __future__ import annotations

import dataclasses
import re
import struct
from typing import Any

from strangers.core.frames import AgeEstimate, FrameVerdict, HashHit
from strangers.safety.checker import CheckResult
from strangers.safety.jpeg import decode_jpeg

VERDICTS = {
    "clean": FrameVerdict(face=True),
    "no_face": FrameVerdict(face=False),
    "nudity": FrameVerdict(nudity=("FEMALE_BREAST_EXPOSED",), face=True),
    "known_abuse": FrameVerdict(face=True, hash_hit=HashHit("test-list", 3)),
}


#: The confidence an injected age estimate carries.
AGE_CONFIDENCE = 0.9
#: Markers are looked for in the first bytes only: they are written right after SOI.
_MARKER_SPAN = 256
_AGE = re.compile(rb"AGE:(\d+(?:\.\d+)?)")


def _with_comment(jpeg: bytes, body: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def with_verdict(jpeg: bytes, name: str) -> bytes:
    """``jpeg`` with a COM segment carrying the verdict to inject."""
    assert name in VERDICTS
    return _with_comment(jpeg, f"VERDICT:{name}".encode())


def with_age(jpeg: bytes, years: float) -> bytes:
    """``jpeg`` with a COM segment carrying the facial age estimate to inject
    (``AgeEstimate(years, 0.9)`` on checks that ask for one); combines with
    :func:`with_verdict` in either order."""
    assert years >= 0
    return _with_comment(jpeg, f"AGE:{years:g}".encode())


class Scripted:
    estimates_age = True

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        decode_jpeg(jpeg)  # the real decoder still refuses what is not a JPEG
        head = jpeg[:_MARKER_SPAN]
        verdict = next(
            (v for name, v in VERDICTS.items() if f"VERDICT:{name}".encode() in head),
            VERDICTS["clean"],
        )
        found = _AGE.search(head)
        # Like the real checker: an estimate only when asked and a face was found.
        if estimate_age and found is not None and verdict.face:
            verdict = dataclasses.replace(
                verdict, age=AgeEstimate(float(found.group(1)), AGE_CONFIDENCE)
            )
        return CheckResult(verdict=verdict, stages={})


def scripted(**_settings: Any) -> Scripted:
    return Scripted()


class Faceless(Scripted):
    """Finds no face on any frame, as for a camera turned off or a face out of view
    (the browser's fake camera shows no face either): the no-face rules of
    docs/design.md §6 without a picture that would have to be faceless."""

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        decode_jpeg(jpeg)
        return CheckResult(verdict=VERDICTS["no_face"], stages={})


def faceless(**_settings: Any) -> Faceless:
    return Faceless()
