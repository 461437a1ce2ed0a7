"""The load generator: simulated chatters against a server on this machine, or the
operator's own deployment.

Each simulated chatter opens its own websocket to ``/v1/ws``, solves the
server's ``challenge`` (the proof of work at hello, with the reference solver
:func:`strangers.core.admission.solve`, in the event loop's thread: its time is
part of the first time-to-pair, as it is of a person's; benchmarks run the
server with ``STRANGERS_POW_BITS=0``), says ``hello`` with its proof and no
device token (so each is its own device), looks for a stranger and
talks to whoever it gets, following the protocol in ``docs/protocol.md``.
Scenarios (design §7, ``docs/performance.md``):

- **C** — 1000 chatters arriving at 200/s, evenly spaced; once paired, each
  side sends 5 pings 200 ms apart, the partner echoes each, and the sender
  measures the round trip.
- **E** — 4000 chatters connecting at once; 3 round trips each, 200 ms apart.
- **F** — 2000 chatters arriving at 400/s, 3 rounds each with a skip between
  rounds: in each match the side with the smaller session id sends one ping,
  waits for the echo and skips; the other side gets ``partner_left`` and sends
  ``find``. A chatter that has had its 3 rounds stands by, and keeps looking
  without counting rounds in a bounded way: one standby chatter at a time is
  always looking (``standby_reserve``), and whenever a chatter that still needs
  a round has waited ``standby_after`` without a partner (parity, or the
  30-minute no-repeat rule), one more looks; so nobody is starved by parity,
  and standby chatters do not churn among themselves. A standby chatter rests
  ``standby_rest`` seconds between two looks (so it stays within the rate
  limits) and ends a chat with ``stop`` where a counting one would skip.

What is measured, all on the client with one monotonic clock (CLOCK_MONOTONIC,
shared by processes on one machine, so records of several processes merge):

- **time-to-pair**: socket open → ``matched`` for the first round; ``find`` or
  ``skip`` sent → ``matched`` for later rounds (reported apart);
- **pairing latency**: ``matched`` − the moment the later of the two partners sent
  its ``find``/``skip``: the server's own part, without the wait for a partner to
  exist;
- **round trip**: ping sent → its echo back (through the server, the partner's
  client, and the server again);
- **double pairs**: a match id seen by other than two chatters, or a ``matched``
  that reaches a chatter that is already in a match; **repeat pairs**: the same
  two chatters paired twice (the server must not within 30 minutes);
- **lost rounds**: a ``find``/``skip`` of a counted round never answered by
  ``matched`` before the deadline; errors by code.

Several gateways: :func:`run` takes one URL or several (a sequence, or one
string with the URLs separated by commas) and spreads the chatters over them
round-robin: chatter ``i`` connects to ``urls[i % n]``. Two partners may be on
different gateways; the client only ever learns a partner through the match id
both sides receive. The report counts the chatters per URL and the pairs whose
two sides were on different URLs, and gives the throughput: pairs per second of
the arrival phase (socket open of the first chatter → last first-round
``matched``) and counted rounds per second (→ last counted ``matched``).

Traffic goes only to loopback or to the operator's own configured origin (issue
10: "it refuses targets that are not the operator's own configured origin or
loopback"): :func:`main` and :func:`run` check every URL with
:func:`check_target` before any connection and refuse the rest
(:class:`TargetRefused`; exit code 2 from :func:`main`, with the message naming
how to allow it). The configured origin is the ``public_origin`` setting
(``STRANGERS_PUBLIC_ORIGIN=https://chat.example.org`` allows
``wss://chat.example.org/v1/ws``), never ``allowed_origins``: a load test is for
one's own deployment, never someone else's. Such a deployment applies its own
limits and proof of work to the simulated chatters, who all come from one
address: it sees the load test as the abuse it resembles unless it runs with
:data:`LOAD_TEST_LIMITS` and a low ``STRANGERS_POW_BITS``. Every loop is bounded in
count and in time: a scenario has a global deadline, after which every socket is
closed and the run reports what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import math
import multiprocessing
import os
import queue as queue_mod
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .core.admission import solve
from .core.messages import PROTOCOL_VERSION
from .runtime import raise_open_files_limit

now = time.monotonic

# --- scenarios -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape. ``arrival_rate`` is chatters per second, evenly spaced;
    ``None`` opens every socket at once. ``rounds`` is how many pairings each
    chatter must get (with a skip between them when ``skip``); ``round_trips``
    are the pings each side sends per match (``gap`` seconds apart; in a skip
    scenario only the skipping side pings). ``deadline`` counts from the last
    arrival. ``processes`` spreads the chatters over that many client processes
    (not for skip scenarios, whose sides must be in one process)."""

    name: str
    chatters: int
    arrival_rate: float | None
    rounds: int
    round_trips: int
    gap: float
    skip: bool
    deadline: float
    processes: int = 1
    standby_after: float = 0.1
    standby_reserve: int = 1
    standby_rest: float = 1.0
    language: str = "en"

    def __post_init__(self) -> None:
        if self.chatters < 2 or self.rounds < 1 or self.round_trips < 0:
            raise ValueError("a scenario needs at least two chatters and one round")
        if self.arrival_rate is not None and self.arrival_rate <= 0:
            raise ValueError("arrival_rate must be positive")
        if self.processes < 1 or (self.skip and self.processes != 1):
            raise ValueError("a skip scenario runs in one process")
        if not 0 < self.deadline <= 3600 or self.gap < 0:
            raise ValueError("deadline must be within (0, 3600] seconds")

    @property
    def arrival_span(self) -> float:
        if self.arrival_rate is None:
            return 0.0
        return (self.chatters - 1) / self.arrival_rate


SCENARIOS: dict[str, Scenario] = {
    "C": Scenario("C", 1000, 200.0, rounds=1, round_trips=5, gap=0.2, skip=False, deadline=30.0),
    "E": Scenario("E", 4000, None, rounds=1, round_trips=3, gap=0.2, skip=False, deadline=60.0),
    "F": Scenario("F", 2000, 400.0, rounds=3, round_trips=1, gap=0.0, skip=True, deadline=30.0),
}


def scenario(name: str, scale: float = 1.0, **changes: Any) -> Scenario:
    """A named scenario, its chatter count multiplied by ``scale`` (rounded up to
    an even number, so that everyone can have a partner)."""
    base = SCENARIOS[name.upper()]
    if not 0 < scale <= 10:
        raise ValueError("scale must be in (0, 10]")
    count = max(2, math.ceil(base.chatters * scale))
    count += count % 2
    return replace(base, chatters=count, **changes)


# --- targets: loopback, or the operator's own origin ----------------------------------


class TargetRefused(ValueError):
    """The target is neither this machine's loopback nor the operator's own public
    origin (``STRANGERS_PUBLIC_ORIGIN``), or is not a ``ws://``/``wss://`` URL."""


class NotLoopback(TargetRefused):
    """The target is not on this machine's loopback."""


_LOOPBACK = "loopback (127.0.0.0/8, ::1, localhost)"
#: A chat socket's scheme and the page origin's scheme it goes with (RFC 6455 §3).
_PAGE_SCHEMES = {"ws": "http", "wss": "https"}


def check_loopback(url: str) -> str:
    """Return the host of ``url`` if it is loopback (127.0.0.0/8, ::1 or a name
    that resolves only to those); raise :class:`NotLoopback` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise NotLoopback(f"{url!r} is not a ws:// or wss:// URL")
    host = parts.hostname
    if not host:
        raise NotLoopback(f"{url!r} has no host")
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        if host.lower() != "localhost":
            raise NotLoopback(
                f"refusing {host!r}: the load generator only targets {_LOOPBACK}"
            ) from None
        try:
            infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise NotLoopback(f"cannot resolve {host!r}: {exc}") from None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(address.is_loopback for address in addresses):
        raise NotLoopback(f"refusing {host!r}: the load generator only targets {_LOOPBACK}")
    return host


def page_origin(url: str) -> str | None:
    """The page origin a chat socket URL goes with, in RFC 6454's form: ``ws`` as
    ``http``, ``wss`` as ``https``, the same host and port, the scheme's default
    port left out (``wss://chat.example.org:443/v1/ws`` → ``https://chat.example.org``);
    None when ``url`` is not a ``ws://`` or ``wss://`` URL with a host (or carries
    a user name or password)."""
    from .gateway.origins import normalise  # the server's own rule for comparing origins

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = _PAGE_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        return None
    return normalise(f"{scheme}://{parts.netloc}")


def check_target(url: str, public_origin: str | None) -> str:
    """Return the host of ``url`` if the load generator may drive it; raise
    :class:`TargetRefused` otherwise, before any connection (issue 10: it refuses
    targets that are not the operator's own configured origin or loopback).

    Allowed: loopback (:func:`check_loopback`), and the chat socket of
    ``public_origin`` (the operator's ``STRANGERS_PUBLIC_ORIGIN``, e.g.
    ``https://chat.example.org``): a ``ws``/``wss`` URL whose scheme, host and port
    are that origin's, ``http`` going with ``ws`` and ``https`` with ``wss``,
    default ports as RFC 6454 has them; any path. Names are compared, never
    resolved. Nothing else: not ``allowed_origins``, not another port or scheme of
    the same host. The message of a refusal says how to allow the target."""
    from .gateway.origins import normalise

    try:
        return check_loopback(url)
    except NotLoopback as refused:
        loopback_refusal = refused
    origin = page_origin(url)
    if origin is None:  # not a ws(s) URL with a host: nothing to compare
        raise TargetRefused(str(loopback_refusal)) from None
    own = normalise(public_origin) if public_origin else None
    if own is not None and origin == own:
        host = urlsplit(url).hostname
        assert host is not None  # page_origin found one
        return host
    if not public_origin:
        configured = "STRANGERS_PUBLIC_ORIGIN is not set"
    elif own is None:
        configured = f"STRANGERS_PUBLIC_ORIGIN {public_origin!r} is not an origin"
    else:
        configured = f"STRANGERS_PUBLIC_ORIGIN is {own} (chat socket {_socket_origin(own)}/v1/ws)"
    raise TargetRefused(
        f"refusing {url!r}: the load generator only targets {_LOOPBACK} or the operator's "
        f"own public origin, and {configured}; to load-test your own deployment at this "
        f"address, run `strangers loadtest` with STRANGERS_PUBLIC_ORIGIN={origin} (the "
        "deployment's public origin, as in its settings)"
    )


def _socket_origin(origin: str) -> str:
    """The chat socket side of a page origin: ``https://h`` → ``wss://h``,
    ``http://h`` → ``ws://h``."""
    scheme, rest = origin.split(":", 1)
    return ("wss" if scheme == "https" else "ws") + ":" + rest


def target_urls(urls: str | Sequence[str], public_origin: str | None = None) -> tuple[str, ...]:
    """The chat sockets to spread the chatters over, in order: ``urls`` as a
    sequence, or one string of URLs separated by commas. Each must pass
    :func:`check_target` with ``public_origin``; raise :class:`TargetRefused` for
    the first that does not, :class:`ValueError` when there is none."""
    parts = urls.split(",") if isinstance(urls, str) else list(urls)
    chosen = tuple(part.strip() for part in parts if part.strip())
    if not chosen:
        raise ValueError("no target URL")
    for url in chosen:
        check_target(url, public_origin)
    return chosen


def configured_public_origin() -> str | None:
    """The operator's ``public_origin`` setting (``STRANGERS_PUBLIC_ORIGIN``), or
    None. Invalid settings raise pydantic's ``ValidationError`` (a ``ValueError``)."""
    from .gateway.settings import Settings

    return Settings().public_origin


def operator_targets(urls: str | Sequence[str]) -> tuple[str, ...]:
    """:func:`target_urls` as :func:`main` and :func:`run` apply it: loopback
    targets need no settings; the operator's public origin is read only when a
    target is not loopback (so a broken setting cannot stop a loopback run)."""
    try:
        return target_urls(urls)
    except TargetRefused:
        return target_urls(urls, configured_public_origin())


# --- what a chatter records ------------------------------------------------------------

# One round: (index, counted, kind, t_request, t_matched or None, match or None).
# ``kind`` is "find" or "skip"; index 0 is the first find after welcome.
RoundRow = tuple[int, bool, str, float, float | None, str | None]


@dataclass(slots=True)
class ChatterRecord:
    """What one simulated chatter saw. Plain data, so it crosses processes."""

    index: int
    url: str = ""  # the chat socket this chatter connected to
    session: str | None = None
    t_open: float = 0.0
    t_connected: float | None = None
    t_welcome: float | None = None
    rounds: list[RoundRow] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    pings_unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    failure: str | None = None
    partner_left_early: int = 0
    timed_out: bool = False


def _mark(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


#: Cross-session limits (``STRANGERS_LIMIT_*``, design §3) loose enough for a whole load
#: test: its chatters all come from one address, one network hash, so the per-network
#: limits would refuse the load itself. A server under a load test is started with
#: these (``bench/chat.py``, the tests that drive it); its other limits stay as they are.
LOAD_TEST_LIMITS: dict[str, str] = {
    "limit_connect_network": "100000/minute",
    "limit_find_device": "100000/minute",
    "limit_find_network": "100000/minute",
    "limit_message_device": "100000/second",
    "limit_message_network": "100000/second",
}

_HELLO_TEMPLATE = {
    "type": "hello",
    "version": PROTOCOL_VERSION,
    "device": None,
    "birth_year": 1990,
    "birth_month": 1,
}
_FIND = json.dumps({"type": "find", "mode": "text", "interests": []})
_SKIP = json.dumps({"type": "skip"})
_STOP = json.dumps({"type": "stop"})


class _Stopped(Exception):
    """The run is over for this chatter."""


class _Chatter:
    """One simulated chatter: a websocket and a small state machine."""

    def __init__(self, shared: _Shared, index: int) -> None:
        self.shared = shared
        # Round-robin over the targets, by the chatter's global index, so that the
        # spread is the same whatever the number of client processes.
        self.url = shared.urls[index % len(shared.urls)]
        self.rec = ChatterRecord(index, self.url)
        self.ws: Any = None
        self.state = "connecting"  # connecting, idle, waiting, chatting, done
        self.match: str | None = None
        self.partner: _Chatter | None = None
        self.counted = 0  # counted rounds paired
        self.pings_sent: dict[str, float] = {}
        self.pings_out = 0
        self.echoes_sent = 0
        self.finished = False
        self.standby = False  # F: had its rounds, stands by
        self.helping = False  # F: a standby chatter sent to look again
        self.helped_at = 0.0  # F: when it was last sent to look
        self.sender: asyncio.Task[None] | None = None
        self.partners: set[int] = set()
        # The ``ended`` (reason, match) that a skip or stop of ours must bring.
        self.ending: tuple[str, str | None] | None = None

    # --- main ----------------------------------------------------------------------

    async def run(self, start_at: float) -> ChatterRecord:
        shared = self.shared
        delay = start_at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        rec = self.rec
        try:
            async with asyncio.timeout_at(shared.loop_deadline):
                await self._session()
        except TimeoutError:
            rec.timed_out = True
        except _Stopped:
            pass
        except Exception as exc:  # a connection failure, a closed socket
            if not shared.stopping:
                rec.failure = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            if self.sender is not None:
                self.sender.cancel()
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await self.ws.close()
            self._finish()
        # Pings still waiting for their echo when the chatter ended.
        rec.pings_unanswered = len(self.pings_sent)
        if self.state == "waiting" and rec.rounds:
            last = rec.rounds[-1]
            if last[4] is None and not last[1]:
                rec.rounds.pop()  # an uncounted look that the end cut short
        return rec

    async def _session(self) -> None:
        from websockets.asyncio.client import connect

        shared, rec = self.shared, self.rec
        rec.t_open = now()
        self.ws = await connect(
            self.url,
            compression=None,
            open_timeout=None,
            ping_interval=None,
            close_timeout=2.0,
            max_queue=64,
        )
        rec.t_connected = now()
        challenge = json.loads(await self.ws.recv())
        if challenge.get("type") != "challenge":
            rec.failure = f"expected a challenge, got {challenge.get('type')!r}"[:200]
            raise _Stopped()
        value, bits = str(challenge["challenge"]), int(challenge["bits"])
        proof = {"challenge": value, "nonce": solve(value, bits)}
        hello = dict(_HELLO_TEMPLATE, language=shared.scenario.language, proof=proof)
        await self.ws.send(json.dumps(hello))
        # Pipelined, as the page does: find goes right behind hello, one round trip less.
        await self._look("find", counted=True)
        async for raw in self.ws:
            await self._on_frame(json.loads(raw))
            if self.finished and not shared.scenario.skip:
                return

    # --- frames --------------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        rec = self.rec
        if kind == "message":
            await self._on_text(str(frame.get("text", "")))
        elif kind == "matched":
            await self._on_matched(str(frame.get("match")))
        elif kind == "welcome":
            rec.t_welcome = now()
            rec.session = str(frame.get("session"))
        elif kind == "waiting":
            if self.state != "waiting":
                rec.violations.append(f"waiting while {self.state}")
            elif self.ending is not None:
                rec.violations.append("waiting before ended")
        elif kind == "partner_left":
            await self._on_partner_left(str(frame.get("match")))
        elif kind == "ended":
            reason, match = frame.get("reason"), frame.get("match")
            if self.ending is None or (reason, match) != self.ending:
                rec.violations.append(f"unexpected ended {reason}")
            self.ending = None
            if reason == "stop":
                self.state = "idle"
                self._go_standby()
        elif kind == "error":
            await self._on_error(frame)
        elif kind in ("typing", "pong"):
            pass
        elif kind == "refused":
            rec.failure = f"refused: {frame.get('reason')}"
            raise _Stopped()
        else:
            rec.violations.append(f"unknown frame type {kind!r}")

    async def _look(self, how: str, *, counted: bool) -> None:
        """Send ``find`` or ``skip`` and open a round."""
        rounds = self.rec.rounds
        if how == "skip":
            self.ending = ("skip", self.match)
        self.state = "waiting"
        self.match = None
        self.partner = None
        t = now()
        await self.ws.send(_FIND if how == "find" else _SKIP)
        rounds.append((len(rounds), counted, how, t, None, None))
        self.shared.waiting_since(self, t if counted else None)

    async def _on_matched(self, match: str) -> None:
        t = now()
        rec, shared = self.rec, self.shared
        if self.state == "chatting":
            rec.violations.append("matched while already in a match")
        if self.helping:
            shared.helper_matched(self)
        self.state = "chatting"
        self.match = match
        self.pings_sent.clear()
        self.pings_out = self.echoes_sent = 0
        shared.waiting_since(self, None)
        if rec.rounds and rec.rounds[-1][4] is None:
            index, counted, how, t_request, _, _ = rec.rounds[-1]
            rec.rounds[-1] = (index, counted, how, t_request, t, match)
            if counted:
                self.counted += 1
        else:
            rec.violations.append("matched without a find or skip")
            rec.rounds.append((len(rec.rounds), False, "none", t, t, match))
        scenario = shared.scenario
        if not scenario.skip:
            if scenario.round_trips:
                self.sender = asyncio.create_task(self._ping_schedule(t))
            else:
                self._done_if_complete()
            return
        # Skip scenario: both sides are in this process; learn the partner.
        partner = await shared.meet(self, match)
        if partner is None:
            rec.violations.append("partner of the match never arrived")
            return
        self.partner = partner
        self.partners.add(partner.rec.index)
        mine, theirs = rec.session, partner.rec.session
        if mine is not None and theirs is not None and mine < theirs:
            await self._ping()

    async def _ping_schedule(self, t0: float) -> None:
        scenario = self.shared.scenario
        for i in range(scenario.round_trips):
            delay = t0 + i * scenario.gap - now()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.state != "chatting":
                return
            await self._ping()

    async def _ping(self) -> None:
        self.pings_out += 1
        token = f"{self.rec.index}.{self.pings_out}"
        self.pings_sent[token] = now()
        await self.ws.send(json.dumps({"type": "message", "text": "p:" + token}))

    async def _on_text(self, text: str) -> None:
        t = now()
        if text.startswith("p:"):
            await self.ws.send(json.dumps({"type": "message", "text": "e:" + text[2:]}))
            self.echoes_sent += 1
            if not self.shared.scenario.skip:
                self._done_if_complete()
            return
        if text.startswith("e:"):
            sent = self.pings_sent.pop(text[2:], None)
            if sent is None:
                self.rec.violations.append("echo of a ping this chatter did not send")
                return
            self.rec.round_trips.append(t - sent)
            if self.shared.scenario.skip:
                await self._after_exchange()
            else:
                self._done_if_complete()
            return
        self.rec.violations.append("a message that is neither ping nor echo")

    def _done_if_complete(self) -> None:
        k = self.shared.scenario.round_trips
        if len(self.rec.round_trips) >= k and self.echoes_sent >= k and not self.pings_sent:
            self.finished = True

    async def _after_exchange(self) -> None:
        """F: the skipping side got its echo: skip (a counted round) or, when it
        has all its rounds, stop and stand by."""
        if self.state != "chatting":
            return
        if self.counted < self.shared.scenario.rounds:
            await self._look("skip", counted=True)
        else:
            self.state = "stopping"
            self.ending = ("stop", self.match)
            await self.ws.send(_STOP)

    async def _on_partner_left(self, match: str) -> None:
        rec = self.rec
        if match != self.match:
            rec.violations.append("partner_left for another match")
        if self.state != "chatting":
            rec.violations.append(f"partner_left while {self.state}")
        self.state = "idle"
        self.match = None
        self.partner = None
        if not self.shared.scenario.skip:
            if not self.finished:
                rec.partner_left_early += 1
                raise _Stopped()
            return
        if self.counted < self.shared.scenario.rounds:
            await self._look("find", counted=True)
        else:
            self._go_standby()

    async def _on_error(self, frame: dict[str, Any]) -> None:
        code = str(frame.get("code"))
        _mark(self.rec.errors, code)
        if code != "rate_limited":
            return
        retry = min(float(frame.get("retry_after") or 1.0), 5.0)
        if self.state == "chatting" and self.pings_sent:
            # A refused ping (the newest): send it again once the limit allows.
            self.pings_sent.popitem()
            match = self.match
            await asyncio.sleep(retry)
            if self.state == "chatting" and self.match == match:
                await self._ping()
            return
        if self.state != "waiting" or not self.rec.rounds:
            return
        # A refused find/skip: the round was not opened on the server. Retry once
        # the limit allows, within the deadline.
        _, counted, how, _, matched, _ = self.rec.rounds[-1]
        if matched is not None:
            return
        self.rec.rounds.pop()
        if how == "skip" and self.ending is not None:
            self.state, self.match, self.ending = "chatting", self.ending[1], None
        else:
            self.state = "idle"
        await asyncio.sleep(retry)
        if self.state in ("idle", "chatting"):
            await self._look(how, counted=counted)

    # --- F: standby ----------------------------------------------------------------

    def _go_standby(self) -> None:
        if not self.shared.scenario.skip:
            return
        if self.counted >= self.shared.scenario.rounds:
            self.helping = False
            self.state = "idle"
            self.shared.standby(self)

    async def help(self) -> None:
        """Look again for a chatter that still needs a round."""
        if self.state != "idle" or self.ws is None:
            self.shared.looking.discard(self)
            return
        self.helping = True
        self.shared.looking.add(self)
        with contextlib.suppress(Exception):
            await self._look("find", counted=False)

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
        self.shared.chatter_ended(self)


class _Shared:
    """What the chatters of one process share: the targets, the clock limits,
    and (for skip scenarios) who is in which match and who stands by."""

    def __init__(
        self,
        urls: tuple[str, ...],
        scenario: Scenario,
        total: int,
        progress: Callable[[int, int], None] | None,
        deadline: float,
    ) -> None:
        self.urls = urls
        self.scenario = scenario
        self.total = total
        self.progress = progress
        self.loop_deadline = asyncio.get_running_loop().time() + (deadline - now())
        self.stopping = False
        self.ended = 0
        self.done_rounds = 0
        self.chatters: list[_Chatter] = []
        self._matches: dict[str, tuple[_Chatter, asyncio.Future[_Chatter | None]]] = {}
        self._needers_waiting: dict[_Chatter, tuple[float, float]] = {}
        self._standby: list[_Chatter] = []
        self.looking: set[_Chatter] = set()  # standby chatters sent to look
        self.all_done = asyncio.Event()
        self._needers_left = total if scenario.skip else 0

    # C/E: a chatter finished its session.
    def chatter_ended(self, chatter: _Chatter) -> None:
        self.ended += 1
        if self.progress is not None and not self.scenario.skip:
            self.progress(self.ended, self.total)

    # F: both sides of a match learn each other.
    async def meet(self, chatter: _Chatter, match: str) -> _Chatter | None:
        entry = self._matches.pop(match, None)
        if entry is not None:
            first, future = entry
            if not future.done():
                future.set_result(chatter)
            return first
        waiter: asyncio.Future[_Chatter | None] = asyncio.get_running_loop().create_future()
        self._matches[match] = (chatter, waiter)
        try:
            async with asyncio.timeout(2.0):
                return await waiter
        except TimeoutError:
            self._matches.pop(match, None)
            return None

    def waiting_since(self, chatter: _Chatter, t: float | None) -> None:
        if not self.scenario.skip:
            return
        if t is None:
            self._needers_waiting.pop(chatter, None)
        else:
            self._needers_waiting[chatter] = (t, t)

    def standby(self, chatter: _Chatter) -> None:
        self._standby.append(chatter)
        if not chatter.standby:
            chatter.standby = True
            self.done_rounds += 1
            self._needers_left -= 1
            if self.progress is not None:
                self.progress(self.done_rounds, self.total)
            if self._needers_left <= 0:
                self.all_done.set()
                return
        self._top_up()

    def helper_matched(self, chatter: _Chatter) -> None:
        self.looking.discard(chatter)
        self._top_up()

    def _top_up(self) -> None:
        """Keep ``standby_reserve`` standby chatters looking while anyone still
        needs a round: the stranger who is always there in a busy pool."""
        if self.all_done.is_set():
            return
        while len(self.looking) < self.scenario.standby_reserve:
            helper = self._pick_helper(None)
            if helper is None:
                return
            self.looking.add(helper)
            asyncio.create_task(helper.help())  # noqa: RUF006 - ends with the run

    async def watch(self) -> None:
        """F: send a standby chatter to look for every chatter that still needs a
        round and has waited ``standby_after`` (again) without a partner."""
        period = max(0.005, self.scenario.standby_after / 4)
        while not self.all_done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self.all_done.wait()
            if self.all_done.is_set():
                return
            t = now()
            after = self.scenario.standby_after
            for needer, (since, last_help) in list(self._needers_waiting.items()):
                if t - last_help < after or t - since < after:
                    continue
                helper = self._pick_helper(needer)
                if helper is None:
                    continue
                self._needers_waiting[needer] = (since, t)
                self.looking.add(helper)
                asyncio.create_task(helper.help())  # noqa: RUF006 - ends with the run

    def _pick_helper(self, needer: _Chatter | None) -> _Chatter | None:
        """The standby chatter that has rested longest (and, for ``needer``, is
        not one of its earlier partners)."""
        rested = now() - self.scenario.standby_rest
        for i, helper in enumerate(self._standby):
            if helper.state != "idle" or helper.helped_at > rested:
                continue
            if needer is None or helper.rec.index not in needer.partners:
                del self._standby[i]
                helper.helped_at = now()
                return helper
        return None


async def _run_slice(
    urls: tuple[str, ...],
    scenario: Scenario,
    indices: range,
    start_at: float,
    progress: Callable[[int, int], None] | None,
) -> list[ChatterRecord]:
    """Run the chatters ``indices`` of ``scenario`` in this event loop.

    The client's garbage collector is off for the run (it is bounded, and a
    collection of the client's many objects would stall every chatter of this
    process at once and show up as server latency); it is restored after.
    """
    raise_open_files_limit()
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return await _run_chatters(urls, scenario, indices, start_at, progress)
    finally:
        if gc_was_enabled:
            gc.enable()


async def _run_chatters(
    urls: tuple[str, ...],
    scenario: Scenario,
    indices: range,
    start_at: float,
    progress: Callable[[int, int], None] | None,
) -> list[ChatterRecord]:
    deadline = start_at + scenario.arrival_span + scenario.deadline
    shared = _Shared(urls, scenario, len(indices), progress, deadline)
    chatters = [_Chatter(shared, i) for i in indices]
    shared.chatters = chatters
    rate = scenario.arrival_rate
    tasks = [
        asyncio.create_task(c.run(start_at + (c.rec.index / rate if rate else 0.0)))
        for c in chatters
    ]
    if scenario.skip:
        watcher = asyncio.create_task(shared.watch())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(shared.loop_deadline):
                await shared.all_done.wait()
        shared.stopping = True
        watcher.cancel()
        await asyncio.gather(
            *(c.ws.close() for c in chatters if c.ws is not None), return_exceptions=True
        )
    done = await asyncio.gather(*tasks, return_exceptions=True)
    records = []
    for chatter, result in zip(chatters, done, strict=True):
        if isinstance(result, BaseException):
            chatter.rec.failure = f"{type(result).__name__}: {result}"[:200]
            records.append(chatter.rec)
        else:
            records.append(result)
    return records


def _use_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def _worker(
    urls: tuple[str, ...],
    scenario: Scenario,
    indices: range,
    ready: Any,
    starts: Any,
    results: Any,
) -> None:
    """A client process: wait for the common start, run its chatters, send back
    the records."""
    _use_uvloop()
    raise_open_files_limit()

    def progress(done: int, _total: int) -> None:
        results.put(("progress", 1))

    ready.put(os.getpid())
    start_at = starts.get(timeout=60)
    records = asyncio.run(_run_slice(urls, scenario, indices, start_at, progress))
    results.put(("records", [asdict(r) for r in records]))


async def _run_processes(
    urls: tuple[str, ...], scenario: Scenario, progress: Callable[[int, int], None] | None
) -> list[ChatterRecord]:
    ctx = multiprocessing.get_context("spawn")
    n = scenario.processes
    ready, results = ctx.Queue(), ctx.Queue()
    starts = [ctx.Queue() for _ in range(n)]
    procs = []
    for k in range(n):
        indices = range(k, scenario.chatters, n)
        proc = ctx.Process(
            target=_worker, args=(urls, scenario, indices, ready, starts[k], results), daemon=True
        )
        proc.start()
        procs.append(proc)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(n):
            await loop.run_in_executor(None, ready.get, True, 60)
        start_at = now() + 0.3
        for q in starts:
            q.put(start_at)
        limit = start_at + scenario.arrival_span + scenario.deadline + 30
        records: list[ChatterRecord] = []
        finished, done = 0, 0
        while finished < n:
            left = limit - now()
            if left <= 0:
                raise TimeoutError("client processes did not report in time")
            try:
                kind, payload = await loop.run_in_executor(None, results.get, True, min(left, 1))
            except queue_mod.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("a client process died") from None
                continue
            if kind == "progress":
                done += 1
                if progress is not None:
                    progress(done, scenario.chatters)
            else:
                records.extend(ChatterRecord(**r) for r in payload)
                finished += 1
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    records.sort(key=lambda r: r.index)
    return records


# --- the report ------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds (nearest rank), ``None`` when empty."""
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        k = max(0, math.ceil(q * len(ordered)) - 1)
        return round(ordered[k] * 1000.0, 3)

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000.0, 3),
    }


@dataclass(slots=True)
class Report:
    scenario: str
    chatters: int
    processes: int
    duration_s: float
    rounds_requested: int
    rounds_paired: int
    never_paired: int
    double_pairs: int
    repeat_pairs: int
    lost_rounds: int
    rounds_short: int
    standby_rounds: int
    connect_failures: int
    partner_left_early: int
    pings_unanswered: int
    protocol_violations: dict[str, int]
    errors: dict[str, int]
    failures: dict[str, int]
    time_to_pair_first: dict[str, float | None]
    time_to_pair_later: dict[str, float | None]
    pairing_latency: dict[str, float | None]
    pairing_latency_later: dict[str, float | None]
    round_trip: dict[str, float | None]
    connect: dict[str, float | None] = field(default_factory=dict)
    welcome: dict[str, float | None] = field(default_factory=dict)
    # Several targets: chatters per URL (in the order of the targets), and the
    # matches whose two sides were connected to different URLs.
    chatters_per_url: dict[str, int] = field(default_factory=dict)
    cross_url_pairs: int = 0
    throughput: dict[str, float | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            not self.protocol_violations
            and self.never_paired == 0
            and self.double_pairs == 0
            and self.repeat_pairs == 0
            and self.lost_rounds == 0
            and self.rounds_short == 0
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        return data


def analyse(scenario: Scenario, records: list[ChatterRecord], duration: float) -> Report:
    """Merge the chatters' records into the figures of a :class:`Report`."""
    by_match: dict[str, list[tuple[ChatterRecord, RoundRow]]] = {}
    for rec in records:
        for row in rec.rounds:
            if row[5] is not None:
                by_match.setdefault(row[5], []).append((rec, row))
    double = sum(1 for sides in by_match.values() if len(sides) != 2)
    violations: Counter[str] = Counter()
    for rec in records:
        violations.update(rec.violations)
    double += violations["matched while already in a match"]

    seen_pairs: Counter[frozenset[int]] = Counter()
    pairing: list[float] = []
    pairing_later: list[float] = []
    cross = 0
    for sides in by_match.values():
        if len(sides) != 2:
            continue
        (ra, a), (rb, b) = sides
        seen_pairs[frozenset((ra.index, rb.index))] += 1
        cross += ra.url != rb.url
        if ra.index == rb.index:
            double += 1
        later = max(a[3], b[3])
        for row in (a, b):
            if row[4] is not None and row[1]:  # counted rounds only
                (pairing if row[0] == 0 else pairing_later).append(row[4] - later)
    repeat = sum(n - 1 for n in seen_pairs.values() if n > 1)

    first: list[float] = []
    later_ttp: list[float] = []
    requested = scenario.chatters * scenario.rounds
    paired = lost = never = 0
    for rec in records:
        counted = [row for row in rec.rounds if row[1]]
        got = [row for row in counted if row[4] is not None]
        paired += min(len(got), scenario.rounds)
        lost += sum(1 for row in counted if row[4] is None)
        if not got or got[0][0] != 0:
            never += 1
        for row in got:
            assert row[4] is not None
            if row[0] == 0:
                first.append(row[4] - rec.t_open)
            else:
                later_ttp.append(row[4] - row[3])
    errors: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for rec in records:
        errors.update(rec.errors)
        if rec.failure:
            failures[rec.failure.split(":", 1)[0]] += 1
        if rec.timed_out:
            failures["deadline"] += 1
    rtts = [x for rec in records for x in rec.round_trips]
    per_url: dict[str, int] = {}
    for rec in sorted(records, key=lambda r: r.index):
        per_url[rec.url] = per_url.get(rec.url, 0) + 1
    return Report(
        scenario=scenario.name,
        chatters=len(records),
        processes=scenario.processes,
        duration_s=round(duration, 3),
        rounds_requested=requested,
        rounds_paired=paired,
        never_paired=never,
        double_pairs=double,
        repeat_pairs=repeat,
        lost_rounds=lost,
        rounds_short=requested - paired,
        standby_rounds=sum(
            1 for rec in records for row in rec.rounds if not row[1] and row[4] is not None
        ),
        connect_failures=sum(1 for rec in records if rec.session is None),
        partner_left_early=sum(rec.partner_left_early for rec in records),
        pings_unanswered=sum(rec.pings_unanswered for rec in records),
        protocol_violations=dict(violations),
        errors=dict(errors),
        failures=dict(failures),
        time_to_pair_first=percentiles(first),
        time_to_pair_later=percentiles(later_ttp),
        pairing_latency=percentiles(pairing),
        pairing_latency_later=percentiles(pairing_later),
        round_trip=percentiles(rtts),
        connect=percentiles([r.t_connected - r.t_open for r in records if r.t_connected]),
        welcome=percentiles([r.t_welcome - r.t_open for r in records if r.t_welcome]),
        chatters_per_url=per_url,
        cross_url_pairs=cross,
        throughput=throughput_of(scenario, records),
    )


def throughput_of(scenario: Scenario, records: list[ChatterRecord]) -> dict[str, float | None]:
    """Rates over the wall time of the run, all from the first socket open:

    - ``arrivals_per_s``: sockets opened per second (first → last open), to
      compare with ``offered_arrivals_per_s`` (the scenario's rate): a client
      that cannot keep up opens them late;
    - ``pairs_per_s``: half the chatters whose first round was paired, per
      second, up to the last first-round ``matched`` (the arrival phase): the
      pairs per second where every pair is two first rounds (C, E);
    - ``rounds_per_s``: counted rounds paired (one per chatter per match) per
      second, up to the last counted ``matched``.

    ``None`` where there is nothing to count or no time span."""
    opens = [rec.t_open for rec in records if rec.t_open > 0]
    first: list[float] = []
    counted: list[float] = []
    for rec in records:
        for index, is_counted, _, _, matched, _ in rec.rounds:
            if matched is not None:
                if index == 0:
                    first.append(matched)
                if is_counted:
                    counted.append(matched)
    t0 = min(opens) if opens else None

    def rate(count: float, until: list[float]) -> float | None:
        if t0 is None or not until or max(until) <= t0:
            return None
        return round(count / (max(until) - t0), 1)

    return {
        "offered_arrivals_per_s": scenario.arrival_rate,
        "arrivals_per_s": rate(len(opens) - 1, opens) if len(opens) > 1 else None,
        "arrival_phase_s": None if t0 is None or not first else round(max(first) - t0, 3),
        "pairs_per_s": rate(len(first) / 2, first),
        "rounds_per_s": rate(len(counted), counted),
    }


# --- entry points ----------------------------------------------------------------------


async def run(
    url: str | Sequence[str],
    scenario: Scenario,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Run ``scenario`` against the chat socket at ``url``, or against several (see
    :func:`target_urls`), chatter ``i`` on ``urls[i % n]``. Each must be loopback or
    the operator's public origin (:func:`operator_targets`); :class:`TargetRefused`
    before any connection otherwise."""
    urls = operator_targets(url)
    raise_open_files_limit()
    started = now()
    if scenario.processes > 1:
        records = await _run_processes(urls, scenario, progress)
    else:
        records = await _run_slice(urls, scenario, range(scenario.chatters), now() + 0.05, progress)
    report = analyse(scenario, records, now() - started)
    with contextlib.suppress(ImportError):
        import uvloop

        loop = asyncio.get_running_loop()
        report.extra["client_loop"] = "uvloop" if isinstance(loop, uvloop.Loop) else "asyncio"
    return report


def render(report: Report) -> Any:
    """A Rich table of the report."""
    from rich.table import Table

    table = Table(title=f"strangers loadtest — scenario {report.scenario}", show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")

    def ms(stats: dict[str, float | None]) -> str:
        if not stats.get("n"):
            return "—"
        return (
            f"p50 {stats['p50_ms']:.2f} / p99 {stats['p99_ms']:.2f} / "
            f"max {stats['max_ms']:.2f} ms (n={stats['n']})"
        )

    rows: list[tuple[str, str]] = [
        ("chatters", f"{report.chatters} in {report.processes} client process(es)"),
        ("duration", f"{report.duration_s:.2f} s"),
        ("rounds requested / paired", f"{report.rounds_requested} / {report.rounds_paired}"),
        ("chatters never paired", str(report.never_paired)),
        ("double pairs", str(report.double_pairs)),
        ("repeat pairs (same two again)", str(report.repeat_pairs)),
        ("lost rounds", str(report.lost_rounds)),
        ("rounds short", str(report.rounds_short)),
        ("standby rounds (uncounted looks paired)", str(report.standby_rounds)),
        ("connect failures", str(report.connect_failures)),
        ("partner left early", str(report.partner_left_early)),
        ("pings unanswered", str(report.pings_unanswered)),
        ("errors by code", _counts(report.errors)),
        ("client failures", _counts(report.failures)),
        ("protocol violations", _counts(report.protocol_violations)),
        ("websocket open (open → handshake done)", ms(report.connect)),
        ("welcome (open → welcome)", ms(report.welcome)),
        ("time-to-pair, first (open → matched)", ms(report.time_to_pair_first)),
        ("time-to-pair, later (find/skip → matched)", ms(report.time_to_pair_later)),
        ("pairing latency, first (matched − later find)", ms(report.pairing_latency)),
        ("pairing latency, later rounds", ms(report.pairing_latency_later)),
        ("message round trip", ms(report.round_trip)),
        ("chatters per URL", _counts(report.chatters_per_url)),
        ("pairs across URLs", str(report.cross_url_pairs)),
        ("arrivals/s offered / opened", _rates(report.throughput)),
        ("pairs/s (arrival phase)", _rate(report.throughput.get("pairs_per_s"))),
        ("counted rounds/s", _rate(report.throughput.get("rounds_per_s"))),
        ("clean", "yes" if report.clean else "NO"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _rates(figures: dict[str, float | None]) -> str:
    offered = figures.get("offered_arrivals_per_s")
    return f"{'all at once' if offered is None else _rate(offered)} / " + _rate(
        figures.get("arrivals_per_s")
    )


def main(
    url: str | Sequence[str],
    scenario: str,
    *,
    scale: float = 1.0,
    json_out: str | None = None,
    processes: int | None = None,
) -> int:
    """Run a named scenario with a progress bar; print the summary table.

    ``url`` is one chat socket, or several (a sequence, or URLs separated by
    commas) to spread the chatters over round-robin.

    Exit code: 0 when the run is clean; 1 when a chatter was never paired, a pair
    was double or repeated, a round was lost or never run, or the server broke
    the protocol (see ``protocol_violations``); 2 when a target is neither loopback
    nor the operator's public origin (:func:`check_target`; refused before any
    connection, with a message that says how to allow it), or the arguments or
    settings are wrong.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=False)
    try:
        urls = operator_targets(url)
    except ValueError as exc:  # TargetRefused, and pydantic's ValidationError, are ValueErrors
        # Escaped: an IPv6 URL's brackets would read as markup; one line, for grep.
        console.print(f"[red]strangers loadtest: {escape(str(exc))}[/red]", soft_wrap=True)
        return 2
    try:
        chosen = globals()["scenario"](scenario, scale)
        if processes is not None:
            chosen = replace(chosen, processes=processes)
    except (KeyError, ValueError) as exc:
        console.print(f"[red]strangers loadtest: bad scenario: {exc}[/red]")
        return 2
    _use_uvloop()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"scenario {chosen.name}", total=chosen.chatters)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = asyncio.run(run(urls, chosen, progress))
    console.print(render(report))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
    return 0 if report.clean else 1


if __name__ == "__main__":  # pragma: no cover - the CLI is ``strangers loadtest``
    args = sys.argv[1:]
    sys.exit(
        main(args[0] if args else "ws://127.0.0.1:8000/v1/ws", args[1] if len(args) > 1 else "C")
    )
