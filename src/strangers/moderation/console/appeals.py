"""Appeals against bans (DSA art. 20): the queue, an appeal with its case, and the
decision, by a moderator other than the one who took the decision under appeal. An
overturned ban is lifted on the live chat at once; the chatter is told on their next
visit."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response

from .. import casework
from ..records import RecordError
from .base import CSRF_FIELD, TEXT_MAX, Pages, Route, Stop, Visit, done_notice, see_other
from .language import Phrase, say

NOT_YOURS: Final = say("appeal.not_yours")


class AppealPages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod/appeals",
                "The appeals waiting for a decision.",
                self.appeals,
                query=("done",),
            ),
            Route(
                "GET",
                "/mod/appeals/{handle}",
                "An appeal and its case.",
                self.appeal_page,
                query=("done",),
            ),
            Route(
                "POST",
                "/mod/appeals/{handle}/decide",
                "Decide an appeal (not its case's actor).",
                self.decide,
                kind="post",
                form={
                    "csrf": CSRF_FIELD,
                    "outcome": {"type": "string", "enum": list(casework.APPEAL_OUTCOMES)},
                    "statement": {"type": "string", "maxLength": TEXT_MAX},
                },
            ),
        ]

    async def appeals(self, visit: Visit) -> Response:
        items = await casework.appeals_queue(visit.records)
        return self.page(
            visit,
            "appeals.html",
            section="appeals",
            items=items,
            now=visit.now,
            notice=done_notice(visit),
        )

    def _appeal_id(self, visit: Visit) -> int:
        ident = visit.handles.open_appeal(visit.request.path_params.get("handle", ""))
        if ident is None:
            raise Stop(self.not_found(visit.request, visit.user))
        return ident

    async def appeal_page(self, visit: Visit) -> Response:
        appeal = await casework.appeal(visit.records, self._appeal_id(visit))
        return await self._appeal(visit, appeal, notice=done_notice(visit))

    async def _appeal(
        self, visit: Visit, appeal: casework.AppealView, *, status: int = 200, **context: Any
    ) -> Response:
        view = await casework.case(visit.records, appeal.case, now=visit.now)
        # Who may decide is casework's rule (DSA art. 20(6)); this only disables the form
        # for the moderator it would refuse.
        acted = any(a.actor == visit.user.name and a.kind != "note" for a in view.actions)
        return self.page(
            visit,
            "appeal.html",
            status=status,
            section="appeals",
            appeal=appeal,
            case=view,
            acted=acted,
            not_yours=NOT_YOURS,
            base=f"/mod/appeals/{visit.handles.appeal(appeal.id)}",
            text_max=TEXT_MAX,
            **context,
        )

    async def decide(self, visit: Visit) -> Response:
        ident = self._appeal_id(visit)
        appeal = await casework.appeal(visit.records, ident)
        outcome = visit.field("outcome")
        statement = visit.field("statement").strip()
        problem: Phrase | None = None
        if outcome not in casework.APPEAL_OUTCOMES:
            problem = say("appeal.problem.outcome")
        elif not statement:
            problem = say("appeal.problem.statement")
        elif len(statement) > TEXT_MAX:
            problem = say("appeal.problem.too_long", most=TEXT_MAX)
        if problem:
            return await self._appeal(visit, appeal, status=400, error=problem)
        try:
            notice = await casework.decide_appeal(
                visit.records,
                ident,
                outcome,
                actor=visit.user.name,
                statement=statement,
                now=visit.now,
            )
        except RecordError as exc:
            if exc.code == "not_allowed":
                return self.message(
                    visit.request, 403, say("appeal.not_yours_title"), NOT_YOURS, visit.user
                )
            if exc.code == "duplicate":
                return self.message(
                    visit.request,
                    409,
                    say("appeal.already_decided"),
                    say("appeal.already_decided_text"),
                    visit.user,
                )
            if exc.code == "invalid":
                return await self._appeal(visit, appeal, status=400, error=exc.detail)
            raise
        self.chat.notify(notice)
        if outcome == "overturned":
            # The case's bans ended in the records; the index must forget them now.
            await self.chat.reload_bans()
        return see_other(f"/mod/appeals/{visit.handles.appeal(ident)}?done=decided")
