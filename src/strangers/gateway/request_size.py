"""A cap on every HTTP request body (OWASP ASVS 5.0 V2.4.1 anti-automation; issue 9).

uvicorn reads a body as fast as the client sends it and sets no limit, so without a
cap one request may hold as much memory as it likes. This pure ASGI middleware
refuses a body over ``max_request_bytes`` with 413 and the project's JSON error
shape, ``{"code": "too_large", "text": …}`` (RFC 9110 §15.5.14), and
``Connection: close``, since the rest of the body is never read:

- a ``Content-Length`` over the cap is refused at once, the app never called;
- a body without one (chunked) is counted as it arrives; the chunk that goes past
  the cap is never handed to the app, which gets an error from ``receive`` instead,
  and the client the 413 (unless the app had already begun its answer, when the
  connection is only cut).

Routes that need more (the console's hash-list upload, admins only) are given their
own cap by path; their handlers still check their own, smaller limits.

A refused body is still read, and thrown away, before the connection closes, up to
``drain_bytes`` more or for ``drain_seconds`` at most: closing a TCP connection with
bytes of the request unread makes the kernel answer with a reset, and a client still
sending, as one with a long body is, then loses the 413 it was sent and sees only a
broken connection (RFC 9112 §9.6, a server SHOULD close in stages so the client reads
its last response). The 413 is written first, so a client that reads while it sends has
it at once. A body declared with ``Expect: 100-continue`` is never invited; one declared
longer than ``drain_bytes`` is not read either, and its client may see the
reset (the bound holds what a refused request may cost: docs/security.md, "Flooders").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import ClassVar, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import GatewayError

DEFAULT_MAX_BYTES: Final = 256 * 1024
#: What is still read of a refused body before the connection closes (module docstring).
DRAIN_BYTES: Final = 1024 * 1024
DRAIN_SECONDS: Final = 2.0


class BodyTooLarge(GatewayError):
    """Raised from ``receive`` to the app once the body went past the cap."""

    code: ClassVar[str] = "too_large"


def too_large(limit: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {"code": "too_large", "text": f"The request body may be at most {limit} bytes."}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


class RequestSizeCap:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        paths: Mapping[str, int] | None = None,
        drain_bytes: int = DRAIN_BYTES,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = dict(paths or {})
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def _refuse(self, send: Send, limit: int, rest: Receive | None = None) -> None:
        """Answer 413; then, with ``rest``, read what is left of the body (within the
        drain bounds) before the response ends and the server closes the connection."""
        headers, body = too_large(limit)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        if rest is None:
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await self._drain(rest)
        await send({"type": "http.response.body", "body": b""})

    async def _drain(self, receive: Receive) -> None:
        drained = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.drain_seconds):
                while drained <= self.drain_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client has gone
                    drained += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.max_bytes)
        headers = scope.get("headers", ())
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                # Read it only if it was sent without asking (no 100-continue) and is
                # within the drain's bound: otherwise the reading would be the cost.
                invited = any(
                    key == b"expect" and item.lower() == b"100-continue" for key, item in headers
                )
                drain = not invited and int(value) <= self.drain_bytes
                await self._refuse(send, limit, receive if drain else None)
                return
        received = 0
        overflowed = False
        started = False

        async def capped_receive() -> Message:
            nonlocal received, overflowed
            if overflowed:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflowed = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflowed and not started:
                return  # whatever the app answers to the error: the 413 goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, capped_receive, guarded_send)
        if overflowed and not started:
            await self._refuse(send, limit, receive)
