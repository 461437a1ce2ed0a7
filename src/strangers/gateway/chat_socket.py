"""The chat websocket, ``/v1/ws``: one per chatter (design §3, ``docs/protocol.md``).

The handler is the boundary where bytes become core inputs and core errors
become ``error`` messages. Its order:

1. accept, then wait at most ``hello_timeout`` for ``hello``;
2. verify the device token and ask the :class:`AgeGate` (``refused`` and a
   normal close when the answer does not admit the device);
3. open a session, send ``welcome``, and relay until either side closes.

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
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.types import Receive, Scope, Send

from ..brokers.wire import AgeFact
from ..core.age import Admitted, AgeGate, AgeLedger, AgeRecord, stage_for
from ..core.bans import BanIndex
from ..core.device import DeviceClaims, DeviceTokens
from ..core.errors import HelloRequired, InternalError, LimitExceeded, StrangersError
from ..core.frame_tokens import FrameTokens
from ..core.limits import RateLimit
from ..core.messages import (
    Banned,
    Codec,
    Error,
    Hello,
    IceServer,
    Refused,
    Reported,
    Welcome,
    encode,
)
from ..core.network import network_hash
from ..core.reports import Filing
from ..core.session import State
from ..core.switchboard import EnforceFlag, Restage
from ..core.turn import rest_credentials
from ..moderation.records import AddressCapture, Records
from ..safety.checker import FrameChecker
from ..safety.hashes import HashList
from ..safety.pool import CheckPool
from .addresses import Addresses
from .decisions import DecisionNotices, as_message
from .enforcement import enforce_flag, file_report
from .node import Node
from .outbox import Outbox, Write
from .settings import Settings

log = logging.getLogger("strangers.socket")

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


@dataclass(slots=True)
class Services:
    """What every chat socket of a node shares. ``records`` is opened at start-up."""

    settings: Settings
    node: Node
    codec: Codec
    tokens: DeviceTokens
    network_key: bytes
    age_gate: AgeGate
    ages: AgeLedger
    bans: BanIndex
    frame_tokens: FrameTokens
    hashes: HashList
    addresses: Addresses
    decisions: DecisionNotices
    records: Records | None = None
    checker: FrameChecker | None = None
    frame_checks: CheckPool | None = None


_BACKGROUND: set[asyncio.Task[None]] = set()  # held so they are not collected mid-run


async def _delivered(records: Records, decisions: DecisionNotices, ids: list[int]) -> None:
    try:
        await records.notices_delivered(ids, now=datetime.now(UTC))
    except Exception:
        # Shown again on a later visit rather than lost.
        log.exception("could not mark %d decisions delivered", len(ids))
    finally:
        decisions.settled(ids)


class _Closed(Exception):
    """The peer went away or was closed by us; nothing more to do."""


class ChatSocket:
    def __init__(self, scope: Scope, receive: Receive, send: Send, services: Services) -> None:
        client = scope.get("client")
        # The keyed hash is all that is kept of the address; the address itself is
        # dropped here (design §6).
        self.network = network_hash(services.network_key, client[0] if client else None)
        # ... except in memory, for this connection only: a critical or escalated case
        # seals it into its evidence (gateway/addresses.py).
        self._address = client[0] if client else None
        self._connected_at = time.time()
        self._receive = receive
        self._send = send
        self.services = services
        settings = services.settings
        now = time.monotonic()
        self.frames = RateLimit(settings.frames_per_second, settings.frames_per_second * 2, now)
        self.errors = RateLimit(1.0, settings.errors_before_close, now)
        self.session: str | None = None
        self.kicked = False
        self._cancel = _canceller(asyncio.current_task())
        self.send_text = _text_sender(send)
        self.outbox = Outbox(self.send_text, settings.send_queue, self._cancel)

    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        await self._send({"type": "websocket.accept"})
        node = self.services.node
        try:
            hello = await self._hello()
            if hello is None:
                return
            if not await self._admit(hello):
                return
            await self._relay()
        except _Closed:
            pass
        except asyncio.CancelledError:
            # A ban cancels this task through node.closers (the Kick effect).
            self.kicked = self._banned()
            if not (self.outbox.overflowed or self.kicked):
                raise
            if self.outbox.overflowed:
                log.info("dropped a reader too slow for its send queue")
        finally:
            if self.session is not None:
                self.services.addresses.forget(self.session)
                node.outboxes.pop(self.session, None)
                node.closers.pop(self.session, None)
                node.run(node.switchboard.close(self.session))
            if self.kicked and not self.outbox.overflowed:
                # Banned mid-session: the notice is written before the close (RFC 6455
                # §7.4.1: 1008 policy violation).
                with contextlib.suppress(Exception):
                    await self.outbox.drain()
                    await self.close(POLICY_VIOLATION, "banned")
            self.outbox.close()
            if self.outbox.overflowed:
                with contextlib.suppress(Exception):
                    await self.close(TRY_AGAIN_LATER, "too slow")

    # --- steps ---------------------------------------------------------------------

    async def _hello(self) -> Hello | None:
        settings = self.services.settings
        try:
            async with asyncio.timeout(settings.hello_timeout):
                frame = await self._next_frame()
        except TimeoutError:
            await self._fail(HelloRequired("No hello arrived in time."))
            return None
        try:
            message = self.services.codec.decode(frame)
        except StrangersError as exc:
            await self._fail(exc)
            return None
        if not isinstance(message, Hello):
            await self._fail(HelloRequired())
            return None
        return message

    async def _admit(self, hello: Hello) -> bool:
        services = self.services
        wall = int(time.time())
        claims = services.tokens.verify(hello.device) or DeviceClaims(secrets.token_urlsafe(16))
        earlier = services.ages.youngest(claims.device, claims.age, wall)
        decision = services.age_gate.decide(
            hello.birth_year,
            hello.birth_month,
            earlier,
            today=datetime.fromtimestamp(wall, UTC).date(),
            now=wall,
        )
        services.ages.remember(claims.device, decision.record, wall)
        if decision.record != claims.age:
            # Other gateways must not take this device's older token for its record.
            services.node.broker.share(AgeFact(claims.device, decision.record))
        token = services.tokens.issue(DeviceClaims(claims.device, decision.record))
        recheck = services.ages.recheck_until(claims.device, wall)
        if recheck is not None:
            await self.send_text(encode(Refused(reason="age_check", until=recheck, device=token)))
            await self.close(1000, "age_check")
            return False
        await self._decisions(claims.device)
        if isinstance(decision, Admitted):
            ban = self._ban(claims.device)
            if ban is not None:
                await self.send_text(encode(ban))
                await self.close(POLICY_VIOLATION, "banned")
                return False
        else:
            await self.send_text(
                encode(
                    Refused(
                        reason=decision.reason, until=decision.record.locked_until, device=token
                    )
                )
            )
            await self.close(1000, decision.reason)
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
        assert self.session is not None
        node = self.services.node
        codec = self.services.codec
        session = self.session
        while True:
            frame = await self._next_frame()
            now = time.monotonic()
            wait = self.frames.take(now)
            try:
                if wait:
                    raise LimitExceeded(retry_after=round(wait, 3))
                message = codec.decode(frame)
                effects = node.switchboard.receive(session, message, now)
            except StrangersError as exc:
                await self._refuse(exc)
                continue
            except Exception:
                log.exception("fault while handling a client message")
                await self._refuse(InternalError())
                continue
            for work in node.run(effects):
                if isinstance(work, EnforceFlag):
                    await enforce_flag(self.services, work.flag)
                elif isinstance(work, Restage):
                    await self._restage(work)
                else:
                    await self._file(work.filing)

    async def _restage(self, restage: Restage) -> None:
        """Send this device back to the age question (design §6): it stated ``age`` in
        the adult pool. The age it stated locks its stage like an answer would (it can
        only go younger), and it waits ``age_recheck_minutes`` before being asked again.
        """
        services, wall = self.services, int(time.time())
        record = AgeRecord(stage_for(restage.age), wall + services.age_gate.lock_seconds)
        earlier = services.ages.youngest(restage.device, None, wall)
        if earlier is not None and earlier.stage < record.stage:
            record = earlier
        services.ages.remember(restage.device, record, wall)
        until = wall + round(services.settings.age_recheck_minutes * 60)
        services.ages.recheck(restage.device, until)
        services.node.broker.share(AgeFact(restage.device, record, until))
        token = services.tokens.issue(DeviceClaims(restage.device, record))
        self.outbox.put(encode(Refused(reason="age_check", until=until, device=token)))
        with contextlib.suppress(Exception):
            await self.outbox.drain()
            await self.close(1000, "age_check")
        raise _Closed()

    def _banned(self) -> bool:
        session = self.services.node.switchboard.sessions.get(self.session or "")
        return session is not None and session.state is State.BANNED

    async def _file(self, filing: Filing) -> None:
        """Commit a report, and only then acknowledge it (design §6)."""
        try:
            case = await file_report(self.services, filing)
        except Exception:
            log.exception("a report could not be stored")
            self.outbox.put(
                encode(_error_message(InternalError("The report could not be stored.")))
            )
            return
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
        entry = self.services.bans.lookup(device, self.network, datetime.now(UTC))
        if entry is None:
            return None
        until = int(entry.until.timestamp()) if entry.until is not None else None
        return Banned(reason=entry.reason, case=entry.case, until=until)

    # --- helpers -------------------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def _next_frame(self) -> str | bytes:
        message = await self._receive()
        if message["type"] != "websocket.receive":
            raise _Closed()
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

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


# The outbox gets closures over the ASGI callables and the task, not bound methods,
# so a socket and its outbox form no reference cycle for the collector to find.


def _text_sender(send: Send) -> Write:
    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    return send_text


def _canceller(task: asyncio.Task[object] | None) -> Callable[[], None]:
    """Cancels the socket's task when its outbox overflows."""

    def cancel() -> None:
        if task is not None:
            task.cancel()

    return cancel


def _error_message(exc: StrangersError) -> Error:
    retry_after = exc.retry_after if isinstance(exc, LimitExceeded) else None
    return Error(code=exc.code, text=exc.detail, retry_after=retry_after, field=exc.field)
