"""Structured logs: one JSON object a line, with the request or session it concerns.

A line carries ``time`` (UTC, RFC 3339), ``level``, ``logger``, ``message``, and when
known ``request_id`` (an HTTP request, or a chat socket before it has a session) and
``session`` (a chat session's id: a random token that names no one), plus ``exc``
with the traceback of a server fault. The ids come from context variables the
gateway sets per request and per socket (:func:`bind`), so every line logged while
serving one carries them, whatever module logs it.

What never goes in: chat text, frames, raw addresses (docs/design.md §6; OWASP ASVS 5.0
V16.2.5: no sensitive data in logs). Nothing here filters for them, because nothing
logs them: the gateway keeps only the keyed network hash, uvicorn's access log and
INFO lines (which name peers' addresses) are off (``cli.serve``), the libraries that
log what passes through them are held at WARNING (:data:`PAYLOAD_LOGGERS`), and
``tests/gateway/test_logs.py`` runs whole sessions and looks for both in the log.

``STRANGERS_LOG_FORMAT``: ``json``, ``text`` (for a person at a terminal), or ``auto``
(the default): text on a terminal, JSON otherwise (a service manager, a container).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["auto", "json", "text"]

#: Libraries that log what passes through them (SQL parameters, websocket frames,
#: HTTP requests) at DEBUG or INFO. Held at WARNING whatever ``log_level`` says: what
#: passes through them is chat text, report notes and evidence (found by
#: ``tests/gateway/test_logs.py``: aiosqlite logged a report's note at DEBUG).
PAYLOAD_LOGGERS: Final = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "websockets",
    "httpx",
    "httpcore",
    "python_multipart",
    "multipart",
    "PIL",
)

REQUEST_ID: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar(
    "strangers_request_id", default=None
)
SESSION: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar(
    "strangers_session", default=None
)


@contextmanager
def bind(*, request_id: str | None = None) -> Iterator[None]:
    """Mark every line logged inside the block with ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def bind_session(session: str | None) -> None:
    """Mark every later line of the current task (a chat socket) with ``session``."""
    SESSION.set(session)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (no newline inside: a traceback is one string)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, session = REQUEST_ID.get(), SESSION.get()
        if request_id is not None:
            line["request_id"] = request_id
        if session is not None:
            line["session"] = session
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The same fields for a person: ``time level logger [ids] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={value}"
            for name, value in (("request", REQUEST_ID.get()), ("session", SESSION.get()))
            if value is not None
        )
        text = super().formatMessage(record)
        if not ids:
            return text
        head, _, message = text.partition(f" {record.name} ")
        return f"{head} {record.name} [{ids}] {message}"


def configure(level: str, log_format: LogFormat = "auto") -> None:
    """Send every log record to stderr in ``log_format`` at ``level`` and above,
    replacing any handler configured before (uvicorn's included)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's loggers get their own handlers unless told otherwise: route them to
    # the root's, so one format covers every line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
