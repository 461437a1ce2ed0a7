"""``POST /v1/frames``: sampled video frames, checked from the first one (design §6).

The page of each side of a video match posts frames of the stranger's incoming
video (``source=partner``, so a sender cannot opt out) and of its own camera
(``source=own``), as JPEG of at most 64 KB, with the match's bearer token (RFC 6750)
from ``matched``. Each post is checked in this order, cheapest first, and refused
with a JSON ``{code, text}`` at the first failure, before anything is queued or
stored (OWASP ASVS 5.0 V2.2 input validation, V4.4 resource limits):

1. the token (401 ``bad_token``);
2. the declared type and the size, read with a hard cap (415 ``not_jpeg``,
   413 ``too_large``);
3. the JPEG header: its markers and dimensions, so a decompression bomb never
   reaches the decoder (415 ``not_jpeg``, 422 ``bad_size``);
4. the match: the token's session must still be in that very match (410
   ``match_over``), within its frame rate (429 ``rate_limited``);
5. the check itself in the worker pool, which sheds the least urgent frames under
   load (503 ``busy``, counted).

The verdict is applied through the switchboard (blur, prompt, end, flag) before the
answer, which never says what the checks found.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

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
from ..core.frames import FrameSource
from ..core.switchboard import EnforceFlag
from ..safety.jpeg import FrameRejected, sniff_jpeg
from ..safety.pool import Shed
from .enforcement import enforce_flag

if TYPE_CHECKING:
    from .chat_socket import Services

log = logging.getLogger("strangers.frames")

FRAME_PATH: Final = "/v1/frames"
MAX_FRAME_BYTES: Final = 65536
MAX_FRAME_SIDE: Final = 1280
BUSY_RETRY_SECONDS: Final = 1.0

#: The HTTP status of each refusal code.
STATUS: Final[dict[str, int]] = {
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

    With several gateways (design §5) the post may reach a gateway that does not hold
    the session (the proxy's stickiness moved): it is checked as far as that gateway
    can (token, type, size, header), then forwarded through the broker to the one that
    does, and its answer is this request's answer."""
    grant = services.frame_tokens.verify(_bearer(request.headers.get("authorization")))
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
        result = await pool.check(jpeg, priority=post.priority)
    except Shed:
        raise Busy(retry_after=BUSY_RETRY_SECONDS) from None
    except FrameRejected as exc:
        raise _refused(exc) from None
    effects = node.switchboard.frame_checked(post, result.verdict, jpeg, time.monotonic())
    for work in node.run(effects):
        if isinstance(work, EnforceFlag):
            await enforce_flag(services, work.flag)


def frames_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.post(
        FRAME_PATH,
        summary="Post a sampled video frame of the current match for checking.",
        responses={
            200: {"description": "Checked; the verdict reaches the chat socket."},
            **{
                status: {"description": code}
                for code, status in STATUS.items()
                if code not in ("internal",)
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "image/jpeg": {
                        "schema": {"type": "string", "format": "binary", "maxLength": 65536}
                    }
                },
            }
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
        except Exception:
            log.exception("fault while checking a frame")
            return _answer(InternalError())
        return JSONResponse({"status": "checked"})

    return router
