"""Frame checkers that inject a verdict, for tests of the code around the detectors.

A server started with ``STRANGERS_FRAME_CHECKER=tests.checkers:scripted`` reads the
verdict a test wants from a JPEG comment segment (``VERDICT:<name>``) that
:func:`with_verdict` writes into a benign frame; frames without one are clean. The
real detectors are tested on their own (``tests/safety``)."""

from __future__ import annotations

import struct
from typing import Any

from strangers.core.frames import FrameVerdict, HashHit
from strangers.safety.checker import CheckResult
from strangers.safety.jpeg import decode_jpeg

VERDICTS = {
    "clean": FrameVerdict(face=True),
    "no_face": FrameVerdict(face=False),
    "nudity": FrameVerdict(nudity=("FEMALE_BREAST_EXPOSED",), face=True),
    "known_abuse": FrameVerdict(face=True, hash_hit=HashHit("test-list", 3)),
}


def with_verdict(jpeg: bytes, name: str) -> bytes:
    """``jpeg`` with a COM segment carrying the verdict to inject."""
    assert name in VERDICTS and jpeg[:2] == b"\xff\xd8"
    body = f"VERDICT:{name}".encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


class Scripted:
    def check(self, jpeg: bytes) -> CheckResult:
        decode_jpeg(jpeg)  # the real decoder still refuses what is not a JPEG
        for name, verdict in VERDICTS.items():
            if f"VERDICT:{name}".encode() in jpeg[:64]:
                return CheckResult(verdict=verdict, stages={})
        return CheckResult(verdict=VERDICTS["clean"], stages={})


def scripted(**_settings: Any) -> Scripted:
    return Scripted()
