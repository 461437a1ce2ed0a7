"""The guard every console route but sign-in goes through (the rules are in
``routes.py``'s docstring): a session or the sign-in page, the admin role where asked,
the session's CSRF token on every POST; then the handler, with its errors turned into
pages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..accounts import Accounts, ConsoleUser
from ..records import RecordError
from .base import Handler, Kind, Pages, Stop, Visit
from .cookies import SESSION_COOKIE
from .handles import Handles, token_hash
from .language import say

log = logging.getLogger("strangers.console")


class Guard(Pages):
    async def serve(
        self, request: Request, handler: Handler, *, kind: Kind, admin: bool, upload: bool
    ) -> Response:
        user: ConsoleUser | None = None
        try:
            records = self.open_records()
            now = datetime.now(UTC)
            token = request.cookies.get(SESSION_COOKIE, "")
            user = await Accounts(records).user(token, now=now) if token else None
            if user is None:
                if kind == "page":
                    return RedirectResponse("/mod/signin", status_code=303)
                return self.message(
                    request, 403, say("error.sign_in_first"), say("error.sign_in_text"), None
                )
            if admin and user.role != "admin":
                return self.message(
                    request, 403, say("error.admins_only"), say("error.admins_only_text"), user
                )
            form = FormData()
            if request.method == "POST":
                form = await self.read_form(request, user, upload=upload)
                csrf = form.get("csrf")
                if not Accounts.csrf_ok(user, csrf if isinstance(csrf, str) else None):
                    await form.close()  # an upload's spooled file, not left to the collector
                    return self.message(
                        request,
                        403,
                        say("error.form_refused"),
                        say("error.form_refused_text"),
                        user,
                    )
            visit = Visit(
                request, records, user, token, Handles(self.key, token_hash(token)), now, form
            )
            try:
                return await handler(visit)
            finally:
                await form.close()  # an upload's spooled file
        except Stop as stop:
            return stop.response
        except RecordError as exc:
            return self.record_error(request, exc, user)
        except Exception:
            # The route's template, not the URL: a case handle is not for the logs.
            log.exception("console: %s %s failed", request.method, _route_of(request))
            return self.message(request, 500, say("error.failed"), say("error.failed_text"), user)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))
