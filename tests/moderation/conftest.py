"""Fixtures: a freshly migrated database on SQLite and on PostgreSQL.

PostgreSQL: every test gets a database of its own, created on the server's ``postgres``
database and dropped afterwards, so nothing collides with other users of the server.
The server is ``STRANGERS_TEST_POSTGRES`` (default: root on 127.0.0.1:5432). When it is
unreachable the PostgreSQL cases are skipped, except under CI (env ``CI``) where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.moderation import Records, sqlite_url, upgrade
from strangers.moderation.db import make_engine

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


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database brought to the newest migration."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        upgrade(url)
        yield url
        return
    name = f"strangers_test_{uuid.uuid4().hex[:16]}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(url)
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
