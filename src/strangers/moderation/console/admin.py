"""The admins' pages about the console itself: the audit log and the accounts."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from .. import casework
from ..accounts import list_moderators
from .base import Pages, Route, Visit
from .language import say

AUDIT_PAGE: Final = 100


class AdminPages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod/audit",
                "The audit log (admins).",
                self.audit,
                admin=True,
                query=("before",),
            ),
            Route(
                "GET",
                "/mod/moderators",
                "The console's accounts (admins).",
                self.moderators,
                admin=True,
            ),
        ]

    async def audit(self, visit: Visit) -> Response:
        before_text = visit.query("before")
        before: int | None = None
        if before_text:
            if not before_text.isascii() or not before_text.isdigit() or len(before_text) > 18:
                return self.message(
                    visit.request,
                    400,
                    say("error.bad_page"),
                    say("error.bad_page_text"),
                    visit.user,
                )
            before = int(before_text)
        entries = await casework.audit_log(visit.records, limit=AUDIT_PAGE, before=before)
        older = entries[-1].id if len(entries) == AUDIT_PAGE else None
        return self.page(visit, "audit.html", section="audit", entries=entries, older=older)

    async def moderators(self, visit: Visit) -> Response:
        rows = await list_moderators(visit.records, now=visit.now)
        return self.page(visit, "moderators.html", section="moderators", rows=rows)
