"""The records from the command line (``strangers hashes import``, ``moderator add``,
``transparency``): open the database the serving settings name, bring it to the newest
schema, run one piece of work, close it. A failure is one line and exit code 1, never a
traceback (the project's rule for bad input, OWASP ASVS 5.0 V16.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from .migrate import upgrade
from .records import RecordError, Records
from .settings import RecordsSettings

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise what this returns to exit with 1."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def with_records(work: Callable[[Records], Awaitable[T]], *, refused: str = "") -> T:
    """Run ``work`` on the records and return what it returns. A refusal of the records
    exits with its text and ``refused`` after it (say "; nothing imported"); a settings
    or connection failure exits naming its class only (a URL may hold a password). Only
    the records' settings are read (``settings.py``), from the same variables as the
    server's."""

    async def run(settings: RecordsSettings) -> T:
        records = await Records.open(settings.records_url(), settings.evidence_secret())
        try:
            return await work(records)
        finally:
            await records.close()

    try:
        settings = RecordsSettings()
        upgrade(settings.records_url())
        return asyncio.run(run(settings))
    except RecordError as exc:
        raise fail(f"{exc.detail}{refused}") from None
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise fail(f"the records are unavailable ({type(exc).__name__}){refused}") from None
