"""The shape of sealed evidence: what a report's or a flag's frames, lines, parties
and address captures become as JSON before :meth:`Store.seal` encrypts them.

The digest of each frame lets a law-enforcement report name the exact bytes kept
(``moderation/cybertip``); the side names are the case's ("reporter"/"reported" for a
report, "subject"/"other" for a flag).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict, HashHit
from strangers.core.reports import Line, Party


@dataclass(frozen=True)
class AddressCapture:
    """A session's raw network address as the gateway saw it, with when and how.

    The gateway keeps it in memory for the session only; the records take it only to
    seal it into the evidence of a critical or escalated case (a report to the
    CyberTipline needs the address at the time, 18 U.S.C. 2258A(b)(1)). It is never
    stored anywhere else, never logged, never in a column.
    """

    address: str
    at: float  # unix time the address was seen
    event: str = "connect"  # what happened then: the chat socket's connection


def hit_json(hit: HashHit | None) -> dict[str, Any] | None:
    return None if hit is None else {"label": hit.label, "distance": hit.distance}


def verdict_json(verdict: FrameVerdict) -> dict[str, Any]:
    return {
        "nudity": list(verdict.nudity),
        "face": verdict.face,
        "hash_hit": hit_json(verdict.hash_hit),
        "scores": [[name, score] for name, score in verdict.scores],
    }


def frames_json(
    match: str, sampled_by: str, frames: Sequence[CheckedFrame], shows: Mapping[FrameSource, str]
) -> dict[str, Any]:
    """Frames as evidence; ``shows`` names whose video each source is, in the case's
    terms. The digest lets a law-enforcement report name the exact bytes kept."""
    return {
        "match": match,
        "sampled_by": sampled_by,
        "frames": [
            {
                "at": frame.at,
                "shows": shows[frame.shows],
                "jpeg": base64.b64encode(frame.jpeg).decode("ascii"),
                "sha256": hashlib.sha256(frame.jpeg).hexdigest(),
                "verdict": verdict_json(frame.verdict),
            }
            for frame in frames
        ],
    }


def lines_json(lines: Sequence[Line], sides: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"at": line.at, "side": sides[line.side], "text": line.text} for line in lines]


def capture_json(capture: AddressCapture) -> dict[str, Any]:
    return {
        "address": capture.address,
        "at": datetime.fromtimestamp(capture.at, UTC).isoformat(),
        "event": capture.event,
    }


def party_json(party: Party) -> dict[str, str]:
    return {"device": party.device, "network": party.network, "session": party.session}
