"""The records layer, on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.moderation import BanNotice, RecordError, Records, load_or_create_key
from strangers.moderation.records import reports as reports_module
from strangers.moderation.tables import Base, Case, Evidence

from .helpers import all_rows, ban_for, counts, gradient_jpeg, sealed_evidence

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "my number is 555 0199, meet me at the station"
REPORTER = Party(device="dev-alice", network="net-" + "a" * 60, session="s1")
REPORTED = Party(device="dev-bob", network="net-" + "b" * 60, session="s2")


def filing(note: str = "rude", reported: Party = REPORTED, match: str = "m-1") -> Filing:
    t0 = NOW.timestamp() - 60
    return Filing(
        match=match,
        pool="adult-text",
        reason=ReportReason.HARASSMENT,
        note=note,
        reporter=REPORTER,
        reported=reported,
        matched_at=t0,
        reported_at=t0 + 55,
        transcript=(
            Line(at=t0 + 1, side="reporter", text="hi"),
            Line(at=t0 + 2, side="reported", text=SECRET),
        ),
    )


async def test_migration_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []


async def test_report_commits_case_report_evidence_block_audit(
    records: Records, engine: AsyncEngine
) -> None:
    before = await counts(engine)
    number = await records.reports.file(filing(), now=NOW)
    assert re.fullmatch(r"S-\d{6}", number)
    after = await counts(engine)
    for table in ("cases", "reports", "evidence", "blocks", "audit"):
        assert after[table] == before[table] + 1, table

    rows = await all_rows(engine)
    (case,) = rows["cases"]
    assert case["number"] == number and case["kind"] == "report" and case["status"] == "open"
    assert case["opened_at"] == NOW and case["pool"] == "adult-text"
    (report,) = rows["reports"]
    assert report["case_id"] == case["id"] and report["reason"] == "harassment"
    assert report["reported_device"] == "dev-bob" and report["reporter_device"] == "dev-alice"
    assert report["reported_at"] == NOW - timedelta(seconds=5)
    (evidence,) = rows["evidence"]
    assert evidence["retain_until"] == NOW + timedelta(days=90)
    assert rows["blocks"][0]["device_a"] == "dev-alice"
    assert rows["blocks"][0]["device_b"] == "dev-bob"
    assert rows["audit"][0]["action"] == "report.filed"

    # Encrypted at rest: the raw column does not hold the transcript.
    blob = bytes(evidence["ciphertext"])
    # Long, distinctive strings only: a short one turns up in base64 ciphertext by chance.
    assert SECRET.encode() not in blob and b"meet me at the station" not in blob
    (payload,) = await records.cases.evidence(number)
    assert payload["match"] == "m-1"
    assert [line["text"] for line in payload["lines"]] == ["hi", SECRET]
    assert [line["side"] for line in payload["lines"]] == ["reporter", "reported"]


async def test_a_report_with_frames_keeps_them_as_evidence(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    nude = FrameVerdict(nudity=("BUTTOCKS_EXPOSED",), scores=(("BUTTOCKS_EXPOSED", 0.7),))
    frames = (
        CheckedFrame(at=1.5, shows=FrameSource.OWN, jpeg=gradient_jpeg(10), verdict=FrameVerdict()),
        CheckedFrame(at=3.0, shows=FrameSource.PARTNER, jpeg=gradient_jpeg(20), verdict=nude),
    )
    number = await records.reports.file(dataclasses.replace(filing(), frames=frames), now=NOW)
    evidence = await sealed_evidence(engine, evidence_key, number)
    assert list(evidence) == ["transcript", "frames"]
    payload, created, retain = evidence["frames"]
    assert (created, retain) == (NOW, NOW + timedelta(days=90))
    assert payload["match"] == "m-1" and payload["sampled_by"] == "reporter"
    assert [frame["shows"] for frame in payload["frames"]] == ["reporter", "reported"]
    assert [base64.b64decode(frame["jpeg"]) for frame in payload["frames"]] == [
        gradient_jpeg(10),
        gradient_jpeg(20),
    ]
    assert payload["frames"][1] == {
        "at": 3.0,
        "shows": "reported",
        "jpeg": base64.b64encode(gradient_jpeg(20)).decode(),
        "sha256": hashlib.sha256(gradient_jpeg(20)).hexdigest(),
        "verdict": {
            "nudity": ["BUTTOCKS_EXPOSED"],
            "face": True,
            "hash_hit": None,
            "scores": [["BUTTOCKS_EXPOSED", 0.7]],
        },
    }
    # Encrypted at rest: the JPEG bytes are not in the column.
    blobs = [bytes(row["ciphertext"]) for row in (await all_rows(engine))["evidence"]]
    assert not any(gradient_jpeg(20) in blob for blob in blobs)

    # Without frames (a text chat), there is no frames row.
    text_only = await records.reports.file(filing(match="m-2"), now=NOW)
    assert list(await sealed_evidence(engine, evidence_key, text_only)) == ["transcript"]


async def test_evidence_under_another_key_is_refused(db_url: str, records: Records) -> None:
    number = await records.reports.file(filing(), now=NOW)
    other = await Records.open(db_url, Fernet.generate_key())
    try:
        with pytest.raises(RecordError) as info:
            await other.cases.evidence(number)
        assert info.value.code == "undecryptable"
        with pytest.raises(RecordError) as info:
            await other.cases.evidence("S-999999")
        assert info.value.code == "unknown_case"
    finally:
        await other.close()


async def test_blocks_survive_a_restart(db_url: str, evidence_key: bytes) -> None:
    first = await Records.open(db_url, evidence_key)
    await first.reports.file(filing(), now=NOW)
    # Reported twice (the other way round): still one pair, no error.
    carol = Party(device="dev-0carol", network="net-c", session="s3")
    await first.reports.file(filing(reported=carol, match="m-2"), now=NOW)
    await first.reports.file(filing(match="m-3"), now=NOW)
    await first.close()

    second = await Records.open(db_url, evidence_key)
    try:
        assert await second.blocks.pairs() == [
            ("dev-0carol", "dev-alice"),
            ("dev-alice", "dev-bob"),
        ]
    finally:
        await second.close()


async def test_a_too_long_note_writes_nothing(records: Records, engine: AsyncEngine) -> None:
    before = await counts(engine)
    with pytest.raises(RecordError) as info:
        await records.reports.file(filing(note="x" * 501), now=NOW)
    assert info.value.code == "invalid"
    assert await counts(engine) == before


async def test_the_database_refuses_a_too_long_note_and_rolls_back(
    records: Records, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the Python check, the CHECK constraint fails after the case row was flushed.
    monkeypatch.setattr(reports_module, "MAX_NOTE_CHARS", 10_000)
    before = await counts(engine)
    with pytest.raises(RecordError) as info:
        await records.reports.file(filing(note="x" * 501), now=NOW)
    assert info.value.code == "invalid"
    assert "INSERT" not in str(info.value) and "note" not in info.value.code
    assert await counts(engine) == before


async def test_a_failure_midway_writes_nothing(
    records: Records, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await records.reports.file(filing(match="m-0"), now=NOW)
    before = await counts(engine)

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(records, "audit", broken_audit)
    carol = Party(device="dev-carol", network="net-c", session="s3")
    with pytest.raises(RuntimeError):
        await records.reports.file(filing(reported=carol, match="m-9"), now=NOW)
    assert await counts(engine) == before
    assert ("dev-alice", "dev-carol") not in await records.blocks.pairs()


async def test_identifiers_that_look_like_addresses_are_refused(records: Records) -> None:
    for network in ("203.0.113.7", "2001:db8::1"):
        spoiled = Party(device="dev-bob", network=network, session="s2")
        with pytest.raises(RecordError):
            await records.reports.file(filing(reported=spoiled), now=NOW)
        with pytest.raises(RecordError):
            await records.bans.add(
                device=None, network=network, reason="spam", case=None, until=None, now=NOW
            )


async def test_no_column_holds_an_address_after_a_filing(
    records: Records, engine: AsyncEngine
) -> None:
    number = await records.reports.file(filing(), now=NOW)
    await records.bans.add(
        device="dev-bob",
        network=REPORTED.network,
        reason="harassment",
        case=number,
        until=NOW + timedelta(hours=24),
        now=NOW,
    )
    await records.bans.strike(
        device="dev-bob", network=REPORTED.network, reason="nudity", case=number, now=NOW
    )
    await records.appeals.submit(case=number, device="dev-bob", text="It was a joke.", now=NOW)
    ip = re.compile(r"\d+\.\d+\.\d+\.\d+")
    seen = 0
    for table, rows in (await all_rows(engine)).items():
        for row in rows:
            for column, value in row.items():
                if isinstance(value, str):
                    seen += 1
                    assert not ip.search(value), (table, column, value)
                    assert "::" not in value, (table, column, value)
    assert seen > 20


async def test_active_ban_by_device_network_expiry_and_permanence(records: Records) -> None:
    dev, net = "dev-bob", "net-bob"
    assert await ban_for(records, device=dev, network=net, now=NOW) is None

    number = await records.reports.file(filing(), now=NOW)
    hour = NOW + timedelta(hours=1)
    await records.bans.add(
        device=dev, network=None, reason="harassment", case=number, until=hour, now=NOW
    )
    assert await ban_for(records, device=dev, network="net-other", now=NOW) == BanNotice(
        reason="harassment", case=number, until=hour
    )
    # Expired: ignored.
    assert await ban_for(records, device=dev, network=net, now=hour) is None

    day = NOW + timedelta(days=1)
    await records.bans.add(device=None, network=net, reason="spam", case=None, until=day, now=NOW)
    notice = await ban_for(records, device="dev-other", network=net, now=NOW)
    assert notice == BanNotice(reason="spam", case=None, until=day)
    assert notice.until is not None and notice.until.tzinfo is not None
    # Both match: the longest-lasting wins.
    assert await ban_for(records, device=dev, network=net, now=NOW) == notice

    await records.bans.add(
        device=dev, network=None, reason="underage", case=None, until=None, now=NOW
    )
    later = NOW + timedelta(days=3650)
    assert await ban_for(records, device=dev, network="x", now=later) == BanNotice(
        reason="underage", case=None, until=None
    )
    assert await ban_for(records, device="dev-other", network=net, now=later) is None


async def test_ban_arguments_are_checked(records: Records) -> None:
    with pytest.raises(RecordError) as info:
        await records.bans.add(
            device=None, network=None, reason="x", case=None, until=None, now=NOW
        )
    assert info.value.code == "invalid"
    with pytest.raises(RecordError) as info:
        await records.bans.add(
            device="d", network=None, reason="x", case="S-000404", until=None, now=NOW
        )
    assert info.value.code == "unknown_case"
    with pytest.raises(RecordError):
        await records.bans.add(
            device="d", network=None, reason="x", case=None, until=None, now=datetime(2025, 1, 1)
        )


async def test_strikes_are_counted_over_24_hours(records: Records) -> None:
    def strike(at: datetime, device: str = "dev-bob") -> Any:
        return records.bans.strike(
            device=device, network="net-b", reason="nudity", case=None, now=at
        )

    assert await strike(NOW) == 1
    assert await strike(NOW + timedelta(hours=1)) == 2
    assert await strike(NOW + timedelta(hours=2), device="dev-other") == 1
    assert await strike(NOW + timedelta(hours=23)) == 3
    assert await strike(NOW + timedelta(hours=24, minutes=30)) == 3  # the first has aged out
    assert await strike(NOW + timedelta(hours=49)) == 1


async def test_appeals(records: Records, engine: AsyncEngine) -> None:
    number = await records.reports.file(filing(), now=NOW)
    appeal = await records.appeals.submit(case=number, device="dev-bob", text=" Not me. ", now=NOW)
    assert appeal > 0
    rows = await all_rows(engine)
    (stored,) = rows["appeals"]
    assert stored["device"] == "dev-bob" and stored["text"] == "Not me."
    assert stored["status"] == "pending" and stored["decided_by"] is None

    with pytest.raises(RecordError) as info:
        await records.appeals.submit(case=number, device="dev-bob", text="again", now=NOW)
    assert info.value.code == "duplicate"
    with pytest.raises(RecordError) as info:
        await records.appeals.submit(case="S-424242", device="dev-bob", text="hi", now=NOW)
    assert info.value.code == "unknown_case"
    for device in ("dev-alice", "dev-mallory"):  # the reporter, a stranger to the case
        with pytest.raises(RecordError) as info:
            await records.appeals.submit(case=number, device=device, text="hi", now=NOW)
        assert info.value.code == "not_allowed"

    # A device banned under a case may appeal it too.
    await records.bans.add(
        device="dev-banned", network=None, reason="spam", case=number, until=None, now=NOW
    )
    await records.appeals.submit(case=number, device="dev-banned", text="Sorry.", now=NOW)
    assert (await counts(engine))["appeals"] == 2


async def test_purge_keeps_escalated_evidence_a_year(records: Records, engine: AsyncEngine) -> None:
    plain = await records.reports.file(filing(match="m-1"), now=NOW)
    escalated = await records.reports.file(filing(match="m-2"), now=NOW)
    await records.cases.escalate(escalated, actor="mod-1", now=NOW)

    assert await records.cases.purge(now=NOW + timedelta(days=89)) == 0
    assert await records.cases.purge(now=NOW + timedelta(days=91)) == 1
    assert await records.cases.evidence(plain) == []
    assert len(await records.cases.evidence(escalated)) == 1

    assert await records.cases.purge(now=NOW + timedelta(days=364)) == 0
    assert len(await records.cases.evidence(escalated)) == 1
    assert await records.cases.purge(now=NOW + timedelta(days=366)) == 1
    assert await records.cases.evidence(escalated) == []

    async with engine.connect() as conn:
        cases = (await conn.execute(select(Case.number, Case.status, Case.escalated))).all()
        assert sorted(cases) == [(plain, "open", False), (escalated, "escalated", True)]
        assert (await conn.execute(select(func.count()).select_from(Evidence))).scalar() == 0


async def test_purge_respects_escalation_set_directly(
    records: Records, engine: AsyncEngine
) -> None:
    number = await records.reports.file(filing(), now=NOW)
    async with engine.begin() as conn:
        await conn.execute(update(Case).where(Case.number == number).values(escalated=True))
    assert await records.cases.purge(now=NOW + timedelta(days=200)) == 0
    assert await records.cases.purge(now=NOW + timedelta(days=365)) == 1


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "evidence.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == key
    path.write_bytes(b"not a key")
    with pytest.raises(ValueError):
        load_or_create_key(path)


async def test_open_refuses_a_bad_key(tmp_path: Path) -> None:
    with pytest.raises(RecordError):
        await Records.open(f"sqlite+aiosqlite:///{tmp_path}/x.db", b"short")


async def test_the_unknown_network_cannot_be_banned(records: Records) -> None:
    with pytest.raises(RecordError) as refused:
        await records.bans.add(
            device=None, network="n:unknown", reason="spam", case=None, until=None, now=NOW
        )
    assert refused.value.code == "invalid"
