"""The transparency report (DSA arts. 15 and 24), on SQLite and on PostgreSQL: every
figure of a seeded period, the exact median, the JSON and CSV forms, and the command."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from strangers.core.flags import FlagKind
from strangers.core.reports import ReportReason
from strangers.moderation import RecordError, Records, load_or_create_key, sqlite_url, upgrade
from strangers.moderation.tables import Appeal, Case
from strangers.moderation.transparency import (
    TransparencyReport,
    report_csv,
    report_json,
    report_table,
    transparency_command,
    transparency_report,
)

from .test_flags import make_flag
from .test_records import filing

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


async def report(records: Records, reason: ReportReason, at: datetime) -> str:
    """File a report of ``reason`` made at ``at``; returns its case number."""
    unix = at.timestamp()
    made = dataclasses.replace(
        filing(match=f"m-{unix}"), reason=reason, matched_at=unix - 60, reported_at=unix
    )
    return await records.reports.file(made, now=at)


async def act(records: Records, case: str, kind: str, at: datetime, actor: str = "mod-ann") -> None:
    """A moderator's measure (or note) on ``case``, as the console records it."""
    async with records.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.number == case))
        assert case_id is not None
        records.record_action(session, case_id, kind, now=at, actor=actor)


async def appeal(records: Records, case: str, at: datetime, outcome: str = "pending") -> None:
    """The reported chatter appeals ``case`` at ``at``; another moderator decides it."""
    appeal_id = await records.appeals.submit(
        case=case, device="dev-bob", text="please look again", now=at
    )
    if outcome != "pending":
        async with records.transaction() as session:
            await session.execute(
                update(Appeal)
                .where(Appeal.id == appeal_id)
                .values(status=outcome, decided_by="mod-bea", decided_at=at + HOUR)
            )


async def seed(records: Records) -> None:
    """A month of moderation, with events just outside it on both sides.

    In the period, reports whose case got a measure, time to the first one:
    A 1800 s, B 120 s, C 600.25 s (a note came first), D 7200 s (acted on after the
    period). Sorted: 120, 600.25, 1800, 7200; median (600.25 + 1800) / 2 = 1200.125.
    Taken in report order or action order instead, the middle pair would be B and C.
    """
    # A: sexual, at the period's first instant (included); banned, escalated twice.
    a = await report(records, ReportReason.SEXUAL, START)
    await act(records, a, "ban", START + seconds(1800))
    await records.cases.escalate(a, actor="mod-ann", now=START + 40 * seconds(60))
    await records.cases.escalate(a, actor="mod-ann", now=START + 50 * seconds(60))
    # B: spam, dismissed after two minutes.
    b = await report(records, ReportReason.SPAM, START + HOUR)
    await act(records, b, "dismiss", START + HOUR + seconds(120))
    # C: harassment; a note first (not a measure), then a warning.
    c = await report(records, ReportReason.HARASSMENT, START + 2 * HOUR)
    await act(records, c, "note", START + 2 * HOUR + seconds(60))
    await act(records, c, "warn", START + 2 * HOUR + seconds(600.25))
    # D: harassment an hour before the end, warned an hour after it.
    d = await report(records, ReportReason.HARASSMENT, END - HOUR)
    await act(records, d, "warn", END + HOUR)
    # E: underage, only a note: no measure, so not in the median.
    e = await report(records, ReportReason.UNDERAGE, START + 3 * HOUR)
    await act(records, e, "note", START + 3 * HOUR + seconds(30))
    # F: reported before the period, dismissed in it.
    f = await report(records, ReportReason.SEXUAL, START - HOUR)
    await act(records, f, "dismiss", START + 10 * seconds(60))
    # G: reported at the end (excluded), warned and escalated after it.
    g = await report(records, ReportReason.OTHER, END)
    await act(records, g, "warn", END + 5 * seconds(60))
    await records.cases.escalate(g, actor="mod-ann", now=END + 10 * seconds(60))

    # Automatic detections on one subject. Two days before: a strike, outside.
    await records.flags.file(make_flag(at=START - 2 * DAY, match="f-0"), now=START - 2 * DAY)
    # In the period: a strike, then a second strike in 24 hours and its ban.
    first = await records.flags.file(
        make_flag(at=START + 5 * HOUR, match="f-1"), now=START + 5 * HOUR
    )
    assert (first.strikes, first.ban) == (1, None)
    second = await records.flags.file(
        make_flag(at=START + 6 * HOUR, match="f-2"), now=START + 6 * HOUR
    )
    assert second.strikes == 2 and second.ban is not None
    # A hash-list match: device and network bans and an escalation, all automatic;
    # a moderator lifts the network ban later.
    known = await records.flags.file(
        make_flag(FlagKind.KNOWN_ABUSE, at=START + 7 * HOUR, match="f-3"), now=START + 7 * HOUR
    )
    assert known.ban is not None and known.network_ban is not None
    await act(records, known.case, "unban", START + 8 * HOUR)
    # After the period: a strike, outside.
    await records.flags.file(make_flag(at=END + HOUR, match="f-4"), now=END + HOUR)

    # Appeals: four in the period, two outside it.
    await appeal(records, a, START + DAY, "overturned")
    await appeal(records, b, START + 2 * DAY)
    await appeal(records, c, START + 3 * DAY, "upheld")
    await appeal(records, e, START + 4 * DAY, "upheld")
    await appeal(records, f, START - 30 * seconds(60), "upheld")
    await appeal(records, d, END + seconds(60))


EXPECTED = TransparencyReport(
    start=START,
    end=END,
    reports_by_reason={
        "sexual": 1,
        "underage": 1,
        "adult": 0,
        "harassment": 2,
        "spam": 1,
        "other": 0,
    },
    flags_by_kind={"nudity": 2, "known_abuse": 1, "text_risk": 0, "adult_in_teen": 0},
    actions_by_kind={
        "dismiss": {"automatic": 0, "human": 2},
        "warn": {"automatic": 0, "human": 1},
        "strike": {"automatic": 2, "human": 0},
        "ban": {"automatic": 3, "human": 1},
        "escalate": {"automatic": 1, "human": 2},
        "unban": {"automatic": 0, "human": 1},
    },
    actions_automatic=6,
    actions_human=7,
    appeals_received=4,
    appeals_by_outcome={"pending": 1, "upheld": 2, "overturned": 1},
    median_seconds_report_to_action=1200.125,
    escalated_cases=2,
)


async def test_every_figure_of_a_seeded_period_is_exact(records: Records) -> None:
    await seed(records)
    found = await transparency_report(records, start=START, end=END)
    assert found == EXPECTED
    # Key order is part of the contract: every period lines up.
    assert list(found.reports_by_reason) == [str(reason) for reason in ReportReason]
    assert list(found.actions_by_kind) == ["dismiss", "warn", "strike", "ban", "escalate", "unban"]
    assert (found.reports_received, found.automatic_detections) == (5, 3)


async def test_the_json_has_stable_keys_and_iso_times(records: Records) -> None:
    await seed(records)
    body = report_json(await transparency_report(records, start=START, end=END))
    assert json.loads(json.dumps(body)) == body
    assert body == {
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-02-01T00:00:00+00:00",
        "reports_received": 5,
        "reports_by_reason": EXPECTED.reports_by_reason,
        "automatic_detections": 3,
        "flags_by_kind": EXPECTED.flags_by_kind,
        "actions_automatic": 6,
        "actions_human": 7,
        "actions_by_kind": EXPECTED.actions_by_kind,
        "appeals_received": 4,
        "appeals_by_outcome": EXPECTED.appeals_by_outcome,
        "median_seconds_report_to_action": 1200.125,
        "escalated_cases": 2,
    }


async def test_the_csv_has_a_header_and_one_row_a_figure(records: Records) -> None:
    await seed(records)
    text = report_csv(await transparency_report(records, start=START, end=END))
    assert text.startswith("section,key,value\r\n") and text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        ["section", "key", "value"],
        ["period", "start", "2026-01-01T00:00:00+00:00"],
        ["period", "end", "2026-02-01T00:00:00+00:00"],
        ["reports", "received", "5"],
        ["reports_by_reason", "sexual", "1"],
        ["reports_by_reason", "underage", "1"],
        ["reports_by_reason", "adult", "0"],
        ["reports_by_reason", "harassment", "2"],
        ["reports_by_reason", "spam", "1"],
        ["reports_by_reason", "other", "0"],
        ["automatic_detections", "total", "3"],
        ["flags_by_kind", "nudity", "2"],
        ["flags_by_kind", "known_abuse", "1"],
        ["flags_by_kind", "text_risk", "0"],
        ["flags_by_kind", "adult_in_teen", "0"],
        ["actions", "automatic", "6"],
        ["actions", "human", "7"],
        ["actions_automatic", "dismiss", "0"],
        ["actions_automatic", "warn", "0"],
        ["actions_automatic", "strike", "2"],
        ["actions_automatic", "ban", "3"],
        ["actions_automatic", "escalate", "1"],
        ["actions_automatic", "unban", "0"],
        ["actions_human", "dismiss", "2"],
        ["actions_human", "warn", "1"],
        ["actions_human", "strike", "0"],
        ["actions_human", "ban", "1"],
        ["actions_human", "escalate", "2"],
        ["actions_human", "unban", "1"],
        ["appeals", "received", "4"],
        ["appeals_by_outcome", "pending", "1"],
        ["appeals_by_outcome", "upheld", "2"],
        ["appeals_by_outcome", "overturned", "1"],
        ["report_to_action", "median_seconds", "1200.125"],
        ["escalations", "cases", "2"],
    ]


async def test_the_median_of_an_odd_count_is_the_middle_value(records: Records) -> None:
    # Filed out of order of their durations: 90 s, 30 s, 45.5 s.
    for offset, delay in ((timedelta(0), 90), (HOUR, 30), (2 * HOUR, 45.5)):
        case = await report(records, ReportReason.SPAM, START + offset)
        await act(records, case, "dismiss", START + offset + seconds(delay))
    found = await transparency_report(records, start=START, end=END)
    assert found.median_seconds_report_to_action == 45.5
    # A fourth makes the count even: the mean of the two middle values, 45.5 and 90.
    case = await report(records, ReportReason.SPAM, START + 3 * HOUR)
    await act(records, case, "warn", START + 3 * HOUR + seconds(600))
    found = await transparency_report(records, start=START, end=END)
    assert found.median_seconds_report_to_action == 67.75


async def test_microseconds_order_the_durations(records: Records) -> None:
    # Within one millisecond of each other: SQLite's date functions alone would tie them.
    delays = (seconds(10.000900), seconds(10.000100), seconds(10.000500))
    for index, delay in enumerate(delays):
        case = await report(records, ReportReason.OTHER, START + index * HOUR)
        await act(records, case, "warn", START + index * HOUR + delay)
    found = await transparency_report(records, start=START, end=END)
    assert found.median_seconds_report_to_action == seconds(10.000500).total_seconds()


async def test_an_empty_period_has_every_key_and_no_median(records: Records) -> None:
    await seed(records)
    later = END + 30 * DAY
    paris = timezone(timedelta(hours=1))
    # The same instants, given in another zone: the report states them in UTC.
    found = await transparency_report(
        records, start=later.astimezone(paris), end=(later + DAY).astimezone(paris)
    )
    assert found == TransparencyReport(
        start=later,
        end=later + DAY,
        reports_by_reason=dict.fromkeys(EXPECTED.reports_by_reason, 0),
        flags_by_kind=dict.fromkeys(EXPECTED.flags_by_kind, 0),
        actions_by_kind={kind: {"automatic": 0, "human": 0} for kind in EXPECTED.actions_by_kind},
        actions_automatic=0,
        actions_human=0,
        appeals_received=0,
        appeals_by_outcome={"pending": 0, "upheld": 0, "overturned": 0},
        median_seconds_report_to_action=None,
        escalated_cases=0,
    )
    assert found.start.utcoffset() == timedelta(0)
    assert report_json(found)["median_seconds_report_to_action"] is None
    assert report_json(found)["start"] == later.isoformat()
    assert "report_to_action,median_seconds,\r\n" in report_csv(found)


async def test_a_report_with_only_notes_is_left_out_of_the_median(records: Records) -> None:
    case = await report(records, ReportReason.HARASSMENT, START)
    await act(records, case, "note", START + seconds(5))
    found = await transparency_report(records, start=START, end=END)
    assert found.median_seconds_report_to_action is None
    assert found.actions_human == 0 and found.reports_received == 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, START),
        (END, START),
        (START.replace(tzinfo=None), END),
        (START, END.replace(tzinfo=None)),
    ],
)
async def test_a_bad_period_is_refused(records: Records, start: datetime, end: datetime) -> None:
    with pytest.raises(RecordError) as info:
        await transparency_report(records, start=start, end=end)
    assert info.value.code == "invalid"


async def test_the_table_shows_every_figure(records: Records) -> None:
    from rich.console import Console

    await seed(records)
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(report_table(await transparency_report(records, start=START, end=END)))
    text = console.export_text()
    for words in ("reports_by_reason", "harassment", "known_abuse", "1200.125", "escalations"):
        assert words in text


# The command, on a SQLite data directory of its own


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("STRANGERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRANGERS_EVIDENCE_KEY", raising=False)
    monkeypatch.setenv("STRANGERS_ENV", "development")
    data = tmp_path / "data"
    monkeypatch.setenv("STRANGERS_DATA_DIR", str(data))
    return data


def seed_directory(data: Path) -> None:
    """Two reports in January 2026, one dismissed 90 s after it came in."""

    async def run() -> None:
        url = sqlite_url(data)
        upgrade(url)
        records = await Records.open(url, load_or_create_key(data / "evidence.key"))
        try:
            case = await report(records, ReportReason.SEXUAL, START + DAY)
            await act(records, case, "dismiss", START + DAY + seconds(90))
            await report(records, ReportReason.SPAM, START + 2 * DAY)
        finally:
            await records.close()

    data.mkdir(parents=True)
    asyncio.run(run())


def invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A stand-in for the ``strangers`` command group."""

    app.command("transparency")(transparency_command)
    result = CliRunner().invoke(app, ["transparency", *args])
    # Exit codes only: a traceback would show as another exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_the_command_prints_json_csv_and_a_table(data_dir: Path) -> None:
    seed_directory(data_dir)
    code, output = invoke("--from", "2026-01-01", "--to", "2026-02-01", "--format", "json")
    assert code == 0
    body = json.loads(output)
    assert (body["start"], body["end"]) == (
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    )
    assert body["reports_by_reason"] == {
        "sexual": 1,
        "underage": 0,
        "adult": 0,
        "harassment": 0,
        "spam": 1,
        "other": 0,
    }
    assert body["actions_by_kind"]["dismiss"] == {"automatic": 0, "human": 1}
    assert body["median_seconds_report_to_action"] == 90.0

    # --to is excluded: the second report, on 3 January, is outside [1 Jan, 3 Jan).
    code, output = invoke("--from", "2026-01-01", "--to", "2026-01-03", "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(output, newline="")))
    assert rows[0] == ["section", "key", "value"]
    assert ["reports", "received", "1"] in rows and ["reports_by_reason", "spam", "0"] in rows
    assert ["report_to_action", "median_seconds", "90.0"] in rows

    code, output = invoke("--from", "2026-01-01", "--to", "2026-02-01")
    assert code == 0
    assert "Transparency report" in output and "median_seconds" in output and "90.0" in output


def test_the_command_on_a_fresh_directory_reports_zeros(data_dir: Path) -> None:
    code, output = invoke("--from", "2026-01-01", "--to", "2026-02-01", "--format", "json")
    assert code == 0
    body = json.loads(output)
    assert body["reports_received"] == 0 and body["median_seconds_report_to_action"] is None


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            "2026-02-01",
            "2026-02-01",
            "error: --from (2026-02-01) must be before --to (2026-02-01); --to is excluded\n",
        ),
        (
            "2026-03-01",
            "2026-02-01",
            "error: --from (2026-03-01) must be before --to (2026-02-01); --to is excluded\n",
        ),
        (
            "2026-13-01",
            "2026-02-01",
            "error: --from must be a date as YYYY-MM-DD, not '2026-13-01'\n",
        ),
        ("2026-01-01", "tomorrow", "error: --to must be a date as YYYY-MM-DD, not 'tomorrow'\n"),
        ("20260101", "2026-02-01", "error: --from must be a date as YYYY-MM-DD, not '20260101'\n"),
    ],
)
def test_the_command_refuses_a_bad_period(
    data_dir: Path, start: str, end: str, message: str
) -> None:
    assert invoke("--from", start, "--to", end) == (1, message)
    assert not data_dir.exists()  # refused before the records were opened


def test_the_command_refuses_an_unknown_format(data_dir: Path) -> None:
    code, output = invoke("--from", "2026-01-01", "--to", "2026-02-01", "--format", "xml")
    assert code == 2 and "xml" in output
