"""How uvicorn serves the gateway's app: one place, so ``strangers serve`` and the
tests' in-process servers run the same protocol stack and the same limits."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from .settings import Settings


def server_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` under ``settings``."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=65536,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        backlog=settings.backlog,
        access_log=False,
        log_level=settings.log_level,
        log_config=None,  # strangers.logs configured the handlers: one format for all
        server_header=False,
    )
