"""Opening a chat socket on a connection whose handshake the gateway answers itself.

uvicorn's HTTP protocol hands ``/v1/ws`` upgrades here (``serving.py``) instead of to its
own websocket implementation and the ASGI interface: the chat path then runs on
:class:`~strangers.gateway.wire.ChatWire`, with no ASGI message dictionaries, no queue
and no middleware between the socket and the chat (docs/performance.md, "Against the
Node peers"). What the middleware did for the chat socket is done here, once, at the
handshake, by the same code: the ``Origin`` check (``origins.py``), the request id of the
log lines (``request_ids.py``), the trusted proxies' ``X-Forwarded-For`` (uvicorn's rule,
``handshake.py``).

The chat socket's task and its connection are registered with uvicorn's server state, so
a graceful shutdown closes them with 1012 and waits for them, as it does for its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..logs import bind
from . import handshake
from .chat_socket import CHAT_PATH, ChatSocket
from .errors import WireClosed
from .origins import REFUSED, OriginCheck
from .request_ids import request_id_of
from .services import Services
from .wire import ChatWire

log = logging.getLogger("strangers.socket")

#: RFC 6455 §7.4.1: the server met a condition that kept it from serving the request.
INTERNAL_ERROR = 1011


class ChatOpener:
    """Answers ``/v1/ws`` handshakes and runs a :class:`ChatSocket` on each connection."""

    path = CHAT_PATH

    def __init__(self, services: Services, origins: OriginCheck, *, max_size: int = 65536) -> None:
        self.services = services
        self.origins = origins
        self.max_size = max_size

    def upgrade(
        self,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        server_state: Any,
        proxies: handshake.TrustedProxies | None,
        pending: bytes = b"",
    ) -> None:
        """Take over ``transport`` after uvicorn parsed its upgrade request ``scope``
        (an ASGI HTTP scope): answer the handshake, then serve the chat on it.
        ``pending`` is what the peer sent after the request's head, read with it: frames
        of a client that did not wait for the answer (RFC 6455 §4.1 says it must), read
        as if they came after it, not dropped (a frame cut there would leave the rest of
        the stream read from the middle of a frame)."""
        opening = handshake.opening(
            scope.get("client"), str(scope.get("scheme", "ws")), scope.get("headers", ()), proxies
        )
        answer = handshake.answer(
            str(scope.get("method", "")), opening.headers, str(scope.get("http_version", ""))
        )
        if isinstance(answer, handshake.Refusal):
            transport.write(answer.response())
            transport.close()
            return
        asgi_scope = opening.scope()
        if not self.origins.allows(asgi_scope):
            REFUSED.inc()
            transport.write(handshake.FORBIDDEN.response())
            transport.close()
            return
        wire = ChatWire(max_size=self.max_size)
        transport.set_protocol(wire)
        wire.connection_made(transport)
        transport.write(answer)
        loop = asyncio.get_running_loop()
        with bind(request_id=request_id_of(asgi_scope)):
            task = loop.create_task(self._serve(wire, opening.client))
        if server_state is not None:
            connections, tasks = server_state.connections, server_state.tasks
            connections.add(wire)
            tasks.add(task)
            wire.on_lost = lambda: connections.discard(wire)
            task.add_done_callback(tasks.discard)
        if pending:
            wire.data_received(pending)

    async def _serve(self, wire: ChatWire, client: str | None) -> None:
        try:
            await ChatSocket(wire, client, self.services).run()
        except WireClosed:
            pass
        except Exception:
            # ChatSocket answers its own faults; this is the last net under it.
            log.exception("fault in a chat socket")
            await wire.close(INTERNAL_ERROR, "internal")
        finally:
            await wire.close(1000, "")
