"""``POST /v1/appeals``: contest a ban from its notice (DSA art. 20).

The chatter sends its device token, the case number of the notice and a text.
The records layer stores the appeal only for the device the case concerns; a
different moderator than the one who acted decides it (the console, later).
Answers never say whether a case exists for someone else's device.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..core.limits import RateLimit
from ..core.network import network_hash
from ..moderation.records import RecordError

if TYPE_CHECKING:
    from .chat_socket import Services

MAX_APPEAL_CHARS = 2000
APPEALS_PER_HOUR = 5.0
# Records' codes → (status, code shown). Another device's case reads as unknown.
_REFUSALS = {
    "unknown_case": (404, "unknown_case"),
    "not_allowed": (404, "unknown_case"),
    "duplicate": (409, "already_appealed"),
    "invalid": (400, "invalid"),
}


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    device: str = Field(max_length=512)
    case: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1, max_length=MAX_APPEAL_CHARS)


class AppealOut(BaseModel):
    status: str


class Refusal(BaseModel):
    code: str
    text: str


def appeals_router(services: Services) -> APIRouter:
    router = APIRouter()
    buckets: dict[str, RateLimit] = {}

    @router.post(
        "/v1/appeals",
        status_code=201,
        response_model=AppealOut,
        responses={
            400: {"model": Refusal},
            404: {"model": Refusal},
            409: {"model": Refusal},
            429: {"model": Refusal},
        },
        summary="Appeal a ban from its notice.",
    )
    async def appeal(body: AppealIn, request: Request) -> JSONResponse:
        client = request.client
        network = network_hash(services.network_key, client.host if client else None)
        now = time.monotonic()
        if len(buckets) > 100_000:
            buckets.clear()  # a bound, not a policy: at worst a burst is allowed again
        bucket = buckets.setdefault(network, RateLimit(APPEALS_PER_HOUR / 3600, 5, now))
        if bucket.take(now):
            return _refuse(429, "rate_limited", "Too many appeals; try again later.")
        claims = services.tokens.verify(body.device)
        if claims is None:
            return _refuse(400, "invalid", "This device cannot be recognised.")
        assert services.records is not None
        try:
            await services.records.submit_appeal(
                case=body.case, device=claims.device, text=body.text, now=datetime.now(UTC)
            )
        except RecordError as exc:
            status, code = _REFUSALS.get(exc.code, (503, "unavailable"))
            return _refuse(status, code, "This appeal cannot be accepted.")
        return JSONResponse({"status": "received"}, status_code=201)

    return router


def _refuse(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"code": code, "text": text}, status_code=status)
