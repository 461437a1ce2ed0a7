"""The real server, in the test's own process and event loop (``serving``).

The same app (``gateway.app.create_app``) under the same uvicorn configuration
(``gateway.serving.server_config``) as ``strangers serve``, on a free loopback port: what
a client meets is the real server, without the 4–6 s of a subprocess start. A test
starts a separate process only where the process is the point (SIGKILL, a restart of
the process itself, floods that would share the test's loop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from strangers.gateway.app import create_app
from strangers.gateway.serving import server_config
from strangers.gateway.settings import Settings
from strangers.moderation.migrate import upgrade

from .servers import free_port


@dataclass(frozen=True)
class Served:
    """A running in-process server: its ``http://`` base, its ``ws://`` chat URL and the
    settings it runs with."""

    base: str
    settings: Settings

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/v1/ws"


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **settings: object) -> AsyncIterator[Served]:
    """Serve the app on 127.0.0.1 with ``settings`` (``Settings`` field names; the
    environment's ``STRANGERS_*`` apply underneath, as in ``strangers serve``) and the
    records in ``data_dir`` unless ``database_url`` is given; stop it after."""
    port = free_port()
    chosen = Settings(  # type: ignore[arg-type]
        **{"data_dir": data_dir, "host": "127.0.0.1", "port": port, **settings}
    )
    await asyncio.to_thread(upgrade, chosen.records_url())
    config = server_config(create_app(chosen), chosen)
    config.loop = "none"  # the test's loop
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        yield Served(f"http://127.0.0.1:{port}", chosen)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 15)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
