"""The ASGI application: the chatter page, its assets, health and the chat socket."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..brokers.base import Broker
from ..brokers.memory import MemoryBroker
from ..brokers.redis import RedisBroker
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
from ..moderation.records import Records
from ..safety.checker import NudityThresholds, load_checker
from ..safety.hashes import HashList
from ..safety.pool import CheckPool
from ..safety.text import SignalEngine
from .addresses import Addresses
from .appeals import appeals_router
from .chat_socket import ChatSocket, Services
from .decisions import DecisionNotices
from .enforcement import apply_fact
from .frames import check_here, frames_router
from .headers import SecurityHeaders
from .node import Node
from .settings import Settings

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
        scanner=SignalEngine(),
    )
    broker: Broker
    if settings.redis_url:
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
        age_gate=AgeGate(teen_pool=settings.teen_pool, lock_hours=settings.age_lock_hours),
        ages=AgeLedger(),
        bans=BanIndex(),
        frame_tokens=frame_tokens,
        hashes=HashList(),
        addresses=Addresses(),
        decisions=DecisionNotices(),
    )
    node.fact_handler = partial(apply_fact, services)
    broker.frame_handler = partial(check_here, services)
    return services


async def start_frame_checks(services: Services) -> CheckPool:
    """Load the frame checker (the bundled models, or the operator's own) off the event
    loop, and start its worker pool."""
    settings = services.settings
    checker = await asyncio.to_thread(
        load_checker,
        settings.frame_checker,
        nudity=NudityThresholds(threshold=settings.nudity_threshold),
        face_threshold=settings.face_threshold,
        hashes=services.hashes,
    )
    services.checker = checker
    return CheckPool(checker, workers=settings.frame_workers, capacity=settings.frame_queue)


CHAT_PATH = "/v1/ws"


class Gateway:
    """The outermost ASGI app: the chat socket goes straight to :class:`ChatSocket`;
    everything else (the page, its assets, health, lifespan) to the FastAPI app."""

    def __init__(self, http: FastAPI, services: Services) -> None:
        self.http = http
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == CHAT_PATH:
            await ChatSocket(scope, receive, send, self.services).run()
        else:
            await self.http(scope, receive, send)


HOUSEKEEPING_SECONDS = 60.0
PURGE_EVERY = 60  # housekeeping rounds: evidence retention is checked hourly


async def _housekeep(services: Services) -> None:
    """Forget age locks that have run out, and delete evidence past its retention
    (the same purge as `strangers purge`)."""
    rounds = 0
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        services.ages.prune(int(time.time()))
        rounds += 1
        if rounds % PURGE_EVERY == 0 and services.records is not None:
            try:
                purged = await services.records.purge(now=datetime.now(UTC))
            except Exception:
                log.exception("evidence purge failed; it runs again in an hour")
            else:
                log.info("purged %d evidence items past retention", purged)


async def _refresh_bans(services: Services) -> None:
    """Reload the bans in force, so one made anywhere (the console, another node)
    reaches every new session within ``ban_refresh_seconds``."""
    assert services.records is not None
    while True:
        await asyncio.sleep(services.settings.ban_refresh_seconds)
        try:
            services.bans.replace(await services.records.active_bans(now=datetime.now(UTC)))
            services.decisions.replace(await services.records.pending_notices())
        except Exception:
            log.exception("could not refresh bans; the last known ones stay in force")


async def _refresh_hashes(services: Services) -> None:
    """Reload the known-abuse hash lists, so an import reaches every node."""
    assert services.records is not None
    while True:
        await asyncio.sleep(services.settings.hash_refresh_seconds)
        try:
            entries = await services.records.hash_entries()
            # Parsing a big list takes a while: off the event loop, swapped in at once.
            await asyncio.to_thread(services.hashes.replace, entries)
        except Exception:
            log.exception("could not reload the hash lists; the last loaded ones stay")


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        records = await Records.open(settings.records_url(), settings.evidence_secret())
        services.records = records
        for device_a, device_b in await records.blocked_pairs():
            services.node.blocks.add(device_a, device_b)
        services.bans.replace(await records.active_bans(now=datetime.now(UTC)))
        services.decisions.replace(await records.pending_notices())
        await asyncio.to_thread(services.hashes.replace, await records.hash_entries())
        services.frame_checks = await start_frame_checks(services)
        await services.node.start()
        tasks = [
            asyncio.create_task(_housekeep(services), name="housekeeping"),
            asyncio.create_task(_refresh_bans(services), name="ban-refresh"),
            asyncio.create_task(_refresh_hashes(services), name="hash-refresh"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await services.node.close()
            await services.frame_checks.close()
            await records.close()

    app = FastAPI(
        title="strangers",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/healthz", summary="Liveness: the process serves requests.")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/metrics", summary="Prometheus metrics (text exposition format).")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, _exc: RequestValidationError) -> JSONResponse:
        # The same {code, text} shape as every other refusal, and no echo of the input.
        return JSONResponse(
            {"code": "invalid", "text": "The request is missing a field or has a wrong value."},
            status_code=400,
        )

    app.include_router(appeals_router(services))
    app.include_router(frames_router(services))
    app.include_router(console_router(services))
    app.mount("/mod/static", StaticFiles(directory=CONSOLE_STATIC_DIR), name="console-static")
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.add_middleware(SecurityHeaders)
    return Gateway(app, services)
