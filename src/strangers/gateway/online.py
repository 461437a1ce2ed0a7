"""``GET /v1/online``: how many chatters are looking or chatting, per mode, rounded.

What a newcomer sees before and while waiting ("40+ online in text"), so that a quiet
server reads as quiet rather than broken (issue 19). The rule, documented in
``docs/protocol.md``:

- counted: the chat sessions waiting for or in a match, per mode (``text``, ``video``),
  on every gateway (each publishes its own through the broker; ``brokers/base.py``
  ``online``), **both age bands together**. A count per pool would tell an adult
  whether minors are online; so there is none, and nothing the asker sends (nor its
  band) changes the answer: every asker gets the same document until the next refresh;
- rounded down: under 10 is ``{"below": 10}``; from 10 to 999, to a multiple of 10;
  from 1000, to a multiple of 100 (``{"at_least": n}``), so a count does not move
  with every single chatter and one arrival or departure cannot be watched;
- refreshed every :data:`REFRESH_SECONDS` by one task per gateway, never per request,
  and served with ``cache-control: public, max-age`` of the same.

Limited per network like the other HTTP endpoints (``safety/ratelimits.py``,
``limit_online_*``): 429 ``rate_limited`` beyond (OWASP ASVS 5.0 V2.4 anti-automation).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..core.messages import Mode
from ..core.network import network_hash
from ..core.session import State
from ..safety.ratelimits import Action
from .frames import error_response
from .refusals import rate_limited
from .services import Services

log = logging.getLogger("strangers.online")

#: How often each gateway counts its own and reads everyone's.
REFRESH_SECONDS: Final = 5.0
#: Under this, the page says "fewer than 10", never the number.
FEW: Final = 10


def rounded(count: int) -> dict[str, int]:
    """The public form of ``count`` (the module's rule): ``{"below": 10}`` under 10,
    else ``{"at_least": n}`` with ``count`` rounded down to a multiple of 10 (of 100
    from 1000)."""
    if count < FEW:
        return {"below": FEW}
    step = 100 if count >= 1000 else 10
    return {"at_least": count - count % step}


def local_counts(services: Services) -> dict[str, int]:
    """This gateway's sessions waiting for or in a match, per mode, every band together."""
    counts = {mode.value: 0 for mode in Mode}
    for session in list(services.node.switchboard.sessions.values()):
        if session.mode is not None and session.state in (State.WAITING, State.CHATTING):
            counts[session.mode.value] += 1
    return counts


@dataclass
class OnlineCounts:
    """The last answer, the same for every asker until the next refresh."""

    body: dict[str, dict[str, int]] = field(
        default_factory=lambda: {mode.value: rounded(0) for mode in Mode}
    )

    async def refresh(self, services: Services) -> None:
        """Count here, publish, and sum every gateway's; on a broker failure the last
        answer stays (logged)."""
        local = local_counts(services)
        try:
            total = await services.node.broker.online(local)
        except Exception as exc:
            log.warning("could not read the other gateways' online counts: %s", exc)
            return
        self.body = {mode.value: rounded(total.get(mode.value, 0)) for mode in Mode}


async def refresh_forever(services: Services, counts: OnlineCounts) -> None:
    while True:
        await counts.refresh(services)
        await asyncio.sleep(REFRESH_SECONDS)


class ModeCount(BaseModel):
    """Exactly one of the two: the count rounded down, or the bound it is under."""

    at_least: int | None = Field(default=None, description="Rounded down (10s, then 100s).")
    below: int | None = Field(default=None, description="Fewer than this many: 10.")


class OnlineOut(BaseModel):
    text: ModeCount
    video: ModeCount


def online_router(services: Services, counts: OnlineCounts) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/online",
        response_model=OnlineOut,
        response_model_exclude_none=True,
        summary="Chatters looking or chatting per mode, rounded, all ages together.",
        responses={429: error_response(429, "`rate_limited`: too many asks; see `retry_after`.")},
    )
    async def online(request: Request) -> JSONResponse:
        limits = services.rate_limits
        if limits is not None:
            client = request.client
            network = network_hash(services.network_key, client.host if client else None)
            refusal = await limits.hit(Action.ONLINE, device=None, network=network)
            if refusal is not None:
                return rate_limited(refusal, "Too many requests; try again later.")
        return JSONResponse(
            counts.body,
            headers={"cache-control": f"public, max-age={int(REFRESH_SECONDS)}"},
        )

    return router
