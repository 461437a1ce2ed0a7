"""Migrations 0002 (flags, frame and identifier evidence, hash lists), 0003 (text
flags), 0004 (the console), 0005 (age state) and 0006 (claims, chosen incident types,
a ban's written reason): down and back up, on SQLite (batch mode) and PostgreSQL, with
records in place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.flags import FlagKind
from strangers.moderation import Records
from strangers.moderation.db import make_engine
from strangers.moderation.migrate import alembic_config, upgrade_async
from strangers.moderation.tables import Base

from .test_flags import make_flag
from .test_records import SECRET, filing

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEW_TABLES = {"flags", "hash_entries"}
CONSOLE_TABLES = {"moderators", "console_sessions", "actions", "chatter_notices"}  # 0004
AGE_TABLES = {"device_ages", "network_holds"}  # 0005
CLAIM_TABLES = {"case_claims"}  # 0006
HEAD = "0006"
CASEWORK_COLUMNS = {("bans", "note")}  # 0006, with CLAIM_TABLES


async def downgrade(url: str, revision: str) -> None:
    """What ``migrate.upgrade_async`` does, the other way: one transaction."""

    def run(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def state(engine: AsyncEngine) -> tuple[str, set[str], list[object]]:
    """The revision, the tables, and how the schema differs from the models."""

    def look(connection: Connection) -> tuple[str, set[str], list[object]]:
        context = MigrationContext.configure(connection)
        return (
            str(context.get_current_revision()),
            set(sa.inspect(connection).get_table_names()),
            compare_metadata(context, Base.metadata),
        )

    async with engine.connect() as connection:
        return await connection.run_sync(look)


async def test_0002_goes_down_and_up_with_records_in_place(
    db_url: str, engine: AsyncEngine, evidence_key: bytes
) -> None:
    revision, tables, diff = await state(engine)
    assert (revision, diff) == (HEAD, [])
    assert tables >= NEW_TABLES

    await downgrade(db_url, "0001")
    revision, tables, _ = await state(engine)
    assert revision == "0001" and not tables & (
        NEW_TABLES | CONSOLE_TABLES | AGE_TABLES | CLAIM_TABLES
    )

    # At 0001: a report goes in, and the evidence constraint knows transcripts only.
    records = await Records.open(db_url, evidence_key)
    try:
        case = await records.reports.file(filing(), now=NOW)
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text(
                        "INSERT INTO evidence (case_id, kind, ciphertext, created_at, "
                        "retain_until) SELECT case_id, 'frames', ciphertext, created_at, "
                        "retain_until FROM evidence"
                    )
                )
    finally:
        await records.close()

    await upgrade_async(db_url)
    assert await state(engine) == (
        HEAD,
        tables | NEW_TABLES | CONSOLE_TABLES | AGE_TABLES | CLAIM_TABLES,
        [],
    )
    records = await Records.open(db_url, evidence_key)
    try:
        # What was there survived the evidence table's rebuild (SQLite) ...
        (evidence,) = await records.cases.evidence(case)
        assert evidence["lines"][1]["text"] == SECRET
        # ... and the new kinds and tables take records.
        outcome = await records.flags.file(make_flag(), now=NOW)
        assert len(await records.cases.evidence(outcome.case)) == 2
        assert await records.hash_lists.add([("a" * 64, "x")], list_name="l", now=NOW) == (1, 0)
    finally:
        await records.close()


async def test_a_downgrade_never_deletes_kept_evidence(
    db_url: str, engine: AsyncEngine, records: Records
) -> None:
    outcome = await records.flags.file(make_flag(), now=NOW)
    with pytest.raises(RuntimeError, match=r"evidence items|actions are recorded"):
        await downgrade(db_url, "0001")
    revision, tables, diff = await state(engine)
    assert (revision, diff) == (HEAD, []) and tables >= NEW_TABLES
    assert len(await records.cases.evidence(outcome.case)) == 2


async def test_0003_takes_text_flags_and_will_not_drop_them(
    db_url: str, engine: AsyncEngine, records: Records
) -> None:
    await downgrade(db_url, "0002")
    await upgrade_async(db_url)
    assert (await state(engine))[0] == HEAD
    text = replace(
        make_flag(), kind=FlagKind.TEXT_RISK, verdict=None, frames=(), signals=(("secrecy", 1.0),)
    )
    await records.flags.file(text, now=NOW)
    with pytest.raises(RuntimeError, match=r"text flags|actions are recorded"):
        await downgrade(db_url, "0002")
    assert (await state(engine))[0] == HEAD


async def test_0004_will_not_drop_recorded_actions(
    db_url: str, engine: AsyncEngine, records: Records
) -> None:
    await downgrade(db_url, "0003")
    assert not (await state(engine))[1] & CONSOLE_TABLES
    await upgrade_async(db_url)
    assert (await state(engine))[0] == HEAD
    await records.flags.file(make_flag(), now=NOW)  # an automatic strike: an action
    with pytest.raises(RuntimeError, match="actions are recorded"):
        await downgrade(db_url, "0003")
    revision, tables, diff = await state(engine)
    assert (revision, diff) == (HEAD, []) and tables >= CONSOLE_TABLES


async def test_0005_goes_down_and_up_and_keeps_age_state_after(
    db_url: str, engine: AsyncEngine, records: Records
) -> None:
    await downgrade(db_url, "0004")
    assert not (await state(engine))[1] & AGE_TABLES
    await upgrade_async(db_url)
    assert await state(engine) == (HEAD, (await state(engine))[1] | AGE_TABLES, [])


async def columns(engine: AsyncEngine) -> set[tuple[str, str]]:
    def look(connection: Connection) -> set[tuple[str, str]]:
        inspector = sa.inspect(connection)
        return {
            (table, column["name"])
            for table in ("bans",)
            for column in inspector.get_columns(table)
        }

    async with engine.connect() as connection:
        return await connection.run_sync(look)


async def test_0006_goes_down_and_up_keeping_cases_and_bans(
    db_url: str, engine: AsyncEngine, records: Records
) -> None:
    case = await records.reports.file(filing(), now=NOW)
    await records.bans.add(
        device="dev-x", network=None, reason="Spam or a bot", case=case, until=None, now=NOW
    )
    assert await columns(engine) >= CASEWORK_COLUMNS
    await downgrade(db_url, "0005")
    revision, _, _ = await state(engine)
    assert revision == "0005" and not await columns(engine) & CASEWORK_COLUMNS
    assert not (await state(engine))[1] & CLAIM_TABLES
    await upgrade_async(db_url)
    revision, tables, diff = await state(engine)
    assert (revision, diff) == (HEAD, []) and tables >= CLAIM_TABLES
    # The rows went through both rebuilds (SQLite batch mode), unclaimed, with no note.
    bans = await records.bans.active(now=NOW)
    assert [(device, ban.reason, ban.case, ban.note) for device, _, ban in bans] == [
        ("dev-x", "Spam or a bot", case, None)
    ]
    await records.bans.add(
        device="dev-y",
        network=None,
        reason="Spam or a bot",
        case=case,
        until=None,
        now=NOW,
        note="Links to a shop, twice.",
    )
    notes = {device: ban.note for device, _, ban in await records.bans.active(now=NOW)}
    assert notes == {"dev-x": None, "dev-y": "Links to a shop, twice."}
