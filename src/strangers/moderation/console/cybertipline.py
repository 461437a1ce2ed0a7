"""The law-enforcement report of an escalated case (18 U.S.C. 2258A): its package, to
download (audited before it leaves: it holds the evidence and the raw address), and
its filing with NCMEC's CyberTipline (admins; ``cybertip.py`` builds and sends it)."""

from __future__ import annotations

import logging

from starlette.responses import Response

from .. import cybertip
from .base import CSRF_FIELD, Pages, Route, Visit, see_other

log = logging.getLogger("strangers.console")


class CyberTiplinePages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod/cases/{handle}/report.zip",
                "The CyberTipline report package (audited).",
                self.report_package,
                kind="download",
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/cybertip",
                "Send the report to the CyberTipline (admins).",
                self.send_report,
                kind="post",
                admin=True,
                form={"csrf": CSRF_FIELD},
                answers={"502": "The CyberTipline did not take the report."},
            ),
        ]

    async def _package(self, visit: Visit, number: str) -> cybertip.ReportPackage:
        reporter = cybertip.ReporterInfo.from_settings(self.services.settings)
        return await cybertip.build_package(visit.records, number, reporter=reporter, now=visit.now)

    async def report_package(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        package = await self._package(visit, number)
        data = package.to_zip()
        # It holds the evidence and the raw address: audited before it leaves.
        await cybertip.record_download(visit.records, package, actor=visit.user.name, now=visit.now)
        return Response(
            data,
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{number}-cybertipline.zip"'},
        )

    async def send_report(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        settings = self.services.settings
        if not settings.cybertip_username:
            return self.message(
                visit.request,
                409,
                "CyberTipline not set up",
                "Set STRANGERS_CYBERTIP_USERNAME and STRANGERS_CYBERTIP_PASSWORD to send "
                "reports; meanwhile, download the report package.",
                visit.user,
            )
        earlier = await cybertip.filing_of(visit.records, number)
        if earlier is not None:
            return self.message(
                visit.request,
                409,
                "Already reported",
                f"This case was reported to the CyberTipline as report {earlier}.",
                visit.user,
            )
        package = await self._package(visit, number)
        try:
            async with cybertip.CyberTiplineClient.from_settings(settings) as client:
                filed = await client.send(package)
        except ValueError as exc:  # the URL or the credentials as set
            return self.message(visit.request, 409, "CyberTipline not set up", str(exc), visit.user)
        except cybertip.ReportNotFiled as exc:
            log.warning("a CyberTipline report was not filed (%s)", exc.code)
            opened = (
                ""
                if exc.report_id is None
                else f" Report {exc.report_id} was "
                + ("withdrawn." if exc.retracted else "opened and may need withdrawing.")
            )
            return self.message(
                visit.request,
                502,
                "Not filed",
                f"The CyberTipline did not take the report: {exc.reason}.{opened}",
                visit.user,
            )
        await cybertip.record_filing(
            visit.records, number, filed, actor=visit.user.name, now=visit.now
        )
        return see_other(f"/mod/cases/{visit.handles.case(number)}?done=filed")
