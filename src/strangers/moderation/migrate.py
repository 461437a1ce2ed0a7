"""Schema migrations (Alembic), run from code: no ``alembic.ini`` needed.

The scripts ship inside the package (``strangers/migrations/``), so ``strangers migrate``
works from an installed wheel with nothing copied by hand.

``upgrade(url)`` brings the database at ``url`` to the newest revision. It takes the
async URLs the service uses (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) and
runs Alembic on one connection of the async engine.

Alembic is imported by these functions, not by this module: the serving process imports
the records (and :func:`sqlite_url` through the settings) but never migrates in itself —
``strangers serve`` runs ``strangers migrate`` in a child process — so Alembic and its
DDL machinery stay out of the chat process's memory (issue 18: a small chat process).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from strangers.moderation.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

#: The Alembic scripts (``env.py``, ``script.py.mako``, ``versions/``): package data of
#: ``strangers.migrations``, so an installed wheel migrates like the source tree.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def sqlite_url(data_dir: Path) -> str:
    """The default database: ``strangers.db`` in the data directory."""
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'strangers.db'}"


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.attributes["url"] = url  # not a main option: '%' in a URL is not interpolated
    return config


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` in one transaction (on SQLite and PostgreSQL)."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(url), revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url``; callable with or without a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(upgrade_async(url, revision))
        return
    # Inside a running loop (an async caller): migrate on a thread of its own and wait.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(upgrade_async(url, revision))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="strangers-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
