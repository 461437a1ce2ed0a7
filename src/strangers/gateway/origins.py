"""The ``Origin`` check of websocket handshakes (OWASP ASVS 5.0 V4.4.2; RFC 6455 §10.2).

A browser lets any page open a websocket to any site and sends that page's origin in
the handshake; the socket then carries whatever the page wants (cross-site websocket
hijacking). So a handshake whose ``Origin`` is present and not allowed is refused
before it is accepted: ``websocket.close`` before ``websocket.accept``, which the
server answers with HTTP 403 (the ASGI websocket spec), and counted in
``strangers_websocket_origins_refused_total``.

Allowed: the ``public_origin`` setting, or when unset the request's own origin (the
scope's scheme, ``ws`` as ``http`` and ``wss`` as ``https``, with its ``Host``
header: same-origin only), and any of ``allowed_origins``. Origins are compared as
RFC 6454 serialises them: scheme and host in lower case, the scheme's default port
left out.

A handshake **without** ``Origin`` is let through: every browser sends one (RFC 6455
§4.1, item 8 of the client's handshake), so its absence means a non-browser client,
which could as well send any ``Origin`` it likes. Such a client is not the victim of
this attack; bots are met by the proof of work, the rate limits and the bans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

REFUSED: Final = Counter(
    "strangers_websocket_origins_refused_total",
    "Websocket handshakes refused because their Origin is not allowed (RFC 6455 §10.2).",
)
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
HTTP_SCHEMES: Final = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
#: RFC 6455 §7.4.1: a policy violation (sent as HTTP 403 before the handshake completes).
POLICY_VIOLATION: Final = 1008


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in RFC 6454's form, or None when ``origin`` is not a
    tuple origin of http or https (``null``, a path, a bad port, anything else)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if (
        scheme not in DEFAULT_PORTS
        or not host
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
    ):
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal, bracketed again
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def own_origin(scope: Scope) -> str | None:
    """The origin the request was sent to: its scheme and its ``Host``."""
    scheme = HTTP_SCHEMES.get(str(scope.get("scheme", "ws")).lower())
    host = _header(scope, b"host")
    if scheme is None or not host:
        return None
    return normalise(f"{scheme}://{host}")


class OriginCheck:
    """A pure ASGI middleware: websocket scopes go through only with an allowed (or
    no) ``Origin``; every other scope passes untouched."""

    def __init__(self, app: ASGIApp, *, public_origin: str | None, allowed: Iterable[str]) -> None:
        self.app = app
        self.public_origin = self._checked(public_origin) if public_origin else None
        self.allowed = frozenset(self._checked(origin) for origin in allowed)

    @staticmethod
    def _checked(origin: str) -> str:
        normal = normalise(origin)
        if normal is None:
            raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
        return normal

    def allows(self, scope: Scope) -> bool:
        origin = _header(scope, b"origin")
        if origin is None:
            return True
        normal = normalise(origin)
        if normal is None:
            return False
        if normal in self.allowed:
            return True
        expected = self.public_origin or own_origin(scope)
        return expected is not None and normal == expected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or self.allows(scope):
            await self.app(scope, receive, send)
            return
        REFUSED.inc()
        message = await receive()  # websocket.connect: the handshake, not yet answered
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})
