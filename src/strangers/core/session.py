"""One chatter's session: an explicit state machine (docs/design.md §4).

::

    IDLE ──find──▶ WAITING ──paired──▶ CHATTING
      ▲  ◀──stop──    ▲  ◀────skip──────  │
      │               └───────────────────┘ (skip: ended, then waiting again)
      └──────── stop / partner left ──────┘
    BANNED: refuses find and skip; entered by moderation.
    AGE_CHECK: refuses find and skip; entered when the device's age state no longer
    admits the session's pool (docs/safety.md, "Age"): its socket closes.

The session also holds its rate limits, so every transition is checked where
it happens; a refused request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .face_age import FaceAgeWatch
from .limits import Limits, RateLimit
from .messages import AgeBand, Mode
from .reports import Line, RecentMatch
from .text_policy import TextWatch
from .video import FrameWatch


class State(StrEnum):
    IDLE = "idle"
    WAITING = "waiting"
    CHATTING = "chatting"
    BANNED = "banned"
    AGE_CHECK = "age_check"


@dataclass(slots=True)
class Session:
    """A chatter on this node. ``serial`` counts its waits, so a pair made for an
    earlier wait is recognised as stale; ``match``/``partner`` are set only while
    chatting."""

    id: str
    device: str
    network: str
    band: AgeBand
    language: str
    message_rate: RateLimit
    typing_rate: RateLimit
    skip_rate: RateLimit
    report_rate: RateLimit
    signal_rate: RateLimit
    frame_rate: RateLimit
    state: State = State.IDLE
    mode: Mode | None = None
    interests: frozenset[str] = frozenset()  # one shared empty set, not one a session
    serial: int = 0
    #: When the current (or last) wait began, on the switchboard's clock.
    waiting_since: float = 0.0
    match: str | None = None
    partner: str | None = None
    # Only while chatting: the partner's identifiers and the lines of this match,
    # kept in memory as the evidence a report would preserve (docs/design.md §6).
    partner_device: str = ""
    partner_network: str = ""
    matched_at: float = 0.0
    transcript: list[Line] = field(default_factory=list)
    watch: FrameWatch = field(default_factory=FrameWatch)
    text_watch: TextWatch = field(default_factory=TextWatch)
    #: Facial age estimates of this session's own camera, across its matches, as
    #: numbers only; dropped with the session (docs/safety.md, "Age from the camera").
    face_ages: FaceAgeWatch = field(default_factory=FaceAgeWatch)
    #: The ended matches this session may still report, oldest first: at most
    #: ``Limits.recent_matches``, each for ``Limits.recent_seconds`` after it ended.
    #: They belong to the session (the tab) and are forgotten with it (docs/design.md §6).
    recent: list[RecentMatch] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        id: str,
        device: str,
        network: str,
        band: AgeBand,
        language: str,
        limits: Limits,
        now: float,
    ) -> Session:
        return cls(
            id=id,
            device=device,
            network=network,
            band=band,
            language=language,
            message_rate=RateLimit(limits.messages_per_second, limits.message_burst, now),
            typing_rate=RateLimit(limits.typing_per_second, limits.typing_per_second * 2, now),
            skip_rate=RateLimit(limits.skips_per_minute / 60.0, limits.skips_per_minute, now),
            report_rate=RateLimit(limits.reports_per_hour / 3600.0, limits.report_burst, now),
            signal_rate=RateLimit(limits.signals_per_second, limits.signal_burst, now),
            frame_rate=RateLimit(limits.frame_posts_per_second, limits.frame_post_burst, now),
        )
