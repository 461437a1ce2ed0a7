"""A request id on every HTTP request and chat socket, for the logs.

The id is the incoming ``X-Request-ID`` when it looks like one a proxy makes (nginx's
``$request_id``: 8 to 64 letters, digits, ``.``, ``_`` or ``-``; anything else could
write into a log line, OWASP ASVS 5.0 V16.4.1), else a new random one. Every log line
written while serving the request carries it (``strangers.logs``), and an HTTP
answer names it in ``X-Request-ID``, so an operator can find the lines of a request a
chatter or a moderator reports.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import bind

HEADER: Final = b"x-request-id"
_VALID: Final = re.compile(rb"[A-Za-z0-9._-]{8,64}")


def request_id_of(scope: Scope) -> str:
    """The proxy's id for this request when it is well formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER and _VALID.fullmatch(value):
            return str(value.decode("ascii"))
    return secrets.token_hex(8)


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        with bind(request_id=request_id):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", ()))
                    headers.append((HEADER, request_id.encode("ascii")))
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_id)
