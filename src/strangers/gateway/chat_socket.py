"""The chat websocket, ``/v1/ws``: one per chatter (docs/design.md §3, ``docs/protocol.md``).

The handler is the boundary where bytes become core inputs and core errors
become ``error`` messages. Its order:

1. accept; ask the cross-session rate limits whether this network may connect
   (``rate_limited`` and close 1013, RFC 6455 §7.4.1 try again later);
2. send this connection's ``challenge`` (admission by proof of work, docs/design.md §3,
   OWASP ASVS 5.0 V2.4; ``core/admission.py``), then wait for ``hello`` at most
   ``hello_timeout`` or until the challenge expires, whichever is later; a ``hello``
   without a proof (``proof_required``) or with one that does not solve this
   connection's challenge in time (``proof_invalid``) is answered and closed with 1008;
3. verify the device token and ask the :class:`AgeGate` (``refused`` and a
   normal close when the answer does not admit the device);
4. open a session, send ``welcome``, and relay until either side closes. ``find``,
   ``skip``, ``message`` and ``report`` also pass the cross-session rate limits of
   the device and network (``safety/ratelimits.py``) before the session's own token
   buckets (``core/limits.py``); a socket that sends nothing at all, not even
   ``ping``, for ``idle_timeout`` seconds is closed with 4000 (RFC 6455 §7.4.2, a
   code for applications).

It speaks raw ASGI (the websocket scope of the ASGI spec), without a
framework's request wrapper or middleware: this path carries every chat
message, and the connection cost is most of a chatter's CPU (see
``docs/performance.md``).

Every frame passes a frame-rate budget before it is decoded; every refusal
spends from an error budget, and a peer that exhausts it is closed with 1008
(RFC 6455 §7.4.1 policy violation). A fault inside the server is logged here
and the peer only ever sees the ``internal`` code (OWASP ASVS 5.0 V16.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from starlette.types import Receive, Send

from ..core.admission import Challenge
from ..core.age import Admitted
from ..core.device import DeviceClaims
from ..core.errors import HelloRequired, InternalError, LimitExceeded, StrangersError
from ..core.limits import RateLimit
from ..core.messages import (
    Banned,
    ClientMessage,
    Error,
    Find,
    Hello,
    IceServer,
    Refused,
    Report,
    Reported,
    SendText,
    Skip,
    Welcome,
    encode,
)
from ..core.messages import Challenge as ChallengeMessage
from ..core.network import UNKNOWN_NETWORK, network_hash
from ..core.reports import Filing
from ..core.session import State
from ..core.switchboard import EnforceFlag, Restage
from ..core.turn import rest_credentials
from ..logs import bind_session
from ..moderation.records import AddressCapture, Records
from ..safety.ratelimits import Action, Refusal
from . import ages, metrics
from .decisions import DecisionNotices, as_message
from .enforcement import ban_for_abuse, enforce_flag, file_report
from .errors import WireClosed
from .node import Deferred
from .outbox import Outbox
from .services import Services

log = logging.getLogger("strangers.socket")

#: The chat socket's path (docs/protocol.md).
CHAT_PATH: Final = "/v1/ws"

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
#: Closed for sending nothing for ``idle_timeout`` seconds (RFC 6455 §7.4.2: 4000-4999
#: are for applications; 1001 "going away" would read as the server shutting down).
IDLE = 4000

#: The client messages that pass the cross-session rate limits, and as what.
_LIMITED: dict[type, Action] = {
    Find: Action.FIND,
    Skip: Action.FIND,
    SendText: Action.MESSAGE,
    Report: Action.REPORT,
}


_BACKGROUND: set[asyncio.Task[None]] = set()  # held so they are not collected mid-run


async def _delivered(records: Records, decisions: DecisionNotices, ids: list[int]) -> None:
    try:
        await records.notices.delivered(ids, now=datetime.now(UTC))
    except Exception:
        # Shown again on a later visit rather than lost.
        log.exception("could not mark %d decisions delivered", len(ids))
    finally:
        decisions.settled(ids)


class _Closed(Exception):
    """The peer went away or was closed by us; nothing more to do."""


class Wire(Protocol):
    """The connection under a chat socket: :class:`~strangers.gateway.wire.ChatWire` when
    the gateway answered the handshake itself, :class:`AsgiWire` under any ASGI server.
    ``receive``, ``send_text`` and ``close`` raise
    :class:`~strangers.gateway.errors.WireClosed` once the connection is gone."""

    async def accept(self) -> bool: ...

    async def receive(self) -> str | bytes: ...

    async def send_text(self, text: str) -> None: ...

    def write_now(self, text: str) -> bool: ...

    async def close(self, code: int, reason: str) -> None: ...


class AsgiWire:
    """A chat socket's connection through the ASGI websocket interface."""

    __slots__ = ("_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def accept(self) -> bool:
        if (await self._receive())["type"] != "websocket.connect":
            return False
        await self._send({"type": "websocket.accept"})
        return True

    async def receive(self) -> str | bytes:
        message = await self._receive()
        if message["type"] != "websocket.receive":
            raise WireClosed(message.get("code"))
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    def write_now(self, text: str) -> bool:
        return False  # an ASGI send is a coroutine: the outbox drives it

    async def close(self, code: int, reason: str) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


class ChatSocket:
    def __init__(self, wire: Wire, client: str | None, services: Services) -> None:
        # The keyed hash is all that is kept of the address; the address itself is
        # dropped here (docs/design.md §6).
        self.network = network_hash(services.network_key, client)
        # ... except in memory, for this connection only: a critical or escalated case
        # seals it into its evidence (gateway/addresses.py).
        self._address = client
        self._connected_at = time.time()
        self.wire = wire
        self.services = services
        settings = services.settings
        now = time.monotonic()
        self.frames = RateLimit(settings.frames_per_second, settings.frames_per_second * 2, now)
        self.errors = RateLimit(1.0, settings.errors_before_close, now)
        self.session: str | None = None
        self.device: str | None = None
        self.kicked = False
        self.kicked_as: State | None = None
        self.idled = False
        self._reading = False
        self._last_frame = now
        self._idle_timer: asyncio.TimerHandle | None = None
        self._cancel = _canceller(asyncio.current_task())
        # The wire's bound method: the wire holds no reference back to this socket.
        self.send_text = wire.send_text
        self.outbox = Outbox(self.send_text, settings.send_queue, self._cancel, wire.write_now)

    async def run(self) -> None:
        if not await self.wire.accept():
            return
        metrics.CONNECTIONS.inc()
        node = self.services.node
        try:
            if not await self._may_connect():
                return
            hello = await self._hello(self._challenge())
            if hello is None:
                return
            if not await self._admit(hello):
                return
            del hello  # held by this frame for the session's life otherwise: ~1.5 KiB
            await self._relay()
        except (_Closed, WireClosed):
            pass
        except asyncio.CancelledError:
            # A ban cancels this task through node.closers (the Kick effect); so do an
            # overflowing outbox and the idle timer.
            self.kicked_as = self._kicked_as()
            self.kicked = self.kicked_as is not None
            if not (self.outbox.overflowed or self.kicked or self.idled):
                raise
            if self.outbox.overflowed:
                metrics.SLOW_READERS.inc()
                log.info("dropped a reader too slow for its send queue")
        finally:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None  # the handle refers back to this socket
            if self.session is not None:
                log.debug("session closed after %.0f s", time.time() - self._connected_at)
                self.services.addresses.forget(self.session)
                node.outboxes.pop(self.session, None)
                node.closers.pop(self.session, None)
                node.run(node.switchboard.close(self.session))
            if self.kicked and not self.outbox.overflowed:
                # Banned or sent back to the age question mid-session: the notice is
                # written before the close (RFC 6455 §7.4.1: 1008 policy violation for a
                # ban; 1000, a normal close, for the age question, as at hello).
                with contextlib.suppress(Exception):
                    await self.outbox.drain()
                    if self.kicked_as is State.AGE_CHECK:
                        await self.close(1000, "age_check")
                    else:
                        await self.close(POLICY_VIOLATION, "banned")
            self.outbox.close()
            if self.outbox.overflowed:
                with contextlib.suppress(Exception):
                    await self.close(TRY_AGAIN_LATER, "too slow")
            elif self.idled and not self.kicked:
                with contextlib.suppress(Exception):
                    await self.close(IDLE, "idle")

    # --- steps ---------------------------------------------------------------------

    async def _may_connect(self) -> bool:
        """Ask the cross-session limits whether this network may open one more
        connection (docs/design.md §3), before any work for it (the challenge). Refused:
        ``rate_limited`` with ``retry_after``, then close 1013 (RFC 6455 §7.4.1 try
        again later)."""
        refusal = await self._hit(Action.CONNECT)
        if refusal is None:
            return True
        # No device is known yet, so even an abusive refusal bans nothing: a network
        # is shared, and a ban of it would shut out every device behind it
        # (safety/ratelimits.py); the refusals go on, and cost nothing.
        error = LimitExceeded("Too many connections.", retry_after=round(refusal.retry_after, 3))
        await self.send_text(encode(_error_message(error)))
        await self.close(TRY_AGAIN_LATER, error.code)
        return False

    def _challenge(self) -> Challenge:
        """Issue and send this connection's challenge (docs/design.md §3): its bits from the
        node's load and the network's recent connections (``core/admission.py``)."""
        admission = self.services.admission
        assert admission is not None
        node = self.services.node
        challenge = admission.issue(
            secrets.token_urlsafe(18),  # 144 bits, 24 base64url characters
            self.network,
            online=len(node.switchboard.sessions),
            now=time.monotonic(),
        )
        message = ChallengeMessage(
            challenge=challenge.value, bits=challenge.bits, expires_in=admission.lifetime
        )
        self.outbox.put(encode(message))
        return challenge

    async def _hello(self, challenge: Challenge) -> Hello | None:
        """The ``hello`` with its proof for ``challenge``, or None once refused and
        closed. The challenge is checked once, here, and then dropped with this
        socket's step: a proof is good for this connection, one time."""
        services = self.services
        settings = services.settings
        try:
            async with asyncio.timeout(max(settings.hello_timeout, settings.pow_expires)):
                frame = await self._next_frame()
        except TimeoutError:
            await self._fail(HelloRequired("No hello arrived in time."))
            return None
        try:
            message = services.codec.decode(frame)
            if not isinstance(message, Hello):
                raise HelloRequired()
            proof = message.proof
            challenge.check(
                None if proof is None else proof.challenge,
                None if proof is None else proof.nonce,
                time.monotonic(),
            )
        except StrangersError as exc:
            await self._fail(exc)
            return None
        return message

    async def _admit(self, hello: Hello) -> bool:
        services = self.services
        wall = int(time.time())
        claims = services.tokens.verify(hello.device) or DeviceClaims(secrets.token_urlsafe(16))
        # The device's state, its network's hold, and what the answer changes in them:
        # every other open session of the device (here and on other gateways) is held to
        # it before this one is answered (gateway/ages.py; docs/safety.md, "Age").
        decision = services.age_gate.admit(
            services.ages,
            claims.device,
            claims.age,
            None if self.network == UNKNOWN_NETWORK else self.network,
            hello.birth_year,
            hello.birth_month,
            today=datetime.fromtimestamp(wall, UTC).date(),
            now=wall,
        )
        await ages.settle(services)
        self.device = claims.device
        token = services.tokens.issue(DeviceClaims(claims.device, decision.record))
        await self._decisions(claims.device)
        if isinstance(decision, Admitted):
            ban = self._ban(claims.device)
            if ban is not None:
                await self.send_text(encode(ban))
                await self.close(POLICY_VIOLATION, "banned")
                return False
            if not await self._device_may_connect():
                return False
        else:
            await self.send_text(
                encode(Refused(reason=decision.reason, until=decision.until, device=token))
            )
            await self.close(1000, decision.reason)
            return False
        # The awaits above let other tabs and gateways change the device's state; from
        # here to the open there is none, so a change either finds this session open or
        # is seen now.
        late = services.ages.refusal_for(
            claims.device, decision.band, int(time.time()), teen_pool=services.age_gate.teen_pool
        )
        if late is not None:
            await self.send_text(encode(Refused(reason=late[0], until=late[1], device=token)))
            await self.close(1000, late[0])
            return False
        node = services.node
        session = node.new_session_id()
        node.switchboard.open(
            session,
            claims.device,
            decision.band,
            hello.language,
            time.monotonic(),
            network=self.network,
        )
        self.session = session
        bind_session(session)  # every later log line of this socket names its session
        # DEBUG, not INFO: at INFO, two lines a chatter cost the chat path about 0.5 CPU
        # s per 1000 chatters (docs/performance.md, "What operating it costs").
        log.debug("session opened (%s)", decision.band.value)
        if self._address is not None:
            capture = AddressCapture(self._address, self._connected_at)
            services.addresses.remember(session, claims.device, capture)
        node.outboxes[session] = self.outbox
        node.closers[session] = self._cancel
        self.outbox.put(
            encode(
                Welcome(
                    session=session,
                    device=token,
                    band=decision.band,
                    limits=node.switchboard.limits_info(),
                    ice_servers=self._ice_servers(session, wall),
                    relay_only=node.switchboard.relay_only,
                    video=node.switchboard.video,
                )
            )
        )
        return True

    async def _decisions(self, device: str) -> None:
        """Tell the device of the decisions made since its last visit (before a ban
        notice, so an appeal's outcome reaches a device that is still banned)."""
        services = self.services
        pending = services.decisions.take(device)
        if not pending:
            return
        for notice in pending:
            await self.send_text(encode(as_message(notice)))
        if services.records is not None:
            ids = [notice.id for notice in pending]
            task = asyncio.create_task(_delivered(services.records, services.decisions, ids))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    async def _relay(self) -> None:
        """Relay until the socket closes: each frame through :meth:`_step`, then what it
        left to await, before the next frame is taken."""
        assert self.session is not None
        # The wire's own receive, not _next_frame: one coroutine less a frame; its
        # WireClosed ends run() as _Closed does.
        receive = self.wire.receive
        self._last_frame = time.monotonic()
        self._idle_timer = asyncio.get_running_loop().call_later(
            self.services.settings.idle_timeout, self._idle_check
        )
        while True:
            self._reading = True
            frame = await receive()
            self._reading = False
            rest = self._step(frame)
            if rest is not None:
                await rest

    def _step(self, frame: str | bytes) -> Coroutine[Any, Any, None] | None:
        """Take one frame as far as it goes without awaiting: the frame budget, the
        decoding, the node-local rate limits, the switchboard and its effects. Returns
        what is left to await (None when nothing is), in the order it must happen."""
        services = self.services
        node = services.node
        limits = services.rate_limits
        now = self._last_frame = time.monotonic()
        wait = self.frames.take(now)
        try:
            if wait:
                raise LimitExceeded(retry_after=round(wait, 3))
            message = services.codec.decode(frame)
            action = _LIMITED.get(type(message)) if limits is not None else None
            if action is not None:
                assert limits is not None
                if not limits.is_local(action):
                    return self._step_shared(message, action)
                # No store to wait for: counted in this turn, with no await.
                refusal = limits.hit_local(action, device=self.device, network=self.network)
                if refusal is not None:
                    return self._limited(refusal)
                now = time.monotonic()
            assert self.session is not None
            effects = node.switchboard.receive(self.session, message, now)
        except StrangersError as exc:
            return self._refuse(exc)
        except Exception:
            log.exception("fault while handling a client message")
            return self._refuse(InternalError())
        work = node.run(effects)
        return self._deferred(work) if work else None

    async def _step_shared(self, message: ClientMessage, action: Action) -> None:
        """The rest of :meth:`_step` for an action counted in the shared store (Redis)."""
        refusal = await self._hit(action)
        if refusal is not None:
            await self._limited(refusal)
            return
        node = self.services.node
        assert self.session is not None
        try:
            effects = node.switchboard.receive(self.session, message, time.monotonic())
        except StrangersError as exc:
            await self._refuse(exc)
            return
        except Exception:
            log.exception("fault while handling a client message")
            await self._refuse(InternalError())
            return
        work = node.run(effects)
        if work:
            await self._deferred(work)

    async def _limited(self, refusal: Refusal) -> None:
        """A cross-session limit refused the frame: ``rate_limited`` to the peer, or a
        ban for persistent abuse (then the Kick closes this socket)."""
        try:
            await self._over_limit(refusal)
        except StrangersError as exc:
            await self._refuse(exc)

    async def _deferred(self, work: list[Deferred]) -> None:
        """The I/O a frame's effects asked for, in order: flags, age restaging, reports."""
        for item in work:
            if isinstance(item, EnforceFlag):
                await enforce_flag(self.services, item.flag)
            elif isinstance(item, Restage):
                await self._restage(item)
            else:
                await self._file(item.filing)

    def _idle_check(self) -> None:
        """Close the socket once it has sent nothing for ``idle_timeout`` seconds (the
        page pings every 25 s, so only a vanished or silent client is closed): the timer
        is re-armed for the rest of the period after each frame, rather than reset on
        every frame, so a busy socket costs nothing here."""
        idle = self.services.settings.idle_timeout
        left = self._last_frame + idle - time.monotonic()
        if left <= 0 and not self._reading:
            left = 1.0  # busy with its last frame (a report being stored): not idle
        if left > 0:
            self._idle_timer = asyncio.get_running_loop().call_later(left, self._idle_check)
            return
        self._idle_timer = None
        self.idled = True
        self._cancel()

    async def _device_may_connect(self) -> bool:
        """Count this connection against its device's limit (``limit_connect_device``) now
        that the device is known: a client reconnecting in a loop with one token is
        refused (``rate_limited``, close 1013), and past the abuse limit the device is
        banned (``banned``, close 1008). The network's limit was counted before the
        challenge (:meth:`_may_connect`) and is not counted twice: ``network=""`` leaves it
        out."""
        limits = self.services.rate_limits
        if limits is None:
            return True
        try:
            refusal = await limits.hit(Action.CONNECT, device=self.device, network="")
        except Exception:
            _log_limits_down()
            return True
        if refusal is None:
            return True
        if refusal.abusive and self.device is not None:
            await ban_for_abuse(self.services, self.device)
            ban = self._ban(self.device)
            if ban is not None:
                await self.send_text(encode(ban))
                await self.close(POLICY_VIOLATION, "banned")
                return False
        error = LimitExceeded("Too many connections.", retry_after=round(refusal.retry_after, 3))
        await self.send_text(encode(_error_message(error)))
        await self.close(TRY_AGAIN_LATER, error.code)
        return False

    async def _hit(self, action: Action) -> Refusal | None:
        """Ask the cross-session limits about ``action`` by this device and network.
        When their store fails, the action is allowed: the session's own token buckets
        still hold, and chat goes on through a Redis hiccup."""
        limits = self.services.rate_limits
        if limits is None:
            return None
        try:
            return await limits.hit(action, device=self.device, network=self.network)
        except Exception:
            _log_limits_down()
            return None

    async def _over_limit(self, refusal: Refusal) -> None:
        """A cross-session limit refused this frame: raises ``rate_limited`` with its
        ``retry_after``; persistent abuse (``refusal.abusive``) bans the device instead,
        for ``abuse_ban_minutes`` (``enforcement.ban_for_abuse``), which tells and closes
        its sessions (``banned``, then 1008), and returns."""
        if refusal.abusive and await ban_for_abuse(self.services, self.device) is not None:
            return
        raise LimitExceeded(retry_after=round(refusal.retry_after, 3))

    async def _restage(self, restage: Restage) -> None:
        """This device stated an age its pool does not admit (docs/design.md §6; docs/safety.md,
        "Age"): every open session of the device, this one included, is held to it on
        every gateway (this socket is then closed through its Kick)."""
        await ages.stated(self.services, restage, self.network)

    def _kicked_as(self) -> State | None:
        """Why this socket's task was cancelled by a Kick: banned, or sent back to the
        age question (None: it was not kicked)."""
        session = self.services.node.switchboard.sessions.get(self.session or "")
        if session is not None and session.state in (State.BANNED, State.AGE_CHECK):
            return session.state
        return None

    async def _file(self, filing: Filing) -> None:
        """Commit a report, and only then acknowledge it (docs/design.md §6)."""
        try:
            case = await file_report(self.services, filing)
        except Exception:
            log.exception("a report could not be stored")
            self.outbox.put(
                encode(_error_message(InternalError("The report could not be stored.")))
            )
            return
        log.info("report filed as case %s", case)
        self.outbox.put(encode(Reported(case=case, match=filing.match)))

    def _ice_servers(self, session: str, now: int) -> tuple[IceServer, ...]:
        """Short-lived TURN credentials for this session (none without TURN)."""
        settings = self.services.settings
        if not settings.turn_configured():
            return ()
        assert settings.turn_secret is not None
        secret = settings.turn_secret.get_secret_value().encode()
        credentials = rest_credentials(secret, session, now=now, ttl=settings.turn_ttl)
        return (
            IceServer(
                urls=tuple(settings.turn_urls),
                username=credentials.username,
                credential=credentials.credential,
            ),
        )

    def _ban(self, device: str) -> Banned | None:
        return self.services.bans.notice_for(device, self.network, datetime.now(UTC))

    # --- helpers -------------------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(code=str(code)).inc()
        await self.wire.close(code, reason)

    async def _next_frame(self) -> str | bytes:
        try:
            return await self.wire.receive()
        except WireClosed:
            raise _Closed() from None

    async def _refuse(self, exc: StrangersError) -> None:
        """Answer a refused frame; close the socket once the error budget is spent."""
        over_budget = bool(self.errors.take(time.monotonic()))
        if over_budget:
            await self._fail(LimitExceeded("Too many refused messages.", retry_after=60.0))
            raise _Closed()
        self.outbox.put(encode(_error_message(exc)))

    async def _fail(self, exc: StrangersError) -> None:
        """Answer with the error, then close with 1008 (RFC 6455 §7.4.1)."""
        self.outbox.put(encode(_error_message(exc)))
        with contextlib.suppress(Exception):
            await self.outbox.drain()
            await self.close(POLICY_VIOLATION, exc.code)


# The outbox gets a closure over the task, not a bound method of the socket, so a
# socket and its outbox form no reference cycle for the collector to find.


def _canceller(task: asyncio.Task[object] | None) -> Callable[[], None]:
    """Cancels the socket's task when its outbox overflows."""

    def cancel() -> None:
        if task is not None:
            task.cancel()

    return cancel


_limits_logged_at = -math.inf


def _log_limits_down() -> None:
    """Log that the rate limits' store failed, at most once a minute (not per frame)."""
    global _limits_logged_at
    now = time.monotonic()
    if now - _limits_logged_at >= 60.0:
        _limits_logged_at = now
        log.exception("the cross-session rate limits failed; actions are allowed meanwhile")


def _error_message(exc: StrangersError) -> Error:
    metrics.ERRORS.labels(code=exc.code).inc()
    retry_after = exc.retry_after if isinstance(exc, LimitExceeded) else None
    return Error(code=exc.code, text=exc.detail, retry_after=retry_after, field=exc.field)
