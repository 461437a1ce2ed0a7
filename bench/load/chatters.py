"""The simulated chatters of the load generator, and how a run drives them.

Each simulated chatter is a :class:`strangers.client.Client`: it opens its own
websocket to ``/v1/ws``, solves the server's ``challenge`` (the proof of work at
hello, with the reference solver, in the event loop's thread: its time is part of the
first time-to-pair, as it is of a person's; benchmarks run the server with
``STRANGERS_POW_BITS=0``), says ``hello`` with no device token (so each is its own
device) and, pipelined as the page does, ``find``; then it talks to whoever it gets,
following ``docs/protocol.md``:

- C and E: once paired, each side sends ``round_trips`` pings (``gap`` apart), the
  partner echoes each, and the sender measures the round trip.
- F: in each match the side with the smaller session id sends one ping, waits for the
  echo and skips; the other side gets ``partner_left`` and sends ``find``. A chatter
  that has had its rounds stands by, and keeps looking without counting rounds in a
  bounded way: one standby chatter at a time is always looking
  (``standby_reserve``), and whenever a chatter that still needs a round has waited
  ``standby_after`` without a partner (parity, or the 30-minute no-repeat rule), one
  more looks; so nobody is starved by parity, and standby chatters do not churn among
  themselves. A standby chatter rests ``standby_rest`` seconds between two looks (so
  it stays within the rate limits) and ends a chat with ``stop`` where a counting one
  would skip.

Chatter ``i`` connects to ``urls[i % n]`` (round-robin by the global index, whatever
the number of client processes). Two partners may be on different gateways; a
chatter only ever learns its partner through the match id both sides receive. Every
loop is bounded in count and in time: a run has a global deadline, after which every
socket is closed and the run reports what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import queue as queue_mod
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from websockets.exceptions import ConnectionClosedOK

from strangers.client import BadFrame, Client
from strangers.core.messages import (
    Ended,
    Error,
    Matched,
    Message,
    PartnerLeft,
    PartnerTyping,
    Pong,
    Refused,
    ServerMessage,
    Waiting,
    Welcome,
)
from strangers.runtime import raise_open_files_limit

from .report import ChatterRecord
from .scenarios import Scenario

now = time.monotonic


def _mark(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


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
        self.client: Client | None = None
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
            if self.client is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await self.client.close()
            self._finish()
        # Pings still waiting for their echo when the chatter ended.
        rec.pings_unanswered = len(self.pings_sent)
        if self.state == "waiting" and rec.rounds:
            last = rec.rounds[-1]
            if last[4] is None and not last[1]:
                rec.rounds.pop()  # an uncounted look that the end cut short
        return rec

    async def _session(self) -> None:
        shared, rec = self.shared, self.rec
        rec.t_open = now()
        # No timeout of its own: the run's deadline bounds every chatter.
        client = self.client = await Client.connect(
            self.url, timeout=None, ping_interval=None, close_timeout=2.0, max_queue=64
        )
        rec.t_connected = now()
        await client.hello(language=shared.scenario.language)
        # Pipelined, as the page does: find goes right behind hello, one round trip less.
        await self._look("find", counted=True)
        while True:
            try:
                message = await client.receive(None)
            except ConnectionClosedOK:
                return
            except BadFrame as bad:
                rec.violations.append(f"not a server message ({bad.problem.code})")
                continue
            await self._on_message(message)
            if self.finished and not shared.scenario.skip:
                return

    # --- messages ------------------------------------------------------------------

    async def _on_message(self, message: ServerMessage) -> None:
        rec = self.rec
        # The most frequent first: a ping or an echo.
        if isinstance(message, Message):
            await self._on_text(message.text)
        elif isinstance(message, Matched):
            await self._on_matched(message.match)
        elif isinstance(message, Welcome):
            rec.t_welcome = now()
            rec.session = message.session
        elif isinstance(message, Waiting):
            if self.state != "waiting":
                rec.violations.append(f"waiting while {self.state}")
            elif self.ending is not None:
                rec.violations.append("waiting before ended")
        elif isinstance(message, PartnerLeft):
            await self._on_partner_left(message.match)
        elif isinstance(message, Ended):
            if self.ending is None or (message.reason, message.match) != self.ending:
                rec.violations.append(f"unexpected ended {message.reason}")
            self.ending = None
            if message.reason == "stop":
                self.state = "idle"
                self._go_standby()
        elif isinstance(message, Error):
            await self._on_error(message)
        elif isinstance(message, PartnerTyping | Pong):
            pass
        elif isinstance(message, Refused):
            rec.failure = f"refused: {message.reason}"
            raise _Stopped()
        else:
            rec.violations.append(f"unexpected {message.type!r}")

    async def _look(self, how: str, *, counted: bool) -> None:
        """Send ``find`` or ``skip`` and open a round."""
        rounds = self.rec.rounds
        if how == "skip":
            self.ending = ("skip", self.match)
        self.state = "waiting"
        self.match = None
        self.partner = None
        t = now()
        assert self.client is not None
        await (self.client.find() if how == "find" else self.client.skip())
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
        assert self.client is not None
        await self.client.say("p:" + token)

    async def _on_text(self, text: str) -> None:
        t = now()
        if text.startswith("p:"):
            assert self.client is not None
            await self.client.say("e:" + text[2:])
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
            assert self.client is not None
            await self.client.stop()

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

    async def _on_error(self, error: Error) -> None:
        code = error.code
        _mark(self.rec.errors, code)
        if code != "rate_limited":
            return
        retry = min(error.retry_after or 1.0, 5.0)
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
        if self.state != "idle" or self.client is None:
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


async def run_slice(
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
            *(c.client.close() for c in chatters if c.client is not None), return_exceptions=True
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


def use_uvloop() -> str:
    """Make uvloop the event loop of ``asyncio.run`` when it is installed (the server
    runs on it too); the loop's name."""
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
    use_uvloop()
    raise_open_files_limit()

    def progress(done: int, _total: int) -> None:
        results.put(("progress", 1))

    ready.put(os.getpid())
    start_at = starts.get(timeout=60)
    records = asyncio.run(run_slice(urls, scenario, indices, start_at, progress))
    results.put(("records", [asdict(r) for r in records]))


async def run_processes(
    urls: tuple[str, ...], scenario: Scenario, progress: Callable[[int, int], None] | None
) -> list[ChatterRecord]:
    """Run ``scenario`` over ``scenario.processes`` client processes (spawned): process
    ``k`` runs chatters ``k``, ``k + n``, ...; all start at one common time. The
    records of all, in the order of the chatters."""
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
