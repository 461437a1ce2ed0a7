"""``POST /v1/frames``: sampled video frames, checked from the first one (docs/design.md §6).

The page of each side of a video match posts frames of the stranger's incoming
video (``source=partner``, so a sender cannot opt out) and of its own camera
(``source=own``), as JPEG of at most 64 KB, with the match's bearer token (RFC 6750)
from ``matched``. Each post is checked in this order, cheapest first, and refused
with a JSON ``{code, text}`` at the first failure, before anything is queued or
stored (OWASP ASVS 5.0 V2.2 input validation, V2.4.1 anti-automation):

1. the limits per device and per network (``safety/ratelimits.py``, 429
   ``rate_limited`` with ``retry_after``), counted before anything else, forged
   tokens included (a flood of them is refused like any other); a device that keeps
   going past them is banned for a while;
2. the token (401 ``bad_token``);
3. the declared type and the size, read with a hard cap (415 ``not_jpeg``,
   413 ``too_large``; the gateway's request size cap is larger, see
   ``request_size.py``);
4. the JPEG header: its markers, scans and dimensions, so a decompression bomb or a
   file built to keep the decoder busy (thousands of progressive scans) never reaches
   it (``safety/jpeg.py``; 415 ``not_jpeg``, 422 ``bad_size``);
5. the match: the token's session must still be in that very match (410
   ``match_over``), within its frame rate (429 ``rate_limited``);
6. the check itself in the worker pool, within the fair share of the posting
   session, device and network, which sheds a key's frames past its share and the
   least urgent frames under load (503 ``busy``, counted by reason).

A bad query (``source``) is 400 ``invalid``, as everywhere in the HTTP API.

The verdict is applied through the switchboard (blur, prompt, end, flag) before the
answer, which never says what the checks found.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from ..brokers.base import home_of
from ..core.errors import (
    BadSize,
    Busy,
    InternalError,
    LimitExceeded,
    NotJpeg,
    StrangersError,
    TooLarge,
    Unauthorized,
)
from ..core.face_age import ADULT
from ..core.frame_tokens import FrameGrant
from ..core.frames import FrameSource
from ..core.network import network_hash
from ..core.switchboard import EnforceFlag, Restage
from ..safety.jpeg import FrameRejected, sniff_jpeg
from ..safety.pool import Shed
from ..safety.ratelimits import Action
from . import ages, metrics
from .enforcement import ban_for_abuse, enforce_flag
from .request_size import BodyTooLarge
from .services import Services

log = logging.getLogger("strangers.frames")

FRAME_PATH: Final = "/v1/frames"
MAX_FRAME_BYTES: Final = 65536
MAX_FRAME_SIDE: Final = 1280
BUSY_RETRY_SECONDS: Final = 1.0

#: The HTTP status of each refusal code.
STATUS: Final[dict[str, int]] = {
    "invalid": 400,
    "bad_token": 401,
    "not_jpeg": 415,
    "too_large": 413,
    "bad_size": 422,
    "match_over": 410,
    "rate_limited": 429,
    "busy": 503,
    "internal": 500,
}

_REFUSALS: Final = {"not_jpeg": NotJpeg, "too_large": TooLarge, "bad_size": BadSize}


class ErrorBody(BaseModel):
    """Every refusal of the HTTP API: a stable code and an English sentence."""

    code: str = Field(description="Stable, for programs (`docs/protocol.md` lists them).")
    text: str = Field(description="For people; never the input, never internals.")


class LimitedBody(ErrorBody):
    """A refusal that passes with time (429 ``rate_limited``, 503 ``busy``)."""

    retry_after: float = Field(description="Seconds to wait before trying again.", gt=0)


def error_response(status: int, description: str) -> dict[str, Any]:
    """An OpenAPI response of the ``{code, text}`` shape (with ``retry_after`` for 429
    and 503)."""
    model = LimitedBody if status in (429, 503) else ErrorBody
    return {"model": model, "description": description}


def _refused(exc: FrameRejected) -> StrangersError:
    return _REFUSALS[exc.code](exc.detail)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _body(request: Request) -> bytes:
    """The body, read to at most ``MAX_FRAME_BYTES`` (a larger one is refused unread)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FRAME_BYTES):
        raise TooLarge(f"A frame may be at most {MAX_FRAME_BYTES} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FRAME_BYTES:
            raise TooLarge(f"A frame may be at most {MAX_FRAME_BYTES} bytes.")
    return bytes(body)


def _answer(exc: StrangersError) -> JSONResponse:
    content: dict[str, Any] = {"code": exc.code, "text": exc.detail}
    headers = {}
    if isinstance(exc, LimitExceeded):
        content["retry_after"] = exc.retry_after
        headers["retry-after"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, Unauthorized):
        headers["www-authenticate"] = 'Bearer error="invalid_token"'
    return JSONResponse(content, status_code=STATUS.get(exc.code, 400), headers=headers)


async def check_frame(services: Services, request: Request, source: FrameSource) -> None:
    """Admit, check and apply one posted frame; raises a ``StrangersError`` to refuse.

    With several gateways (docs/design.md §5) the post may reach a gateway that does not hold
    the session (the proxy's stickiness moved): it is checked as far as that gateway
    can (token, type, size, header), then forwarded through the broker to the one that
    does, and its answer is this request's answer."""
    grant = services.frame_tokens.verify(_bearer(request.headers.get("authorization")))
    await _within_limits(services, request, grant)
    if grant is None:
        raise Unauthorized()
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "image/jpeg":
        raise NotJpeg("Send the frame as image/jpeg.")
    jpeg = await _body(request)
    try:
        sniff_jpeg(jpeg, max_bytes=MAX_FRAME_BYTES, max_side=MAX_FRAME_SIDE)
    except FrameRejected as exc:
        raise _refused(exc) from None
    node = services.node
    if grant.session not in node.switchboard.sessions and home_of(grant.session) not in (
        "",
        node.broker.node_id,
    ):
        await node.broker.forward_frame(grant.session, grant.match, source, jpeg)
        return
    await check_here(services, grant.session, grant.match, source, jpeg)


async def _within_limits(services: Services, request: Request, grant: FrameGrant | None) -> None:
    """Count the post against the FRAME limits of its device (when the token is good and
    its session is here) and its network; raise ``LimitExceeded`` past them, after
    banning a device that is abusive."""
    limits = services.rate_limits
    if limits is None:
        return
    client = request.client
    network = network_hash(services.network_key, client.host if client else None)
    device = None
    if grant is not None:
        session = services.node.switchboard.sessions.get(grant.session)
        device = None if session is None else session.device
    refusal = await limits.hit(Action.FRAME, device=device, network=network)
    if refusal is None:
        return
    if refusal.abusive:
        await ban_for_abuse(services, device)
    raise LimitExceeded("Too many frames in a short time.", retry_after=refusal.retry_after)


async def check_here(
    services: Services, session: str, match: str, source: FrameSource, jpeg: bytes
) -> None:
    """Check a frame of a session this gateway holds, and apply the verdict."""
    node = services.node
    post = node.switchboard.frame_posted(session, match, source, time.monotonic())
    pool = services.frame_checks
    if pool is None:
        raise Busy("Frame checks are not running yet.", retry_after=BUSY_RETRY_SECONDS)
    try:
        # The sampler's fair share (issue 15, attack 2): a flood sheds its own frames.
        sampler = post.sampler
        result = await pool.check(
            jpeg,
            priority=post.priority,
            shares={
                "session": sampler.session,
                "device": sampler.device,
                "network": sampler.network,
            },
            # A facial age estimate only of the poster's own face (docs/safety.md, "Age
            # from the camera"): never of the stranger a viewer is watching.
            estimate_age=source is FrameSource.OWN,
        )
    except Shed:
        raise Busy(retry_after=BUSY_RETRY_SECONDS) from None
    except FrameRejected as exc:
        raise _refused(exc) from None
    effects = node.switchboard.frame_checked(post, result.verdict, jpeg, time.monotonic())
    deferred = node.run(effects)
    if result.verdict.age is not None:
        restaged = next((work for work in deferred if isinstance(work, Restage)), None)
        outcome = "nothing"
        if restaged is not None:
            outcome = "under_challenge" if restaged.age < ADULT else "clearly_adult"
        metrics.FACE_AGES.labels(pool=post.pool, outcome=outcome).inc()
    for work in deferred:
        if isinstance(work, EnforceFlag):
            await enforce_flag(services, work.flag)
        elif isinstance(work, Restage):
            # The poster's own face, estimated out of its pool (core/face_age.py).
            await ages.stated(services, work, post.sampler.network)


def frames_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.post(
        FRAME_PATH,
        summary="Post a sampled video frame of the current match for checking.",
        responses={
            200: {
                "description": "Checked; the verdict reaches the chat socket.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"type": "string", "enum": ["checked"]}},
                            "required": ["status"],
                        }
                    }
                },
            },
            **{
                status: error_response(status, f"`{code}`")
                for code, status in STATUS.items()
                if code not in ("internal",)
            },
        },
        openapi_extra={
            "security": [{"frameToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "image/jpeg": {
                        "schema": {"type": "string", "format": "binary", "maxLength": 65536}
                    }
                },
            },
        },
    )
    async def post_frame(
        request: Request,
        source: Annotated[
            FrameSource, Query(description="Whose video: the stranger's or your own.")
        ] = FrameSource.PARTNER,
    ) -> JSONResponse:
        try:
            await check_frame(services, request, source)
        except StrangersError as exc:
            return _answer(exc)
        except BodyTooLarge:
            raise  # the request size cap answers (413)
        except ClientDisconnect:
            # The page went away mid-upload (a closed tab, a flood's client cancelled):
            # nobody reads this answer, and it is no fault of the server.
            return JSONResponse({"code": "invalid", "text": "The request ended early."}, 400)
        except Exception:
            log.exception("fault while checking a frame")
            return _answer(InternalError())
        return JSONResponse({"status": "checked"})

    return router
