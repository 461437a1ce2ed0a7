"""The moderator console at ``/mod`` (docs/design.md §1, Moderator; issue 7): server-rendered
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
  (``safety/ratelimits.py``, ``limit_sign_in_*``; OWASP ASVS 5.0 V6.3.1): beyond the
  limit the page answers 429 and the password is not even checked, so a guesser
  learns nothing and costs no argon2 work. The account lock-out of ``accounts.py``
  (five failures in a row lock the account) stays behind it: the limit bounds attempts
  from anywhere on any name (spraying, unknown names), the lock-out protects one
  account from slow guessing that stays under the limit. A locked account is answered
  with the page of a wrong password (200, the same words, after the same argon2 work),
  so the lock-out never tells a guesser that a name exists (ASVS 5.0 V6.3.8).
- Every route is in the gateway's ``/openapi.json`` with its form fields and its
  answers (:func:`operation`).

The pages are grouped by what they are about, one module each, on the base of
``base.py``: sign-in (``signin.py``), cases (``cases.py``), the CyberTipline report
(``cybertipline.py``), appeals (``appeals.py``), transparency (``transparency.py``),
the admins' audit log and accounts (``admin.py``) and hash lists (``hashes.py``). Each
declares its routes; this module puts them behind the guard (``guard.py``) and
describes them.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..live import LiveChat
from .admin import AdminPages
from .appeals import AppealPages
from .base import ConsoleServices, Handler, Kind, OpenHandler, OpenRoute, Pages, Route, Shared
from .cases import CasePages
from .cybertipline import CyberTiplinePages
from .guard import Guard
from .hashes import HashListPages
from .signin import SignInPages
from .transparency import TransparencyPages
from .views import Templates

#: The page groups, in the order their routes are registered.
GROUPS: Final[tuple[type[Pages], ...]] = (
    CasePages,
    CyberTiplinePages,
    AppealPages,
    TransparencyPages,
    AdminPages,
    HashListPages,
)

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


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": HTML}


def operation(route: Route | OpenRoute) -> dict[str, Any]:
    """The OpenAPI description of one console route: its parameters, its form and
    every answer it can give (pages are HTML; see the module's docstring)."""
    path, method, kind = route.path, route.method, route.kind
    guarded = isinstance(route, Route)
    admin = isinstance(route, Route) and route.admin
    names = re.findall(r"{(\w+)}", path)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]
    if isinstance(route, Route) and method == "GET":
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in route.query
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
        upload = isinstance(route, Route) and route.upload
        media = "multipart/form-data" if upload else "application/x-www-form-urlencoded"
        operation["requestBody"] = {
            "required": True,
            "content": {
                media: {
                    "schema": {"type": "object", "properties": route.form, "required": ["csrf"]}
                }
            },
        }
        responses["303"] = {"description": "Done: on to the page that shows it."}
        responses["411"] = _html("The form has no Content-Length.")
        responses["413"] = _html("The form is too large.")
        if guarded:
            responses["409"] = _html("Already done, or not possible now.")
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
    for status, description in route.answers.items():
        # A redirect has no body.
        responses[status] = (
            {"description": description} if status.startswith("3") else _html(description)
        )
    return operation


def console_router(services: ConsoleServices, chat: LiveChat) -> APIRouter:
    """The console's routes over ``services``, acting on the running chat through
    ``chat``; mount its static files at ``/mod/static`` (STATIC_DIR)."""
    shared = Shared(services, chat, services.settings.subkey("console"), Templates())
    guard = Guard(shared)
    signin = SignInPages(shared)
    router = APIRouter()

    def add_open(route: OpenRoute) -> None:
        handler: OpenHandler = route.handler

        async def endpoint(request: Request) -> Response:
            response = await handler(request)
            response.headers["cache-control"] = "no-store"
            return response

        router.add_api_route(
            route.path,
            endpoint,
            methods=[route.method],
            tags=["console"],
            summary=route.summary,
            # The operation's id names the handler (``signin_form``, ``signin``).
            name=handler.__name__,
            status_code=303 if route.method == "POST" else None,
            response_class=HTMLResponse,
            openapi_extra=operation(route),
        )

    def add(route: Route) -> None:
        handler: Handler = route.handler
        kind: Kind = route.kind
        admin, upload = route.admin, route.upload

        async def endpoint(request: Request) -> Response:
            response = await guard.serve(request, handler, kind=kind, admin=admin, upload=upload)
            response.headers["cache-control"] = "no-store"
            return response

        # The "admin" tag is how tests find every admin route (test_console_security.py).
        tags: list[str | Enum] = ["console", "admin"] if admin else ["console"]
        router.add_api_route(
            route.path,
            endpoint,
            methods=[route.method],
            tags=tags,
            summary=route.summary,
            status_code=303 if route.method == "POST" else 200,
            response_class=HTMLResponse if kind == "page" else Response,
            openapi_extra=operation(route),
        )

    for open_route in signin.open_routes():
        add_open(open_route)
    for group in (signin, *(pages(shared) for pages in GROUPS)):
        for route in group.routes():
            add(route)
    return router
