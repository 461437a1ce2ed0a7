"""Signing in to the console and out of it.

The sign-in form has no session yet: its POST carries a signed double-submit token
(``cookies.py``) in place of the session's CSRF token. Attempts are limited per
network and per account name, known or not, before the password is even checked
(``safety/ratelimits.py``, ``limit_sign_in_*``); a refused sign-in always gets the same
words, so the answer never tells whether a name exists or is locked (OWASP ASVS 5.0
V6.3.1, V6.3.8).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...core.network import network_hash
from ...safety.ratelimits import Action, Refusal
from ..accounts import LOCKOUT, MAX_FAILURES, Accounts, SignInRefused
from ..records import RecordError
from .base import CSRF_FIELD, OpenRoute, Pages, Route, Shared, Stop, Visit
from .cookies import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_TTL,
    SignInTokens,
    clear_cookie,
    set_cookie,
)
from .language import Phrase, say

#: The one answer to every refused sign-in, whatever was wrong (ASVS 5.0 V6.3.8): it
#: names the lock-out, as a rule, without saying whether it applies.
SIGNIN_WRONG: Final = say(
    "signin.wrong", failures=MAX_FAILURES, minutes=f"{LOCKOUT.total_seconds() / 60:.0f}"
)
SIGNIN_FORM: Final[dict[str, Any]] = {
    "csrf": {"type": "string", "description": "The sign-in form's token (with its cookie)."},
    "name": {"type": "string", "maxLength": 64},
    "password": {"type": "string", "maxLength": 512},
    "code": {"type": "string", "maxLength": 8, "description": "TOTP, if the account has it."},
}


class SignInPages(Pages):
    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self.signin_tokens = SignInTokens(self.key)

    def open_routes(self) -> list[OpenRoute]:
        return [
            OpenRoute(
                "GET",
                "/mod/signin",
                "The console's sign-in form.",
                self.signin_form,
                answers={"303": "Signed in already: on to /mod."},
            ),
            OpenRoute(
                "POST",
                "/mod/signin",
                "Sign in to the console.",
                self.signin,
                kind="post",
                form=SIGNIN_FORM,
                answers={
                    "200": "Wrong name, password or code, or the account is locked: the form "
                    "again, with the same words for each.",
                    "429": "Too many attempts from this network or for this name, known or "
                    "not; the password was not checked.",
                },
            ),
        ]

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/mod/signout",
                "Sign out.",
                self.signout,
                kind="post",
                form={"csrf": CSRF_FIELD},
            )
        ]

    async def signin_form(self, request: Request) -> Response:
        try:
            records = self.open_records()
            now = datetime.now(UTC)
            token = request.cookies.get(SESSION_COOKIE, "")
            if token and await Accounts(records).user(token, now=now) is not None:
                return RedirectResponse("/mod", status_code=303)
            return self._signin_page(request, now, 200, "")
        except RecordError as exc:
            return self.record_error(request, exc, None)

    async def signin(self, request: Request) -> Response:
        try:
            records = self.open_records()
            now = datetime.now(UTC)
            form = await self.read_form(request, None, upload=False)
            await form.close()  # the fields stay readable; a stray file is dropped

            def text(name: str) -> str:
                value = form.get(name)
                return value if isinstance(value, str) else ""

            presented = text("csrf")
            if not self.signin_tokens.check(request.cookies.get(SIGNIN_COOKIE), presented, now):
                return self._signin_page(request, now, 403, say("signin.expired"))
            refusal = await self._sign_in_limits(request, text("name"))
            if refusal is not None:
                minutes = max(1, math.ceil(refusal.retry_after / 60))
                limited = say("signin.limited" if minutes > 1 else "signin.limited_one", n=minutes)
                response = self._signin_page(request, now, 429, limited)
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
        except Stop as stop:
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

    def _signin_page(
        self, request: Request, now: datetime, status: int, error: Phrase | str
    ) -> Response:
        cookie, form_value = self.signin_tokens.issue(now)
        response = self.render(request, "signin.html", status=status, csrf=form_value, error=error)
        set_cookie(
            response, request, SIGNIN_COOKIE, cookie, max_age=int(SIGNIN_TTL.total_seconds())
        )
        return response

    async def signout(self, visit: Visit) -> Response:
        await Accounts(visit.records).sign_out(visit.token, now=visit.now)
        response = RedirectResponse("/mod/signin", status_code=303)
        clear_cookie(response, visit.request, SESSION_COOKIE)
        return response
