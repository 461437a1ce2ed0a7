"""The moderator console at ``/mod`` (design §1, Moderator; issue 7): server-rendered
pages, one form per action, no script or style inline (the gateway's CSP).

Rules every route follows:

- A session is required everywhere but the sign-in page: without one, a page (GET)
  redirects to ``/mod/signin`` (303), a POST or a download is refused with 403. Admin
  routes refuse a moderator with 403 (OWASP ASVS 4.0.3 V4.1.1, V4.1.3).
- Every POST carries the session's CSRF token in the ``csrf`` field, compared in
  constant time before anything is read or written (ASVS V4.2.2); the sign-in form
  uses a signed double-submit cookie (cookies.py).
- Cases and appeals are reached through per-session handles only (handles.py); a bad
  handle is the same 404 as an unknown case.
- Opening a case and revealing one of its frames are audited before the content is
  served (ASVS V7.2.2, access to sensitive data). Every measure is audited by casework.
- Bad input gets the page again with a clear message and status 400, nothing written;
  the records being down gets a 503 page; anything else a 500 page. Never a traceback.
- Every response is ``Cache-Control: no-store`` (ASVS V8.2.1): evidence must not be
  left in a shared cache or the browser's.
- Sign-in attempts are limited per network and per account name, known or not
  (``gateway/ratelimits.py``, ``limit_sign_in_*``; OWASP ASVS 5.0 V6.3.1): beyond the
  limit the page answers 429 and the password is not even checked, so a guesser
  learns nothing and costs no argon2 work. The account lock-out of ``accounts.py``
  (five failures in a row lock the account) stays behind it: the limit bounds attempts
  from anywhere on any name (spraying, unknown names), the lock-out protects one
  account from slow guessing that stays under the limit. A locked account is answered
  with the page of a wrong password (200, the same words, after the same argon2 work),
  so the lock-out never tells a guesser that a name exists (ASVS 5.0 V6.3.8).
- Every route is in the gateway's ``/openapi.json`` with its form fields and its
  answers (:func:`_operation`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from fastapi import APIRouter
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ...core.network import network_hash
from ...gateway.enforcement import apply_ban, reload_bans
from ...gateway.ratelimits import Action, Refusal
from .. import casework, cybertip
from ..accounts import LOCKOUT, MAX_FAILURES, Accounts, ConsoleUser, SignInRefused, list_moderators
from ..hash_import import HashListError, parse_hash_list
from ..records import RecordError, Records
from ..tables import HASH_LIST_MAX, NOTE_MAX, NOTICE_TEXT_MAX
from ..transparency import report_csv, report_figures, report_json, transparency_report
from .blur import blurred_jpeg
from .cookies import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_TTL,
    SignInTokens,
    clear_cookie,
    set_cookie,
)
from .handles import Handles, token_hash
from .views import environment

if TYPE_CHECKING:
    from ...gateway.chat_socket import Services

log = logging.getLogger("strangers.console")

Kind = Literal["page", "download", "post"]
Handler = Callable[["Visit"], Awaitable[Response]]

#: A form is a few short fields; a hash list upload may be large (one line a hash).
FORM_MAX_BYTES: Final = 64 * 1024
UPLOAD_MAX_BYTES: Final = 32 * 1024 * 1024
FORM_MAX_FIELDS: Final = 16
#: The longest warning, note and appeal statement: what a notice can carry.
TEXT_MAX: Final = min(NOTICE_TEXT_MAX, NOTE_MAX)
AUDIT_PAGE: Final = 100
QUEUE_LIMIT: Final = 200
DEFAULT_PERIOD: Final = timedelta(days=30)
LONGEST_PERIOD: Final = timedelta(days=3660)

#: The one answer to every refused sign-in, whatever was wrong (ASVS 5.0 V6.3.8): it
#: names the lock-out, as a rule, without saying whether it applies.
SIGNIN_WRONG: Final = (
    f"Wrong name, password or code. After {MAX_FAILURES} failures in a row an account is "
    f"locked for {LOCKOUT.total_seconds() / 60:.0f} minutes, even with the right password."
)
SIGNIN_LIMITED: Final = "Too many sign-in attempts from here or for this name; try again in {}"
NOT_YOURS: Final = (
    "You took the decision under appeal; another moderator must decide it (DSA art. 20(6))"
)
DONE: Final[dict[str, str]] = {
    "dismiss": "The case is dismissed.",
    "warn": "The warning is recorded; the chatter sees it on their next visit.",
    "ban": "The device is banned; a live session was ended at once.",
    "escalate": "The case is escalated: its evidence is kept a year for a report.",
    "note": "The note is added.",
    "decided": "The appeal is decided; the chatter is told on their next visit.",
    "filed": "The report was sent to the CyberTipline.",
}


@dataclass(frozen=True)
class Visit:
    """One signed-in request, its CSRF token already checked when it is a POST."""

    request: Request
    records: Records
    user: ConsoleUser
    token: str
    handles: Handles
    now: datetime
    form: FormData

    def field(self, name: str) -> str:
        value = self.form.get(name)
        return value if isinstance(value, str) else ""

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "")


class _Stop(Exception):
    """A response decided deep inside a handler (a 404, a 413)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class Console:
    """The console's handlers over the gateway's services; one per app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.key = services.settings.subkey("console")
        self.signin_tokens = SignInTokens(self.key)
        self.templates = Jinja2Templates(env=environment())

    # Rendering

    def render(
        self,
        request: Request,
        name: str,
        *,
        status: int = 200,
        user: ConsoleUser | None = None,
        handles: Handles | None = None,
        **context: Any,
    ) -> Response:
        context.setdefault("section", "")
        context.setdefault("error", "")
        context.setdefault("notice", "")
        context.update(
            user=user,
            is_admin=user is not None and user.role == "admin",
            case_url=(lambda number: f"/mod/cases/{handles.case(number)}") if handles else None,
            appeal_url=(lambda ident: f"/mod/appeals/{handles.appeal(ident)}") if handles else None,
        )
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def page(self, visit: Visit, name: str, *, status: int = 200, **context: Any) -> Response:
        return self.render(
            visit.request, name, status=status, user=visit.user, handles=visit.handles, **context
        )

    def message(
        self, request: Request, status: int, title: str, text: str, user: ConsoleUser | None
    ) -> Response:
        return self.render(
            request, "message.html", status=status, user=user, title=title, text=text
        )

    def not_found(self, request: Request, user: ConsoleUser | None) -> Response:
        # One page for an unknown case, a bad handle and another session's handle.
        return self.message(request, 404, "Not found", "There is nothing here.", user)

    # The guard every route but sign-in goes through

    async def serve(
        self, request: Request, handler: Handler, *, kind: Kind, admin: bool, upload: bool
    ) -> Response:
        user: ConsoleUser | None = None
        try:
            records = self.services.records
            if records is None:
                raise RecordError("unavailable", "the records are not open yet")
            now = datetime.now(UTC)
            token = request.cookies.get(SESSION_COOKIE, "")
            user = await Accounts(records).user(token, now=now) if token else None
            if user is None:
                if kind == "page":
                    return RedirectResponse("/mod/signin", status_code=303)
                return self.message(
                    request, 403, "Sign in first", "Sign in to the console to do this.", None
                )
            if admin and user.role != "admin":
                return self.message(
                    request, 403, "Admins only", "This part of the console is for admins.", user
                )
            form = FormData()
            if request.method == "POST":
                form = await self._form(request, user, upload=upload)
                csrf = form.get("csrf")
                if not Accounts.csrf_ok(user, csrf if isinstance(csrf, str) else None):
                    return self.message(
                        request,
                        403,
                        "Form refused",
                        "This form did not come from your console session, or the session "
                        "changed. Go back, reload the page and try again.",
                        user,
                    )
            visit = Visit(
                request, records, user, token, Handles(self.key, token_hash(token)), now, form
            )
            try:
                return await handler(visit)
            finally:
                await form.close()  # an upload's spooled file
        except _Stop as stop:
            return stop.response
        except RecordError as exc:
            return self.record_error(request, exc, user)
        except Exception:
            # The route's template, not the URL: a case handle is not for the logs.
            log.exception("console: %s %s failed", request.method, _route_of(request))
            return self.message(
                request, 500, "Something went wrong", "The console could not do this.", user
            )

    def record_error(
        self, request: Request, exc: RecordError, user: ConsoleUser | None
    ) -> Response:
        if exc.code == "unknown_case":
            return self.not_found(request, user)
        if exc.code == "unavailable":
            return self.message(
                request,
                503,
                "Records unavailable",
                "The records database cannot be reached; try again in a moment.",
                user,
            )
        if exc.code == "undecryptable":
            return self.message(
                request,
                500,
                "Evidence unreadable",
                "This evidence was sealed under another key and cannot be shown.",
                user,
            )
        if exc.code == "not_allowed":
            return self.message(request, 403, "Not allowed", exc.detail, user)
        if exc.code == "duplicate":
            return self.message(request, 409, "Already done", exc.detail, user)
        return self.message(request, 400, "Refused", exc.detail, user)

    async def _form(self, request: Request, user: ConsoleUser | None, *, upload: bool) -> FormData:
        limit = UPLOAD_MAX_BYTES if upload else FORM_MAX_BYTES
        length = request.headers.get("content-length", "")
        if not length.isascii() or not length.isdigit():
            raise _Stop(self.message(request, 411, "Refused", "The form has no length.", user))
        if int(length) > limit:
            raise _Stop(self.message(request, 413, "Too large", "The form is too large.", user))
        try:
            # One file allowed everywhere, so a stray file is not a reason to skip the
            # CSRF check: the size cap above is what keeps uploads to the upload form.
            return await request.form(
                max_files=1,
                max_fields=FORM_MAX_FIELDS,
                max_part_size=FORM_MAX_BYTES,
            )
        except (MultiPartException, HTTPException):
            raise _Stop(
                self.message(request, 400, "Refused", "The form could not be read.", user)
            ) from None

    # Sign-in and out

    async def signin_form(self, request: Request) -> Response:
        try:
            records = self._records()
            now = datetime.now(UTC)
            token = request.cookies.get(SESSION_COOKIE, "")
            if token and await Accounts(records).user(token, now=now) is not None:
                return RedirectResponse("/mod", status_code=303)
            return self._signin_page(request, now, 200, "")
        except RecordError as exc:
            return self.record_error(request, exc, None)

    async def signin(self, request: Request) -> Response:
        try:
            records = self._records()
            now = datetime.now(UTC)
            form = await self._form(request, None, upload=False)
            await form.close()  # the fields stay readable; a stray file is dropped

            def text(name: str) -> str:
                value = form.get(name)
                return value if isinstance(value, str) else ""

            presented = text("csrf")
            if not self.signin_tokens.check(request.cookies.get(SIGNIN_COOKIE), presented, now):
                return self._signin_page(
                    request, now, 403, "The sign-in form expired. Please sign in again."
                )
            refusal = await self._sign_in_limits(request, text("name"))
            if refusal is not None:
                minutes = max(1, math.ceil(refusal.retry_after / 60))
                wait = f"{minutes} minute{'s' if minutes > 1 else ''}"
                response = self._signin_page(request, now, 429, SIGNIN_LIMITED.format(wait))
                response.headers["retry-after"] = str(max(1, math.ceil(refusal.retry_after)))
                return response
            accounts = Accounts(records)
            try:
                signed_in = await accounts.sign_in(
                    text("name"), text("password"), text("code").strip() or None, now=now
                )
            except SignInRefused:
                # The form again, as a page (not a 401: no HTTP authentication scheme is
                # offered, RFC 9110 §15.5.2). A locked account gets the same words and
                # status as an unknown name, after the same argon2 work: neither may
                # tell a guesser that the name exists (OWASP ASVS 5.0 V6.3.8).
                return self._signin_page(request, now, 200, SIGNIN_WRONG)
            earlier = request.cookies.get(SESSION_COOKIE, "")
            if earlier:
                # A new session replaces the browser's old one (ASVS V3.2.1).
                await accounts.sign_out(earlier, now=now)
            response = RedirectResponse("/mod", status_code=303)
            set_cookie(response, request, SESSION_COOKIE, signed_in.token)
            clear_cookie(response, request, SIGNIN_COOKIE)
            return response
        except _Stop as stop:
            return stop.response
        except RecordError as exc:
            return self.record_error(request, exc, None)

    async def _sign_in_limits(self, request: Request, name: str) -> Refusal | None:
        """Count a sign-in attempt for its network and its account name; the name goes
        to the limits as a keyed hash (it is whatever was typed)."""
        limits = self.services.rate_limits
        if limits is None:
            return None
        client = request.client
        network = network_hash(self.services.network_key, client.host if client else None)
        account = hmac.new(
            self.key, b"sign-in account:" + name.strip().casefold().encode(), hashlib.sha256
        ).hexdigest()[:32]
        return await limits.hit(Action.SIGN_IN, device="a:" + account, network=network)

    def _signin_page(self, request: Request, now: datetime, status: int, error: str) -> Response:
        cookie, form_value = self.signin_tokens.issue(now)
        response = self.render(request, "signin.html", status=status, csrf=form_value, error=error)
        set_cookie(
            response, request, SIGNIN_COOKIE, cookie, max_age=int(SIGNIN_TTL.total_seconds())
        )
        return response

    def _records(self) -> Records:
        if self.services.records is None:
            raise RecordError("unavailable", "the records are not open yet")
        return self.services.records

    async def signout(self, visit: Visit) -> Response:
        await Accounts(visit.records).sign_out(visit.token, now=visit.now)
        response = RedirectResponse("/mod/signin", status_code=303)
        clear_cookie(response, visit.request, SESSION_COOKIE)
        return response

    # The queue and a case

    async def queue(self, visit: Visit) -> Response:
        items = await casework.queue(visit.records, limit=QUEUE_LIMIT)
        return self.page(visit, "queue.html", section="queue", items=items, now=visit.now)

    def _case_number(self, visit: Visit) -> str:
        number = visit.handles.open_case(visit.request.path_params.get("handle", ""))
        if number is None:
            raise _Stop(self.not_found(visit.request, visit.user))
        return number

    async def case_page(self, visit: Visit) -> Response:
        number = self._case_number(visit)
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

    async def frame(self, visit: Visit, *, clear: bool) -> Response:
        number = self._case_number(visit)
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
        number = self._case_number(visit)
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
            capture = self.services.addresses.of_device(device)
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
            apply_ban(self.services, outcome.device, None, outcome.ban)
        if outcome.notice is not None:
            self.services.decisions.add(outcome.notice)
        return _see_other(f"/mod/cases/{visit.handles.case(number)}?done={action}")

    # The law-enforcement report of an escalated case (18 U.S.C. 2258A)

    async def _package(self, visit: Visit, number: str) -> cybertip.ReportPackage:
        reporter = cybertip.ReporterInfo.from_settings(self.services.settings)
        return await cybertip.build_package(visit.records, number, reporter=reporter, now=visit.now)

    async def report_package(self, visit: Visit) -> Response:
        number = self._case_number(visit)
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
        number = self._case_number(visit)
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
        return _see_other(f"/mod/cases/{visit.handles.case(number)}?done=filed")

    # Appeals

    async def appeals(self, visit: Visit) -> Response:
        items = await casework.appeals_queue(visit.records)
        return self.page(
            visit,
            "appeals.html",
            section="appeals",
            items=items,
            now=visit.now,
            notice=DONE.get(visit.query("done"), ""),
        )

    def _appeal_id(self, visit: Visit) -> int:
        ident = visit.handles.open_appeal(visit.request.path_params.get("handle", ""))
        if ident is None:
            raise _Stop(self.not_found(visit.request, visit.user))
        return ident

    async def appeal_page(self, visit: Visit) -> Response:
        appeal = await casework.appeal(visit.records, self._appeal_id(visit))
        return await self._appeal(visit, appeal, notice=DONE.get(visit.query("done"), ""))

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
        problem = ""
        if outcome not in casework.APPEAL_OUTCOMES:
            problem = "Choose an outcome: upheld or overturned."
        elif not statement:
            problem = "Write the statement of reasons the chatter will read."
        elif len(statement) > TEXT_MAX:
            problem = f"The statement is over {TEXT_MAX} characters."
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
                    visit.request, 403, "Not yours to decide", NOT_YOURS, visit.user
                )
            if exc.code == "duplicate":
                return self.message(
                    visit.request, 409, "Already decided", "This appeal is decided.", visit.user
                )
            if exc.code == "invalid":
                return await self._appeal(visit, appeal, status=400, error=exc.detail)
            raise
        self.services.decisions.add(notice)
        if outcome == "overturned":
            # The case's bans ended in the records; the index must forget them now.
            await reload_bans(self.services)
        return _see_other(f"/mod/appeals/{visit.handles.appeal(ident)}?done=decided")

    # Transparency (DSA arts. 15 and 24)

    async def transparency(self, visit: Visit) -> Response:
        try:
            start, end = _period(visit.query("from"), visit.query("to"), visit.now)
        except ValueError as exc:
            return self.page(
                visit,
                "transparency.html",
                status=400,
                section="transparency",
                error=str(exc),
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

    async def transparency_data(self, visit: Visit, *, csv: bool) -> Response:
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

    # Admin

    async def audit(self, visit: Visit) -> Response:
        before_text = visit.query("before")
        before: int | None = None
        if before_text:
            if not before_text.isascii() or not before_text.isdigit() or len(before_text) > 18:
                return self.message(
                    visit.request, 400, "Bad page", "The page asked for does not exist.", visit.user
                )
            before = int(before_text)
        entries = await casework.audit_log(visit.records, limit=AUDIT_PAGE, before=before)
        older = entries[-1].id if len(entries) == AUDIT_PAGE else None
        return self.page(visit, "audit.html", section="audit", entries=entries, older=older)

    async def moderators(self, visit: Visit) -> Response:
        rows = await list_moderators(visit.records, now=visit.now)
        return self.page(visit, "moderators.html", section="moderators", rows=rows)

    async def hashes(self, visit: Visit) -> Response:
        notice = ""
        added, present = visit.query("added"), visit.query("present")
        if added.isdigit() and present.isdigit():
            notice = f"Imported: {added} new hashes, {present} already listed."
        return await self._hashes(visit, notice=notice)

    async def _hashes(self, visit: Visit, *, status: int = 200, **context: Any) -> Response:
        counts = await visit.records.hash_list_counts()
        return self.page(
            visit,
            "hashes.html",
            status=status,
            section="hashes",
            counts=sorted(counts.items()),
            list_max=HASH_LIST_MAX,
            **context,
        )

    async def import_hashes(self, visit: Visit) -> Response:
        list_name = visit.field("list").strip()
        upload = visit.form.get("file")
        problem = ""
        entries: list[tuple[str, str]] = []
        if not list_name or len(list_name) > HASH_LIST_MAX:
            problem = f"Name the list (1 to {HASH_LIST_MAX} characters)."
        elif not isinstance(upload, UploadFile):
            problem = "Choose a hash list file."
        else:
            data = await upload.read(UPLOAD_MAX_BYTES + 1)
            try:
                entries = parse_hash_list(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                problem = "The file is not UTF-8 text."
            except HashListError as exc:
                problem = f"Nothing imported: {exc}."
            else:
                if not entries:
                    problem = "The file holds no hashes."
        if problem:
            return await self._hashes(visit, status=400, error=problem)
        try:
            added, present = await visit.records.import_hashes(
                entries, list_name=list_name, now=visit.now, actor=visit.user.name
            )
        except RecordError as exc:
            if exc.code != "invalid":
                raise
            return await self._hashes(visit, status=400, error=f"Nothing imported: {exc.detail}.")
        try:
            # At once on this node; the other nodes at their next hash refresh.
            entries_now = await visit.records.hash_entries()
            await asyncio.to_thread(self.services.hashes.replace, entries_now)
        except Exception:
            log.exception("hash lists imported but not reloaded; the refresh will load them")
        return _see_other(f"/mod/hashes?added={added}&present={present}")


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


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


HTML: Final[dict[str, Any]] = {"text/html": {"schema": {"type": "string"}}}
JSON_ERROR: Final[dict[str, Any]] = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "text": {"type": "string"}},
            "required": ["code", "text"],
        }
    }
}
#: What each download is, by the end of its path.
DOWNLOADS: Final[dict[str, str]] = {
    ".jpg": "image/jpeg",
    ".zip": "application/zip",
    ".json": "application/json",
    ".csv": "text/csv",
}
#: The optional query parameters of the routes that take some.
QUERIES: Final[dict[str, tuple[str, ...]]] = {
    "/mod/cases/{handle}": ("done",),
    "/mod/appeals": ("done",),
    "/mod/appeals/{handle}": ("done",),
    "/mod/transparency": ("from", "to"),
    "/mod/transparency.json": ("from", "to"),
    "/mod/transparency.csv": ("from", "to"),
    "/mod/audit": ("before",),
    "/mod/hashes": ("added", "present"),
}
CSRF_FIELD: Final[dict[str, Any]] = {
    "type": "string",
    "description": "The session's CSRF token, from any of its pages' forms.",
}
#: The form fields of each POST (all strings unless said).
FORMS: Final[dict[str, dict[str, Any]]] = {
    "/mod/signin": {
        "csrf": {"type": "string", "description": "The sign-in form's token (with its cookie)."},
        "name": {"type": "string", "maxLength": 64},
        "password": {"type": "string", "maxLength": 512},
        "code": {"type": "string", "maxLength": 8, "description": "TOTP, if the account has it."},
    },
    "/mod/signout": {"csrf": CSRF_FIELD},
    "/mod/cases/{handle}/act": {
        "csrf": CSRF_FIELD,
        "action": {"type": "string", "enum": list(casework.ACTIONS)},
        "duration": {"type": "string", "enum": list(casework.BAN_DURATIONS)},
        "text": {"type": "string", "maxLength": TEXT_MAX},
    },
    "/mod/cases/{handle}/cybertip": {"csrf": CSRF_FIELD},
    "/mod/appeals/{handle}/decide": {
        "csrf": CSRF_FIELD,
        "outcome": {"type": "string", "enum": list(casework.APPEAL_OUTCOMES)},
        "statement": {"type": "string", "maxLength": TEXT_MAX},
    },
    "/mod/hashes": {
        "csrf": CSRF_FIELD,
        "list": {"type": "string", "maxLength": HASH_LIST_MAX},
        "file": {
            "type": "string",
            "format": "binary",
            "description": "One hex PDQ hash and a label a line.",
        },
    },
}


SUMMARIES: Final[dict[tuple[str, str], str]] = {
    ("POST", "/mod/signout"): "Sign out.",
    ("GET", "/mod"): "The queue of open cases, most severe first.",
    ("GET", "/mod/cases/{handle}"): "A case: its report, transcript, frames and history.",
    ("POST", "/mod/cases/{handle}/act"): "Act on a case: dismiss, warn, ban, escalate, note.",
    ("GET", "/mod/cases/{handle}/frames/{index}/blurred.jpg"): "A frame of a case, blurred.",
    ("GET", "/mod/cases/{handle}/frames/{index}/clear.jpg"): "A frame of a case (audited).",
    ("GET", "/mod/cases/{handle}/report.zip"): "The CyberTipline report package (audited).",
    ("POST", "/mod/cases/{handle}/cybertip"): "Send the report to the CyberTipline (admins).",
    ("GET", "/mod/appeals"): "The appeals waiting for a decision.",
    ("GET", "/mod/appeals/{handle}"): "An appeal and its case.",
    ("POST", "/mod/appeals/{handle}/decide"): "Decide an appeal (not its case's actor).",
    ("GET", "/mod/transparency"): "Transparency figures of a period (DSA arts. 15, 24).",
    ("GET", "/mod/transparency.json"): "The transparency figures as JSON.",
    ("GET", "/mod/transparency.csv"): "The transparency figures as CSV.",
    ("GET", "/mod/audit"): "The audit log (admins).",
    ("GET", "/mod/moderators"): "The console's accounts (admins).",
    ("GET", "/mod/hashes"): "The hash lists and their counts (admins).",
    ("POST", "/mod/hashes"): "Import a PDQ hash list (admins).",
}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": HTML}


def _operation(path: str, method: str, kind: Kind, admin: bool) -> dict[str, Any]:
    """The OpenAPI description of one console route: its parameters, its form and
    every answer it can give (pages are HTML; see the module's docstring)."""
    names = re.findall(r"{(\w+)}", path)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in QUERIES.get(path, ())
        if method == "GET"
    ]
    responses: dict[str, Any] = {
        "400": _html("Bad input: the page again with a message."),
        "403": _html(
            "No session (a form or a download), a form without this session's CSRF token"
            + (", or not an admin." if admin else ".")
        ),
        "503": _html("The records cannot be reached."),
    }
    if names:
        responses["404"] = _html("No such case or appeal, or a handle of another session.")
    operation: dict[str, Any] = {"parameters": parameters, "responses": responses}
    if method == "POST":
        fields = FORMS[path]
        media = (
            "multipart/form-data"
            if path == "/mod/hashes"
            else ("application/x-www-form-urlencoded")
        )
        operation["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": {"type": "object", "properties": fields, "required": ["csrf"]}}
            },
        }
        responses["303"] = {"description": "Done: on to the page that shows it."}
        responses["411"] = _html("The form has no Content-Length.")
        responses["413"] = _html("The form is too large.")
        responses["409"] = _html("Already done, or not possible now.")
        if path == "/mod/cases/{handle}/cybertip":
            responses["502"] = _html("The CyberTipline did not take the report.")
        if path == "/mod/signin":
            responses["200"] = _html(
                "Wrong name, password or code, or the account is locked: the form again, "
                "with the same words for each."
            )
            responses["429"] = _html(
                "Too many attempts from this network or for this name, known or not; the "
                "password was not checked."
            )
            del responses["409"]
    elif kind == "download":
        media = next(m for end, m in DOWNLOADS.items() if path.endswith(end))
        responses["200"] = {"description": "The file.", "content": {media: {"schema": {}}}}
        if path.endswith(".json"):
            responses["400"] = {"description": "A bad period.", "content": JSON_ERROR}
        elif path.endswith(".csv"):
            responses["400"] = {
                "description": "A bad period.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
    else:
        responses["200"] = _html("The page.")
        responses["303"] = {"description": "Not signed in: on to /mod/signin."}
    return operation


def console_router(services: Services) -> APIRouter:
    """The console's routes; mount its static files at ``/mod/static`` (STATIC_DIR)."""
    console = Console(services)
    router = APIRouter()

    def add(
        path: str,
        handler: Handler,
        *,
        method: str = "GET",
        kind: Kind = "page",
        admin: bool = False,
        upload: bool = False,
    ) -> None:
        async def endpoint(request: Request) -> Response:
            response = await console.serve(request, handler, kind=kind, admin=admin, upload=upload)
            response.headers["cache-control"] = "no-store"
            return response

        # The "admin" tag is how tests find every admin route (test_console_security.py).
        tags: list[str | Enum] = ["console", "admin"] if admin else ["console"]
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            tags=tags,
            summary=SUMMARIES[method, path],
            status_code=303 if method == "POST" else 200,
            response_class=HTMLResponse if kind == "page" else Response,
            openapi_extra=_operation(path, method, kind, admin),
        )

    async def signin_form(request: Request) -> Response:
        response = await console.signin_form(request)
        response.headers["cache-control"] = "no-store"
        return response

    async def signin(request: Request) -> Response:
        response = await console.signin(request)
        response.headers["cache-control"] = "no-store"
        return response

    signin_page = _operation("/mod/signin", "GET", "page", False)
    signin_page["responses"]["303"] = {"description": "Signed in already: on to /mod."}
    router.add_api_route(
        "/mod/signin",
        signin_form,
        methods=["GET"],
        tags=["console"],
        summary="The console's sign-in form.",
        response_class=HTMLResponse,
        openapi_extra=signin_page,
    )
    router.add_api_route(
        "/mod/signin",
        signin,
        methods=["POST"],
        tags=["console"],
        summary="Sign in to the console.",
        status_code=303,
        response_class=HTMLResponse,
        openapi_extra=_operation("/mod/signin", "POST", "post", False),
    )
    add("/mod/signout", console.signout, method="POST", kind="post")

    add("/mod", console.queue)
    add("/mod/cases/{handle}", console.case_page)
    add("/mod/cases/{handle}/act", console.act, method="POST", kind="post")

    async def blurred(visit: Visit) -> Response:
        return await console.frame(visit, clear=False)

    async def clear(visit: Visit) -> Response:
        return await console.frame(visit, clear=True)

    add("/mod/cases/{handle}/frames/{index}/blurred.jpg", blurred, kind="download")
    add("/mod/cases/{handle}/frames/{index}/clear.jpg", clear, kind="download")

    add("/mod/cases/{handle}/report.zip", console.report_package, kind="download")
    add(
        "/mod/cases/{handle}/cybertip",
        console.send_report,
        method="POST",
        kind="post",
        admin=True,
    )

    add("/mod/appeals", console.appeals)
    add("/mod/appeals/{handle}", console.appeal_page)
    add("/mod/appeals/{handle}/decide", console.decide, method="POST", kind="post")

    async def transparency_json(visit: Visit) -> Response:
        return await console.transparency_data(visit, csv=False)

    async def transparency_csv(visit: Visit) -> Response:
        return await console.transparency_data(visit, csv=True)

    add("/mod/transparency", console.transparency)
    add("/mod/transparency.json", transparency_json, kind="download")
    add("/mod/transparency.csv", transparency_csv, kind="download")

    add("/mod/audit", console.audit, admin=True)
    add("/mod/moderators", console.moderators, admin=True)
    add("/mod/hashes", console.hashes, admin=True)
    add("/mod/hashes", console.import_hashes, method="POST", kind="post", admin=True, upload=True)
    return router
