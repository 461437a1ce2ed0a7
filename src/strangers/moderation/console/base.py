"""What every page group of the console shares: the services it is given, a signed-in
:class:`Visit`, the declaration of a :class:`Route`, and :class:`Pages`, the base of
each group (rendering, the answers every page may give, reading a form).

The console is given what it needs, never the gateway itself: :class:`ConsoleServices`
(the records, the settings, the rate limits, the hash lists) and a
:class:`~strangers.moderation.live.LiveChat` (what a decision does to the running
chat). The gateway's ``Services`` and ``NodeLiveChat`` are both, and the app hands
them over when it builds the console's router (``routes.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...safety.hashes import HashList
from ...safety.ratelimits import RateLimits
from ..accounts import ConsoleUser
from ..cybertip import CybertipSettings
from ..live import LiveChat
from ..records import RecordError, Records
from ..tables import NOTE_MAX, NOTICE_TEXT_MAX
from .cookies import set_cookie
from .handles import Handles
from .language import LANG_COOKIE, LANG_COOKIE_DAYS, LANGUAGES, Catalogue, Phrase, choose, say
from .views import Templates

Kind = Literal["page", "download", "post"]
Handler = Callable[["Visit"], Awaitable[Response]]
OpenHandler = Callable[[Request], Awaitable[Response]]

#: A form is a few short fields; a hash list upload may be large (one line a hash).
FORM_MAX_BYTES: Final = 64 * 1024
UPLOAD_MAX_BYTES: Final = 32 * 1024 * 1024
FORM_MAX_FIELDS: Final = 16
#: The longest warning, note and appeal statement: what a notice can carry.
TEXT_MAX: Final = min(NOTICE_TEXT_MAX, NOTE_MAX)
#: What a page says after a POST sent it back there with ``?done=<what>``: the
#: catalogue key of each (``done.<what>``).
DONE: Final = (
    "dismiss",
    "warn",
    "ban",
    "escalate",
    "note",
    "decided",
    "filed",
    "claimed",
    "released",
    "assigned",
    "empty",
)
CSRF_FIELD: Final[dict[str, Any]] = {
    "type": "string",
    "description": "The session's CSRF token, from any of its pages' forms.",
}


class ConsoleSettings(CybertipSettings, Protocol):
    """The settings the console reads: the CyberTipline's, and its own key."""

    def subkey(self, purpose: str) -> bytes: ...


class ConsoleServices(Protocol):
    """What the console is given (the gateway's ``Services`` is this). ``records`` is
    None until the app has opened them."""

    @property
    def records(self) -> Records | None: ...

    @property
    def settings(self) -> ConsoleSettings: ...

    @property
    def network_key(self) -> bytes: ...

    @property
    def rate_limits(self) -> RateLimits | None: ...

    @property
    def hashes(self) -> HashList: ...


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


class Stop(Exception):
    """A response decided deep inside a handler (a 404, a 413)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


@dataclass(frozen=True)
class Route:
    """One console route: what the router registers and ``/openapi.json`` describes.
    ``handler`` gets a :class:`Visit` once the guard let the request through
    (``guard.py``); an :class:`OpenRoute` gets the bare request."""

    method: str
    path: str
    summary: str
    handler: Handler
    kind: Kind = "page"
    admin: bool = False
    #: A multipart form with a file (the size cap of an upload).
    upload: bool = False
    #: A POST's form fields (all strings unless said).
    form: Mapping[str, Any] = field(default_factory=dict)
    #: A GET's optional query parameters.
    query: tuple[str, ...] = ()
    #: Answers beyond those of every route of its kind: status → description.
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenRoute:
    """A route without the guard: the sign-in form and its POST."""

    method: str
    path: str
    summary: str
    handler: OpenHandler
    kind: Kind = "page"
    form: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shared:
    """What the page groups of one console share; built once by the router."""

    services: ConsoleServices
    chat: LiveChat
    #: The console's key (handles, the sign-in form's tokens, account-name hashes).
    key: bytes
    templates: Templates


class Pages:
    """The base of a page group: rendering, and the answers any page may give."""

    def __init__(self, shared: Shared) -> None:
        self.services = shared.services
        self.chat = shared.chat
        self.key = shared.key
        self.templates = shared.templates

    def routes(self) -> list[Route]:
        """The group's routes behind the guard, in the order they are registered."""
        return []

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
        lang, chosen = choose(request)
        words = Catalogue(lang)
        # The language switch: this page again in each other language; from a refusal
        # or an error, the queue (a page that never echoes what was asked for).
        switch = {
            other: (
                str(request.url.include_query_params(lang=other).replace(scheme="", netloc=""))
                if status < 400 and request.method == "GET"
                else f"/mod?lang={other}"
            )
            for other in LANGUAGES
            if other != lang
        }
        context.update(
            user=user,
            is_admin=user is not None and user.role == "admin",
            case_url=(lambda number: f"/mod/cases/{handles.case(number)}") if handles else None,
            appeal_url=(lambda ident: f"/mod/appeals/{handles.appeal(ident)}") if handles else None,
            t=words.t,
            tx=words.text,
            label=words.label,
            lang=lang,
            switch=switch,
        )
        response = self.templates.get().TemplateResponse(request, name, context, status_code=status)
        if chosen:
            set_cookie(response, request, LANG_COOKIE, lang, max_age=LANG_COOKIE_DAYS * 24 * 3600)
        return response

    def page(self, visit: Visit, name: str, *, status: int = 200, **context: Any) -> Response:
        return self.render(
            visit.request, name, status=status, user=visit.user, handles=visit.handles, **context
        )

    def message(
        self,
        request: Request,
        status: int,
        title: Phrase | str,
        text: Phrase | str,
        user: ConsoleUser | None,
    ) -> Response:
        """A page that says one thing: ``title`` and ``text`` are catalogue phrases, or
        words already said (a record's refusal)."""
        return self.render(
            request, "message.html", status=status, user=user, title=title, text=text
        )

    def not_found(self, request: Request, user: ConsoleUser | None) -> Response:
        # One page for an unknown case, a bad handle and another session's handle.
        return self.message(request, 404, say("error.not_found"), say("error.nothing_here"), user)

    def record_error(
        self, request: Request, exc: RecordError, user: ConsoleUser | None
    ) -> Response:
        if exc.code == "unknown_case":
            return self.not_found(request, user)
        if exc.code == "unavailable":
            return self.message(
                request, 503, say("error.unavailable"), say("error.unavailable_text"), user
            )
        if exc.code == "undecryptable":
            return self.message(
                request, 500, say("error.undecryptable"), say("error.undecryptable_text"), user
            )
        # A record's refusal says why in its own words (English): shown as it is.
        if exc.code == "not_allowed":
            return self.message(request, 403, say("error.not_allowed"), exc.detail, user)
        if exc.code == "duplicate":
            return self.message(request, 409, say("error.duplicate"), exc.detail, user)
        return self.message(request, 400, say("error.refused"), exc.detail, user)

    # Reading a request

    def open_records(self) -> Records:
        """The records, or ``unavailable`` before the app has opened them."""
        records = self.services.records
        if records is None:
            raise RecordError("unavailable", "the records are not open yet")
        return records

    async def read_form(
        self, request: Request, user: ConsoleUser | None, *, upload: bool
    ) -> FormData:
        """The POST's form, within the size caps (411, 413 and 400 raise :class:`Stop`)."""
        limit = UPLOAD_MAX_BYTES if upload else FORM_MAX_BYTES
        length = request.headers.get("content-length", "")
        if not length.isascii() or not length.isdigit():
            raise Stop(
                self.message(request, 411, say("error.refused"), say("error.no_length"), user)
            )
        if int(length) > limit:
            raise Stop(
                self.message(
                    request, 413, say("error.too_large"), say("error.too_large_text"), user
                )
            )
        try:
            # One file allowed everywhere, so a stray file is not a reason to skip the
            # CSRF check: the size cap above is what keeps uploads to the upload form.
            return await request.form(
                max_files=1,
                max_fields=FORM_MAX_FIELDS,
                max_part_size=FORM_MAX_BYTES,
            )
        except (MultiPartException, HTTPException):
            raise Stop(
                self.message(request, 400, say("error.refused"), say("error.unreadable_form"), user)
            ) from None

    def case_number(self, visit: Visit) -> str:
        """The case the URL's handle names in this session (404 otherwise)."""
        number = visit.handles.open_case(visit.request.path_params.get("handle", ""))
        if number is None:
            raise Stop(self.not_found(visit.request, visit.user))
        return number


def done_notice(visit: Visit) -> Phrase | str:
    """What the page says after a POST sent it back with ``?done=<what>`` ("" if none)."""
    what = visit.query("done")
    return say(f"done.{what}") if what in DONE else ""


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
