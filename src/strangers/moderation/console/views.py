"""How the console's templates show things: times in UTC ISO 8601, ages, shortened
hashes, the values of a detail (labels and words come from the catalogues,
``language.py``). The Jinja2 environment autoescapes
everything (OWASP ASVS 4.0.3 V5.3.3): chat text, notes and appeals are shown as text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import jinja2
    from starlette.templating import Jinja2Templates

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"

#: The ban lengths, in the order the case page offers them (casework.BAN_DURATIONS).
DURATIONS: Final = ("1h", "24h", "7d", "permanent")
SHORT_HASH: Final = 12
#: The detail fields whose values are codes with words in the catalogues: the field
#: and the catalogue prefix of its values.
VALUE_LABELS: Final = {
    "pool": "pool",
    "reason": "reason",
    "kind": "reason",
    "duration": "duration",
    "outcome": "appeal_status",
    "target": "target",
    "status": "status",
}


def iso(moment: datetime | None) -> str:
    """UTC ISO 8601 to the second, ``Z`` suffixed; an em dash for no time."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(since: datetime, now: datetime, t: Callable[..., str]) -> str:
    """How long ago, in the two largest units, in the page's words (``t``): "3 d 4 h",
    "2 h 5 min", "12 min"."""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return t("age.days", d=days, h=hours)
    if hours:
        return t("age.hours", h=hours, m=minutes)
    return t("age.minutes", m=minutes) if minutes else t("age.under_minute")


def short(identifier: str) -> str:
    """A device id or keyed network hash cut for reading; the whole one is in the title."""
    return identifier if len(identifier) <= SHORT_HASH else identifier[:SHORT_HASH] + "…"


def seconds(value: float | None) -> str:
    """Seconds into the match: "+12.3 s"."""
    return "" if value is None else f"+{value:.1f} s"


def show(value: Any, t: Callable[..., str]) -> str:
    """One value of an audit entry's or an action's detail as words: yes/no, a dash
    for none, a list joined, a number or text as it is (the template escapes it)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, list | tuple):
        return ", ".join(show(item, t) for item in value) if value else "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {show(item, t)}" for key, item in sorted(value.items()))
    return str(value)


class Templates:
    """The console's templates, made on the first page a moderator opens: a chat process
    loads no Jinja2 until then (1.7 MiB; issue 18 holds the chat process to 120 MB at
    start, docs/performance.md, "Memory"). The event loop's one thread renders."""

    def __init__(self) -> None:
        self._made: Jinja2Templates | None = None

    def get(self) -> Jinja2Templates:
        if self._made is None:
            from starlette.templating import Jinja2Templates

            self._made = Jinja2Templates(env=environment())
        return self._made


def environment() -> jinja2.Environment:
    import jinja2

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
        seconds=seconds,
        show=show,
    )
    env.globals.update(durations=DURATIONS, value_labels=VALUE_LABELS)
    return env
