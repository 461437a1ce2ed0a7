"""The queue of cases, a case, its frames, claims, and the actions on it (docs/design.md
§1, Moderator; docs/moderation.md, "The queue", "Claims", "Actions").

- The queue is paged on the server in a stable order (most severe, oldest, number), with
  filters (kind, pool, severity, state, claim) and a search (a case number, a device id
  or a network hash); a filter or page out of its list or range is a 400 page that says
  which (OWASP ASVS 5.1.3), never a 500.
- A moderator claims a case; others see who holds it, and a decision on a case another
  holds is refused by the records (``casework.act``); a lead (an admin) assigns or
  releases it. "Next case" claims the first free case of the current filter; a decision
  can go straight on to it.
- A ban over 24 hours and an escalation need ``confirm`` (the page's dialog fills it);
  without it the case comes back with a 400 and a button that confirms.
- Opening a case and revealing a frame are audited before the content is served (ASVS
  V7.2.2); a ban a moderator makes is in force on the live chat at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import Response

from .. import casework, cybertip
from ..accounts import list_moderators
from ..records import RecordError
from ..tables import BAN_NOTE_MAX, CASE_KINDS
from .base import CSRF_FIELD, TEXT_MAX, Pages, Route, Stop, Visit, done_notice, see_other
from .blur import blurred_jpeg
from .language import Phrase, say

#: The query parameters of a queue view (casework.QueueFilter.parse reads them).
VIEW_FIELDS: Final = ("q", "kind", "pool", "severity", "state", "claim", "per_page", "page")
VIEW_FORM: Final[dict[str, Any]] = {
    name: {"type": "string", "description": "The queue view to go on in."} for name in VIEW_FIELDS
}
#: How often the queue page asks for the count (console.js), in seconds.
COUNT_REFRESH_SECONDS: Final = 30


def _view_query(view: casework.QueueFilter, **extra: str) -> str:
    """``?…`` for ``view`` and ``extra`` ("" when there is nothing to say)."""
    params = {**view.params(), **{name: value for name, value in extra.items() if value}}
    return "?" + urlencode(params) if params else ""


class CasePages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod",
                "The queue: filters, search and pages; most severe first, then oldest.",
                self.queue,
                query=(*VIEW_FIELDS, "done"),
            ),
            Route(
                "GET",
                "/mod/queue/count.json",
                "How many cases wait, and how many nobody holds (the page refreshes it).",
                self.queue_count,
                kind="download",
            ),
            Route(
                "POST",
                "/mod/next",
                "Claim the first free case of a queue view and open it.",
                self.next_case,
                kind="post",
                form={"csrf": CSRF_FIELD, **VIEW_FORM},
            ),
            Route(
                "GET",
                "/mod/cases/{handle}",
                "A case: its evidence first, then the actions, then its history.",
                self.case_page,
                query=(*VIEW_FIELDS, "done"),
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/claim",
                "Claim a case (or renew one's own claim).",
                self.claim,
                kind="post",
                form={"csrf": CSRF_FIELD, **VIEW_FORM},
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/release",
                "Give a case one holds back to the queue (a lead: anyone's).",
                self.release,
                kind="post",
                form={"csrf": CSRF_FIELD, **VIEW_FORM},
            ),
            Route(
                "POST",
                "/mod/cases/{handle}/assign",
                "Assign a case to a moderator, or release it (admins).",
                self.assign,
                kind="post",
                admin=True,
                form={
                    "csrf": CSRF_FIELD,
                    "to": {"type": "string", "description": "A moderator's name; empty: nobody."},
                    **VIEW_FORM,
                },
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
                    "confirm": {
                        "type": "string",
                        "description": "The duration of a ban over 24 h, or 'escalate'.",
                    },
                    "incident_type": {"type": "string", "enum": list(cybertip.INCIDENT_TYPES)},
                    "then": {"type": "string", "enum": ["next", "stay"]},
                    **VIEW_FORM,
                },
                answers={"403": "The case is held by another moderator."},
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

    # The queue

    def view_of(self, visit: Visit, *, form: bool = False) -> casework.QueueFilter:
        """The queue view a request asks for (its query, or a form's fields); a 400
        page naming the bad parameter otherwise (:class:`Stop`)."""
        source = visit.form if form else visit.request.query_params
        params = {name: str(source.get(name) or "") for name in VIEW_FIELDS}
        try:
            return casework.QueueFilter.parse(params)
        except RecordError:
            pass
        # Which one: each alone, in the order of the form.
        bad = next(
            (name for name in VIEW_FIELDS if not _parses({name: params[name]})),
            "q",
        )
        raise Stop(
            self.message(
                visit.request,
                400,
                say("queue.bad_title"),
                say(f"queue.bad.{bad}"),
                visit.user,
            )
        )

    async def queue(self, visit: Visit) -> Response:
        view = self.view_of(visit)
        try:
            page = await casework.queue(visit.records, view, actor=visit.user.name, now=visit.now)
        except RecordError as exc:
            if exc.code != "invalid":
                raise
            last = await casework.queue(
                visit.records, view.first_page(), actor=visit.user.name, now=visit.now
            )
            return self.message(
                visit.request,
                400,
                say("queue.bad_title"),
                say("queue.bad.page_past", page=view.page, pages=last.pages),
                visit.user,
            )
        moderators = (
            [row.name for row in await list_moderators(visit.records, now=visit.now)]
            if visit.user.role == "admin"
            else []
        )
        return self.page(
            visit,
            "queue.html",
            section="queue",
            queue=page,
            view=view,
            view_query=_view_query(view),
            page_query=lambda number: (
                _view_query(view.first_page(), page=str(number))
                if number > 1
                else _view_query(view.first_page())
            ),
            now=visit.now,
            kinds=CASE_KINDS,
            pools=casework.POOLS,
            states=casework.QUEUE_STATES,
            claims=casework.CLAIM_VIEWS,
            floors=casework.SEVERITY_FLOORS,
            page_sizes=casework.PAGE_SIZES,
            refresh_seconds=COUNT_REFRESH_SECONDS,
            claim_minutes=casework.CLAIM_MINUTES,
            moderators=moderators,
            notice=done_notice(visit),
        )

    async def queue_count(self, visit: Visit) -> Response:
        waiting, unclaimed = await casework.queue_counts(visit.records, now=visit.now)
        body = json.dumps({"waiting": waiting, "unclaimed": unclaimed})
        return Response(body, media_type="application/json")

    async def next_case(self, visit: Visit) -> Response:
        view = self.view_of(visit, form=True)
        return await self._go_next(visit, view, done="", skip=None)

    async def _go_next(
        self, visit: Visit, view: casework.QueueFilter, *, done: str, skip: str | None
    ) -> Response:
        number = await casework.next_case(
            visit.records, view, actor=visit.user.name, now=visit.now, skip=skip
        )
        if number is None:
            return see_other("/mod" + _view_query(view.first_page(), done=done or "empty"))
        return see_other(
            f"/mod/cases/{visit.handles.case(number)}" + _view_query(view.first_page(), done=done)
        )

    # A case

    async def case_page(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = self.view_of(visit)
        case = await casework.case(visit.records, number, now=visit.now)
        await casework.audit_view(
            visit.records, number, actor=visit.user.name, now=visit.now, what="case"
        )
        return await self._case(visit, case, view, notice=done_notice(visit))

    async def _case(
        self,
        visit: Visit,
        case: casework.CaseView,
        view: casework.QueueFilter,
        *,
        status: int = 200,
        **context: Any,
    ) -> Response:
        base = f"/mod/cases/{visit.handles.case(case.number)}"
        settings = self.services.settings
        filed = await cybertip.filing_of(visit.records, case.number) if case.escalated else None
        moderators = (
            [row.name for row in await list_moderators(visit.records, now=visit.now)]
            if visit.user.role == "admin"
            else []
        )
        context.setdefault("confirming", None)
        return self.page(
            visit,
            "case.html",
            status=status,
            section="queue",
            case=case,
            base=base,
            view=view,
            view_fields=view.first_page().params(),
            view_query=_view_query(view.first_page()),
            now=visit.now,
            text_max=TEXT_MAX,
            ban_note_max=BAN_NOTE_MAX,
            confirmed_durations=casework.CONFIRMED_DURATIONS,
            incident_types=cybertip.INCIDENT_TYPES,
            cybertip=bool(settings.cybertip_username),
            filed=filed,
            moderators=moderators,
            claim_minutes=casework.CLAIM_MINUTES,
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

    # Claims

    def _back(self, visit: Visit, number: str, view: casework.QueueFilter, done: str) -> Response:
        return see_other(
            f"/mod/cases/{visit.handles.case(number)}" + _view_query(view.first_page(), done=done)
        )

    async def claim(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = self.view_of(visit, form=True)
        try:
            await casework.claim(visit.records, number, actor=visit.user.name, now=visit.now)
        except RecordError as exc:
            if exc.code != "not_allowed":
                raise
            return await self._refused(visit, number, view, exc)
        return self._back(visit, number, view, "claimed")

    async def release(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = self.view_of(visit, form=True)
        try:
            await casework.release(visit.records, number, actor=visit.user.name, now=visit.now)
        except RecordError as exc:
            if exc.code != "not_allowed" or visit.user.role != "admin":
                if exc.code == "not_allowed":
                    return await self._refused(visit, number, view, exc)
                raise
            # A lead may release anyone's claim: that is an assignment to nobody.
            await casework.assign(
                visit.records, number, to=None, actor=visit.user.name, now=visit.now
            )
        return see_other("/mod" + _view_query(view.first_page(), done="released"))

    async def assign(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = self.view_of(visit, form=True)
        to = visit.field("to").strip() or None
        try:
            await casework.assign(
                visit.records, number, to=to, actor=visit.user.name, now=visit.now
            )
        except RecordError as exc:
            if exc.code != "invalid":
                raise
            case = await casework.case(visit.records, number, now=visit.now)
            return await self._case(
                visit, case, view, status=400, error=say("case.problem.no_moderator")
            )
        return self._back(visit, number, view, "assigned" if to else "released")

    async def _refused(
        self, visit: Visit, number: str, view: casework.QueueFilter, exc: RecordError
    ) -> Response:
        """The case again, 403, saying who holds it."""
        case = await casework.case(visit.records, number, now=visit.now)
        holder = case.claim.holder if case.claim is not None else ""
        error: Phrase | str = say("case.problem.held", holder=holder) if holder else exc.detail
        return await self._case(visit, case, view, status=403, error=error)

    # Acting

    async def act(self, visit: Visit) -> Response:
        number = self.case_number(visit)
        view = self.view_of(visit, form=True)
        action = visit.field("action")
        duration = visit.field("duration")
        text = visit.field("text").strip()
        confirm = visit.field("confirm")
        incident_type = visit.field("incident_type") or None
        problem = _action_problem(action, duration, text, confirm, incident_type)
        if problem is not None:
            case = await casework.case(visit.records, number, now=visit.now)
            confirming = None
            if problem.key.startswith("case.problem.confirm_"):
                # The same decision, ready to confirm: a page without script still works.
                confirming = {
                    "action": action,
                    "duration": duration,
                    "text": text,
                    "incident_type": incident_type or "",
                    "then": visit.field("then"),
                }
            return await self._case(
                visit, case, view, status=400, error=problem, confirming=confirming
            )
        if action == "escalate" and incident_type is None:
            case = await casework.case(visit.records, number, now=visit.now)
            if case.default_incident_type is None:
                return await self._case(
                    visit, case, view, status=400, error=say("case.problem.choose_incident_type")
                )
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
                confirm=confirm,
                incident_type=incident_type,
            )
        except RecordError as exc:
            if exc.code == "not_allowed":
                return await self._refused(visit, number, view, exc)
            if exc.code != "invalid":
                raise
            case = await casework.case(visit.records, number, now=visit.now)
            return await self._case(visit, case, view, status=400, error=exc.detail)
        if outcome.ban is not None and outcome.device is not None:
            # In force on this node at once: the chatter's live session is told and closed.
            self.chat.apply_ban(outcome.device, None, outcome.ban)
        if outcome.notice is not None:
            self.chat.notify(outcome.notice)
        if action in casework.DECISIONS and visit.field("then") == "next":
            return await self._go_next(visit, view, done=action, skip=number)
        return self._back(visit, number, view, action)


def _parses(params: dict[str, str]) -> bool:
    try:
        casework.QueueFilter.parse(params)
    except RecordError:
        return False
    return True


def _action_problem(
    action: str, duration: str, text: str, confirm: str, incident_type: str | None
) -> Phrase | None:
    """What is wrong with an action form, in words; None when it can go to casework
    (which checks it all again: this is for the words)."""
    if action not in casework.ACTIONS:
        return say("case.problem.action")
    if action == "ban":
        if duration not in casework.BAN_DURATIONS:
            return say("case.problem.duration")
        if len(text) > BAN_NOTE_MAX:
            return say("case.problem.too_long", most=BAN_NOTE_MAX)
        if duration in casework.CONFIRMED_DURATIONS and confirm != duration:
            return say(f"case.problem.confirm_ban_{duration}")
    if action in ("warn", "note"):
        if not text:
            return say(f"case.problem.{action}_empty")
        if len(text) > TEXT_MAX:
            return say("case.problem.too_long", most=TEXT_MAX)
    if action == "escalate":
        if incident_type is not None and incident_type not in cybertip.INCIDENT_TYPES:
            return say("case.problem.incident_type")
        if confirm != "escalate":
            return say("case.problem.confirm_escalate")
    return None
