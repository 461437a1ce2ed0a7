"""Reports: what a chatter files against a stranger, and what is kept with it.

A report carries the evidence of its match (docs/design.md §6): the transcript of both
sides, kept in memory only while the match lasts, the times, and both sides'
identifiers (device id and keyed network hash, never a raw address). The
records layer commits it before the reporter is told it was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from .frames import CheckedFrame

MAX_NOTE_CHARS: Final = 500


class ReportReason(StrEnum):
    """The reasons the page offers (docs/design.md §1, Report)."""

    SEXUAL = "sexual"  # nudity or sexual content
    UNDERAGE = "underage"  # looks under 18 (in the adult pool)
    ADULT = "adult"  # looks adult (in the teen pool)
    HARASSMENT = "harassment"  # harassment or hate
    SPAM = "spam"  # spam or bot
    OTHER = "other"  # other, with a note


@dataclass(frozen=True, slots=True)
class Line:
    """One chat line of a match, as it was relayed; ``at`` is seconds since the match began."""

    at: float
    side: Literal["reporter", "reported"]
    text: str


@dataclass(frozen=True, slots=True)
class Party:
    device: str
    network: str  # keyed hash of the network address (HMAC; IPv6 by /64)
    session: str


@dataclass(frozen=True, slots=True)
class Filing:
    """A report ready to be committed, with its evidence."""

    match: str
    pool: str
    reason: ReportReason
    note: str
    reporter: Party
    reported: Party
    matched_at: float  # Unix time
    reported_at: float  # Unix time
    transcript: tuple[Line, ...]
    #: The reporter's page's last checked frames of this match, of both sides (video).
    frames: tuple[CheckedFrame, ...] = ()


@dataclass(slots=True)
class RecentMatch:
    """An ended match its session may still report, with the evidence that report would
    keep: the session's own view of the transcript and of the frames, and the stranger's
    identifiers (docs/design.md §6: chat text and frames are kept only as evidence, and only
    for ``Limits.recent_seconds`` after the match ended; docs/safety.md, "Evidence").

    ``ended_at`` is on the switchboard's clock; ``None`` when the match ended on a path
    that had no time at hand, in which case the next access stamps it. ``reported``:
    filed already, so its evidence is dropped and a second report is refused."""

    match: str
    pool: str
    stranger: Party
    matched_at: float
    ended_at: float | None
    transcript: tuple[Line, ...]
    frames: tuple[CheckedFrame, ...]
    reported: bool = False
