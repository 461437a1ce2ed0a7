"""The real server, in the test's own process and event loop (``serving``).

The same app (``gateway.app.create_app``) under the same uvicorn configuration
(``gateway.serving.server_config``) as ``strangers serve``, on a free loopback port: what
a client meets is the real server, without the 4–6 s of a subprocess start. A test
starts a separate process only where the process is the point (SIGKILL, a restart of
the process itself, floods that would share the test's loop).

``serving_in_thread`` is the same server on its own loop in a thread, for tests whose
clients block (``websockets.sync``, ``urllib``, Chromium driven through Playwright's sync
API) and for fixtures shared by a module's tests across their event loops."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import uvicorn
from starlette.types import ASGIApp

from strangers.gateway import app as gateway_app
from strangers.gateway.app import create_app
from strangers.gateway.serving import server_config
from strangers.gateway.settings import Settings
from strangers.moderation.migrate import upgrade


@dataclass(frozen=True)
class Served:
    """A running in-process server: its ``http://`` base, its ``ws://`` chat URL and the
    settings it runs with."""

    base: str
    settings: Settings

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/v1/ws"


@functools.cache
def _one_of(kind: type[Any], *args: Any, **kwargs: Any) -> Any:
    """The one ``kind(*args, **kwargs)`` of this process."""
    return kind(*args, **kwargs)


def _app(chosen: Settings) -> ASGIApp:
    """``create_app(chosen)`` with the text signal engine of every other in-process
    server: building one reads its word lists and the profanity model (1.5 s of the
    2 s an app takes to make), and ``SignalEngine`` keeps no state between scans, made
    to be shared. Each server still has its own of everything else."""
    builder = sys.modules[getattr(gateway_app, "build_services", create_app).__module__]
    if not hasattr(builder, "SignalEngine"):  # built elsewhere now: each its own
        return create_app(chosen)
    shared = functools.partial(_one_of, builder.SignalEngine)
    with mock.patch.object(builder, "SignalEngine", shared):
        return create_app(chosen)


def _listening(data_dir: Path, settings: dict[str, object]) -> tuple[Settings, socket.socket]:
    """The settings and the listening socket of a server on a port of its own: the socket
    is bound here and handed to uvicorn, so no other test (nor another pytest worker)
    can take the port between choosing it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        # A port of the test's choosing (``port=``) serves a server brought back where it
        # was, for a client that reconnects; otherwise any free one.
        sock.bind(("127.0.0.1", int(settings.get("port", 0))))  # type: ignore[call-overload]
        port = sock.getsockname()[1]
        chosen = Settings(  # type: ignore[arg-type]
            **{"data_dir": data_dir, "host": "127.0.0.1", **settings, "port": port}
        )
    except BaseException:
        sock.close()
        raise
    return chosen, sock


#: How long a server's check workers may take to load before the test fails.
MODELS_DEADLINE = 60.0


def _models_loaded(base: str) -> bool:
    """Whether ``/readyz`` says the frame checks' workers have loaded (whatever it says of
    the database or Redis: a test may be about those)."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as answer:
            body = answer.read()
    except urllib.error.HTTPError as refused:  # 503 names the part that is not ready
        body = refused.read()
    except OSError:
        return False
    return bool(json.loads(body)["checks"]["models"] == "ok")


def _loads_workers(chosen: Settings) -> bool:
    return chosen.frame_check_mode == "process"


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path, *, models_ready: bool = True, **settings: object
) -> AsyncIterator[Served]:
    """Serve the app on 127.0.0.1 with ``settings`` (``Settings`` field names; the
    environment's ``STRANGERS_*`` apply underneath, as in ``strangers serve``) and the
    records in ``data_dir`` unless ``database_url`` is given; stop it after.

    With check-worker processes, the server is handed over once they have loaded, as a
    load balancer waits for ``/readyz``: a frame posted while they load waits the pool's
    5 s at most, which a busy machine's worker start can pass (``models_ready=False``
    for a test of that wait)."""
    chosen, sock = _listening(data_dir, settings)
    port = chosen.port
    try:
        await asyncio.to_thread(upgrade, chosen.records_url())
        config = server_config(_app(chosen), chosen)
    except BaseException:
        sock.close()
        raise
    config.loop = "none"  # the test's loop
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        if models_ready and _loads_workers(chosen):
            deadline = asyncio.get_running_loop().time() + MODELS_DEADLINE
            while not await asyncio.to_thread(_models_loaded, base):
                assert asyncio.get_running_loop().time() < deadline, "check workers not loaded"
                await asyncio.sleep(0.05)
        yield Served(base, chosen)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 15)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        sock.close()


@contextlib.contextmanager
def serving_in_thread(
    data_dir: Path, *, models_ready: bool = True, **settings: object
) -> Iterator[Served]:
    """:func:`serving` on a loop of its own in a daemon thread; the same arguments."""
    chosen, sock = _listening(data_dir, settings)
    try:
        upgrade(chosen.records_url())
        config = server_config(_app(chosen), chosen)
    except BaseException:
        sock.close()
        raise
    config.loop = "none"
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="strangers-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server stopped before it started") from (
                    failure[0] if failure else None
                )
            thread.join(0.01)
        base = f"http://127.0.0.1:{chosen.port}"
        if models_ready and _loads_workers(chosen):
            deadline = time.monotonic() + MODELS_DEADLINE
            while not _models_loaded(base):
                assert time.monotonic() < deadline, "check workers not loaded"
                time.sleep(0.05)
        yield Served(base, chosen)
    finally:
        server.should_exit = True
        thread.join(15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        sock.close()


def app_for(settings: Settings) -> ASGIApp:
    """``create_app(settings)`` as the servers above make it (their shared text signal
    engine), for tests that drive the ASGI app itself, with no server."""
    return _app(settings)
