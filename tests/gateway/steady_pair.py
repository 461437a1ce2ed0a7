"""A well-behaved pair of chatters that keeps talking while a test (or ``bench/flood.py``)
attacks the same server: the witness that abuse costs the other chatters nothing.

Two protocol clients (:class:`strangers.client.Client`), matched with each other, from a
network of their own (:data:`PAIR_ADDRESS`, a second loopback address: on Linux all of
127.0.0.0/8 is loopback, and the server sees ``127.0.0.2`` as another network than the
attacker's ``127.0.0.1``, as a real victim would be). Every ``interval`` seconds ``a``
sends ``steady <n>``; ``b`` checks it is the next number and sends ``echo <n>`` back;
``a`` checks that echo is the next too and keeps its round trip. So a lost, duplicated
or reordered line in either direction is caught, and the round trip is measured on
the same traffic (only the benchmark reads the round trips: tests never assert on
time).

The pair runs on an event loop of its own, in a thread (:class:`PairThread`, for
tests) or a process (:func:`pair_process`, for the benchmark, so that a busy flooder
in the benchmark's process adds no GIL waits to the round trips)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from strangers.client import BadFrame, Client
from strangers.core.messages import Matched, Message, Waiting

from ..servers import server_process

#: The pair's own network (see the module's docstring).
PAIR_ADDRESS = "127.0.0.2"


@dataclass
class Tally:
    """What the pair saw so far. ``unexpected`` holds every message other than the
    chat lines (an error, ``partner_left``, ``banned``...) and every line out of order:
    a well-behaved pair sees none."""

    sent: int = 0
    received: int = 0  # steady lines b received, in order
    echoed: int = 0  # echoes a received, in order
    unexpected: list[str] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)  # seconds, per echo
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() of each echoed line

    def lost(self) -> int:
        return self.sent - self.echoed


class SteadyPair:
    def __init__(self, url: str, *, interval: float, address: str = PAIR_ADDRESS) -> None:
        self.url = url
        self.interval = interval
        self.address = address
        self.tally = Tally()
        self._sent_at: dict[int, float] = {}
        self._running = True
        self._tasks: list[asyncio.Task[None]] = []
        self.a: Client | None = None
        self.b: Client | None = None

    async def start(self) -> None:
        """Join both, match them with each other (an interest no one else gives), and
        start talking."""
        local = {"local_addr": (self.address, 0)}
        a = self.a = await Client.join(self.url, **local)
        b = self.b = await Client.join(self.url, **local)
        tag = "steady-" + secrets.token_hex(4)
        for client in (a, b):
            await client.find(interests=[tag])
            await client.expect(Waiting)
        first, second = await a.expect(Matched), await b.expect(Matched)
        assert first.match == second.match, (first, second)
        self._tasks = [
            asyncio.create_task(self._send_lines()),
            asyncio.create_task(self._echo_lines()),
            asyncio.create_task(self._read_echoes()),
        ]

    async def _send_lines(self) -> None:
        assert self.a is not None
        while self._running:
            n = self.tally.sent
            self._sent_at[n] = time.monotonic()
            self.tally.sent += 1
            await self.a.say(f"steady {n}")
            await asyncio.sleep(self.interval)

    async def _echo_lines(self) -> None:
        assert self.b is not None
        async for message in _messages(self.b):
            expected = f"steady {self.tally.received}"
            if isinstance(message, Message) and message.text == expected:
                await self.b.say(f"echo {self.tally.received}")
                self.tally.received += 1
            else:
                self.tally.unexpected.append(f"b got {message} (expected {expected!r})")

    async def _read_echoes(self) -> None:
        assert self.a is not None
        async for message in _messages(self.a):
            n = self.tally.echoed
            if isinstance(message, Message) and message.text == f"echo {n}":
                sent_at = self._sent_at.pop(n)
                self.tally.rtts.append(time.monotonic() - sent_at)
                self.tally.sent_at.append(sent_at)
                self.tally.echoed += 1
            else:
                self.tally.unexpected.append(f"a got {message} (expected 'echo {n}')")

    async def settle(self, timeout: float = 15.0) -> Tally:
        """Wait until every line sent so far came back (the pair goes on talking), or
        ``timeout``; then a copy of the tally. A line still missing then is lost."""
        target = self.tally.sent
        deadline = time.monotonic() + timeout
        while self.tally.echoed < target and time.monotonic() < deadline:
            if any(task.done() for task in self._tasks):
                break  # a socket closed: nothing more will come
            await asyncio.sleep(0.02)
        return self.snapshot()

    def snapshot(self) -> Tally:
        t = self.tally
        return Tally(
            t.sent, t.received, t.echoed, list(t.unexpected), list(t.rtts), list(t.sent_at)
        )

    async def stop(self, timeout: float = 15.0) -> Tally:
        """Stop sending, wait for the last echo, close both sockets; the final tally."""
        self._running = False
        if self._tasks:
            with contextlib.suppress(Exception):
                await self._tasks[0]
        tally = await self.settle(timeout)
        for chatter in (self.a, self.b):
            if chatter is not None:
                with contextlib.suppress(Exception):
                    await chatter.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                tally.unexpected.append(f"{task.get_name()} failed: {task.exception()!r}")
        return tally


async def _messages(client: Client) -> Any:
    """The client's messages until its socket closes; a close, or a frame that is no
    server message, is recorded by the reader that notices it as an unexpected message
    (as a string)."""
    while True:
        try:
            yield await client.receive(timeout=None)
        except BadFrame as bad:
            yield f"a bad frame ({bad})"
        except ConnectionClosed as closed:
            yield f"closed ({closed.rcvd.code if closed.rcvd else None})"
            return


class PairThread:
    """A :class:`SteadyPair` on an event loop in a thread of its own, for tests:
    ``with PairThread(url) as pair: ... pair.settle()``."""

    def __init__(self, url: str, *, interval: float = 0.25) -> None:
        self.pair = SteadyPair(url, interval=interval)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> PairThread:
        self._thread.start()
        self._call(self.pair.start(), timeout=30)
        return self

    def settle(self, timeout: float = 15.0) -> Tally:
        return self._call(self.pair.settle(timeout), timeout + 5)

    def __exit__(self, *_exc: object) -> None:
        self.final = self._call(self.pair.stop(), timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


def pair_process(url: str, interval: float, results: Connection) -> None:
    """Run a pair in this (child) process: send ``"ready"`` on ``results`` once it is
    matched and talking, run until the parent sends anything, then send back the final
    tally as a dict (or ``{"error": ...}`` if the pair could not start)."""

    async def run() -> dict[str, Any]:
        pair = SteadyPair(url, interval=interval)
        await pair.start()
        results.send("ready")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(results.fileno(), stop.set)
        await stop.wait()
        loop.remove_reader(results.fileno())
        results.recv()
        tally = await pair.stop()
        return {
            "sent": tally.sent,
            "received": tally.received,
            "echoed": tally.echoed,
            "unexpected": tally.unexpected,
            "rtts": tally.rtts,
            "sent_at": tally.sent_at,
        }

    import uvloop  # as the load generator (bench/loadtest.py) and the server run

    try:
        outcome = uvloop.run(run())
    except Exception as exc:
        outcome = {"error": repr(exc)}
    results.send(outcome)


# --- the server under attack -----------------------------------------------------------------


@dataclass
class LiveServer:
    """A real server (``tests/servers.serve``) with what the abuse tests read of it: its
    process, its log, its resident memory and the sockets it holds (from ``/proc``),
    and its own ``/metrics``."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def url(self) -> str:
        return self.base.replace("http://", "ws://") + "/v1/ws"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        """The process runs and ``/healthz`` answers 200."""
        if self.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def rss_kb(self) -> int:
        return _status_kb(self.pid, "VmRSS")

    def sockets(self) -> int:
        """Sockets the server process holds open (listening, chat sockets, HTTP)."""
        count = 0
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd).startswith("socket:")
        return count

    def cpu_seconds(self) -> float:
        """utime + stime of the server process so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{"name{labels}": value}``."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def tracebacks(self) -> list[str]:
        """Each traceback in the log, with the line that introduced it: the ``exc`` of
        a JSON line (the server's log format here), or a plain one (what Python prints
        before logging is configured)."""
        lines = self.log.read_text(errors="replace").splitlines()
        found = []
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                found.append("\n".join(lines[max(0, i - 1) : i + 12]))
            elif line.startswith("{") and '"exc"' in line:
                record = json.loads(line)
                found.append(f"{record['message']}\n{record['exc']}")
        return found


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def live_server(data_dir: Path, **settings: object) -> Iterator[LiveServer]:
    """Start a server on a free loopback port with ``STRANGERS_<NAME>`` settings (the
    suite's low proof-of-work bits come with the environment, ``tests/conftest.py``);
    stop it after."""
    with server_process(data_dir, **settings) as (process, base):
        yield LiveServer(process, base, data_dir / "server.log")
