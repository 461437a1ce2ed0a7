"""How uvicorn serves the gateway's app: one place, so ``strangers serve`` and the
tests' in-process servers run the same protocol stack and the same limits.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but not one that
is sending a request: a client that opens a connection and never finishes its headers
(slowloris) held it open for as long as it liked. :class:`HeaderTimeoutProtocol` gives
every request ``header_timeout`` seconds, counted from the connection or from the
request's first byte and never extended by more bytes, to complete its line and headers
(RFC 9110 §15.5.9, 408 Request Timeout; docs/security.md, "Flooders": every resource a
client holds has a bound).
Once the headers are in, the app's own bounds apply: a websocket's ``hello_timeout`` and
``idle_timeout``, the request size cap."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any, Protocol, cast

import httptools
import uvicorn
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .handshake import TrustedProxies
from .settings import Settings

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 17\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request Timeout\r\n"
)


class ChatOpening(Protocol):
    """Takes over a connection whose request asks to upgrade on ``path``
    (``chat_opener.ChatOpener``)."""

    path: str

    def upgrade(
        self,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        server_state: Any,
        proxies: TrustedProxies | None,
        pending: bytes = b"",
    ) -> None: ...


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's line and headers
    (module docstring); a connection past it is answered 408 and closed. A websocket
    upgrade on the chat path goes to ``chat`` (the gateway answers that handshake
    itself, ``chat_opener.py``); any other upgrade to uvicorn's websocket protocol."""

    header_timeout: float = 10.0
    chat: ChatOpening | None = None
    proxies: TrustedProxies | None = None
    _chunk: bytes = b""
    _head_deadline: asyncio.TimerHandle | None = None

    def handle_websocket_upgrade(self) -> None:
        chat = self.chat
        # An upgrade's scope has no path yet (uvicorn leaves it to its websocket
        # protocol); the raw target's path, not percent-decoded: any other spelling of
        # the chat path goes the ASGI way, to the same chat socket.
        if chat is None or httptools.parse_url(self.url).path != chat.path.encode():
            super().handle_websocket_upgrade()
            return
        self.connections.discard(self)
        chat.upgrade(
            dict(self.scope), self.transport, self.server_state, self.proxies, self._after_upgrade()
        )

    def data_received(self, data: bytes) -> None:
        self._chunk = data  # the bytes that may carry frames behind an upgrade request
        try:
            super().data_received(data)
        finally:
            self._chunk = b""

    def _after_upgrade(self) -> bytes:
        """What the peer sent behind its upgrade request in the same chunk (frames
        pipelined with the handshake): httptools says where the request ended in the
        ``HttpParserUpgrade`` it raised, which uvicorn is handling as this runs."""
        raised = sys.exc_info()[1]
        if isinstance(raised, httptools.HttpParserUpgrade) and raised.args:
            offset = raised.args[0]
            if isinstance(offset, int) and 0 <= offset <= len(self._chunk):
                return self._chunk[offset:]
        return b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        # Cancelled before an upgrade hands the transport to the websocket protocol.
        self._cancel_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_late)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


def header_timeout_protocol(
    seconds: float,
    chat: ChatOpening | None = None,
    proxies: TrustedProxies | None = None,
) -> type[HeaderTimeoutProtocol]:
    """:class:`HeaderTimeoutProtocol` with a deadline of ``seconds`` and the chat path's
    opener (uvicorn makes one protocol per connection from the class, with no room for
    an argument)."""
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout": seconds, "chat": chat, "proxies": proxies},
    )


def drop_peer_utf8_errors(record: logging.LogRecord) -> bool:
    """Drop uvicorn's record of a text frame that is not UTF-8. uvicorn logs it at ERROR
    with a traceback, then closes the socket with 1007 (RFC 6455 §8.1): the peer's
    fault, fully answered, and left in the log a way for any client to write a
    traceback per connection into it (OWASP ASVS 5.0 V16.3: logs are for the server's
    own faults and security events)."""
    return not record.getMessage().startswith("Invalid UTF-8 sequence received from client")


def quiet_peer_logs() -> None:
    """Hold uvicorn's own log to what concerns the server: its INFO lines name each
    peer's raw address, which is never logged (docs/design.md §6), and a peer's bad
    UTF-8 is the peer's fault (:func:`drop_peer_utf8_errors`); its warnings and errors
    still come through. Idempotent: every server of the process shares the logger."""
    logger = logging.getLogger("uvicorn.error")
    logger.setLevel(logging.WARNING)
    if drop_peer_utf8_errors not in logger.filters:
        logger.addFilter(drop_peer_utf8_errors)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, so that several gateway
    processes of one host share the port and the kernel spreads new connections over
    them (``strangers serve --workers``); uvicorn starts listening on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def server_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` under ``settings``, uvicorn's log held to
    the server's own concerns (:func:`quiet_peer_logs`) whoever runs it."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=HeaderTimeoutProtocol,
        ws="websockets-sansio",
        ws_max_size=65536,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_per_message_deflate=False,
        backlog=settings.backlog,
        access_log=False,
        log_level=settings.log_level,
        log_config=None,  # strangers.logs configured the handlers: one format for all
        server_header=False,
    )
    # The chat path's handshakes are answered by the app's opener, on the same trusted
    # proxies as every other request (uvicorn's ``forwarded_allow_ips``).
    proxies = (
        ProxyHeadersMiddleware(cast(Any, app), config.forwarded_allow_ips).trusted_hosts
        if config.proxy_headers
        else None
    )
    config.http = header_timeout_protocol(
        settings.header_timeout, getattr(app, "chat_opener", None), proxies
    )
    # After the Config: building it sets uvicorn's loggers to ``log_level``.
    quiet_peer_logs()
    return config
