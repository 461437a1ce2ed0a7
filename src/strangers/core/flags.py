"""Automatic flags: what the checks found, ready to become a case (docs/design.md §6).

A flag names its subject and who observed it, what it does beyond the match
(:class:`Enforcement`: strike, bans, review, escalation) and the evidence to keep.
The switchboard makes flags from frame verdicts and text signals; the records commit
them (``Flags.file`` of the records), all in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .frames import CheckedFrame, FrameVerdict
from .reports import Line, Party


class FlagKind(StrEnum):
    NUDITY = "nudity"  # a frame (docs/design.md §6, video)
    KNOWN_ABUSE = "known_abuse"  # a frame matched a hash list
    TEXT_RISK = "text_risk"  # a sender's lines reached the case level (docs/design.md §6, text)
    ADULT_IN_TEEN = "adult_in_teen"  # an adult age statement in the teen pool


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What a flag does beyond the match, for the gateway to carry out through the
    records: ``strike`` the subject; ``ban_seconds`` ban its device at once (``None``:
    no immediate ban, :data:`PERMANENT`: for good); ``network_ban_seconds`` ban its
    network hash too, for that long (never for good: a network hash can be shared by a
    household, a campus, a carrier's NAT); ``review`` leave the case open for a
    moderator; ``escalate`` mark it for a law-enforcement report (evidence kept a year,
    REPORT Act)."""

    strike: bool = False
    ban_seconds: float | None = None
    network_ban_seconds: float | None = None
    review: bool = False
    escalate: bool = False


PERMANENT: Final = float("inf")


@dataclass(frozen=True, slots=True)
class Corroboration:
    """An enforcement held back until viewers who cannot all be one person agree
    (docs/safety.md, "Whose word counts"). A flag from a frame the viewer's page sampled
    of its partner is one viewer's word: that page could have posted any picture. Its
    ``enforcement`` applies only when, counting this flag, at least ``viewers`` distinct
    viewer devices on as many distinct networks (none of them unknown, none the
    subject's own) flagged the same subject device with the same kind within
    ``window_seconds``; otherwise the case waits for a moderator."""

    enforcement: Enforcement
    viewers: int = 3
    window_seconds: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if self.viewers < 2 or self.window_seconds <= 0:
            raise ValueError("corroboration needs at least 2 viewers and a positive window")


@dataclass(frozen=True, slots=True)
class Flag:
    """An automatic flag, ready to be committed as a case with its evidence.

    ``subject`` is who was flagged; ``sampler`` whose side observed it: the page that
    sampled the frame (the evidence shows which, since a page could forge what it
    posts), or the recipient of the lines. ``verdict`` is the frame's (``None`` for
    text); ``signals`` the text signals that added up, as (kind, score). ``frames`` are
    in the sampler's view (``own`` is the sampler's camera); ``transcript`` is turned
    to the subject: "reported" lines are the subject's. Times are in the switchboard's
    clock until the gateway rebases them to Unix time. ``enforcement`` is what the flag
    does on its own; ``corroboration``, when set, what it does once independent viewers
    agree (see :class:`Corroboration`).
    """

    kind: FlagKind
    match: str
    pool: str
    subject: Party
    sampler: Party
    verdict: FrameVerdict | None
    enforcement: Enforcement
    matched_at: float
    flagged_at: float
    frames: tuple[CheckedFrame, ...] = ()
    transcript: tuple[Line, ...] = ()
    signals: tuple[tuple[str, float], ...] = ()
    corroboration: Corroboration | None = None
