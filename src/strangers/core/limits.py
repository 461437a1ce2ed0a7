"""Per-session limits and the pure rate limiter that enforces them.

Limits are constructor arguments with safe defaults (docs/design.md §3); the gateway
fills them from settings. :class:`RateLimit` is a token bucket that takes the
time as an argument, so it runs the same under a test clock and a real one
(OWASP ASVS 5.0 V2.4: anti-automation on every client action).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """What one session may do.

    - ``frame_chars``: largest client frame accepted, in characters.
    - ``message_chars``: longest chat line.
    - ``messages_per_second`` / ``message_burst``: chat lines (token bucket).
    - ``typing_per_second``: typing notices (excess ones are dropped silently).
    - ``skips_per_minute``: ``skip`` and ``find`` together.
    - ``reports_per_hour`` / ``report_burst``: reports (each ends a chat, so a flood
      needs new chats too).
    - ``transcript_lines``: lines of a match kept in memory as evidence (the newest).
    - ``signals_per_second`` / ``signal_burst``: WebRTC signalling (an offer and its
      candidates come in a burst).
    - ``frame_posts_per_second`` / ``frame_post_burst``: frames posted for checking (the
      page samples both videos every 2 s at first, then every 5 s: docs/design.md §6).
    - ``evidence_frames``: checked frames of each video kept in memory per match.
    - ``no_face_blur`` / ``no_face_end``: checks in a row without a face before the
      viewer's blur, and before the match ends.
    - ``own_check_seconds``: how recent a check of the sender's own camera must be for
      the viewer's blur to lift (the page samples it every 5 s at most, so 12 s lets
      one post be shed); older, the viewer sees "video not checked" (docs/safety.md).
    - ``flag_viewers`` / ``flag_window_seconds``: distinct viewers, on distinct
      networks, whose flags of one sender's video within the window make a sanction
      without a moderator (docs/safety.md, "Whose word counts").
    - ``recent_matches`` / ``recent_seconds``: ended matches a session may still report,
      the newest only, for that long after each ended; their lines, frames and the
      stranger's identifiers stay in memory until then (docs/safety.md, "Evidence").
    """

    frame_chars: int = 8192
    message_chars: int = 1000
    messages_per_second: float = 5.0
    message_burst: int = 10
    typing_per_second: float = 4.0
    skips_per_minute: int = 30
    reports_per_hour: float = 20.0
    report_burst: int = 5
    transcript_lines: int = 500
    signals_per_second: float = 20.0
    signal_burst: int = 100
    frame_posts_per_second: float = 1.5
    frame_post_burst: int = 6
    evidence_frames: int = 3
    no_face_blur: int = 3
    no_face_end: int = 6
    own_check_seconds: float = 12.0
    flag_viewers: int = 3
    flag_window_seconds: float = 24 * 3600.0
    recent_matches: int = 3
    recent_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.message_chars < 1 or self.frame_chars < self.message_chars:
            raise ValueError("frame_chars must hold at least one message of message_chars")
        if self.messages_per_second <= 0 or self.message_burst < 1:
            raise ValueError("messages_per_second and message_burst must be positive")
        if self.skips_per_minute < 1 or self.typing_per_second <= 0:
            raise ValueError("skips_per_minute and typing_per_second must be positive")
        if self.frame_posts_per_second <= 0 or self.frame_post_burst < 1:
            raise ValueError("frame_posts_per_second and frame_post_burst must be positive")
        if not 0 < self.no_face_blur <= self.no_face_end or self.evidence_frames < 0:
            raise ValueError("need 0 < no_face_blur <= no_face_end and evidence_frames >= 0")
        if self.own_check_seconds <= 0:
            raise ValueError("own_check_seconds must be positive")
        if self.flag_viewers < 2 or self.flag_window_seconds <= 0:
            raise ValueError("flag_viewers must be at least 2, flag_window_seconds positive")
        if self.recent_matches < 0 or self.recent_seconds < 0:
            raise ValueError("recent_matches and recent_seconds must not be negative")


class RateLimit:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second.

    ``take(now)`` spends one token and returns 0.0, or returns the seconds to
    wait before one is available (and spends nothing). ``now`` is any
    monotonic time in seconds.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
