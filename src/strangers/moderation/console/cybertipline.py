"""The law-enforcement report of an escalated case (18 U.S.C. 2258A): a preview of its
package (the fields, the files and the incident type that will be sent), the package to
download (audited before it leaves: it holds the evidence and the raw address), and its
filing with NCMEC's CyberTipline (admins; ``cybertip`` builds and sends it).

The incident type is one of the CyberTipline's own (``cybertip.INCIDENT_TYPES``): the
one chosen at escalation, or one chosen on the preview (``?incident=`` on the preview and
the download, ``incident_type`` on the send form). Anything else is a 400, never sent.
Without the reporter settings (a default install) the preview says what to set, and the
download answers a page saying so: never a download that silently does nothing.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import urlencode

from starlette.responses import Response

from .. import casework, cybertip
from ..records import RecordError
from .base import CSRF_FIELD, Pages, Route, Stop, Visit, see_other
from .language import say

log = logging.getLogger("strangers.console")

#: The settings a package needs, by what they say in it.
REPORTER_SETTINGS: Final = ("STRANGERS_CYBERTIP_REPORTER_NAME", "STRANGERS_CYBERTIP_REPORTER_EMAIL")


class CyberTiplinePages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod/cases/{handle}/report",
                "What the CyberTipline report of an escalated case will hold, before it goes.",
                self.preview,
                query=("incident",),
            ),
            Route(
                "GET",
                "/mod/cases/{handle}/report.zip",
                "The CyberTipline report package (audited).",
                self.report_package,
                kind="download",
                answers={"409": "The reporter settings are missing: a page says which."},
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/cybertip",
                "Send the report to the CyberTipline (admins).",
                self.send_report,
                kind="post",
                admin=True,
                form={
                    "csrf": CSRF_FIELD,
                    "incident_type": {"type": "string", "enum": list(cybertip.INCIDENT_TYPES)},
                },
                answers={"502": "The CyberTipline did not take the report."},
            ),
        ]

    def _missing(self) -> list[str]:
        settings = self.services.settings
        missing = []
        if not (settings.cybertip_reporter_name or "").strip():
            missing.append(REPORTER_SETTINGS[0])
        if "@" not in (settings.cybertip_reporter_email or ""):
            missing.append(REPORTER_SETTINGS[1])
        return missing

    def _incident(self, visit: Visit, value: str) -> str | None:
        """The incident type asked for ("" none), or a 400 page for one not in the list."""
        if not value:
            return None
        if value not in cybertip.INCIDENT_TYPES:
            raise Stop(
                self.message(
                    visit.request,
                    400,
                    say("error.refused"),
                    say("report.bad_incident_type"),
                    visit.user,
                )
            )
        return value

    async def _package(
        self, visit: Visit, number: str, incident: str | None
    ) -> cybertip.ReportPackage:
        if self._missing():
            # The preview still shows what will be sent; the reporter is marked missing.
            reporter = cybertip.ReporterInfo(name="", email="")
        else:
            reporter = cybertip.ReporterInfo.from_settings(self.services.settings)
        return await cybertip.build_package(
            visit.records, number, reporter=reporter, now=visit.now, incident_type=incident
        )

    def _refused(self, visit: Visit, exc: RecordError) -> Response:
        """A package that cannot be built, in the reader's words: a case not escalated
        (403), no incident type chosen (400); anything else as the records say it."""
        if exc.code == "not_allowed":
            return self.message(
                visit.request, 403, say("report.title"), say("report.not_escalated"), visit.user
            )
        if exc.code == "invalid" and "incident type" in exc.detail:
            return self.message(
                visit.request, 400, say("report.title"), say("report.choose_first"), visit.user
            )
        raise exc

    async def preview(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        incident = self._incident(visit, visit.query("incident"))
        case = await casework.case(visit.records, number, now=visit.now)
        if not case.escalated:
            return self.message(
                visit.request, 409, say("report.title"), say("report.not_escalated"), visit.user
            )
        chosen = incident or case.incident_type or case.default_incident_type
        package = None
        if chosen is not None:
            package = await self._package(visit, number, chosen)
        base = f"/mod/cases/{visit.handles.case(number)}"
        filed = await cybertip.filing_of(visit.records, number)
        return self.page(
            visit,
            "report.html",
            section="queue",
            case=case,
            base=base,
            package=package,
            chosen=chosen,
            incident_types=cybertip.INCIDENT_TYPES,
            download=f"{base}/report.zip?{urlencode({'incident': chosen})}" if chosen else "",
            missing=self._missing(),
            cybertip=bool(self.services.settings.cybertip_username),
            filed=filed,
        )

    async def report_package(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        incident = self._incident(visit, visit.query("incident"))
        missing = self._missing()
        if missing:
            return self.message(
                visit.request,
                409,
                say("report.not_set_up"),
                say("report.missing", settings=", ".join(missing)),
                visit.user,
            )
        try:
            package = await self._package(visit, number, incident)
        except RecordError as exc:
            return self._refused(visit, exc)
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
        incident = self._incident(visit, visit.field("incident_type"))
        settings = self.services.settings
        if not settings.cybertip_username or self._missing():
            return self.message(
                visit.request,
                409,
                say("report.not_set_up"),
                say("report.not_set_up_text"),
                visit.user,
            )
        earlier = await cybertip.filing_of(visit.records, number)
        if earlier is not None:
            return self.message(
                visit.request,
                409,
                say("report.already"),
                say("report.already_text", report=earlier),
                visit.user,
            )
        try:
            package = await self._package(visit, number, incident)
        except RecordError as exc:
            return self._refused(visit, exc)
        try:
            async with cybertip.CyberTiplineClient.from_settings(settings) as client:
                filed = await client.send(package)
        except ValueError as exc:  # the URL or the credentials as set
            return self.message(visit.request, 409, say("report.not_set_up"), str(exc), visit.user)
        except cybertip.ReportNotFiled as exc:
            log.warning("a CyberTipline report was not filed (%s)", exc.code)
            if exc.report_id is None:
                text = say("report.not_filed_text", reason=exc.reason)
            elif exc.retracted:
                text = say("report.not_filed_withdrawn", reason=exc.reason, report=exc.report_id)
            else:
                text = say("report.not_filed_open", reason=exc.reason, report=exc.report_id)
            return self.message(visit.request, 502, say("report.not_filed"), text, visit.user)
        await cybertip.record_filing(
            visit.records, number, filed, actor=visit.user.name, now=visit.now
        )
        return see_other(f"/mod/cases/{visit.handles.case(number)}?done=filed")
