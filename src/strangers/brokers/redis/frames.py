"""Frame checks across gateways: a frame posted to one gateway for a session another
gateway holds is forwarded to that gateway, checked there, and answered back; a gateway
that does not answer in ``forward_timeout`` is taken as gone (``match_over``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
from typing import Any

from ...core.errors import MatchOver, StrangersError, error_for
from ...core.frames import FrameSource
from ..base import FrameHandler, home_of
from ..keys import Keys
from ..wire import WireError, dumps
from .link import Link

log = logging.getLogger("strangers.redis")


class FrameCalls:
    """The frame checks this gateway asked of others, and those it serves for them.
    ``handler`` checks a frame for a session held here (set by the app)."""

    def __init__(self, link: Link, keys: Keys, node_id: str, *, forward_timeout: float) -> None:
        self._link = link
        self._keys = keys
        self.node_id = node_id
        self.forward_timeout = forward_timeout
        self.handler: FrameHandler | None = None
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.serving: set[asyncio.Task[None]] = set()

    async def forward(self, session: str, match: str, source: FrameSource, jpeg: bytes) -> None:
        """Ask the gateway that holds ``session`` to check a frame, and wait for its
        answer; a gateway that does not answer in ``forward_timeout`` is taken as gone
        (``match_over``: the page stops sampling a match that has ended)."""
        home = home_of(session)
        call = secrets.token_hex(8)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call] = answer
        request = {
            "t": "frame",
            "id": call,
            "r": self.node_id,
            "s": session,
            "m": match,
            "src": source.value,
            "j": base64.b64encode(jpeg).decode("ascii"),
        }
        self._link.push("publish", self._keys.inbox(home), dumps(request))
        try:
            reply = await asyncio.wait_for(answer, self.forward_timeout)
        except TimeoutError:
            raise MatchOver() from None
        finally:
            self._calls.pop(call, None)
        code = reply.get("c")
        if code is None:
            return
        retry = reply.get("ra")
        detail = reply.get("x")
        raise error_for(
            str(code),
            detail if isinstance(detail, str) else None,
            float(retry) if isinstance(retry, int | float) else 1.0,
        )

    def answered(self, value: dict[str, Any]) -> None:
        """A ``frame_reply`` to one of this gateway's calls."""
        answer = self._calls.get(str(value.get("id")))
        if answer is not None and not answer.done():
            answer.set_result(value)

    def serve(self, value: dict[str, Any]) -> None:
        """Check a frame another gateway forwarded, then answer it."""
        caller, call = value.get("r"), value.get("id")
        session, match, source = value.get("s"), value.get("m"), value.get("src")
        if not all(isinstance(v, str) for v in (caller, call, session, match, source)):
            raise WireError("bad frame request")
        assert isinstance(caller, str) and isinstance(call, str)
        assert isinstance(session, str) and isinstance(match, str) and isinstance(source, str)
        try:
            jpeg = base64.b64decode(str(value.get("j", "")), validate=True)
            where = FrameSource(source)
        except (binascii.Error, ValueError) as exc:
            raise WireError("bad frame request") from exc
        handler = self.handler

        async def serve() -> None:
            reply: dict[str, Any] = {"t": "frame_reply", "id": call, "c": None}
            try:
                if handler is None:
                    raise MatchOver()
                await handler(session, match, where, jpeg)
            except StrangersError as exc:
                reply |= {"c": exc.code, "x": exc.detail, "ra": getattr(exc, "retry_after", None)}
            except Exception:
                log.exception("fault while checking a forwarded frame")
                reply["c"] = "internal"
            self._link.push("publish", self._keys.inbox(caller), dumps(reply))

        task = asyncio.create_task(serve(), name="forwarded-frame")
        self.serving.add(task)
        task.add_done_callback(self.serving.discard)
