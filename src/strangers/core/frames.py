"""Sampled video frames and what the checks found on them (docs/design.md §6, video).

The detectors in ``strangers.safety`` produce a :class:`FrameVerdict` per frame; the
policy in :mod:`strangers.core.video` turns verdicts into effects; a
:class:`CheckedFrame` is what stays in memory while a match lasts, as the evidence a
report or a flag preserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: PDQ match threshold (docs/design.md §6; Meta's PDQ paper recommends ≤ 31 of 256 bits).
PDQ_MATCH_DISTANCE: Final = 31


class FrameSource(StrEnum):
    """Whose video a sampled frame shows, from the sampling page's point of view."""

    PARTNER = "partner"  # the stranger's incoming video: the sender cannot opt out
    OWN = "own"  # the page's own camera


@dataclass(frozen=True, slots=True)
class HashHit:
    """A frame whose PDQ hash is within :data:`PDQ_MATCH_DISTANCE` of a listed one."""

    label: str
    distance: int


@dataclass(frozen=True, slots=True)
class AgeEstimate:
    """A facial age estimate of the face on a frame of the chatter's own camera
    (docs/safety.md, "Age from the camera"): ``years`` as the estimator gives it, and its
    ``confidence`` in [0, 1] (0 when the estimator reports none). A number, never the
    face: nothing of the image is kept with it."""

    years: float
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class FrameVerdict:
    """What the checks found on one frame.

    ``nudity``: the exposed-body classes that reached their thresholds (empty: none).
    ``face``: whether a face was found. ``hash_hit``: a known-abuse match, if any.
    ``scores``: every detection as (class, score), kept with the evidence for the
    moderator's case page. ``age``: the facial age estimate, on frames of the poster's
    own camera when an estimator runs and found a face (``None`` otherwise).
    """

    nudity: tuple[str, ...] = ()
    face: bool = True
    hash_hit: HashHit | None = None
    scores: tuple[tuple[str, float], ...] = ()
    age: AgeEstimate | None = None

    @property
    def clean(self) -> bool:
        return not self.nudity and self.face and self.hash_hit is None


@dataclass(frozen=True, slots=True)
class CheckedFrame:
    """A checked frame kept in memory while its match lasts (docs/design.md §6, evidence).

    ``shows`` is relative to the session that sampled it; ``at`` is seconds since the
    match began.
    """

    at: float
    shows: FrameSource
    jpeg: bytes
    verdict: FrameVerdict
