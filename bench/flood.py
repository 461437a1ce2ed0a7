"""Floods against a live server, and what a well-behaved pair feels meanwhile (issue 9).

For each flood, a fresh server (``python -m strangers serve`` on loopback, started as
the tests start it: ``tests/gateway/steady_pair.live_server``), a fresh data directory,
and:

1. a **well-behaved pair** in a process of its own (``steady_pair.pair_process``, from
   127.0.0.2, a network of its own): one chat line every ``--interval`` (50 ms) from one
   side, echoed at once by the other; its **round trip** (line sent → echo back) is
   measured over the flood, and every line must come back, in order;
2. the **flood**, for ``--seconds`` (10), as fast as one process on uvloop can send it,
   from its own network (127.0.0.11-15):

   - ``connections``: 64 at a time, each reads the first message and, when it is a
     challenge, solves it and says hello (let through: welcomed; refused: the
     ``rate_limited`` answer and close 1013);
   - ``messages``: 4 flooders, each matched with a sink of its own, send chat lines
     without waiting; a flooder closed or banned comes back as a new device, as an
     attacker would (let through: lines the sinks got; refused: ``rate_limited``);
   - ``skips``: 4 flooders send ``find`` then ``skip`` without waiting (let through:
     ``waiting``), new devices when closed;
   - ``frames``: 4 video pairs, each posting its frame token's JPEG 8 at a time (let
     through: 200; refused: 429), new pairs when the match ends;
   - ``sign_in``: 8 clients post console sign-ins, a new name each (let through: the
     page checked the password; refused: 429).

   ``attempts`` counts what the flood sent; ``other`` the other answers to them
   (``not_allowed``, 410...); ``unanswered`` what got no answer: lines and skips written
   into a socket the server had already closed (past its error budget, or banned) are
   never read. A flooder coming back as a new device may be refused its connection (the
   network's limit) or its ``find``: counted apart, as "joins refused".

Printed per flood: attempts, refused, let through, other; the pair's lines sent and
lost, its round trip p50/p99/max (the issue's target: p99 < 50 ms), the server's RSS
before, peak (sampled every 50 ms) and after (once the flood's sockets are closed), its
CPU seconds over the flood, and the CPU seconds other processes of the machine used
meanwhile (``/proc/stat`` minus the server, this process and the pair's).

The server runs with its default limits, except: the proof of work at 8 bits as in the
tests (``tests/conftest.py``; 16 by default, which would make the connection flood
measure this process's hashing), the frame checker of the tests
(``tests.checkers:scripted``, no models: ``--frame-checker builtin`` for the real
ones), and chat lines raised to 40 a second per session and device (defaults 5 and 10)
for the pair's 20 a second. Everything shares the machine's cores: server, flooder,
pair.

Run from the repository's root: ``.venv/bin/python bench/flood.py`` (``--seconds``,
``--floods connections,messages``, ``--interval``, ``--json out.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import httpx  # noqa: E402
import uvloop  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.conftest import TEST_POW_BITS  # noqa: E402
from tests.gateway.steady_pair import LiveServer, live_server, pair_process  # noqa: E402
from tests.images import portrait  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from chat import machine_busy_seconds, wait_for_quiet  # noqa: E402
from load.report import percentiles  # noqa: E402
from strangers.client import Client, ClientError, NotAdmitted, UnexpectedMessage  # noqa: E402
from strangers.core.messages import (  # noqa: E402
    Ended,
    Error,
    Matched,
    Message,
    Mode,
    PartnerLeft,
    ServerMessage,
    Waiting,
)

FLOODS = ("connections", "messages", "skips", "frames", "sign_in")
TARGET_P99_MS = 50.0
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Stats:
    attempts: int = 0
    refused: int = 0
    through: int = 0
    other: Counter[str] = field(default_factory=Counter)  # other answers to attempts
    setup: Counter[str] = field(default_factory=Counter)  # a flooder's own join refused


Flood = Callable[[LiveServer, str, float, Stats], Awaitable[None]]


# --- the floods --------------------------------------------------------------------------------


async def flood_connections(server: LiveServer, address: str, until: float, s: Stats) -> None:
    async def worker() -> None:
        while time.monotonic() < until:
            s.attempts += 1
            try:
                async with await Client.join(server.url, timeout=10, local_addr=(address, 0)):
                    s.through += 1
            except UnexpectedMessage as exc:  # the first message was no challenge
                count_answer(s, exc.message)
            except NotAdmitted as exc:
                count_answer(s, exc.answer)
            except (OSError, ConnectionClosed, TimeoutError, ClientError) as exc:
                s.other[type(exc).__name__] += 1

    await asyncio.gather(*(worker() for _ in range(64)))


def count_answer(s: Stats, message: ServerMessage) -> None:
    if isinstance(message, Error):
        if message.code == "rate_limited":
            s.refused += 1
        else:
            s.other[message.code] += 1
    else:
        s.other[message.type] += 1


async def join(server: LiveServer, address: str, s: Stats) -> Client | None:
    """A new device from ``address``; None (counted) when its connection is refused."""
    try:
        return await Client.join(server.url, local_addr=(address, 0))
    except (ClientError, ConnectionClosed, OSError, TimeoutError):
        s.setup["join refused"] += 1
        await asyncio.sleep(0.05)
        return None


async def matched(
    server: LiveServer, address: str, s: Stats, mode: Mode = Mode.TEXT
) -> tuple[Client, Client, Matched] | None:
    a = await join(server, address, s)
    b = await join(server, address, s) if a is not None else None
    if a is None or b is None:
        for chatter in (a, b):
            if chatter is not None:
                await chatter.close()
        return None
    tag = "flood-" + secrets.token_hex(4)
    try:
        for chatter in (a, b):
            await chatter.find(mode, [tag])
            first = await chatter.receive(5)
            if not isinstance(first, Waiting):
                raise LookupError(first.code if isinstance(first, Error) else first.type)
        return a, b, await a.expect(Matched, timeout=10)
    except (LookupError, ClientError, ConnectionClosed, TimeoutError) as exc:
        s.setup[f"find refused ({exc})"] += 1
        await a.close()
        await b.close()
        return None


async def drain(chatter: Client, on_message: Callable[[ServerMessage], None]) -> None:
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        while True:
            on_message(await chatter.receive(timeout=60))


async def blast(chatter: Client, frame: str, until: float, s: Stats) -> None:
    """Send ``frame`` over and over until the socket closes or ``until``."""
    with contextlib.suppress(ConnectionClosed):
        while time.monotonic() < until:
            await chatter.send_frame(frame)
            s.attempts += 1
            if s.attempts % 16 == 0:
                await asyncio.sleep(0)  # let the readers read


async def flood_messages(server: LiveServer, address: str, until: float, s: Stats) -> None:
    def on_sink(message: ServerMessage) -> None:
        if isinstance(message, Message):
            s.through += 1

    def on_flooder(message: ServerMessage) -> None:
        count_answer(s, message)

    async def flooder() -> None:
        while time.monotonic() < until:
            pair = await matched(server, address, s)
            if pair is None:
                continue
            a, b, _ = pair
            readers = [
                asyncio.create_task(drain(a, on_flooder)),
                asyncio.create_task(drain(b, on_sink)),
            ]
            await blast(a, json.dumps({"type": "message", "text": "flood"}), until, s)
            await a.close()
            await asyncio.wait(readers[:1], timeout=2)  # the flooder's answers, to its close
            await b.close()
            await asyncio.wait(readers[1:], timeout=2)
            for task in readers:
                task.cancel()

    await asyncio.gather(*(flooder() for _ in range(4)))


async def flood_skips(server: LiveServer, address: str, until: float, s: Stats) -> None:
    def on_answer(message: ServerMessage) -> None:
        if isinstance(message, Waiting):
            s.through += 1
        elif not isinstance(message, Matched | Ended | PartnerLeft):
            # (Those follow from skips let through: the flooders meet each other.)
            count_answer(s, message)

    async def flooder() -> None:
        while time.monotonic() < until:
            chatter = await join(server, address, s)
            if chatter is None:
                continue
            reader = asyncio.create_task(drain(chatter, on_answer))
            s.attempts += 1
            with contextlib.suppress(ConnectionClosed):
                await chatter.find()
            await blast(chatter, json.dumps({"type": "skip"}), until, s)
            await chatter.close()
            await asyncio.wait([reader], timeout=2)
            reader.cancel()

    await asyncio.gather(*(flooder() for _ in range(4)))


async def flood_frames(server: LiveServer, address: str, until: float, s: Stats) -> None:
    jpeg = portrait()
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.base, transport=transport, timeout=30) as client:

        async def poster(token: str, over: asyncio.Event) -> None:
            headers = {"content-type": "image/jpeg", "authorization": f"Bearer {token}"}
            while time.monotonic() < until and not over.is_set():
                s.attempts += 1
                try:
                    response = await client.post(
                        "/v1/frames?source=partner", content=jpeg, headers=headers
                    )
                except httpx.HTTPError as exc:
                    s.other[type(exc).__name__] += 1
                    continue
                if response.status_code == 200:
                    s.through += 1
                elif response.status_code == 429:
                    s.refused += 1
                else:
                    s.other[str(response.status_code)] += 1
                    if response.status_code in (401, 410):
                        over.set()  # the match is over (the device banned): a new pair

        async def flooder() -> None:
            while time.monotonic() < until:
                pair = await matched(server, address, s, mode=Mode.VIDEO)
                if pair is None:
                    continue
                a, b, match = pair
                over = asyncio.Event()
                token = match.frame_token or ""
                await asyncio.gather(*(poster(token, over) for _ in range(8)))
                await a.close()
                await b.close()

        await asyncio.gather(*(flooder() for _ in range(4)))


async def flood_sign_in(server: LiveServer, address: str, until: float, s: Stats) -> None:
    async def client_loop() -> None:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=server.base, transport=transport) as client:
            page = (await client.get("/mod/signin")).text
            while time.monotonic() < until:
                found = re.search(r'name="csrf" value="([^"]*)"', page)
                assert found, "no csrf field"
                s.attempts += 1
                name = "name-" + secrets.token_hex(4)
                response = await client.post(
                    "/mod/signin", data={"csrf": found[1], "name": name, "password": "guess"}
                )
                page = response.text
                if response.status_code == 200:
                    s.through += 1
                elif response.status_code == 429:
                    s.refused += 1
                else:
                    s.other[str(response.status_code)] += 1

    await asyncio.gather(*(client_loop() for _ in range(8)))


FLOOD_FUNCTIONS: dict[str, tuple[Flood, str]] = {
    "connections": (flood_connections, "127.0.0.11"),
    "messages": (flood_messages, "127.0.0.12"),
    "skips": (flood_skips, "127.0.0.13"),
    "frames": (flood_frames, "127.0.0.14"),
    "sign_in": (flood_sign_in, "127.0.0.15"),
}


# --- one run -------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class PeakRss:
    """Samples the server's VmRSS every 50 ms in a thread; ``peak`` in kB."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.peak = server.rss_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.server.rss_kb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def server_settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "pow_bits": args.pow_bits,
        "pow_max_bits": args.pow_bits,
        "frame_checker": args.frame_checker,
        # The pair's 20 lines a second per side (defaults: 5 per session, 10 per device).
        "messages_per_second": 40,
        "message_burst": 40,
        "limit_message_device": "40/second",
    }


def run_flood(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    flood, address = FLOOD_FUNCTIONS[name]
    data = work / name
    data.mkdir()
    with live_server(data, **server_settings(args)) as server:
        spawn = multiprocessing.get_context("spawn")
        mine, theirs = spawn.Pipe()
        pair = spawn.Process(target=pair_process, args=(server.url, args.interval, theirs))
        pair.start()
        try:
            ready = mine.recv() if mine.poll(60) else "no answer in 60 s"
            if ready != "ready":
                raise RuntimeError(f"the pair did not start: {ready}")
            time.sleep(1.0)  # the pair settles in; its lines before the flood are not counted
            stats = Stats()
            sockets_before = server.sockets()
            rss_before = server.rss_kb()
            cpu0, pair0, own0 = (
                server.cpu_seconds(),
                process_cpu_seconds(pair.pid),
                own_cpu_seconds(),
            )
            busy0, _ = machine_busy_seconds()
            with PeakRss(server) as peak:
                started = time.monotonic()
                uvloop.run(flood(server, address, started + args.seconds, stats))
                ended = time.monotonic()
            cpu = server.cpu_seconds() - cpu0
            busy1, _ = machine_busy_seconds()
            others = (busy1 - busy0) - cpu - (process_cpu_seconds(pair.pid) - pair0)
            others -= own_cpu_seconds() - own0
            for _ in range(200):  # the flood's sockets closed by the server too
                if server.sockets() <= sockets_before:
                    break
                time.sleep(0.05)
            time.sleep(1.0)
            rss_after = server.rss_kb()
            mine.send("stop")
            if not mine.poll(60):
                raise RuntimeError("the pair did not report")
            tally = mine.recv()
            if "error" in tally:
                raise RuntimeError(f"the pair failed: {tally['error']}")
        finally:
            pair.join(30)
            if pair.is_alive():
                pair.kill()
        alive = server.alive()
    during = [
        rtt
        for rtt, at in zip(tally["rtts"], tally["sent_at"], strict=True)
        if started <= at < ended
    ]
    rtt = percentiles(during)
    return {
        "flood": name,
        "seconds": round(ended - started, 2),
        "attempts": stats.attempts,
        "refused": stats.refused,
        "through": stats.through,
        "other": dict(stats.other),
        "setup": dict(stats.setup),
        "unanswered": stats.attempts - stats.refused - stats.through - sum(stats.other.values()),
        "pair_sent": tally["sent"],
        "pair_lost": tally["sent"] - tally["echoed"],
        "pair_unexpected": tally["unexpected"],
        "rtt": rtt,
        "rtt_target_met": rtt["p99_ms"] is not None and rtt["p99_ms"] < TARGET_P99_MS,
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_peak_mb": round(peak.peak / 1024, 1),
        "rss_after_mb": round(rss_after / 1024, 1),
        "server_cpu_s": round(cpu, 2),
        "others_cpu_s": round(max(others, 0.0), 2),
        "server_alive": alive,
        "tracebacks": len(server.tracebacks()),
    }


COLUMNS = (
    "flood",
    "attempts",
    "refused",
    "let through",
    "unanswered",
    "other",
    "flooders' joins refused",
    "pair lines (lost)",
    "pair RTT p50 / p99 / max ms",
    "p99 < 50 ms",
    "server RSS before / peak / after MB",
    "server CPU s",
    "others' CPU s",
)


def row(r: dict[str, Any]) -> list[str]:
    rtt = r["rtt"]
    return [
        r["flood"],
        str(r["attempts"]),
        str(r["refused"]),
        str(r["through"]),
        str(r["unanswered"]),
        ", ".join(f"{k} {v}" for k, v in sorted(r["other"].items())) or "-",
        ", ".join(f"{k} {v}" for k, v in sorted(r["setup"].items())) or "-",
        f"{r['pair_sent']} ({r['pair_lost']})",
        f"{rtt['p50_ms']} / {rtt['p99_ms']} / {rtt['max_ms']}",
        "met" if r["rtt_target_met"] else "**missed**",
        f"{r['rss_before_mb']} / {r['rss_peak_mb']} / {r['rss_after_mb']}",
        f"{r['server_cpu_s']} ({100 * r['server_cpu_s'] / r['seconds']:.0f}%)",
        str(r["others_cpu_s"]),
    ]


def show(results: list[dict[str, Any]], console: Console) -> None:
    """A table for the terminal, the same as Markdown for docs/performance.md."""
    table = Table(title="Floods, and the well-behaved pair's round trip meanwhile")
    for column in COLUMNS:
        table.add_column(column)
    for r in results:
        table.add_row(*row(r))
    console.print(table)
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for r in results:
        print("| " + " | ".join(row(r)) + " |")
    for r in results:
        if r["pair_unexpected"] or not r["server_alive"] or r["tracebacks"]:
            console.print(
                f"[bold red]{r['flood']}[/]: pair saw {r['pair_unexpected'][:5]}, "
                f"server alive {r['server_alive']}, {r['tracebacks']} traceback(s) in its log"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood")
    parser.add_argument("--floods", default=",".join(FLOODS), help="which, comma-separated")
    parser.add_argument("--interval", type=float, default=0.05, help="the pair's line interval")
    parser.add_argument("--pow-bits", type=int, default=int(TEST_POW_BITS))
    parser.add_argument("--frame-checker", default="tests.checkers:scripted")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max wait for quiet")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.floods.split(",") if name.strip()]
    unknown = set(names) - set(FLOODS)
    if unknown:
        parser.error(f"unknown floods: {sorted(unknown)}")
    # The server must import tests.checkers (the scripted frame checker).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    console = Console(width=240)
    console.print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.seconds:g} s per flood, the pair every {1000 * args.interval:g} ms"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        for name in names:
            wait_for_quiet(console, args.quiet_wait)
            console.print(f"flood: {name}…")
            results.append(run_flood(name, args, Path(tmp)))
    show(results, console)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
