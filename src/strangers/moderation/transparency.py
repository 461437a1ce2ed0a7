"""The transparency report: what moderation did in a period, counted (DSA arts. 15 and 24).

For a period ``[start, end)`` in UTC:

- reports received, by reason: notices under DSA art. 16, by the type of content
  alleged (art. 15(1)(b));
- automatic detections, by kind: moderation at the service's own initiative with
  automated tools (art. 15(1)(c) and (e));
- measures taken, by kind, automatic or by a person (art. 15(1)(c) and (e)); a "note" is
  not a measure and is not counted;
- appeals received, and their outcome so far: the internal complaints of art. 20, with
  how many decisions were reversed (art. 15(1)(d));
- the median time from a report to the first measure on its case (art. 15(1)(b));
- cases escalated for a report to law enforcement (DSA art. 18, 18 U.S.C. 2258A).

Every figure is a SQL aggregate over one snapshot of the records; the median reads at
most two rows. The same figures come out as JSON (:func:`report_json`), CSV
(:func:`report_csv`), a terminal table (:func:`report_table`) and the ``strangers
transparency`` command (:func:`transparency_command`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from sqlalchemy import Integer, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from strangers.core.reports import ReportReason
from strangers.moderation.offline import fail, with_records
from strangers.moderation.records import RecordError, Records
from strangers.moderation.tables import (
    ACTION_KINDS,
    APPEAL_STATUSES,
    FLAG_KINDS,
    Action,
    Appeal,
    Flag,
    Report,
)

if TYPE_CHECKING:
    # Printing only: the gateway, which builds reports for the console, never loads rich.
    from rich.table import Table

#: The kinds of action that are measures taken on a case (a note records a thought).
MEASURE_KINDS: Final = tuple(kind for kind in ACTION_KINDS if kind != "note")
#: A time column, as a table's attribute or a subquery's column.
Moment = ColumnElement[datetime] | QueryableAttribute[datetime]

REPORT_REASONS: Final = tuple(str(reason) for reason in ReportReason)
CSV_HEADER: Final = ("section", "key", "value")


@dataclass(frozen=True)
class TransparencyReport:
    """The figures of one period ``[start, end)`` (UTC). Every mapping has all its keys,
    zeros included, in a fixed order, so two periods line up."""

    start: datetime
    end: datetime
    #: Reports received in the period, by reason (every :class:`ReportReason`).
    reports_by_reason: dict[str, int]
    #: Automatic detections (flags) raised in the period, by flag kind.
    flags_by_kind: dict[str, int]
    #: Measures taken in the period: kind -> {"automatic": n, "human": n}; no "note".
    actions_by_kind: dict[str, dict[str, int]]
    actions_automatic: int
    actions_human: int
    #: Appeals submitted in the period, and the status each has now.
    appeals_received: int
    appeals_by_outcome: dict[str, int]  # "pending", "upheld", "overturned"
    #: For the reports received in the period whose case has a measure: the median of
    #: (first measure's time - report's time), in seconds; None when there is none.
    median_seconds_report_to_action: float | None
    #: Distinct cases with an escalation in the period.
    escalated_cases: int

    @property
    def reports_received(self) -> int:
        return sum(self.reports_by_reason.values())

    @property
    def automatic_detections(self) -> int:
        return sum(self.flags_by_kind.values())


def _check_period(start: datetime, end: datetime) -> None:
    for moment in (start, end):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise RecordError("invalid", "the period's times must be timezone-aware")
    if not start < end:
        raise RecordError("invalid", "the period must start before it ends")


def _counts(known: Iterable[str], found: Iterable[Any]) -> dict[str, int]:
    """Every ``known`` key (0 when absent), then any other key the records hold: a value
    unknown to this code is still counted rather than silently dropped."""
    counts = dict.fromkeys(known, 0)
    for key, count in found:  # (key, count) rows
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _elapsed_order(session: AsyncSession, later: Moment, earlier: Moment) -> ColumnElement[Any]:
    """``later - earlier``, orderable, to the microsecond, on either database.

    PostgreSQL subtracts timestamps into an interval, which orders exactly. SQLite has no
    time type: the records store ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), and its date
    functions keep only milliseconds, so whole seconds (``strftime('%s')``) and the six
    digits of microseconds are taken apart and combined as integer microseconds.
    """
    if session.get_bind().dialect.name != "sqlite":
        return later - earlier

    def micros(moment: Moment) -> ColumnElement[Any]:
        whole = cast(func.strftime("%s", moment), Integer) * 1_000_000
        return whole + cast(func.substr(moment, 21, 6), Integer)

    return micros(later) - micros(earlier)


async def _median_report_to_action(
    session: AsyncSession, start: datetime, end: datetime
) -> float | None:
    """The exact median (the mean of the two middle values for an even count) of the
    time from each report received in the period to the first measure on its case.

    The database orders the durations and hands back only the middle one or two rows;
    their difference is then taken in Python on the exact timestamps.
    """
    in_period = Report.reported_at >= start, Report.reported_at < end
    first_measure = (
        select(Action.case_id, func.min(Action.at).label("at"))
        .where(Action.kind != "note", Action.case_id.in_(select(Report.case_id).where(*in_period)))
        .group_by(Action.case_id)
        .subquery()
    )
    timed: Select[Any] = (
        select(Report.reported_at, first_measure.c.at)
        .join(first_measure, first_measure.c.case_id == Report.case_id)
        .where(*in_period)
    )
    count = int(await session.scalar(select(func.count()).select_from(timed.subquery())) or 0)
    if count == 0:
        return None
    elapsed = _elapsed_order(session, first_measure.c.at, Report.reported_at)
    middle = await session.execute(
        timed.order_by(elapsed, Report.id).offset((count - 1) // 2).limit(1 if count % 2 else 2)
    )
    seconds = [(acted - reported).total_seconds() for reported, acted in middle]
    return float(sum(seconds) / len(seconds))


async def transparency_report(
    records: Records, *, start: datetime, end: datetime
) -> TransparencyReport:
    """Count what happened in ``[start, end)`` (timezone-aware; see the module).

    A period that is not aware or does not start before it ends: ``RecordError``
    ``invalid``. The records unreachable: ``unavailable``. Reads only.
    """
    _check_period(start, end)
    async with records.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every figure, so they add up under concurrent writes
            # (SQLite's transaction is a snapshot already).
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

        reasons = await session.execute(
            select(Report.reason, func.count())
            .where(Report.reported_at >= start, Report.reported_at < end)
            .group_by(Report.reason)
        )
        reports_by_reason = _counts(REPORT_REASONS, reasons)

        kinds = await session.execute(
            select(Flag.kind, func.count())
            .where(Flag.flagged_at >= start, Flag.flagged_at < end)
            .group_by(Flag.kind)
        )
        flags_by_kind = _counts(FLAG_KINDS, kinds)

        measures = await session.execute(
            select(Action.kind, Action.automatic, func.count())
            .where(Action.at >= start, Action.at < end, Action.kind != "note")
            .group_by(Action.kind, Action.automatic)
        )
        actions_by_kind = {kind: {"automatic": 0, "human": 0} for kind in MEASURE_KINDS}
        for kind, automatic, count in measures:
            by_whom = actions_by_kind.setdefault(kind, {"automatic": 0, "human": 0})
            by_whom["automatic" if automatic else "human"] += int(count)

        statuses = await session.execute(
            select(Appeal.status, func.count())
            .where(Appeal.submitted_at >= start, Appeal.submitted_at < end)
            .group_by(Appeal.status)
        )
        appeals_by_outcome = _counts(APPEAL_STATUSES, statuses)

        escalated = await session.scalar(
            select(func.count(func.distinct(Action.case_id))).where(
                Action.kind == "escalate", Action.at >= start, Action.at < end
            )
        )
        median = await _median_report_to_action(session, start, end)

    return TransparencyReport(
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        reports_by_reason=reports_by_reason,
        flags_by_kind=flags_by_kind,
        actions_by_kind=actions_by_kind,
        actions_automatic=sum(by["automatic"] for by in actions_by_kind.values()),
        actions_human=sum(by["human"] for by in actions_by_kind.values()),
        appeals_received=sum(appeals_by_outcome.values()),
        appeals_by_outcome=appeals_by_outcome,
        median_seconds_report_to_action=median,
        escalated_cases=int(escalated or 0),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def report_json(report: TransparencyReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (DSA art. 15(1): machine-readable). Its keys are
    stable: the dataclass's fields plus the totals ``reports_received`` and
    ``automatic_detections``; times are ISO 8601 in UTC; the median is a number of
    seconds or null."""
    return {
        "start": _iso(report.start),
        "end": _iso(report.end),
        "reports_received": report.reports_received,
        "reports_by_reason": dict(report.reports_by_reason),
        "automatic_detections": report.automatic_detections,
        "flags_by_kind": dict(report.flags_by_kind),
        "actions_automatic": report.actions_automatic,
        "actions_human": report.actions_human,
        "actions_by_kind": {kind: dict(by) for kind, by in report.actions_by_kind.items()},
        "appeals_received": report.appeals_received,
        "appeals_by_outcome": dict(report.appeals_by_outcome),
        "median_seconds_report_to_action": report.median_seconds_report_to_action,
        "escalated_cases": report.escalated_cases,
    }


def report_figures(report: TransparencyReport) -> list[tuple[str, str, str]]:
    """Every figure as ``(section, key, value)``, in a fixed order: the CSV's rows and
    the table's. The median is empty when there is none."""
    median = report.median_seconds_report_to_action
    return [
        ("period", "start", _iso(report.start)),
        ("period", "end", _iso(report.end)),
        ("reports", "received", str(report.reports_received)),
        *(("reports_by_reason", k, str(n)) for k, n in report.reports_by_reason.items()),
        ("automatic_detections", "total", str(report.automatic_detections)),
        *(("flags_by_kind", k, str(n)) for k, n in report.flags_by_kind.items()),
        ("actions", "automatic", str(report.actions_automatic)),
        ("actions", "human", str(report.actions_human)),
        *(
            (f"actions_{whom}", kind, str(by[whom]))
            for whom in ("automatic", "human")
            for kind, by in report.actions_by_kind.items()
        ),
        ("appeals", "received", str(report.appeals_received)),
        *(("appeals_by_outcome", k, str(n)) for k, n in report.appeals_by_outcome.items()),
        ("report_to_action", "median_seconds", "" if median is None else repr(median)),
        ("escalations", "cases", str(report.escalated_cases)),
    ]


def report_csv(report: TransparencyReport) -> str:
    """The report as CSV (RFC 4180: CRLF line ends, quoted where needed): the header
    ``section,key,value``, then one row a figure (:func:`report_figures`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(report_figures(report))
    return out.getvalue()


def report_table(report: TransparencyReport) -> Table:
    """The report as a rich table for a terminal: one row a figure, grouped by section."""
    from rich.table import Table

    table = Table(
        title="Transparency report (DSA arts. 15 and 24)",
        caption="The period includes its start and excludes its end.",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Section")
    table.add_column("Figure")
    table.add_column("Value", justify="right")
    figures = report_figures(report)
    for index, (section, key, value) in enumerate(figures):
        first = index == 0 or figures[index - 1][0] != section
        last = index == len(figures) - 1 or figures[index + 1][0] != section
        table.add_row(section if first else "", key, value or "none", end_section=last)
    return table


# The command (registered in cli.py as ``strangers transparency``)


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _day(value: str, option: str) -> datetime:
    """``YYYY-MM-DD`` as midnight UTC; anything else: a clear error, exit 1."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None
    return datetime.combine(day, time(0), tzinfo=UTC)


def transparency_command(
    start: Annotated[
        str, typer.Option("--from", help="First day of the period (YYYY-MM-DD, UTC midnight).")
    ],
    end: Annotated[str, typer.Option("--to", help="Day after the period (YYYY-MM-DD, excluded).")],
    output: Annotated[
        ReportFormat, typer.Option("--format", help="table, json or csv.")
    ] = ReportFormat.TABLE,
) -> None:
    """Print the transparency report of a period (DSA arts. 15 and 24): reports,
    automatic detections, measures, appeals, median time to action, escalations."""
    since, until = _day(start, "--from"), _day(end, "--to")
    if since >= until:
        raise fail(f"--from ({start}) must be before --to ({end}); --to is excluded")

    async def work(records: Records) -> TransparencyReport:
        return await transparency_report(records, start=since, end=until)

    # A fresh data directory gets its schema, and an empty report.
    report = with_records(work)

    if output is ReportFormat.JSON:
        typer.echo(json.dumps(report_json(report), indent=2))
    elif output is ReportFormat.CSV:
        typer.echo(report_csv(report), nl=False)
    else:
        from rich.console import Console

        Console().print(report_table(report))
