"""``POST /v1/appeals``: contest a ban from its notice (DSA art. 20).

The chatter sends its device token, the case number of the notice and a text.
The records layer stores the appeal only for the device the case concerns; a
different moderator than the one who acted decides it (the console, later).
Answers never say whether a case exists for someone else's device.

Appeals are limited per device and per network (``safety/ratelimits.py``, the
``limit_appeal_*`` settings): 429 ``rate_limited`` with ``retry_after`` beyond. The
limit is counted before the token is checked, so forged tokens are limited too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..core.network import network_hash
from ..moderation.records import RecordError
from ..safety.ratelimits import Action
from .frames import error_response
from .refusals import rate_limited
from .services import Services

MAX_APPEAL_CHARS = 2000
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


def appeals_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/appeals",
        status_code=201,
        response_model=AppealOut,
        responses={
            400: error_response(400, "`invalid`: a missing or bad field, or a bad device token."),
            404: error_response(404, "`unknown_case`: no such case for this device."),
            409: error_response(409, "`already_appealed`: this case is appealed already."),
            429: error_response(429, "`rate_limited`: too many appeals; see `retry_after`."),
            503: error_response(503, "`unavailable`: the records cannot be reached."),
        },
        summary="Appeal a ban from its notice.",
    )
    async def appeal(body: AppealIn, request: Request) -> JSONResponse:
        client = request.client
        network = network_hash(services.network_key, client.host if client else None)
        claims = services.tokens.verify(body.device)
        limits = services.rate_limits
        if limits is not None:
            device = None if claims is None else claims.device
            refusal = await limits.hit(Action.APPEAL, device=device, network=network)
            if refusal is not None:
                return rate_limited(refusal, "Too many appeals; try again later.")
        if claims is None:
            return _refuse(400, "invalid", "This device cannot be recognised.")
        assert services.records is not None
        try:
            await services.records.appeals.submit(
                case=body.case, device=claims.device, text=body.text, now=datetime.now(UTC)
            )
        except RecordError as exc:
            status, code = _REFUSALS.get(exc.code, (503, "unavailable"))
            return _refuse(status, code, "This appeal cannot be accepted.")
        return JSONResponse({"status": "received"}, status_code=201)

    return router


def _refuse(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"code": code, "text": text}, status_code=status)
