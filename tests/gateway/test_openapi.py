"""``/openapi.json`` documents every HTTP route of the gateway, and the gateway keeps to
it: schemathesis sends generated requests to every operation of a live server on
loopback (in process), a bounded number each, and checks that none gets a server error
and that every answer's status, type and body are the documented ones."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import BaseRoute, Mount, Route

from strangers.gateway.app import CHAT_PATH, Gateway, create_app
from strangers.gateway.settings import Settings
from strangers.moderation import Records
from strangers.moderation.accounts import Accounts
from strangers.moderation.console.cookies import SESSION_COOKIE

from ..inprocess import Served, serving_in_thread

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


ADMIN = "ada"
PASSWORD = "a long enough passphrase"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server, with an admin (as ``strangers moderator add --role admin`` makes)."""
    with serving_in_thread(
        tmp_path_factory.mktemp("openapi"),
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
    ) as srv:
        asyncio.run(add_admin(srv))
        yield srv.base


async def add_admin(srv: Served) -> None:
    records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
    try:
        await Accounts(records).add(ADMIN, PASSWORD, "admin", totp=False, now=datetime.now(UTC))
    finally:
        await records.close()


@pytest.fixture
def api(base: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(base + "/openapi.json")


def _routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every HTTP route, those of included routers and mounts too."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix)
        elif isinstance(route, Mount):
            yield "GET", prefix + route.path + "/{path}"
        elif isinstance(route, Route):
            methods = set(route.methods or ())
            if "GET" in methods and route.path != "/":
                methods.discard("HEAD")  # implied by GET (RFC 9110 §9.3.2)
            for method in methods:
                yield method, prefix + route.path


def test_every_http_route_is_in_the_document(tmp_path: Path) -> None:
    app = cast(Gateway, create_app(Settings(data_dir=tmp_path)))
    document = app.http.openapi()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routes = set(_routes(app.http.routes))
    assert routes, "no routes found"
    assert routes - documented == set()
    assert documented - routes == set()
    # The chat socket is served outside FastAPI; its handshake is documented too.
    assert ("GET", CHAT_PATH) in documented
    assert document["paths"][CHAT_PATH]["get"]["responses"].keys() >= {"101", "403", "426"}


def test_the_document_describes_bodies_and_refusals(base: str) -> None:
    document = httpx.get(base + "/openapi.json").json()
    paths = document["paths"]
    assert "image/jpeg" in paths["/v1/frames"]["post"]["requestBody"]["content"]
    signin = paths["/mod/signin"]["post"]
    form = signin["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"csrf", "name", "password", "code"} <= form["properties"].keys()
    assert "429" in signin["responses"]
    upload = paths["/mod/hashes"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["file"]["format"] == "binary"
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "post":
                assert "413" in operation["responses"], path
            assert "422" not in operation["responses"] or path == "/v1/frames", path
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["code", "text"]


#: Examples per operation and mode: every operation is reached, and the run stays short.
EXAMPLES = 10
MODES = (
    (schemathesis.GenerationMode.POSITIVE, CHECKS),
    (schemathesis.GenerationMode.NEGATIVE, [not_a_server_error]),
)


@dataclass
class Session:
    """A signed-in console session: its cookie and its CSRF token."""

    cookies: dict[str, str]
    csrf: str


def exchanges(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    checks: list[Any],
    session: Session | None,
) -> Callable[[], None]:
    """A Hypothesis test sending ``EXAMPLES`` generated requests to ``operation``
    (signed in with ``session`` and its CSRF token in every form, when given)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: schemathesis.Case) -> None:
        if session is None:
            case.call_and_validate(checks=checks, timeout=10)
            return
        if isinstance(case.body, dict):
            case.body["csrf"] = session.csrf
        case.call_and_validate(checks=checks, timeout=10, cookies=session.cookies)

    return cast(Callable[[], None], exchange)


def run_all(operations: list[Any], session: Session | None = None) -> list[str]:
    """Every operation in both modes; the failures, all of them."""
    failures: list[str] = []
    for operation in operations:
        for mode, checks in MODES:
            try:
                exchanges(operation, mode, checks, session)()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, or only free strings).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # all are tried, all failures shown
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def test_the_gateway_keeps_to_its_document(api: schemathesis.BaseSchema) -> None:
    """Positive cases (valid by the document) must get documented answers; negative ones
    (invalid input) must at least never get a server error."""
    # schemathesis' pytest integration (``from_fixture``) does not run on pytest 9 yet;
    # its strategies do, with Hypothesis as the runner.
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 25
    failures = run_all(operations)
    assert not failures, "\n\n".join(failures)


def test_the_console_keeps_to_its_document_signed_in(
    api: schemathesis.BaseSchema, base: str
) -> None:
    """The console's routes again, with an admin's session and its CSRF token, so the
    handlers behind the session check meet the generated input too."""
    with httpx.Client(base_url=base) as client:
        page = client.get("/mod/signin")
        token = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert token
        signed_in = client.post(
            "/mod/signin",
            data={"csrf": html.unescape(token[1]), "name": ADMIN, "password": PASSWORD},
        )
        assert signed_in.status_code == 303, signed_in.text
        queue = client.get("/mod")
        csrf = re.search(r'name="csrf" value="([^"]*)"', queue.text)
        assert csrf
        session = Session({SESSION_COOKIE: client.cookies[SESSION_COOKIE]}, html.unescape(csrf[1]))
    operations = [
        operation
        for result in api.get_all_operations()
        if (operation := result.ok()).path.startswith("/mod")
        and operation.path not in ("/mod/signout", "/mod/signin")  # that would end it
    ]
    assert len(operations) >= 18
    failures = run_all(operations, session)
    assert not failures, "\n\n".join(failures)
