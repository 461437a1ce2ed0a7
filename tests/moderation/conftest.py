"""Fixtures: a freshly migrated, empty database on SQLite and on PostgreSQL.

The migrations run once per session, not once per test (they cost a second on
PostgreSQL, a few tenths on SQLite):

- SQLite: a database migrated once, copied into each test's data directory.
- PostgreSQL: a database of this session's own (``strangers_test_<random>``: so also one
  per xdist worker, and nothing collides with other users of the server), created on the
  server's ``postgres`` database, migrated once and dropped at the end. Before each test
  its other connections are ended, a schema a test migrated down is brought back up, and
  every table is emptied and every sequence restarted: what a test sees is what a new
  database would show. The migration tests (``test_migrations.py``) start from it too.

The server is ``STRANGERS_TEST_POSTGRES`` (default: root on 127.0.0.1:5432). When it is
unreachable the PostgreSQL cases are skipped, except under CI (env ``CI``) where they fail.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.moderation import Records, sqlite_url, upgrade
from strangers.moderation.db import make_engine
from strangers.moderation.migrate import alembic_config
from strangers.moderation.tables import Base

POSTGRES = os.environ.get(
    "STRANGERS_TEST_POSTGRES", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)


async def _admin() -> asyncpg.Connection:
    url = make_url(POSTGRES).set(drivername="postgresql", database="postgres")
    try:
        return await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL unreachable at {url.render_as_string()}: {exc!r}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@functools.cache
def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file of a SQLite database brought to the newest migration, to copy."""
    folder = tmp_path_factory.mktemp("migrated")
    upgrade(sqlite_url(folder))
    return folder / "strangers.db"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of this session's own PostgreSQL database, migrated; dropped at the end."""
    name = f"strangers_test_{uuid.uuid4().hex[:16]}"

    async def admin(statement: str) -> None:
        connection = await _admin()  # skips (fails under CI) when unreachable
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # On a thread of its own: the first test to ask for it asks from its running loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, admin(f'CREATE DATABASE "{name}"')).result()
        try:
            url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url
        finally:
            drop = admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            thread.submit(asyncio.run, drop).result()


#: Children before parents, so no foreign key is in the way.
_TABLES = [table.name for table in reversed(Base.metadata.sorted_tables)]
_RESTART_SEQUENCES = """
DO $$DECLARE s record; BEGIN
  FOR s IN SELECT schemaname, sequencename FROM pg_sequences
           WHERE schemaname = current_schema() LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.schemaname, s.sequencename);
  END LOOP;
END$$"""


async def _empty(url: str) -> None:
    """Bring the database at ``url`` to what a new one migrated to head would show."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        # Whatever the last test left connected (a server it started, a pool it did not
        # close) goes, with its locks: as with the database that test would have dropped.
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        version = await connection.fetchval("SELECT version_num FROM alembic_version")
        if version != _head():
            await asyncio.to_thread(upgrade, url)  # a migration test went down
        tables = {
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        } - {"alembic_version"}
        if tables == set(_TABLES):
            # DELETE, not TRUNCATE: on a handful of rows it is ten times faster.
            deletes = "; ".join(f'DELETE FROM "{table}"' for table in _TABLES)
        else:  # a table the models do not know: slower, but nothing is left behind
            deletes = "TRUNCATE " + ", ".join(f'"{table}"' for table in sorted(tables))
            deletes += " CASCADE"
        async with connection.transaction():
            await connection.execute(f"{deletes}; {_RESTART_SEQUENCES}")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database brought to the newest migration."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "strangers.db")
        yield sqlite_url(tmp_path)
        return
    url: str = request.getfixturevalue("postgres_database")
    await _empty(url)
    yield url


@pytest.fixture
def evidence_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
async def records(db_url: str, evidence_key: bytes) -> AsyncIterator[Records]:
    opened = await Records.open(db_url, evidence_key)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the same database, to look at what was really committed."""
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()
