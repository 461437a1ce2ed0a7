"""A client of the chat protocol, over ``websockets``' asyncio API.

The protocol is ``docs/protocol.md`` (generated from ``core/messages.py``): one
websocket per chatter at ``/v1/ws``, one JSON object per text frame. This module
speaks it from the chatter's side, for everything in this repository that is not
the browser page: the tests' chatters, the benchmarks, the load generator and the
quick start's check.

The contract:

- :meth:`Client.connect` opens the socket and reads the server's first message, its
  ``challenge``. ``origin`` is sent as the ``Origin`` header, as a browser sends its
  page's (RFC 6455 §4.1); without it the server takes the client for a non-browser
  one, which it admits (``gateway/origins.py``).
- :meth:`Client.hello` solves the challenge's proof of work with the reference solver
  (:func:`strangers.core.admission.solve`, in the caller's thread: about ``2**bits``
  hashes) and sends ``hello`` with the age answer, the device token and the
  language. It does not wait for the answer, so ``find`` may follow at once, as the
  page does. :meth:`Client.admitted` waits for it: the :class:`Welcome`, or
  :class:`NotAdmitted` with the ``refused``, ``banned`` or ``error`` the server sent.
  :meth:`Client.join` does all three.
- The send helpers (:meth:`~Client.find`, :meth:`~Client.say`, :meth:`~Client.typing`,
  :meth:`~Client.skip`, :meth:`~Client.stop`, :meth:`~Client.report`,
  :meth:`~Client.signal`, :meth:`~Client.ping`) write the frame of one client message
  from typed arguments. They check nothing the server checks: refusing a wrong frame
  is the server's job, and tests of the server need to send them.
  :meth:`~Client.send` writes any typed client message, :meth:`~Client.send_frame`
  any text at all.
- :meth:`~Client.receive`, :meth:`~Client.expect` and ``async for`` decode each
  frame with :func:`strangers.core.messages.decode_server` into its typed message
  (:data:`ServerMessage`); a frame that is not a server message raises
  :class:`BadFrame`.
- Every wait takes ``timeout`` in seconds (``None``: no limit) and raises
  ``TimeoutError`` when it passes. Nothing is lost by a timeout: the next receive
  returns the next frame (``websockets``' ``recv`` is safe to cancel).
- Failures of the transport are ``websockets``' own exceptions, not wrapped:
  :class:`~websockets.exceptions.ConnectionClosed` (its ``rcvd`` holds the server's
  close frame: 1008 after a refused proof, 4000 when idle...),
  :class:`~websockets.exceptions.InvalidStatus` (403 for a refused ``Origin``) and
  ``OSError``. Protocol-level surprises are :class:`ClientError` subclasses.
- It is lean: per message, one ``json.dumps`` to send and one decode to receive;
  no task, no buffer beyond ``websockets``' own, so that hundreds of clients share
  one event loop (``bench/loadtest.py``, ``bench/chat.py``).

Exception messages name message types, error codes and reasons, never chat text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedOK
from websockets.typing import Origin

from .core.admission import solve
from .core.errors import ProtocolError
from .core.messages import (
    PROTOCOL_VERSION,
    Banned,
    Challenge,
    ClientMessage,
    Error,
    Mode,
    Refused,
    ServerMessage,
    Welcome,
    decode_server,
)
from .core.reports import ReportReason

__all__ = [
    "ADULT",
    "DEFAULT_TIMEOUT",
    "BadFrame",
    "Birth",
    "Client",
    "ClientError",
    "NotAdmitted",
    "ServerMessage",
    "UnexpectedMessage",
]

#: Seconds any one wait takes at most unless the caller says otherwise.
DEFAULT_TIMEOUT: Final = 10.0

M = TypeVar("M", bound=ServerMessage)


class Birth(NamedTuple):
    """The neutral age answer of ``hello``: month and year of birth."""

    year: int
    month: int


#: An answer the age question admits to the adult pool.
ADULT: Final = Birth(1990, 1)

_SKIP: Final = '{"type": "skip"}'
_TYPING: Final = '{"type": "typing", "active": true}'
_NOT_TYPING: Final = '{"type": "typing", "active": false}'
_STOP: Final = '{"type": "stop"}'
_FIND_TEXT: Final = '{"type": "find", "mode": "text", "interests": []}'


class ClientError(Exception):
    """The server said something this client did not expect of the protocol."""


class BadFrame(ClientError):
    """A frame that is not a server message of ``docs/protocol.md``. ``frame`` is the
    frame (its first 1000 characters); ``problem`` what the decoder refused."""

    def __init__(self, frame: str | bytes, problem: ProtocolError) -> None:
        self.frame = frame[:1000]
        self.problem = problem
        where = f" (field {problem.field!r})" if problem.field else ""
        super().__init__(
            f"the server sent a frame that is not a server message: {problem.code}{where}"
        )


def _describe(message: ServerMessage) -> str:
    """A message's type and its safe fields (codes and reasons), never its text."""
    details: list[str] = [message.type]
    for name in ("code", "reason", "kind"):
        value = getattr(message, name, None)
        if value is not None and not (isinstance(message, Banned) and name == "reason"):
            details.append(f"{name}={value}")
    return " ".join(details)


class UnexpectedMessage(ClientError):
    """The next message was not the one awaited. ``message`` is what came,
    ``expected`` the type that was awaited."""

    def __init__(self, message: ServerMessage, expected: type[Any]) -> None:
        self.message = message
        self.expected = expected
        super().__init__(f"expected {expected.__name__}, got {_describe(message)}")


class NotAdmitted(ClientError):
    """``hello`` was answered with ``refused`` (the age answer), ``banned`` or an
    ``error`` (a refused proof, version or field), in ``answer``; the server closes
    the socket after it."""

    def __init__(self, answer: Refused | Banned | Error) -> None:
        self.answer = answer
        super().__init__(f"hello was not admitted: {_describe(answer)}")


def _decode(frame: str | bytes) -> ServerMessage:
    try:
        return decode_server(frame)
    except ProtocolError as problem:
        raise BadFrame(frame, problem) from None


class Client:
    """One chatter's socket (see the module's docstring for the contract).

    ``ws`` is the open ``websockets`` connection, for what the protocol helpers do not
    cover (a test's raw frames, the close code); ``challenge`` is the server's first
    message; ``welcome`` the server's welcome once :meth:`admitted` has seen it."""

    __slots__ = ("challenge", "welcome", "ws")

    def __init__(self, ws: ClientConnection, challenge: Challenge) -> None:
        self.ws = ws
        self.challenge = challenge
        self.welcome: Welcome | None = None

    # --- opening --------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        origin: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> Client:
        """Open the chat socket at ``url`` and read its ``challenge``, within
        ``timeout`` seconds together. ``options`` go to ``websockets``' ``connect``
        (``local_addr``, ``max_queue``, ``ping_interval``...); compression is off unless
        asked, as the page's browser negotiates none with this server."""
        options.setdefault("compression", None)
        options.setdefault("open_timeout", None)  # ``timeout`` bounds it
        async with asyncio.timeout(timeout):
            ws = await ws_connect(url, origin=Origin(origin) if origin else None, **options)
            try:
                first = _decode(await ws.recv())
                if not isinstance(first, Challenge):
                    raise UnexpectedMessage(first, Challenge)
            except BaseException:
                await _close_quietly(ws)
                raise
        return cls(ws, first)

    async def hello(
        self, birth: Birth = ADULT, *, device: str | None = None, language: str = "en"
    ) -> None:
        """Solve the challenge and send ``hello``; the answer is left to
        :meth:`admitted` (or :meth:`receive`)."""
        challenge = self.challenge
        hello: dict[str, Any] = {
            "type": "hello",
            "version": PROTOCOL_VERSION,
            "proof": {
                "challenge": challenge.challenge,
                "nonce": solve(challenge.challenge, challenge.bits),
            },
            "birth_year": birth.year,
            "birth_month": birth.month,
            "language": language,
        }
        if device is not None:
            hello["device"] = device
        await self.ws.send(json.dumps(hello))

    async def admitted(self, timeout: float | None = DEFAULT_TIMEOUT) -> Welcome:
        """The answer to ``hello``: the :class:`Welcome` (kept as :attr:`welcome`), or
        :class:`NotAdmitted` for ``refused``, ``banned`` or ``error``."""
        answer = await self.receive(timeout)
        if isinstance(answer, Welcome):
            self.welcome = answer
            return answer
        if isinstance(answer, Refused | Banned | Error):
            raise NotAdmitted(answer)
        raise UnexpectedMessage(answer, Welcome)

    @classmethod
    async def join(
        cls,
        url: str,
        birth: Birth = ADULT,
        *,
        device: str | None = None,
        language: str = "en",
        origin: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> Client:
        """:meth:`connect`, :meth:`hello` and :meth:`admitted`, each within
        ``timeout``; the socket is closed again when any of them fails."""
        client = await cls.connect(url, origin=origin, timeout=timeout, **options)
        try:
            await client.hello(birth, device=device, language=language)
            await client.admitted(timeout)
        except BaseException:
            await _close_quietly(client.ws)
            raise
        return client

    # --- sending --------------------------------------------------------------------

    async def send(self, message: ClientMessage) -> None:
        """Send a typed client message (fields left at ``None`` are not sent)."""
        await self.ws.send(message.model_dump_json(exclude_none=True))

    async def send_frame(self, frame: str | bytes) -> None:
        """Send ``frame`` as it is: for tests of what the server does with any frame."""
        await self.ws.send(frame)

    async def find(self, mode: Mode = Mode.TEXT, interests: Sequence[str] = ()) -> None:
        """Look for a stranger in ``mode``, preferring ``interests``."""
        if mode == Mode.TEXT and not interests:
            await self.ws.send(_FIND_TEXT)
        else:
            frame = {"type": "find", "mode": str(mode), "interests": list(interests)}
            await self.ws.send(json.dumps(frame))

    async def say(self, text: str) -> None:
        """Send a chat line to the current partner."""
        await self.ws.send(json.dumps({"type": "message", "text": text}))

    async def typing(self, active: bool) -> None:
        """Tell the partner whether this chatter is typing."""
        await self.ws.send(_TYPING if active else _NOT_TYPING)

    async def skip(self) -> None:
        """End the chat (or the wait) and look for the next stranger at once."""
        await self.ws.send(_SKIP)

    async def stop(self) -> None:
        """End the chat or the wait, and stay idle."""
        await self.ws.send(_STOP)

    async def report(
        self, reason: ReportReason, note: str = "", *, match: str | None = None
    ) -> None:
        """Report the current stranger, or the one of ``match``, a recent match."""
        frame: dict[str, Any] = {"type": "report", "reason": str(reason)}
        if note:
            frame["note"] = note
        if match is not None:
            frame["match"] = match
        await self.ws.send(json.dumps(frame))

    async def signal(
        self,
        kind: Literal["offer", "answer", "candidate"],
        *,
        sdp: str | None = None,
        candidate: str | None = None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """WebRTC signalling for the current video match: an ``offer`` or ``answer``
        with its ``sdp``, or a ``candidate``."""
        frame: dict[str, Any] = {"type": "signal", "kind": kind}
        for name, value in (
            ("sdp", sdp),
            ("candidate", candidate),
            ("sdp_mid", sdp_mid),
            ("sdp_mline_index", sdp_mline_index),
        ):
            if value is not None:
                frame[name] = value
        await self.ws.send(json.dumps(frame))

    async def ping(self, id: int | None = None) -> None:
        """Ask for a ``pong`` (with the same ``id``)."""
        await self.ws.send('{"type": "ping"}' if id is None else f'{{"type": "ping", "id": {id}}}')

    # --- receiving ------------------------------------------------------------------

    async def receive(self, timeout: float | None = DEFAULT_TIMEOUT) -> ServerMessage:
        """The next message, typed."""
        if timeout is None:
            return _decode(await self.ws.recv())
        async with asyncio.timeout(timeout):
            frame = await self.ws.recv()
        return _decode(frame)

    async def expect(
        self,
        kind: type[M],
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        passing: tuple[type[ServerMessage], ...] = (),
    ) -> M:
        """The next message, which must be a ``kind``; messages of the ``passing``
        types before it are dropped (e.g. ``PartnerTyping``); anything else raises
        :class:`UnexpectedMessage`. ``timeout`` bounds the whole wait."""
        async with asyncio.timeout(timeout):
            while True:
                message = _decode(await self.ws.recv())
                if isinstance(message, kind):
                    return message
                if not isinstance(message, passing):
                    raise UnexpectedMessage(message, kind)

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> ServerMessage:
        """The next message, without a time limit; the iteration ends when the server
        closes the socket normally (1000 or 1001), and raises
        :class:`~websockets.exceptions.ConnectionClosedError` otherwise."""
        try:
            frame = await self.ws.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None
        return _decode(frame)

    # --- closing --------------------------------------------------------------------

    async def close(self) -> None:
        """Close the socket (1000) and wait for the server's close, as
        ``websockets`` does."""
        await self.ws.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _close_quietly(ws: ClientConnection) -> None:
    """Close after a failure, within a second (then drop the connection): the failure
    is what the caller must see, not a slow close."""
    try:
        async with asyncio.timeout(1.0):
            await ws.close()
    except Exception:
        ws.transport.abort()
