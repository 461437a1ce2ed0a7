"""``GET /v1/standing``: whether this device is banned, asked by the page on arrival.

A banned chatter learns it before any question (issue 19), with what the ``banned``
message says (the same builder, ``core.bans.banned_message``: DSA art. 17, the
statement of reasons), and the state of its appeal (DSA art. 20: none, pending, or
decided with the outcome and the moderator's statement).

Who may learn what (OWASP ASVS 5.0 V8.2, object-level authorisation):

- the device is the one named by the **signed device token** the page keeps, sent as
  ``Authorization: Bearer <token>`` (never a device id or hash in the query: nobody can
  ask about another device). No token at all is ``401 bad_token``; a token that does
  not verify (forged, damaged, signed under another server secret) is treated as no
  device, as at ``hello`` (``core/device.py``), and answered as a fresh device is,
  with its network's ban if there is one, else ``{"banned": false}``, whatever is wrong
  with it, and never with any device's standing;
- a ban of the **network** the request comes from is told as ``scope: "network"`` with
  its end only: its reason, case number and appeal are about another device, so none
  of them is shown, and which device it was is never said;
- nothing is written, and the answer is ``no-store``.

Limited per device and per network (``limit_standing_*``), counted before the token
is checked, so forged tokens are limited too: 429 ``rate_limited`` beyond.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..core.bans import banned_message, network_banned_message
from ..core.network import network_hash
from ..moderation.records import RecordError
from ..moderation.tables import Appeal, Case
from ..safety.ratelimits import Action
from .frames import error_response
from .refusals import rate_limited
from .services import Services


class AppealState(BaseModel):
    """The device's latest appeal of the ban's case."""

    state: Literal["none", "pending", "upheld", "overturned"]
    submitted_at: int | None = Field(default=None, description="Unix time.")
    decided_at: int | None = Field(default=None, description="Unix time.")
    statement: str | None = Field(default=None, description="The moderator's reasons.")


class StandingOut(BaseModel):
    banned: bool
    scope: Literal["device", "network"] | None = None
    notice: dict[str, Any] | None = Field(
        default=None, description="The `banned` message (docs/protocol.md), as the socket sends it."
    )
    appeal: AppealState | None = None


def _bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


async def appeal_state(services: Services, case: str, device: str) -> AppealState:
    """The state of ``device``'s latest appeal of ``case`` (none when it never appealed)."""
    records = services.records
    assert records is not None
    async with records.transaction() as session:
        row = (
            await session.execute(
                select(Appeal.status, Appeal.submitted_at, Appeal.decided_at, Appeal.statement)
                .join(Case, Case.id == Appeal.case_id)
                .where(Case.number == case, Appeal.device == device)
                .order_by(Appeal.submitted_at.desc(), Appeal.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return AppealState(state="none")
    status, submitted, decided, statement = row
    return AppealState(
        state=status,
        submitted_at=_unix(submitted),
        decided_at=_unix(decided),
        statement=statement if status != "pending" else None,
    )


def standing_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/standing",
        response_model=StandingOut,
        response_model_exclude_none=True,
        summary="Whether this device (its token as a bearer) is banned, and its appeal.",
        responses={
            401: error_response(401, "`bad_token`: no device token sent."),
            429: error_response(429, "`rate_limited`: too many asks; see `retry_after`."),
            503: error_response(503, "`unavailable`: the records cannot be reached."),
        },
    )
    async def standing(request: Request) -> JSONResponse:
        client = request.client
        network = network_hash(services.network_key, client.host if client else None)
        token = _bearer(request.headers.get("authorization"))
        claims = services.tokens.verify(token)
        limits = services.rate_limits
        if limits is not None:
            asker = None if claims is None else claims.device
            refusal = await limits.hit(Action.STANDING, device=asker, network=network)
            if refusal is not None:
                return rate_limited(
                    refusal, "Too many requests; try again later.", {"cache-control": "no-store"}
                )
        if token is None:
            return _answer(
                {"code": "bad_token", "text": "Send the device token as a bearer token."},
                401,
                {"www-authenticate": 'Bearer realm="device"'},
            )
        # As at hello, a token that does not verify is no device: it is told what a fresh
        # device would be (its network's ban, if any), never why (core/device.py).
        device = "" if claims is None else claims.device
        own, shared = services.bans.lookup_by_scope(device, network, datetime.now(UTC))
        if claims is None:
            own = None
        if own is not None:
            body: dict[str, Any] = {
                "banned": True,
                "scope": "device",
                "notice": banned_message(own).model_dump(mode="json", exclude_none=True),
            }
            if own.case is not None:
                try:
                    state = await appeal_state(services, own.case, device)
                except RecordError:
                    return _answer(
                        {"code": "unavailable", "text": "Try again in a moment."}, 503, {}
                    )
                body["appeal"] = state.model_dump(exclude_none=True)
            return _answer(body, 200, {})
        if shared is not None:
            # Only that it is the network's, and until when: the rest is another's.
            notice = network_banned_message(shared).model_dump(mode="json", exclude_none=True)
            return _answer({"banned": True, "scope": "network", "notice": notice}, 200, {})
        return _answer({"banned": False}, 200, {})

    return router


def _answer(body: dict[str, Any], status: int, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"cache-control": "no-store", **headers})
