"""How the console's templates show things: times in UTC ISO 8601, ages, shortened
hashes, plain labels for reasons and statuses. The Jinja2 environment autoescapes
everything (OWASP ASVS 4.0.3 V5.3.3): chat text, notes and appeals are shown as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jinja2

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"

#: Report reasons (core.reports.ReportReason) and flag kinds (core.flags.FlagKind).
REASONS: Final[dict[str, str]] = {
    "sexual": "Nudity or sexual content",
    "underage": "Looks under 18",
    "adult": "Looks adult (teen pool)",
    "harassment": "Harassment or hate",
    "spam": "Spam or bot",
    "other": "Other",
    "nudity": "Nudity on camera (automatic)",
    "known_abuse": "Known abuse material (hash list)",
    "text_risk": "Unsafe messages (automatic)",
    "adult_in_teen": "Adult in the teen pool (automatic)",
}
SIDES: Final[dict[str, str]] = {
    "reporter": "Reporter",
    "reported": "Reported",
    "subject": "Flagged chatter",
    "other": "Other chatter",
}
CAMERAS: Final[dict[str, str]] = {
    "reporter": "the reporter's camera",
    "reported": "the reported chatter's camera",
    "subject": "the flagged chatter's camera",
    "other": "the other chatter's camera",
}
DURATIONS: Final[dict[str, str]] = {
    "1h": "1 h",
    "24h": "24 h",
    "7d": "7 d",
    "permanent": "permanently",
}
SHORT_HASH: Final = 12


def iso(moment: datetime | None) -> str:
    """UTC ISO 8601 to the second, ``Z`` suffixed; an em dash for no time."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the two largest units: "3 d 4 h", "2 h 5 min", "12 min"."""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under 1 min"


def short(identifier: str) -> str:
    """A device id or keyed network hash cut for reading; the whole one is in the title."""
    return identifier if len(identifier) <= SHORT_HASH else identifier[:SHORT_HASH] + "…"


def reason(value: str) -> str:
    return REASONS.get(value, value)


def side(value: str) -> str:
    return SIDES.get(value, value or "Unknown")


def camera(value: str) -> str:
    """Whose camera a frame shows, as a phrase: "the reported chatter's camera"."""
    return CAMERAS.get(value, "an unknown camera")


def seconds(value: float | None) -> str:
    """Seconds into the match: "+12.3 s"."""
    return "" if value is None else f"+{value:.1f} s"


def detail(value: dict[str, Any]) -> str:
    """An audit entry's or an action's detail as compact JSON (shown as text)."""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        iso=iso,
        age=age,
        short=short,
        reason=reason,
        side=side,
        camera=camera,
        seconds=seconds,
        detail=detail,
    )
    env.globals.update(durations=DURATIONS)
    return env
