"""The ASGI application: the chatter page, its assets, health and the chat socket.

Around everything: the websocket ``Origin`` check (``origins.py``). Around every HTTP
request: the security headers (``headers.py``) and the request size cap
(``request_size.py``). Every HTTP route is in ``/openapi.json`` (:func:`openapi`),
including those FastAPI cannot see (the static files, the chat socket's handshake),
so that it can be checked against the app (``tests/gateway/test_openapi.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..brokers.base import Broker
from ..brokers.memory import MemoryBroker
from ..core.age import AgeGate, AgeLedger
from ..core.bans import BanIndex
from ..core.blocks import Blocklist
from ..core.device import DeviceTokens
from ..core.frame_tokens import FrameTokens
from ..core.matching import Matchmaker
from ..core.messages import Codec
from ..core.switchboard import Switchboard
from ..moderation.console import STATIC_DIR as CONSOLE_STATIC_DIR
from ..moderation.console import console_router
from ..moderation.console.base import UPLOAD_MAX_BYTES
from ..moderation.records import Records
from ..runtime import release_free_memory
from ..safety.checker import FrameChecker
from ..safety.hashes import HashList
from ..safety.pool import CheckBackend, CheckPool
from ..safety.ratelimits import RateLimits
from ..safety.remote import RemoteBackend
from ..safety.text import SignalEngine
from ..safety.workers import ProcessBackend, WorkerSpec
from . import ages
from .addresses import Addresses
from .appeals import appeals_router
from .chat_opener import ChatOpener
from .chat_socket import CHAT_PATH, AsgiWire, ChatSocket
from .decisions import DecisionNotices
from .enforcement import NodeLiveChat, apply_fact
from .frames import ErrorBody, check_here, error_response, frames_router
from .headers import SecurityHeaders
from .legal import legal_router
from .metrics import NODES, READY, TimedScanner
from .node import Node
from .online import OnlineCounts, online_router, refresh_forever
from .origins import OriginCheck
from .readiness import Readiness, check_readiness
from .request_ids import RequestIds
from .request_size import RequestSizeCap, too_large
from .services import Services
from .settings import Settings
from .source import source_router
from .standing import standing_router

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
log = logging.getLogger("strangers.app")


def build_services(settings: Settings) -> Services:
    limits, rules = settings.limits(), settings.match_rules()
    blocks = Blocklist()
    matchmaker = Matchmaker(
        rules, blocked=blocks.blocked, match_ids=lambda: secrets.token_urlsafe(12)
    )
    turn = settings.turn_configured()
    if not turn and settings.env == "production":
        log.error("no TURN server configured: video chat is off (STRANGERS_TURN_URLS, _SECRET)")
    elif not turn:
        log.warning(
            "no TURN server configured: video peers can see each other's address "
            "(development only; set STRANGERS_TURN_URLS and STRANGERS_TURN_SECRET)"
        )
    frame_tokens = FrameTokens(settings.subkey("frame-tokens"))
    switchboard = Switchboard(
        limits,
        rules,
        video=turn or settings.env != "production",
        relay_only=turn,
        frame_tokens=frame_tokens,
        scanner=TimedScanner(SignalEngine()),
        face_age=settings.face_age_rules(),
    )
    broker: Broker
    if settings.redis_url:
        # Only a gateway on Redis loads the client (memory of the chat process).
        from ..brokers.redis import RedisBroker

        broker = RedisBroker(
            settings.redis_url,
            matchmaker,
            namespace=settings.redis_namespace,
            gateway=settings.gateway_id,
        )
    else:
        broker = MemoryBroker(matchmaker)
    node = Node(switchboard, broker, blocks=blocks)
    services = Services(
        settings=settings,
        node=node,
        codec=Codec(limits),
        tokens=DeviceTokens(settings.subkey("device-tokens")),
        network_key=settings.subkey("network-hash"),
        age_gate=AgeGate(
            teen_pool=settings.teen_pool,
            lock_hours=settings.age_lock_hours,
            recheck_minutes=settings.age_recheck_minutes,
            network_hold_minutes=settings.network_hold_minutes,
        ),
        ages=AgeLedger(),
        bans=BanIndex(),
        frame_tokens=frame_tokens,
        hashes=HashList(),
        addresses=Addresses(),
        decisions=DecisionNotices(),
        rate_limits=RateLimits.from_settings(settings),
    )
    node.fact_handler = partial(apply_fact, services)
    broker.frame_handler = partial(check_here, services)
    return services


async def start_frame_checks(services: Services) -> CheckPool:
    """Start the frame checks' worker pool (docs/design.md §6; issue 18).

    ``process`` mode (the default): ``frame_workers`` check-worker processes start and
    load the checker (the bundled models, or the operator's own by name) in parallel
    with the rest of the start; the pool is returned at once and ``/readyz`` says
    ``models: unavailable`` until every worker has loaded (``safety/workers.py``). Frames
    posted meanwhile wait in the queue. ``remote`` mode: ``frame_workers`` connections
    to the check service at ``frame_check_service`` (``safety/remote.py``), made in the
    same way; ready once one is up. ``thread`` mode: the checker is loaded here, off the
    event loop, into this process, and checks run on its threads."""
    settings = services.settings
    spec = WorkerSpec.from_settings(settings)
    checks: FrameChecker | CheckBackend
    if settings.frame_check_mode == "thread":
        checker = await asyncio.to_thread(
            spec.build, services.hashes, instances=settings.frame_workers
        )
        services.checker = checks = checker
    elif settings.frame_check_mode == "remote":
        assert settings.frame_check_service is not None  # Settings checks it
        checks = RemoteBackend(
            settings.frame_check_service,
            settings.check_secret(),
            hashes=services.hashes,
            check_timeout=settings.frame_check_timeout,
            ca_file=settings.check_service_ca,
        )
    else:
        checks = ProcessBackend(
            spec, hashes=services.hashes, check_timeout=settings.frame_check_timeout
        )
    pool = CheckPool(
        checks,
        workers=settings.frame_workers,
        capacity=settings.frame_queue,
        share_limits={
            "session": settings.frame_share_session,
            "device": settings.frame_share_device,
            "network": settings.frame_share_network,
        },
    )
    pool.start()
    return pool


#: The codes of the errors Starlette itself raises (no route, no file, wrong method).
HTTP_ERRORS: Final[dict[int, tuple[str, str]]] = {
    404: ("not_found", "There is nothing here."),
    405: ("method_not_allowed", "This method is not allowed here."),
}


class Gateway:
    """The outermost ASGI app: a websocket handshake passes the ``Origin`` check, then
    the chat socket goes straight to :class:`ChatSocket`; everything else (the page,
    its assets, health, lifespan) to the FastAPI app."""

    def __init__(self, http: FastAPI, services: Services) -> None:
        self.http = http
        self.services = services
        settings = services.settings
        origins = OriginCheck(
            self._route, public_origin=settings.public_origin, allowed=settings.allowed_origins
        )
        self._app = RequestIds(origins)
        #: What ``serving.py`` hands the chat path's upgrades to, under uvicorn.
        self.chat_opener = ChatOpener(services, origins)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == CHAT_PATH:
            client = scope.get("client")
            wire = AsgiWire(receive, send)
            await ChatSocket(wire, client[0] if client else None, self.services).run()
        else:
            await self.http(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


HOUSEKEEPING_SECONDS = 60.0
PURGE_EVERY = 60  # housekeeping rounds: evidence retention is checked hourly


async def _housekeep(services: Services) -> None:
    """Forget age state that has run out (in memory and in the records), and delete
    evidence past its retention (the same purge as `strangers purge`)."""
    rounds = 0
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        await ages.prune(services)
        rounds += 1
        if rounds % PURGE_EVERY == 0 and services.records is not None:
            try:
                purged = await services.records.cases.purge(now=datetime.now(UTC))
            except Exception:
                log.exception("evidence purge failed; it runs again in an hour")
            else:
                log.info("purged %d evidence items past retention", purged)


READINESS_SECONDS = 15.0
#: How often the watch looks at the check workers while they load (a look is a read of
#: the pool's state, no probe): ``strangers_ready`` turns 1 when they have loaded.
MODELS_POLL_SECONDS = 0.1


async def _watch_readiness(services: Services) -> None:
    """Keep ``strangers_ready`` current between probes, and log when it changes; the
    first time the gateway becomes ready (its check workers loaded, issue 18) is a
    start, logged as such."""
    last: Readiness | None = None
    ever_ready = False
    loop = asyncio.get_running_loop()
    while True:
        readiness = await check_readiness(services)
        if last is not None and readiness.ready != last.ready:
            if readiness.ready and not ever_ready:
                log.info("the gateway is ready: its check workers have loaded")
            else:
                state = "ready" if readiness.ready else "not ready"
                log.warning("the gateway is %s: %s", state, readiness.as_json()["checks"])
        ever_ready = ever_ready or readiness.ready
        last = readiness
        if readiness.models != "unavailable":
            await asyncio.sleep(READINESS_SECONDS)
            continue
        # Probe again as soon as the workers have loaded, not a whole period later.
        next_probe = loop.time() + READINESS_SECONDS
        while loop.time() < next_probe:
            pool = services.frame_checks
            if pool is not None and pool.ready:
                break
            await asyncio.sleep(MODELS_POLL_SECONDS)


async def _refresh_bans(services: Services) -> None:
    """Reload the bans in force, so one made anywhere (the console, another node)
    reaches every new session within ``ban_refresh_seconds``."""
    assert services.records is not None
    while True:
        await asyncio.sleep(services.settings.ban_refresh_seconds)
        try:
            services.bans.replace(await services.records.bans.active(now=datetime.now(UTC)))
            services.decisions.replace(await services.records.notices.pending())
        except Exception:
            log.exception("could not refresh bans; the last known ones stay in force")


async def _refresh_hashes(services: Services) -> None:
    """Reload the known-abuse hash lists, so an import reaches every node. The check
    workers get the list before their next frame, and only when it changed (its
    version: ``safety/hashes.py``)."""
    assert services.records is not None
    while True:
        await asyncio.sleep(services.settings.hash_refresh_seconds)
        try:
            entries = await services.records.hash_lists.entries()
            # Parsing a big list takes a while: off the event loop, swapped in at once.
            await asyncio.to_thread(services.hashes.replace, entries)
        except Exception:
            log.exception("could not reload the hash lists; the last loaded ones stay")


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    services = build_services(settings)
    online = OnlineCounts()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        records = await Records.open(settings.records_url(), settings.evidence_secret())
        services.records = records
        for device_a, device_b in await records.blocks.pairs():
            services.node.blocks.add(device_a, device_b)
        services.bans.replace(await records.bans.active(now=datetime.now(UTC)))
        services.decisions.replace(await records.notices.pending())
        await ages.load(services)
        await asyncio.to_thread(services.hashes.replace, await records.hash_lists.entries())
        services.frame_checks = await start_frame_checks(services)
        try:
            await services.node.start()
        except BaseException:
            await services.frame_checks.close()  # no check worker outlives a failed start
            raise
        NODES.nodes.append(services.node)
        release_free_memory()  # after the last of start-up's loading
        tasks = [
            asyncio.create_task(_watch_readiness(services), name="readiness"),
            asyncio.create_task(_housekeep(services), name="housekeeping"),
            asyncio.create_task(_refresh_bans(services), name="ban-refresh"),
            asyncio.create_task(_refresh_hashes(services), name="hash-refresh"),
            asyncio.create_task(refresh_forever(services, online), name="online-counts"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            # Let them finish before the records close: a refresh cancelled in the middle
            # of a query is still closing its connection, and one left to the loop's end
            # is cancelled again there, which hangs aiosqlite's close.
            await asyncio.gather(*tasks, return_exceptions=True)
            READY.set(0)
            NODES.nodes.remove(services.node)
            await services.node.close()
            await services.frame_checks.close()
            if services.rate_limits is not None:
                await services.rate_limits.close()
            await records.close()

    app = FastAPI(
        title="strangers",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"cache-control": "no-cache"})

    for method in ("GET", "HEAD"):
        app.add_api_route(
            "/",
            index,
            methods=[method],
            operation_id=f"page_{method.lower()}",
            response_class=HTMLResponse,
            summary="The chatter page.",
            responses={200: {"description": "The page (its script and styles: /static)."}},
        )

    @app.get("/healthz", summary="Liveness: the process serves requests.", response_model=Health)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get(
        "/readyz",
        summary="Readiness: the database, Redis (when configured) and the models are usable.",
        response_model=ReadyBody,
        responses={503: {"model": ReadyBody, "description": "A part named in `checks` is not."}},
    )
    async def readyz() -> JSONResponse:
        readiness = await check_readiness(services)
        return JSONResponse(
            readiness.as_json(),
            status_code=200 if readiness.ready else 503,
            headers={"cache-control": "no-store"},
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format).",
        response_class=PlainTextResponse,
        responses={200: {"description": "The metrics of this gateway."}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        CHAT_PATH,
        summary="The chat socket (a websocket; messages in docs/protocol.md).",
        status_code=426,
        response_model=ErrorBody,
        responses={
            101: {"description": "Switching protocols: the chat socket is open."},
            403: {
                "description": "The handshake's Origin is not allowed (RFC 6455 §10.2); "
                "an empty answer."
            },
            426: error_response(426, "`upgrade_required`: not a websocket handshake."),
        },
    )
    async def chat_socket_over_http() -> JSONResponse:
        # The handshake itself never gets here (Gateway routes it to ChatSocket).
        return JSONResponse(
            {"code": "upgrade_required", "text": "This is a websocket (RFC 6455) endpoint."},
            status_code=426,
            headers={"upgrade": "websocket", "connection": "Upgrade"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # An unknown path or file, a wrong method: the same {code, text} shape too.
        code, text = HTTP_ERRORS.get(exc.status_code, ("http_error", "This request failed."))
        return JSONResponse(
            {"code": code, "text": text}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, _exc: RequestValidationError) -> JSONResponse:
        # The same {code, text} shape as every other refusal, and no echo of the input.
        return JSONResponse(
            {"code": "invalid", "text": "The request is missing a field or has a wrong value."},
            status_code=400,
        )

    app.include_router(appeals_router(services))
    app.include_router(standing_router(services))
    app.include_router(online_router(services, online))
    app.include_router(legal_router(services, WEB_DIR / "index.html"))
    app.include_router(frames_router(services))
    app.include_router(source_router(settings.data_dir))
    app.include_router(console_router(services, NodeLiveChat(services)))
    app.mount("/mod/static", StaticFiles(directory=CONSOLE_STATIC_DIR), name="console-static")
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.add_middleware(
        RequestSizeCap,
        max_bytes=settings.max_request_bytes,
        paths={"/mod/hashes": max(UPLOAD_MAX_BYTES, settings.max_request_bytes)},
    )
    app.add_middleware(SecurityHeaders)  # outermost: the 413s carry the headers too
    app.openapi = partial(openapi, app, settings.max_request_bytes)  # type: ignore[method-assign]
    return Gateway(app, services)


class Health(BaseModel):
    status: str
    version: str


class ReadyChecks(BaseModel):
    database: Literal["ok", "unavailable"]
    redis: Literal["ok", "off", "unavailable"]
    models: Literal["ok", "unavailable"]


class ReadyBody(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: ReadyChecks


#: Routes FastAPI does not document by itself: the static files (mounts) and the
#: document itself.
_STATIC_FILE: Final[dict[str, Any]] = {
    "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {
        "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
        "404": {
            "description": "`not_found`: no such file.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
    },
}


def openapi(app: FastAPI, max_request_bytes: int) -> dict[str, Any]:
    """The OpenAPI document of every HTTP route: FastAPI's, plus what it cannot see,
    with the answers every route may give whatever its handler (a 400 for a bad
    field in FastAPI's place of 422, a 413 from the size cap on a POST)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description="The HTTP routes of a strangers gateway. The chat itself goes over "
        "the websocket `/v1/ws`, documented in `docs/protocol.md`.",
        routes=app.routes,
    )
    paths = document.setdefault("paths", {})
    paths["/static/{path}"] = {
        "get": {"summary": "The chatter page's assets.", "operationId": "static", **_STATIC_FILE}
    }
    paths["/mod/static/{path}"] = {
        "get": {
            "summary": "The moderator console's assets.",
            "operationId": "console_static",
            **_STATIC_FILE,
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document.",
            "operationId": "openapi",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    _, example = too_large(max_request_bytes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in paths.values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            validation = responses.get("422", {})
            if "HTTPValidationError" in str(validation):
                # The app answers a bad field with 400 {code, text} (invalid_request).
                del responses["422"]
                responses["400"] = {
                    "description": "`invalid`: a missing field or a wrong value.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                }
            if method == "post":
                too_big = responses.setdefault("413", {"description": "", "content": {}})
                too_big["description"] = (
                    too_big["description"] or "`too_large`: the body is over the size cap."
                )
                too_big.setdefault("content", {})["application/json"] = {
                    "schema": {"$ref": "#/components/schemas/ErrorBody"},
                    "example": json.loads(example),
                }
    document["components"]["securitySchemes"] = {
        "frameToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The `frame_token` of `matched` (RFC 6750): one per side of a match.",
        }
    }
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    app.openapi_schema = document
    return document
