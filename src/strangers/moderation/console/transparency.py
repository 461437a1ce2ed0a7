"""The transparency figures of a period (DSA arts. 15 and 24): a page, and the same
figures as JSON and CSV downloads (``moderation/transparency.py`` counts them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from starlette.responses import JSONResponse, Response

from ..transparency import report_csv, report_figures, report_json, transparency_report
from .base import Pages, Route, Visit
from .language import say

DEFAULT_PERIOD: Final = timedelta(days=30)
LONGEST_PERIOD: Final = timedelta(days=3660)


class TransparencyPages(Pages):
    def routes(self) -> list[Route]:
        period = ("from", "to")
        return [
            Route(
                "GET",
                "/mod/transparency",
                "Transparency figures of a period (DSA arts. 15, 24).",
                self.transparency,
                query=period,
            ),
            Route(
                "GET",
                "/mod/transparency.json",
                "The transparency figures as JSON.",
                self.transparency_json,
                kind="download",
                query=period,
            ),
            Route(
                "GET",
                "/mod/transparency.csv",
                "The transparency figures as CSV.",
                self.transparency_csv,
                kind="download",
                query=period,
            ),
        ]

    async def transparency(self, visit: Visit) -> Response:
        try:
            start, end = _period(visit.query("from"), visit.query("to"), visit.now)
        except ValueError as exc:
            return self.page(
                visit,
                "transparency.html",
                status=400,
                section="transparency",
                error=say(PERIOD_PROBLEMS[str(exc)]) if str(exc) in PERIOD_PROBLEMS else str(exc),
                report=None,
                figures=[],
                start=visit.query("from")[:10],
                end=visit.query("to")[:10],
                query="",
            )
        report = await transparency_report(visit.records, start=start, end=end)
        from_day, to_day = start.date().isoformat(), end.date().isoformat()
        return self.page(
            visit,
            "transparency.html",
            section="transparency",
            report=report,
            figures=report_figures(report),
            start=from_day,
            end=to_day,
            query=f"from={from_day}&to={to_day}",
        )

    async def transparency_json(self, visit: Visit) -> Response:
        return await self._data(visit, csv=False)

    async def transparency_csv(self, visit: Visit) -> Response:
        return await self._data(visit, csv=True)

    async def _data(self, visit: Visit, *, csv: bool) -> Response:
        try:
            start, end = _period(visit.query("from"), visit.query("to"), visit.now)
        except ValueError as exc:
            if csv:
                return Response(f"error: {exc}\n", status_code=400, media_type="text/plain")
            return JSONResponse({"code": "invalid", "text": str(exc)}, status_code=400)
        report = await transparency_report(visit.records, start=start, end=end)
        if not csv:
            return JSONResponse(report_json(report))
        name = f"strangers-transparency-{start.date()}-to-{end.date()}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )


#: What a period that cannot be read is refused with: the words of the JSON and CSV
#: answers, and the catalogue key of the page's.
PERIOD_PROBLEMS: Final = {
    "“From” must be a date as YYYY-MM-DD.": "transparency.bad_from",
    "“To” must be a date as YYYY-MM-DD.": "transparency.bad_to",
    "“From” must be before “To” (the “To” day is not included).": "transparency.bad_order",
    "A period is at most ten years.": "transparency.too_long",
}


def _day(value: str, what: str) -> datetime:
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be a date as YYYY-MM-DD.") from None
    return datetime.combine(day, time(0), tzinfo=UTC)


def _period(start_text: str, end_text: str, now: datetime) -> tuple[datetime, datetime]:
    """``[from, to)`` at UTC midnights, ``to`` excluded as in ``strangers transparency``;
    by default the 30 days up to and including today."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(0), UTC)
    end = _day(end_text, "“To”") if end_text else tomorrow
    start = _day(start_text, "“From”") if start_text else end - DEFAULT_PERIOD
    if start >= end:
        raise ValueError("“From” must be before “To” (the “To” day is not included).")
    if end - start > LONGEST_PERIOD:
        raise ValueError("A period is at most ten years.")
    return start, end
