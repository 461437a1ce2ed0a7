"""What an idle chat socket costs the server (issue 18: 10,000 idle sockets at most
15 KiB each; docs/performance.md).

For each phase, a fresh ``strangers serve`` is started the way ``bench/peers.py`` starts
it (its ``server_env``: no proof of work, the load-test limits, so 10,000 connections
from 127.0.0.1 are not refused), with ``idle_timeout`` raised so that no socket is
closed for silence while it is measured, and ``hello_timeout``/``pow_expires`` raised so
that a socket that never says ``hello`` is not closed either (``chat_socket.py``). Then,
from this one process on uvloop, ``--n`` websockets are opened, each doing what the page
does before the chatter presses a button:

- ``opened``: read ``challenge``, and say nothing more;
- ``welcomed``: read ``challenge``, send ``hello`` with its proof (0 bits here: the first
  nonce solves it, ``core/admission.py``), read ``welcome``, and stay idle (no ``find``,
  no ``ping``: the client's keepalive is off).

Before the N opens (after a warm-up of a few sockets, opened and closed, so that one-time
costs are not charged to each socket) and ``--settle`` seconds after them, the server's
resident memory is read (``VmRSS``, and ``Anonymous``/``Private_Dirty`` of
``/proc/<pid>/smaps_rollup``: the heap, without the shared pages of its libraries), with
its CPU seconds (utime + stime of the server's process tree) over the opens. The server
must still hold every socket when it is read: its open socket descriptors, its
``strangers_chatters_online`` (``/metrics``) for ``welcomed``, and this client's open
connections are checked against N; a phase that lost any is reported as such. Only the
server's memory is counted: the client is another process.

``--tracemalloc`` runs the real app in this process instead (``tests/inprocess.py``, the
same uvicorn configuration, on uvloop), with the clients in a child process (this script
with ``--client``), and reports where the server's Python allocations per socket go:
``tracemalloc`` snapshots before and after grouped by line and by traceback, and the
objects the collector tracks, counted by type.

Run: ``.venv/bin/python bench/idle.py`` (``--n 10000 --phase both``; ``--json out.json``;
``--env KEY=VALUE`` for one more server setting) and
``.venv/bin/python bench/idle.py --tracemalloc --n 2000``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from peers import REPO, own_cpu, rss_mib, start_server, tree
from strangers.core.admission import solve
from strangers.core.messages import PROTOCOL_VERSION
from strangers.runtime import raise_open_files_limit

PHASES = ("opened", "welcomed")

#: Server settings of every phase (on top of ``peers.server_env``): nothing is closed by
#: a timeout while it is measured.
QUIET_TIMEOUTS: dict[str, str] = {
    "idle_timeout": "3600",
    "hello_timeout": "600",
    "pow_expires": "600",
}


# --- the client -------------------------------------------------------------------------


def _hello(challenge: dict[str, Any]) -> str:
    """The page's ``hello`` for ``challenge`` (docs/protocol.md): proof, age, language."""
    return json.dumps(
        {
            "type": "hello",
            "version": PROTOCOL_VERSION,
            "proof": {
                "challenge": challenge["challenge"],
                "nonce": solve(challenge["challenge"], int(challenge["bits"])),
            },
            "birth_year": 1990,
            "birth_month": 1,
            "language": "en",
        }
    )


async def _open_one(url: str, phase: str) -> ClientConnection:
    # No keepalive pings (a ping is a frame: the socket would not be idle), no
    # compression (the page's browser negotiates none), a short queue: a lean client.
    ws = await connect(
        url,
        compression=None,
        ping_interval=None,
        max_queue=4,
        open_timeout=60,
        close_timeout=1,
    )
    try:
        first = json.loads(await ws.recv())
        if first.get("type") != "challenge":
            raise RuntimeError(f"expected challenge, got {first.get('type')}")
        if phase == "welcomed":
            await ws.send(_hello(first))
            answer = json.loads(await ws.recv())
            if answer.get("type") != "welcome":
                raise RuntimeError(f"expected welcome, got {answer.get('type')}")
    except BaseException:
        ws.transport.abort()
        raise
    return ws


async def open_sockets(
    url: str, n: int, phase: str, concurrency: int = 200
) -> tuple[list[ClientConnection], Counter[str]]:
    """Open ``n`` chat sockets at ``url`` as ``phase`` says, ``concurrency`` handshakes
    at a time; the open connections and the failures by kind."""
    gate = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()

    async def one() -> ClientConnection | None:
        async with gate:
            try:
                return await _open_one(url, phase)
            except Exception as exc:
                failures[type(exc).__name__] += 1
                return None

    done = await asyncio.gather(*(one() for _ in range(n)))
    return [ws for ws in done if ws is not None], failures


def still_open(sockets: Iterable[ClientConnection]) -> int:
    return sum(1 for ws in sockets if ws.state is State.OPEN)


def drop(sockets: Iterable[ClientConnection]) -> None:
    """Cut every connection at once (no closing handshake: nothing is measured after)."""
    for ws in sockets:
        ws.transport.abort()


# --- reading the server -----------------------------------------------------------------


def smaps(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` in KiB by field (empty if unreadable)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                found[parts[0].rstrip(":")] = int(parts[1])
    return found


def open_sockets_of(pid: int) -> int:
    """How many sockets the process ``pid`` holds open."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
    return count


def metrics(port: int) -> dict[str, float]:
    """``strangers_chatters_online`` (summed over bands) and the sockets accepted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = {"online": 0.0, "accepted": 0.0}
    for line in text.splitlines():
        if line.startswith("strangers_chatters_online{"):
            found["online"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("strangers_websocket_connections_total "):
            found["accepted"] = float(line.rsplit(" ", 1)[1])
    return found


def tree_cpu(pids: Iterable[int]) -> dict[int, float]:
    return {pid: own_cpu(pid) for pid in pids}


# --- one phase against a fresh server ---------------------------------------------------


@dataclass
class Phase:
    phase: str
    n: int
    opened: int = 0
    open_after_settle: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    server_sockets_before: int = 0
    server_sockets_after: int = 0
    online_after: float = 0.0
    accepted: float = 0.0
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    per_socket_kib: float = 0.0
    anon_per_socket_kib: float = 0.0
    private_dirty_per_socket_kib: float = 0.0
    server_cpu_s: float = 0.0
    open_s: float = 0.0

    @property
    def held(self) -> bool:
        expected_online = self.n if self.phase == "welcomed" else 0
        return (
            self.opened == self.n
            and self.open_after_settle == self.n
            and self.server_sockets_after - self.server_sockets_before >= self.n
            and self.online_after == expected_online
        )

    def line(self) -> str:
        return (
            f"{self.phase:>8}: {self.n} sockets  RSS {self.rss_before_mib:.1f} → "
            f"{self.rss_after_mib:.1f} MiB = {self.per_socket_kib:.2f} KiB/socket "
            f"(anon {self.anon_per_socket_kib:.2f}, private dirty "
            f"{self.private_dirty_per_socket_kib:.2f})  server CPU {self.server_cpu_s:.2f} s "
            f"({1000 * self.server_cpu_s / max(self.n, 1):.2f} ms/open) in {self.open_s:.1f} s  "
            f"held: {'yes' if self.held else 'NO'} (client {self.open_after_settle}, "
            f"server sockets +{self.server_sockets_after - self.server_sockets_before}, "
            f"online {self.online_after:.0f})"
            + (f"  failures {self.failures}" if self.failures else "")
        )


def _settings_env(extra: dict[str, str]) -> dict[str, str]:
    env = {f"STRANGERS_{name.upper()}": value for name, value in QUIET_TIMEOUTS.items()}
    env.update(extra)
    return env


async def run_phase(
    phase: str, n: int, args: argparse.Namespace, extra: dict[str, str], log: Path
) -> Phase:
    server = start_server(_settings_env(extra), None, log)
    result = Phase(phase, n)
    sockets: list[ClientConnection] = []
    try:
        url = f"ws://127.0.0.1:{server.port}/v1/ws"
        pid = server.proc.pid
        warm, _ = await open_sockets(url, args.warmup, phase, args.concurrency)
        drop(warm)
        await asyncio.sleep(min(1.0, args.settle))  # the warm-up's sockets are gone
        pids = tree(pid)
        result.server_sockets_before = open_sockets_of(pid)
        result.rss_before_mib = rss_mib(pid)
        smaps_before = smaps(pid)
        cpu_before = tree_cpu(pids)
        started = time.monotonic()
        sockets, failures = await open_sockets(url, n, phase, args.concurrency)
        result.open_s = time.monotonic() - started
        pids_after = set(pids) | set(tree(pid))
        result.server_cpu_s = round(sum(own_cpu(p) - cpu_before.get(p, 0.0) for p in pids_after), 2)
        result.opened = len(sockets)
        result.failures = dict(failures)
        await asyncio.sleep(args.settle)
        result.rss_after_mib = rss_mib(pid)
        smaps_after = smaps(pid)
        result.server_sockets_after = open_sockets_of(pid)
        result.open_after_settle = still_open(sockets)
        read = metrics(server.port)
        result.online_after = read["online"]
        result.accepted = read["accepted"]
        per = 1024 / max(n, 1)
        result.per_socket_kib = round((result.rss_after_mib - result.rss_before_mib) * per, 2)
        for key, name in (("Anonymous", "anon"), ("Private_Dirty", "private_dirty")):
            delta = smaps_after.get(key, 0) - smaps_before.get(key, 0)
            setattr(result, f"{name}_per_socket_kib", round(delta / max(n, 1), 2))
        return result
    finally:
        drop(sockets)
        await asyncio.sleep(0.5)
        server.stop()


async def bench(args: argparse.Namespace) -> list[Phase]:
    extra = dict(item.split("=", 1) for item in args.env)
    phases = list(PHASES) if args.phase == "both" else [args.phase]
    results = []
    with tempfile.TemporaryDirectory(prefix="strangers-idle-") as out:
        for phase in phases:
            result = await run_phase(phase, args.n, args, extra, Path(out) / f"{phase}.log")
            print(result.line(), flush=True)
            results.append(result)
    return results


# --- where the memory goes: the server in this process --------------------------------


def _frames_text(trace: tracemalloc.Traceback, depth: int) -> str:
    """The innermost ``depth`` frames, newest first, paths cut to their package."""
    parts = []
    for frame in list(trace)[::-1][:depth]:
        name = frame.filename
        for marker in ("site-packages/", "src/", "lib/python3.11/"):
            if marker in name:
                name = name.split(marker, 1)[1]
                break
        parts.append(f"{name}:{frame.lineno}" if frame.lineno else name)
    return " < ".join(parts)


def _types() -> tuple[Counter[str], Counter[str]]:
    """The objects the collector tracks now: how many of each type, and their shallow
    size (``sys.getsizeof``) by type."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return counts, sizes


@contextlib.contextmanager
def _client_child(url: str, n: int, phase: str, concurrency: int) -> Iterator[Any]:
    """This script with ``--client`` in a child process: ``n`` sockets held open until
    its standard input closes. Yields its standard output."""
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--client",
            url,
            "--n",
            str(n),
            "--phase",
            phase,
            "--concurrency",
            str(concurrency),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _wait_line(stream: Any) -> str:
    line: str = await asyncio.to_thread(stream.readline)
    return line.strip()


async def where_it_goes(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    from tests.inprocess import serving

    from peers import server_env
    from strangers.runtime import settle_garbage_collector

    # The settings peers.server_env gives the subprocess, as Settings field names.
    settings: dict[str, object] = {
        key.removeprefix("STRANGERS_").lower(): value
        for key, value in server_env("", _settings_env({})).items()
        if key.startswith("STRANGERS_") and key != "STRANGERS_DATA_DIR"
    }
    n, phase = args.n, args.phase if args.phase != "both" else "welcomed"
    with tempfile.TemporaryDirectory(prefix="strangers-idle-") as data:
        async with serving(Path(data), **settings) as served:
            warm_stream: Any
            with _client_child(served.ws, args.warmup, phase, args.concurrency) as warm_stream:
                await _wait_line(warm_stream)
            await asyncio.sleep(1.0)
            settle_garbage_collector()  # as `strangers serve` does before serving
            counts_before, sizes_before = _types()
            rss_before = rss_mib(os.getpid())
            tracemalloc.start(args.depth)
            before = tracemalloc.take_snapshot()
            with _client_child(served.ws, n, phase, args.concurrency) as stream:
                said = await _wait_line(stream)
                await asyncio.sleep(args.settle)
                rss_after = rss_mib(os.getpid())
                held = open_sockets_of(os.getpid())
                as_is = tracemalloc.get_traced_memory()[0]
                collected = gc.collect()  # what is only cyclic garbage awaiting collection
                counts_after, sizes_after = _types()
                after = tracemalloc.take_snapshot()
                live = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
    per = 1 / n
    origin = sum(stat.size for stat in before.statistics("filename"))
    print(f"client: {said}; server sockets open at the snapshot: {held}")
    print(
        f"{phase}, {n} sockets: RSS +{(rss_after - rss_before) * 1024 * per:.2f} KiB/socket "
        f"(tracemalloc's own included); traced Python allocations "
        f"+{(as_is - origin) * per / 1024:.2f} KiB/socket as they stood, "
        f"+{(live - origin) * per / 1024:.2f} KiB/socket live after gc.collect() "
        f"(which found {collected * per:.1f} unreachable objects per socket)"
    )
    tables = (("file", "filename", 1), ("line", "lineno", 1), ("traceback", "traceback", 0))
    for title, key, depth in tables:
        print(f"\nlive, by {title} (bytes and blocks per socket; innermost frame first):")
        for stat in after.compare_to(before, key)[: args.top]:
            if stat.size_diff * per < 8:
                break
            frames = _frames_text(stat.traceback, depth or args.frames)
            print(f"  {stat.size_diff * per:8.1f} B {stat.count_diff * per:6.2f}  {frames}")
    print("\nlive objects the collector tracks, per socket: count, shallow bytes, type")
    grown = counts_after - counts_before
    for name, count in grown.most_common(args.top):
        if count * per < 0.5:
            break
        size = (sizes_after[name] - sizes_before[name]) * per
        print(f"  {count * per:6.2f} {size:8.1f} B  {name}")


# --- the client as a child process ------------------------------------------------------


async def client_child(args: argparse.Namespace) -> None:
    raise_open_files_limit()
    sockets, failures = await open_sockets(args.client, args.n, args.phase, args.concurrency)
    print(f"opened {len(sockets)} of {args.n} as {args.phase}; failures {dict(failures)}")
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.read)
    print(f"still open {still_open(sockets)}", file=sys.stderr)
    drop(sockets)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="sockets to open")
    parser.add_argument("--phase", choices=[*PHASES, "both"], default="both")
    parser.add_argument("--warmup", type=int, default=20, help="sockets opened and closed first")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes at a time")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--json", dest="json_out", type=Path)
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="serve in this process and report where the Python allocations per socket go",
    )
    parser.add_argument("--top", type=int, default=30, help="rows of each --tracemalloc table")
    parser.add_argument("--depth", type=int, default=12, help="frames kept per allocation")
    parser.add_argument("--frames", type=int, default=4, help="frames shown per traceback")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    raise_open_files_limit()
    if args.client:
        uvloop.run(client_child(args))
        return 0
    if args.tracemalloc:
        uvloop.run(where_it_goes(args))
        return 0
    results = uvloop.run(bench(args))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps([asdict(r) | {"held": r.held} for r in results]))
    return 0 if all(r.held for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
