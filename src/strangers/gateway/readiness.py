"""Readiness: may this gateway take chatters now (``/readyz``)?

Liveness (``/healthz``) only says the process answers; a load balancer or an
orchestrator routes chatters by readiness, which holds only when every part a chat
needs is usable:

- ``database``: the records answer ``SELECT 1`` (reports, bans and appeals are written
  there; a report that cannot be stored is a report lost, docs/design.md §6);
- ``redis`` (only when ``STRANGERS_REDIS_URL`` is set): Redis answers ``PING``
  (without it this gateway can pair no one with the other gateways, docs/design.md §5);
- ``models``: the frame checks' worker pool is running and its workers have loaded the
  checker — every check-worker process once, and one at least now, while a dead one is
  replaced (``safety/workers.py``) — (video is checked from the first frame,
  docs/design.md §6: no checks, no video).

Each check has its own time limit, and they run at once, so a probe answers within
``timeout`` seconds whatever hangs. The answer names which check failed, never why:
the reason (an address, a driver's message) goes to the log only (OWASP ASVS 5.0
V16.5: no internal detail in answers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from .metrics import READY
from .services import Services

log = logging.getLogger("strangers.readiness")

Check = Literal["ok", "off", "unavailable"]
PROBE_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each part's state; ``ready`` when none is ``unavailable``."""

    database: Check
    redis: Check
    models: Check

    @property
    def ready(self) -> bool:
        return "unavailable" not in (self.database, self.redis, self.models)

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {"database": self.database, "redis": self.redis, "models": self.models},
        }


async def _probe(name: str, probe: Callable[[], Awaitable[None]]) -> Check:
    # The probe is made here, not by the caller: a request cancelled before this runs
    # (its client gone) would leave a coroutine never awaited.
    try:
        await probe()
    except Exception as exc:
        log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"
    return "ok"


async def _off() -> Check:
    return "off"


async def _no_records() -> None:
    raise RuntimeError("the records are not open")


async def check_readiness(services: Services, timeout: float = PROBE_SECONDS) -> Readiness:
    """Probe the database and Redis at once, look at the models, and record the
    outcome in ``strangers_ready``."""
    records = services.records
    database = _probe(
        "database", (lambda: records.ping(timeout)) if records is not None else _no_records
    )
    broker = services.node.broker
    redis = _probe("redis", lambda: broker.ping(timeout)) if services.settings.redis_url else _off()
    pool = services.frame_checks
    models: Check = "ok" if pool is not None and pool.ready else "unavailable"
    database_state, redis_state = await asyncio.gather(database, redis)
    result = Readiness(database_state, redis_state, models)
    READY.set(1 if result.ready else 0)
    return result
