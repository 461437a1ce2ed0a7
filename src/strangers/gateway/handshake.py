"""The chat socket's opening handshake (RFC 6455 §4.2), answered by the gateway itself.

uvicorn parses the HTTP request (httptools) and hands the upgraded connection over
(``serving.py``); this module checks the request as RFC 6455 §4.2.1 asks and writes the
answer: ``101 Switching Protocols`` with ``Sec-WebSocket-Accept`` (§4.2.2), or a plain HTTP
refusal that says why:

- ``400 Bad Request``: not a GET, no ``Upgrade: websocket``, no ``Connection: upgrade``,
  or a ``Sec-WebSocket-Key`` that is not 16 bytes in base64;
- ``426 Upgrade Required`` with ``Sec-WebSocket-Version: 13``: another protocol version
  (§4.4);
- ``403 Forbidden``: an ``Origin`` the operator does not allow (``origins.py``;
  docs/security.md, cross-site websocket hijacking).

No extension and no subprotocol is agreed to: the answer names none, so the client uses
neither (§4.2.2 /5/). The peer's address is the connection's, or the one a trusted proxy
names in ``X-Forwarded-For`` (uvicorn's rule, ``forwarded_allow_ips``), as the rest of the
app sees it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

#: RFC 6455 §1.3: the GUID appended to the key before hashing.
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Headers = Iterable[tuple[bytes, bytes]]


class TrustedProxies(Protocol):
    """uvicorn's trusted hosts (``ProxyHeadersMiddleware.trusted_hosts``)."""

    def __contains__(self, host: str | None) -> bool: ...

    def get_trusted_client_address(self, x_forwarded_for: str) -> tuple[str, int]: ...


@dataclass(frozen=True, slots=True)
class Opening:
    """What the chat socket is told of its opening request."""

    #: The peer's address as the app sees it (after trusted proxies); None if unknown.
    client: str | None
    #: ``ws`` or ``wss`` (a trusted proxy's ``X-Forwarded-Proto`` counts).
    scheme: str
    #: The request's headers, names lowercase (as uvicorn gives them).
    headers: tuple[tuple[bytes, bytes], ...]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def scope(self) -> dict[str, Any]:
        """The parts of an ASGI websocket scope the origin check and the request ids read."""
        return {"type": "websocket", "scheme": self.scheme, "headers": list(self.headers)}


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP answer instead of the upgrade."""

    status: int
    reason: str
    text: str
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def response(self) -> bytes:
        body = self.text.encode()
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}".encode(),
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
            *(name + b": " + value for name, value in self.headers),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


BAD_REQUEST: Final = Refusal(400, "Bad Request", "Not a websocket handshake.")
WRONG_VERSION: Final = Refusal(
    426,
    "Upgrade Required",
    "Only websocket version 13 is spoken here.",
    ((b"sec-websocket-version", b"13"),),
)
FORBIDDEN: Final = Refusal(403, "Forbidden", "This origin may not open a chat.")


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for ``key`` (RFC 6455 §4.2.2 /5/ 4)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",")}


def answer(method: str, headers: Headers, http_version: str = "1.1") -> bytes | Refusal:
    """The ``101`` answer to a valid opening request, or the :class:`Refusal`."""
    if method != "GET" or http_version != "1.1":
        return BAD_REQUEST
    upgrade = connection = key = version = None
    keys = 0
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value
        elif name == b"connection":
            connection = value
        elif name == b"sec-websocket-key":
            key = value
            keys += 1
        elif name == b"sec-websocket-version":
            version = value
    if (
        upgrade is None
        or b"websocket" not in _tokens(upgrade)
        or connection is None
        or b"upgrade" not in _tokens(connection)
        or key is None
        or keys != 1
    ):
        return BAD_REQUEST
    if version is None or version.strip() != b"13":
        return WRONG_VERSION
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        return BAD_REQUEST
    if len(raw) != 16:
        return BAD_REQUEST
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: websocket\r\n"
        b"connection: Upgrade\r\n"
        b"sec-websocket-accept: " + accept_key(key.strip()) + b"\r\n\r\n"
    )


def opening(
    client: tuple[str, int] | None,
    scheme: str,
    headers: Headers,
    proxies: TrustedProxies | None,
) -> Opening:
    """The :class:`Opening` of a request from ``client`` (the connection's address),
    applying ``X-Forwarded-For``/``X-Forwarded-Proto`` only from a trusted proxy, as
    uvicorn's ``ProxyHeadersMiddleware`` does for every other request."""
    headers = tuple(headers)
    host = client[0] if client else None
    scheme = "wss" if scheme in ("https", "wss") else "ws"
    if proxies is not None and host in proxies:
        forwarded_for = [value for name, value in headers if name == b"x-forwarded-for"]
        forwarded_proto = [value for name, value in headers if name == b"x-forwarded-proto"]
        if forwarded_proto:
            proto = forwarded_proto[-1].decode("latin-1").strip()
            if proto in ("http", "https", "ws", "wss"):
                scheme = proto.replace("http", "ws")
        if forwarded_for:
            named, _ = proxies.get_trusted_client_address(
                b", ".join(forwarded_for).decode("latin-1")
            )
            if named:
                host = named
    return Opening(host, scheme, headers)
