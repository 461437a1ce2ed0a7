"""The moderator console's access rules (docs/design.md §1; OWASP ASVS 4.0.3 V3, V4, V14.4),
against the real app in process: sessions, roles, CSRF, unguessable case links,
password storage, lock-out, cookies and headers. Routes are enumerated from the app,
so a route added later cannot escape the checks."""

from __future__ import annotations

import html
import io
import re
import shutil
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute

from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.gateway.app import Gateway
from strangers.gateway.services import Services
from strangers.gateway.settings import Settings
from strangers.moderation import RecordError, Records, casework, cybertip, sqlite_url, upgrade
from strangers.moderation.accounts import Accounts
from strangers.moderation.console.handles import Handles, token_hash
from strangers.moderation.db import make_engine
from strangers.moderation.tables import Moderator

from ..images import portrait
from ..inprocess import app_for
from ..servers import free_port
from .helpers import all_rows, counts

PASSWORDS = {
    "ana": "correct horse battery",
    "ben": "staple gun turnip 42",
    "cy": "quiet lamp river",
}
ROLES = {"ana": "moderator", "ben": "admin", "cy": "moderator"}
#: The admin pages of issue 7; every route tagged "admin" is checked, these must be among them.
ADMIN_PAGES = {("GET", "/mod/audit"), ("GET", "/mod/moderators"), ("GET", "/mod/hashes")}
HASH_LINE = "ab" * 32 + " test-label\n"
FAKE_MAC = "A" * 22


def party(name: str, octet: str) -> Party:
    return Party(device=f"dev-{name}", network="net-" + octet * 60, session=f"s-{name}")


def filing(reported: Party, match: str) -> Filing:
    t0 = datetime.now(UTC).timestamp() - 60
    frame = CheckedFrame(at=3.0, shows=FrameSource.PARTNER, jpeg=portrait(), verdict=FrameVerdict())
    return Filing(
        match=match,
        pool="adult-text",
        reason=ReportReason.HARASSMENT,
        note="rude words",
        reporter=party("reporter", "a"),
        reported=reported,
        matched_at=t0,
        reported_at=t0 + 50,
        transcript=(
            Line(at=1.0, side="reporter", text="hello"),
            Line(at=2.0, side="reported", text="go away"),
        ),
        frames=(frame,),
    )


@dataclass
class Console:
    app: Gateway
    services: Services
    settings: Settings
    records: Records
    engine: AsyncEngine
    cases: list[str]
    appeal: int
    base_url: str = "https://testserver"

    def client(self, base_url: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=base_url or self.base_url)

    def routes(self) -> list[APIRoute]:
        return [
            route
            for route in _flat(self.app.http.routes)
            if isinstance(route, APIRoute) and route.path.startswith("/mod")
        ]


def _flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI keeps an included router
    whole, as one entry holding its ``original_router``; no prefix is used here)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route


@pytest.fixture
async def console(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Console]:
    """A new app, its records and state of its own for each test: fresh from the migrated
    template and with the text engine every in-process app shares, it costs tenths of a
    second, so no state is carried between tests to reset."""
    settings = Settings(
        data_dir=tmp_path,
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
        cybertip_reporter_name="Pat Example",
        cybertip_reporter_email="pat@example.org",
        # Nothing listens there: a send fails as a network error would.
        cybertip_url=f"http://127.0.0.1:{free_port()}/ispws",
        cybertip_username="esp-test",
        cybertip_password="not-a-real-password",
    )
    if settings.records_url() == sqlite_url(tmp_path):
        shutil.copyfile(sqlite_template, tmp_path / "strangers.db")
    else:  # STRANGERS_DATABASE_URL names another database
        upgrade(settings.records_url())
    app = cast(Gateway, app_for(settings))
    http = app.http
    async with http.router.lifespan_context(http):
        records = app.services.records
        assert records is not None
        now = datetime.now(UTC)
        accounts = Accounts(records)
        for name, password in PASSWORDS.items():
            await accounts.add(name, password, ROLES[name], totp=False, now=now)
        cases = [
            await records.reports.file(filing(party("bob", "b"), "m-1"), now=now),
            await records.reports.file(filing(party("dan", "d"), "m-2"), now=now),
        ]
        appeal = await records.appeals.submit(
            case=cases[0], device="dev-bob", text="I was not rude", now=now
        )
        engine = make_engine(settings.records_url())
        try:
            yield Console(app, app.services, settings, records, engine, cases, appeal)
        finally:
            await engine.dispose()


def form_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field"
    return html.unescape(found.group(1))


async def sign_in(console: Console, name: str, client: httpx.AsyncClient | None = None) -> Any:
    """A client signed in as ``name``, with its session's CSRF token as ``.csrf``."""
    client = client or console.client()
    page = await client.get("/mod/signin")
    response = await client.post(
        "/mod/signin",
        data={"csrf": form_value(page.text, "csrf"), "name": name, "password": PASSWORDS[name]},
    )
    assert response.status_code == 303 and response.headers["location"] == "/mod"
    queue = await client.get("/mod")
    assert queue.status_code == 200
    client.csrf = form_value(queue.text, "csrf")  # type: ignore[attr-defined]
    return client


def case_handle(page: str, number: str) -> str:
    found = re.search(rf'href="/mod/cases/({re.escape(number)}\.[A-Za-z0-9_-]{{22}})"', page)
    assert found, f"no link to {number}"
    return found.group(1)


def appeal_handle(page: str, ident: int) -> str:
    found = re.search(rf'href="/mod/appeals/({ident}\.[A-Za-z0-9_-]{{22}})"', page)
    assert found, f"no link to appeal {ident}"
    return found.group(1)


def concrete(path: str, handle: str = "S-000001." + FAKE_MAC) -> str:
    return path.replace("{handle}", handle).replace("{index}", "0")


def is_download(path: str) -> bool:
    return path.endswith((".jpg", ".json", ".csv", ".zip"))


async def test_every_console_route_refuses_without_a_session(console: Console) -> None:
    routes = console.routes()
    seen = {(method, route.path) for route in routes for method in route.methods or ()}
    assert {
        ("GET", "/mod"),
        ("GET", "/mod/cases/{handle}"),
        ("POST", "/mod/cases/{handle}/act"),
    } <= seen
    before = await counts(console.engine)
    async with console.client() as client:
        # A real handle of someone else's session does not help either.
        ben = await sign_in(console, "ben", console.client())
        handle = case_handle((await ben.get("/mod")).text, console.cases[0])
        await ben.aclose()
        before = await counts(console.engine)
        for route in routes:
            if route.path == "/mod/signin":
                continue  # the one public page
            for method in route.methods or ():
                for path in (concrete(route.path), concrete(route.path, handle)):
                    response = await client.request(method, path, data={"csrf": "x"})
                    what = f"{method} {path}"
                    if method == "GET" and not is_download(route.path):
                        assert response.status_code == 303, what
                        assert response.headers["location"] == "/mod/signin", what
                    else:
                        assert response.status_code == 403, what
                    assert "Traceback" not in response.text
    assert await counts(console.engine) == before


async def test_a_moderator_is_refused_every_admin_route(console: Console) -> None:
    admin_routes = [route for route in console.routes() if "admin" in route.tags]
    tagged = {(method, route.path) for route in admin_routes for method in route.methods or ()}
    assert tagged >= ADMIN_PAGES
    ana = await sign_in(console, "ana")
    ben = await sign_in(console, "ben")
    handle = case_handle((await ana.get("/mod")).text, console.cases[0])
    before = await counts(console.engine)
    for route in admin_routes:
        for method in route.methods or ():
            path = concrete(route.path, handle)
            files = {"file": ("list.txt", HASH_LINE.encode(), "text/plain")}
            data = {"csrf": ana.csrf, "list": "test"}
            response = await ana.request(method, path, data=data, files=files)
            assert response.status_code == 403, f"{method} {path}"
            assert "for admins" in response.text
    assert await counts(console.engine) == before
    for method, path in ADMIN_PAGES:
        assert (await ben.request(method, path)).status_code == 200, path
    # The navigation offers the admin pages to admins only.
    assert 'href="/mod/audit"' in (await ben.get("/mod")).text
    assert 'href="/mod/audit"' not in (await ana.get("/mod")).text
    await ana.aclose()
    await ben.aclose()


async def test_every_post_without_the_csrf_token_is_refused_and_writes_nothing(
    console: Console,
) -> None:
    ben = await sign_in(console, "ben")
    case = case_handle((await ben.get("/mod")).text, console.cases[0])
    appeal = appeal_handle((await ben.get("/mod/appeals")).text, console.appeal)
    posts = [
        route
        for route in console.routes()
        if "POST" in (route.methods or ()) and route.path != "/mod/signin"
    ]
    assert posts
    before = await all_rows(console.engine)
    for route in posts:
        path = route.path.replace("{handle}", appeal if "/appeals/" in route.path else case)
        # Forms that would otherwise be accepted: every field right but the token.
        fields = {
            "action": "ban",
            "duration": "24h",
            "text": "a note",
            "outcome": "overturned",
            "statement": "reasons",
            "list": "test",
        }
        files = {"file": ("list.txt", HASH_LINE.encode(), "text/plain")}
        for token in (None, "", "wrong-" + ben.csrf[6:], ben.csrf + "x"):
            data = dict(fields) if token is None else {**fields, "csrf": token}
            response = await ben.post(path, data=data, files=files)
            assert response.status_code == 403, f"{path} with {token!r}"
    assert await all_rows(console.engine) == before
    # ... and with it, the same form goes through (the refusal was the token).
    response = await ben.post(
        f"/mod/cases/{case}/act", data={"csrf": ben.csrf, "action": "note", "text": "seen"}
    )
    assert response.status_code == 303
    await ben.aclose()


async def test_sign_in_without_the_pre_session_token_is_refused(console: Console) -> None:
    before = await all_rows(console.engine)
    fields = {"name": "ben", "password": PASSWORDS["ben"]}
    async with console.client() as client:
        assert (await client.post("/mod/signin", data=fields)).status_code == 403
        page = await client.get("/mod/signin")
        token = form_value(page.text, "csrf")
        response = await client.post("/mod/signin", data={**fields, "csrf": token + "x"})
        assert response.status_code == 403
        assert "strangers_mod=" not in response.headers.get("set-cookie", "")
    async with console.client() as other:
        # The form's token without its cookie (another browser) is refused too.
        response = await other.post("/mod/signin", data={**fields, "csrf": token})
        assert response.status_code == 403
    assert await all_rows(console.engine) == before


async def test_case_links_are_bound_to_the_session_that_issued_them(console: Console) -> None:
    ana = await sign_in(console, "ana")
    cy = await sign_in(console, "cy")
    first, second = console.cases
    queue = (await ana.get("/mod")).text
    mine = case_handle(queue, first)
    assert (await ana.get(f"/mod/cases/{mine}")).status_code == 200

    token = ana.cookies.get("strangers_mod")
    unknown = Handles(console.settings.subkey("console"), token_hash(token)).case("S-999999")
    not_found = await ana.get(f"/mod/cases/{unknown}")
    assert not_found.status_code == 404

    mac = mine.split(".")[1]
    theirs = case_handle((await cy.get("/mod")).text, first)
    before = await counts(console.engine)
    for path in (
        f"/mod/cases/{first}",  # a bare number
        f"/mod/cases/{second}.{mac}",  # a neighbour, the right format, the wrong mac
        f"/mod/cases/{first}.{FAKE_MAC}",
        f"/mod/cases/{first}.{mac[:-1]}",
        f"/mod/cases/{theirs}",  # another session's handle
        f"/mod/cases/{theirs}/frames/0/clear.jpg",
        f"/mod/cases/{second}.{mac}/frames/0/clear.jpg",
    ):
        response = await ana.get(path)
        assert response.status_code == 404, path
        assert response.text == not_found.text, path
    assert (await ana.get(f"/mod/cases/{mine}/frames/9/clear.jpg")).status_code == 404
    # Nothing was opened, so nothing was audited as viewed.
    assert await counts(console.engine) == before

    appeal = appeal_handle((await ana.get("/mod/appeals")).text, console.appeal)
    other_appeal = appeal_handle((await cy.get("/mod/appeals")).text, console.appeal)
    assert (await ana.get(f"/mod/appeals/{appeal}")).status_code == 200
    for path in (
        f"/mod/appeals/{console.appeal}",
        f"/mod/appeals/{console.appeal}.{FAKE_MAC}",
        f"/mod/appeals/{other_appeal}",
        f"/mod/appeals/{console.appeal + 1}.{appeal.split('.')[1]}",
    ):
        response = await ana.get(path)
        assert response.status_code == 404, path
        assert response.text == not_found.text, path
    # A case handle does not open the appeal with the same number, nor the reverse.
    assert (await ana.get(f"/mod/appeals/{mine}")).status_code == 404
    await ana.aclose()
    await cy.aclose()


async def test_a_handle_dies_with_its_session(console: Console) -> None:
    ana = await sign_in(console, "ana")
    handle = case_handle((await ana.get("/mod")).text, console.cases[0])
    response = await ana.post("/mod/signout", data={"csrf": ana.csrf})
    assert response.status_code == 303 and response.headers["location"] == "/mod/signin"
    assert (await ana.get(f"/mod/cases/{handle}")).status_code == 303
    await sign_in(console, "ana", ana)
    assert (await ana.get(f"/mod/cases/{handle}")).status_code == 404
    await ana.aclose()


async def test_passwords_are_kept_only_as_argon2id(console: Console) -> None:
    async with console.engine.connect() as conn:
        stored: dict[str, str] = dict(
            (await conn.execute(select(Moderator.name, Moderator.password_hash))).all()
        )
    assert set(stored) == set(PASSWORDS)
    for name, value in stored.items():
        assert value.startswith("$argon2id$v=19$"), name
    ben = await sign_in(console, "ben")  # a sign-in may rehash: still argon2id, still no password
    await ben.aclose()
    dump = repr(await all_rows(console.engine))
    for password in PASSWORDS.values():
        assert password not in dump


async def test_sign_in_failures_lock_the_account_and_the_page_says_so(console: Console) -> None:
    async with console.client() as client:

        async def attempt(password: str) -> httpx.Response:
            page = await client.get("/mod/signin")
            token = form_value(page.text, "csrf")
            return await client.post(
                "/mod/signin", data={"csrf": token, "name": "ana", "password": password}
            )

        for _ in range(5):
            response = await attempt("not the password")
            assert response.status_code == 200
            assert "Wrong name, password or code" in response.text
        unknown = await client.post(
            "/mod/signin",
            data={
                "csrf": form_value((await client.get("/mod/signin")).text, "csrf"),
                "name": "nobody",
                "password": "whatever at all",
            },
        )
        assert "Wrong name, password or code" in unknown.text  # the same words for a stranger
        locked = await attempt(PASSWORDS["ana"])
        # Locked, yet answered like an unknown name: a lock must not reveal the name.
        assert locked.status_code == unknown.status_code == 200
        assert "Wrong name, password or code" in locked.text
        assert "strangers_mod=" not in locked.headers.get("set-cookie", "")
        assert (await client.get("/mod")).status_code == 303


async def attempt_sign_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await client.get("/mod/signin")
    return await client.post(
        "/mod/signin",
        data={"csrf": form_value(page.text, "csrf"), "name": name, "password": password},
    )


def from_network(console: Console, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (another network)."""
    transport = httpx.ASGITransport(app=console.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=console.base_url)


async def test_sign_in_attempts_past_the_limit_are_refused_unchecked(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_sign_in = Accounts.sign_in

    async def counting(self: Accounts, name: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(name)
        return await real_sign_in(self, name, *args, **kwargs)

    monkeypatch.setattr(Accounts, "sign_in", counting)
    async with console.client() as client:
        # A name that does not exist: the account lock-out never applies to it.
        answers = [await attempt_sign_in(client, "mallory", f"guess {n}") for n in range(13)]
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 3
    assert len(checked) == 10  # past the limit, no password was even looked at
    refused = answers[-1]
    assert "Too many sign-in attempts from here or for this name" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 15 * 60
    assert "strangers_mod=" not in refused.headers.get("set-cookie", "")
    # The same name from another network: the name's own limit holds there too.
    async with from_network(console, "192.0.2.7") as elsewhere:
        assert (await attempt_sign_in(elsewhere, "mallory", "one more")).status_code == 429
        # A moderator signing in from there, well within both limits, gets in.
        ok = await attempt_sign_in(elsewhere, "ana", PASSWORDS["ana"])
        assert ok.status_code == 303 and ok.headers["location"] == "/mod"


async def test_sign_in_spraying_many_names_from_one_network_is_limited(
    console: Console,
) -> None:
    async with from_network(console, "198.51.100.9") as client:
        answers = [await attempt_sign_in(client, f"name{n}", "password") for n in range(32)]
        assert [a.status_code for a in answers] == [200] * 30 + [429] * 2
        # Even the right password for a real account, from that network, for now.
        assert (await attempt_sign_in(client, "ben", PASSWORDS["ben"])).status_code == 429
    async with from_network(console, "203.0.113.5") as other:
        assert (await attempt_sign_in(other, "ben", PASSWORDS["ben"])).status_code == 303


def cookie_header(response: httpx.Response, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return value
    raise AssertionError(f"no {name} cookie")


async def test_cookies_are_strict_and_secure_except_on_loopback_http(console: Console) -> None:
    for base, secure in (
        ("https://testserver", True),
        ("http://mod.example.org", True),
        # A name that only looks like a loopback address is a domain like any other.
        ("http://127.attacker.example", True),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
    ):
        async with console.client(base) as client:
            page = await client.get("/mod/signin")
            cookies = [cookie_header(page, "strangers_mod_signin")]
            if base.startswith("https:") or not secure:
                # (A Secure cookie set over plain http never comes back: no sign-in there.)
                data = {"csrf": form_value(page.text, "csrf"), "name": "ben"}
                response = await client.post(
                    "/mod/signin", data={**data, "password": PASSWORDS["ben"]}
                )
                assert response.status_code == 303, base
                cookies.append(cookie_header(response, "strangers_mod"))
            for cookie in (value.lower() for value in cookies):
                assert "httponly" in cookie and "samesite=strict" in cookie, cookie
                assert "path=/mod" in cookie, cookie
                assert ("secure" in cookie.split("; ")) is secure, (base, cookie)


async def test_console_pages_carry_the_security_headers(console: Console) -> None:
    ben = await sign_in(console, "ben")
    handle = case_handle((await ben.get("/mod")).text, console.cases[0])
    for path in ("/mod/signin", "/mod", f"/mod/cases/{handle}", "/mod/audit", "/mod/transparency"):
        response = await ben.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store", path
        # No inline script or style, no other origin.
        body = response.text
        assert "<script>" not in body and "<style" not in body and " style=" not in body
        assert 'src="http' not in body and 'href="http' not in body
    for asset in ("/mod/static/console.css", "/mod/static/console.js"):
        assert (await ben.get(asset)).status_code == 200
    await ben.aclose()


async def test_viewing_a_case_and_revealing_a_frame_are_audited(console: Console) -> None:
    ana = await sign_in(console, "ana")
    handle = case_handle((await ana.get("/mod")).text, console.cases[0])
    page = await ana.get(f"/mod/cases/{handle}")
    assert 'data-state="blurred"' in page.text
    assert "go away" in page.text and "Reported" in page.text and "Reporter" in page.text
    blurred = await ana.get(f"/mod/cases/{handle}/frames/0/blurred.jpg")
    clear = await ana.get(f"/mod/cases/{handle}/frames/0/clear.jpg")
    assert blurred.headers["content-type"] == clear.headers["content-type"] == "image/jpeg"
    assert clear.content == portrait() and blurred.content != portrait()
    assert clear.headers["cache-control"] == "no-store"
    rows = (await all_rows(console.engine))["audit"]
    actions = [(row["actor"], row["action"]) for row in rows]
    assert ("ana", "case.viewed") in actions and ("ana", "frame.revealed") in actions
    await ana.aclose()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"action": "ban", "duration": "3d"}, "Choose how long the ban lasts"),
        ({"action": "ban"}, "Choose how long the ban lasts"),
        ({"action": "note", "text": "   "}, "Write the note first"),
        ({"action": "warn", "text": "x" * 501}, "over 500 characters"),
        ({"action": "delete"}, "Unknown action"),
    ],
)
async def test_bad_action_input_shows_the_case_again_with_a_message(
    console: Console, fields: dict[str, str], problem: str
) -> None:
    ana = await sign_in(console, "ana")
    handle = case_handle((await ana.get("/mod")).text, console.cases[0])
    before = await all_rows(console.engine)
    response = await ana.post(f"/mod/cases/{handle}/act", data={"csrf": ana.csrf, **fields})
    assert response.status_code == 400
    assert problem in response.text and "Case S-" in response.text
    assert await all_rows(console.engine) == before
    await ana.aclose()


async def test_the_actor_of_a_decision_cannot_decide_its_appeal(console: Console) -> None:
    ana = await sign_in(console, "ana")
    ben = await sign_in(console, "ben")
    handle = case_handle((await ana.get("/mod")).text, console.cases[0])
    banned = await ana.post(
        f"/mod/cases/{handle}/act", data={"csrf": ana.csrf, "action": "ban", "duration": "1h"}
    )
    assert banned.status_code == 303
    appeal = appeal_handle((await ana.get("/mod/appeals")).text, console.appeal)
    page = await ana.get(f"/mod/appeals/{appeal}")
    assert "<fieldset disabled>" in page.text and "DSA art. 20(6)" in page.text
    decision = {"csrf": ana.csrf, "outcome": "overturned", "statement": "fine after all"}
    before = await all_rows(console.engine)
    refused = await ana.post(f"/mod/appeals/{appeal}/decide", data=decision)
    assert refused.status_code == 403
    assert "another moderator must decide it (DSA art. 20(6))" in refused.text
    assert await all_rows(console.engine) == before

    ben_appeal = appeal_handle((await ben.get("/mod/appeals")).text, console.appeal)
    assert "<fieldset disabled>" not in (await ben.get(f"/mod/appeals/{ben_appeal}")).text
    empty = await ben.post(
        f"/mod/appeals/{ben_appeal}/decide",
        data={"csrf": ben.csrf, "outcome": "overturned", "statement": " "},
    )
    assert empty.status_code == 400 and "statement of reasons" in empty.text
    done = await ben.post(f"/mod/appeals/{ben_appeal}/decide", data={**decision, "csrf": ben.csrf})
    assert done.status_code == 303
    index = console.services.bans
    assert index.lookup("dev-bob", "net-" + "b" * 60, datetime.now(UTC)) is None
    await ana.aclose()
    await ben.aclose()


async def test_transparency_downloads(console: Console) -> None:
    ana = await sign_in(console, "ana")
    today = datetime.now(UTC).date()
    query = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    data = (await ana.get(f"/mod/transparency.json?{query}")).json()
    assert data["reports_received"] == 2
    csv = await ana.get(f"/mod/transparency.csv?{query}")
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="strangers-transparency-' in csv.headers["content-disposition"]
    assert csv.text.startswith("section,key,value\r\n")
    page = await ana.get("/mod/transparency")
    assert page.status_code == 200 and "reports by reason" in page.text
    for bad in ("from=2026-13-01", "from=2026-02-02&to=2026-02-01", "to=yesterday"):
        assert (await ana.get(f"/mod/transparency?{bad}")).status_code == 400
        assert (await ana.get(f"/mod/transparency.json?{bad}")).status_code == 400
    await ana.aclose()


async def test_an_admin_imports_a_hash_list(console: Console) -> None:
    ben = await sign_in(console, "ben")
    files = {"file": ("list.txt", ("# a list\n" + HASH_LINE).encode(), "text/plain")}
    response = await ben.post("/mod/hashes", data={"csrf": ben.csrf, "list": "ncmec"}, files=files)
    assert response.status_code == 303
    page = await ben.get(response.headers["location"])
    assert "ncmec" in page.text and "1 new hashes" in page.text
    assert len(console.services.hashes) == 1
    bad = {"file": ("list.txt", b"not a hash\n", "text/plain")}
    refused = await ben.post("/mod/hashes", data={"csrf": ben.csrf, "list": "x"}, files=bad)
    assert refused.status_code == 400 and "line 1" in refused.text
    await ben.aclose()


async def test_an_escalated_case_gives_its_report_package_and_admins_a_send_button(
    console: Console,
) -> None:
    ana = await sign_in(console, "ana")
    ben = await sign_in(console, "ben")
    first, second = console.cases
    queue = (await ana.get("/mod")).text
    handle, other = case_handle(queue, first), case_handle(queue, second)
    assert (await ana.get(f"/mod/cases/{other}/report.zip")).status_code == 403  # not escalated
    escalated = await ana.post(
        f"/mod/cases/{handle}/act",
        data={
            "csrf": ana.csrf,
            "action": "escalate",
            "confirm": "escalate",
            "incident_type": cybertip.ONLINE_ENTICEMENT,
        },
    )
    assert escalated.status_code == 303
    page = (await ana.get(f"/mod/cases/{handle}")).text
    assert f"/mod/cases/{handle}/report" in page
    preview = (await ana.get(f"/mod/cases/{handle}/report")).text
    assert "Download report package" in preview and "Send to the CyberTipline" not in preview
    assert cybertip.ONLINE_ENTICEMENT in preview
    ben_handle = case_handle((await ben.get("/mod")).text, first)
    assert "Send to the CyberTipline" in (await ben.get(f"/mod/cases/{ben_handle}/report")).text

    package = await ana.get(f"/mod/cases/{handle}/report.zip")
    assert package.status_code == 200
    assert package.headers["content-type"] == "application/zip"
    assert f'filename="{first}-cybertipline.zip"' in package.headers["content-disposition"]
    assert package.headers["cache-control"] == "no-store"
    names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
    assert "report.xml" in names and "manifest.json" in names
    audit = [(row["actor"], row["action"]) for row in (await all_rows(console.engine))["audit"]]
    assert ("ana", "cybertip.package_downloaded") in audit

    sent = await ben.post(
        f"/mod/cases/{ben_handle}/cybertip",
        data={"csrf": ben.csrf, "incident_type": cybertip.ONLINE_ENTICEMENT},
    )
    assert sent.status_code == 502
    assert "did not take the report" in sent.text and "Traceback" not in sent.text
    audit = [(row["actor"], row["action"]) for row in (await all_rows(console.engine))["audit"]]
    assert ("ben", "cybertip.filed") not in audit
    await ana.aclose()
    await ben.aclose()


async def test_the_audit_log_pages_back_and_refuses_a_bad_page(console: Console) -> None:
    ben = await sign_in(console, "ben")
    first = (await ben.get("/mod/audit")).text
    ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', first)]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 3
    older = (await ben.get(f"/mod/audit?before={ids[1]}")).text
    assert [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', older)] == ids[2:]
    for bad in ("x", "-1", "1e9", "9" * 40):
        assert (await ben.get(f"/mod/audit?before={bad}")).status_code == 400
    await ben.aclose()


async def test_failures_get_a_page_never_a_traceback(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await sign_in(console, "ana")

    async def unavailable(*_args: object, **_kwargs: object) -> None:
        raise RecordError("unavailable", "the records are unavailable")

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug with a secret in it")

    monkeypatch.setattr(casework, "queue", unavailable)
    response = await ana.get("/mod")
    assert response.status_code == 503 and "Records unavailable" in response.text
    monkeypatch.setattr(casework, "queue", broken)
    response = await ana.get("/mod")
    assert response.status_code == 500
    assert "Traceback" not in response.text and "secret" not in response.text
    await ana.aclose()
