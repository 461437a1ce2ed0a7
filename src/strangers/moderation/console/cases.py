"""The queue of open cases, a case, its frames, and the actions on it (docs/design.md §1,
Moderator). Opening a case and revealing a frame are audited before the content is
served (ASVS V7.2.2); a ban a moderator makes is in force on the live chat at once."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.responses import Response

from .. import casework, cybertip
from ..records import RecordError
from .base import CSRF_FIELD, DONE, TEXT_MAX, Pages, Route, Visit, see_other
from .blur import blurred_jpeg

QUEUE_LIMIT: Final = 200


class CasePages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route("GET", "/mod", "The queue of open cases, most severe first.", self.queue),
            Route(
                "GET",
                "/mod/cases/{handle}",
                "A case: its report, transcript, frames and history.",
                self.case_page,
                query=("done",),
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/act",
                "Act on a case: dismiss, warn, ban, escalate, note.",
                self.act,
                kind="post",
                form={
                    "csrf": CSRF_FIELD,
                    "action": {"type": "string", "enum": list(casework.ACTIONS)},
                    "duration": {"type": "string", "enum": list(casework.BAN_DURATIONS)},
                    "text": {"type": "string", "maxLength": TEXT_MAX},
                },
            ),
            Route(
                "GET",
                "/mod/cases/{handle}/frames/{index}/blurred.jpg",
                "A frame of a case, blurred.",
                self.blurred_frame,
                kind="download",
            ),
            Route(
                "GET",
                "/mod/cases/{handle}/frames/{index}/clear.jpg",
                "A frame of a case (audited).",
                self.clear_frame,
                kind="download",
            ),
        ]

    async def queue(self, visit: Visit) -> Response:
        items = await casework.queue(visit.records, limit=QUEUE_LIMIT)
        return self.page(visit, "queue.html", section="queue", items=items, now=visit.now)

    async def case_page(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = await casework.case(visit.records, number, now=visit.now)
        await casework.audit_view(
            visit.records, number, actor=visit.user.name, now=visit.now, what="case"
        )
        return await self._case(visit, view, notice=DONE.get(visit.query("done"), ""))

    async def _case(
        self, visit: Visit, view: casework.CaseView, *, status: int = 200, **context: Any
    ) -> Response:
        base = f"/mod/cases/{visit.handles.case(view.number)}"
        settings = self.services.settings
        filed = await cybertip.filing_of(visit.records, view.number) if view.escalated else None
        return self.page(
            visit,
            "case.html",
            status=status,
            section="queue",
            case=view,
            base=base,
            now=visit.now,
            text_max=TEXT_MAX,
            cybertip=bool(settings.cybertip_username),
            filed=filed,
            **context,
        )

    async def blurred_frame(self, visit: Visit) -> Response:
        return await self._frame(visit, clear=False)

    async def clear_frame(self, visit: Visit) -> Response:
        return await self._frame(visit, clear=True)

    async def _frame(self, visit: Visit, *, clear: bool) -> Response:
        number = self.case_number(visit)
        index_text = visit.request.path_params.get("index", "")
        if not index_text.isascii() or not index_text.isdigit() or len(index_text) > 6:
            return self.not_found(visit.request, visit.user)
        index = int(index_text)
        view = await casework.case(visit.records, number, now=visit.now)
        found = [frame for frame in view.frames if frame.index == index]
        if not found:
            return self.not_found(visit.request, visit.user)
        if clear:
            # Audited before a byte of the clear picture leaves (ASVS V7.2.2).
            await casework.audit_view(
                visit.records, number, actor=visit.user.name, now=visit.now, what=f"frame:{index}"
            )
            return Response(found[0].jpeg, media_type="image/jpeg")
        blurred = await asyncio.to_thread(blurred_jpeg, found[0].jpeg)
        return Response(blurred, media_type="image/jpeg")

    async def act(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        action = visit.field("action")
        duration = visit.field("duration")
        text = visit.field("text").strip()
        problem = _action_problem(action, duration, text)
        if problem:
            view = await casework.case(visit.records, number, now=visit.now)
            return await self._case(visit, view, status=400, error=problem)
        capture = None
        if action == "escalate":
            device, _ = await casework.case_subject(visit.records, number)
            capture = self.chat.address_of(device)
        try:
            outcome = await casework.act(
                visit.records,
                number,
                action,
                actor=visit.user.name,
                now=visit.now,
                duration=duration or None,
                text=text,
                capture=capture,
            )
        except RecordError as exc:
            if exc.code != "invalid":
                raise
            view = await casework.case(visit.records, number, now=visit.now)
            return await self._case(visit, view, status=400, error=exc.detail)
        if outcome.ban is not None and outcome.device is not None:
            # In force on this node at once: the chatter's live session is told and closed.
            self.chat.apply_ban(outcome.device, None, outcome.ban)
        if outcome.notice is not None:
            self.chat.notify(outcome.notice)
        return see_other(f"/mod/cases/{visit.handles.case(number)}?done={action}")


def _action_problem(action: str, duration: str, text: str) -> str:
    """What is wrong with an action form, in words; "" when it can go to casework."""
    if action not in casework.ACTIONS:
        return "Unknown action."
    if action == "ban" and duration not in casework.BAN_DURATIONS:
        return "Choose how long the ban lasts: 1 hour, 24 hours, 7 days or permanent."
    if action in ("warn", "note"):
        what = "warning" if action == "warn" else "note"
        if not text:
            return f"Write the {what} first."
        if len(text) > TEXT_MAX:
            return f"The {what} is over {TEXT_MAX} characters."
    return ""
