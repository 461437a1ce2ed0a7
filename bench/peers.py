"""The neutral client's scenarios against strangers: ``../shared/bench/peerload.js``
(a Node program that drives this server and two other projects' servers the same way,
``--target strangers``), run beside ``bench/chat.py`` so that both clients' figures
stand in one table (docs/performance.md, "Against the Node peers").

For each run: wait for a quiet machine, start a fresh ``strangers serve`` as the neutral
client's README says (``STRANGERS_POW_BITS=0``, the load-test limits, no re-pair
cool-down, 1000 lines per second per chatter, a fresh data directory), read its
resident memory once it answers ``/healthz``, run ``peerload.js`` with the published
parameters of the scenario, and report:

- the server's CPU seconds over the run, summed over **every process of the server's
  tree** (the gateway workers and the frame-check workers, when there are any:
  ``/proc/<pid>/stat``, utime + stime) plus the Redis server's (``INFO cpu``) when the
  gateways match through Redis, and what peerload itself read of the main pid;
- the RSS of the chat process at start and the tree's RSS at start;
- peerload's time-to-pair (own join → matched, and socket start → matched), its relay
  round trip, its lost and double pairs;
- the CPU seconds other processes used during the run (``/proc/stat`` minus the server
  tree and the client), so a run disturbed by other work can be set aside.

The published parameters (``../shared/bench/README.md``):

- C: ``--n 1000 --rate 200 --pings 5 --gap 200``
- E: ``--n 4000 --rate 0 --pings 3 --gap 200``
- F: ``--n 2000 --rate 400 --pings 3 --gap 200 --rounds 3``

Run: ``.venv/bin/python bench/peers.py --scenario all --runs 3`` (``--json out.json``;
``--workers N`` for ``strangers serve --workers N``; ``--env KEY=VALUE`` for one more
server setting). ``ws`` for Node is installed once into ``--node-modules`` (default
``/tmp/strangers-peerload``) with ``npm install --prefix DIR ws@8``. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load.scenarios import LOAD_TEST_LIMITS

TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
PEERLOAD = REPO.parent / "shared" / "bench" / "peerload.js"

SCENARIOS: dict[str, list[str]] = {
    "C": ["--n", "1000", "--rate", "200", "--pings", "5", "--gap", "200"],
    "E": ["--n", "4000", "--rate", "0", "--pings", "3", "--gap", "200"],
    "F": ["--n", "2000", "--rate", "400", "--pings", "3", "--gap", "200", "--rounds", "3"],
}


def server_env(data_dir: str, extra: dict[str, str]) -> dict[str, str]:
    """The server's environment as the neutral client's README gives it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRANGERS_")}
    env.update(
        STRANGERS_DATA_DIR=data_dir,
        STRANGERS_POW_BITS="0",
        STRANGERS_POW_MAX_BITS="0",
        STRANGERS_REPAIR_COOLDOWN="0",
        STRANGERS_MESSAGES_PER_SECOND="1000",
        STRANGERS_MESSAGE_BURST="1000",
    )
    env.update({f"STRANGERS_{name.upper()}": value for name, value in LOAD_TEST_LIMITS.items()})
    env.update(extra)
    return env


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant of it alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                stat = fh.read()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def own_cpu(pid: int) -> float:
    """utime + stime of ``pid`` alone, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy() -> float:
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    return (user + nice + system + irq + softirq) / TICKS


def wait_for_quiet(limit: float = 120.0, busy_below: float = 0.15) -> None:
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + limit
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        before = machine_busy()
        time.sleep(1.0)
        quiet = quiet + 1 if (machine_busy() - before) / cores < busy_below else 0


def redis_cpu(url: str | None) -> float:
    """The Redis server's CPU seconds so far (``INFO cpu``), or 0 without Redis: with
    several gateways on Redis, its work is part of the server's."""
    if not url:
        return 0.0
    out = subprocess.run(
        ["redis-cli", "-u", url, "info", "cpu"], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: tempfile.TemporaryDirectory[str]
    redis_url: str | None = None
    namespace: str | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.data_dir.cleanup()
        if self.redis_url and self.namespace:
            keys = subprocess.run(
                ["redis-cli", "-u", self.redis_url, "--scan", "--pattern", f"{self.namespace}:*"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            for start in range(0, len(keys), 500):
                subprocess.run(
                    ["redis-cli", "-u", self.redis_url, "del", *keys[start : start + 500]],
                    capture_output=True,
                    check=False,
                )


def start_server(extra: dict[str, str], workers: int | None, log: Path) -> Server:
    data_dir = tempfile.TemporaryDirectory(prefix="strangers-peers-")
    if "STRANGERS_REDIS_URL" in extra:
        # A namespace of the run's own: no key of an earlier run is seen (deleted after).
        extra = dict(extra, STRANGERS_REDIS_NAMESPACE=f"peers-{os.urandom(4).hex()}")
    port = free_port()
    command = [sys.executable, "-m", "strangers", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, env=server_env(data_dir.name, extra), stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(
        proc,
        port,
        data_dir,
        extra.get("STRANGERS_REDIS_URL"),
        extra.get("STRANGERS_REDIS_NAMESPACE"),
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                time.sleep(1.0)  # let start-up settle (workers loading, collector frozen)
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the server did not become ready within 90 s; see {log}")


def run_one(
    scenario: str, args: argparse.Namespace, extra: dict[str, str], out_dir: Path
) -> dict[str, Any]:
    wait_for_quiet()
    server = start_server(extra, args.workers, out_dir / f"server-{scenario}.log")
    try:
        pids = tree(server.proc.pid)
        rss_start = rss_mib(server.proc.pid)
        tree_rss_start = sum(rss_mib(pid) for pid in pids)
        cpu_before = {pid: own_cpu(pid) for pid in pids}
        redis_url = extra.get("STRANGERS_REDIS_URL")
        redis_before = redis_cpu(redis_url)
        busy_before = machine_busy()
        own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = out_dir / f"peerload-{scenario}.json"
        env = dict(os.environ, NODE_PATH=str(Path(args.node_modules) / "node_modules"))
        profiler = None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            profiler = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(args.profile / f"{scenario}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        subprocess.run(
            [
                "node",
                str(args.peerload),
                "--target",
                "strangers",
                "--url",
                f"ws://127.0.0.1:{server.port}",
                *SCENARIOS[scenario],
                "--server-pid",
                str(server.proc.pid),
                "--json",
                str(report),
                "--quiet",
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL if not args.verbose else None,
        )
        busy_after = machine_busy()
        redis_used = redis_cpu(redis_url) - redis_before
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=30)
        pids_after = tree(server.proc.pid)
        server_cpu = redis_used + sum(
            own_cpu(pid) - cpu_before.get(pid, 0.0) for pid in set(pids) | set(pids_after)
        )
        own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (own_after.ru_utime + own_after.ru_stime) - (
            own_before.ru_utime + own_before.ru_stime
        )
        result: dict[str, Any] = json.loads(report.read_text())
        result.update(
            scenario=scenario,
            server_tree_cpu_s=round(server_cpu, 2),
            redis_cpu_s=round(redis_used, 2),
            server_processes=len(pids_after),
            chat_rss_start_mib=round(rss_start, 1),
            tree_rss_start_mib=round(tree_rss_start, 1),
            others_cpu_s=round(max(0.0, busy_after - busy_before - server_cpu - client_cpu), 2),
        )
        return result
    finally:
        server.stop()


def line(result: dict[str, Any]) -> str:
    pair = result["time_to_pair_ms"]
    pair_conn = result["time_to_pair_from_connect_start_ms"]
    rtt = result["relay_rtt_ms"]
    server = result.get("server") or {"cpu_s": float("nan")}
    lines = 2 * rtt.get("count", 0)
    per_line = f"{1e6 * result['server_tree_cpu_s'] / lines:.0f} µs/line, " if lines else ""
    per_chatter = 1e3 * result["server_tree_cpu_s"] / max(1, result["clients_launched"])
    return (
        f"{result['scenario']}: cpu {result['server_tree_cpu_s']:.2f} s "
        f"({per_chatter:.2f} ms/chatter, {per_line}"
        f"redis {result['redis_cpu_s']:.2f} s) "
        f"(main pid {server.get('cpu_s', float('nan')):.2f} s)  "
        f"pair p99 {pair['p99']:.1f} ms (from socket start {pair_conn['p99']:.1f})  "
        f"rtt p50/p99 {rtt['p50']:.1f}/{rtt['p99']:.1f} ms  "
        f"paired {result['rounds_paired']}/{result['rounds_total']}  "
        f"double {result['counters']['doublePair']}  "
        f"rss start {result['chat_rss_start_mib']:.0f} MiB "
        f"(tree {result['tree_rss_start_mib']:.0f}), "
        f"peak {server.get('rss_peak_MiB', 0):.0f}  "
        f"others {result['others_cpu_s']:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="C", help="C, E, F or all")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, help="strangers serve --workers N")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--peerload", type=Path, default=PEERLOAD)
    parser.add_argument("--node-modules", default="/tmp/strangers-peerload")
    parser.add_argument("--json", dest="json_out", type=Path)
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the server with py-spy into DIR/<scenario>.txt (collapsed stacks)",
    )
    parser.add_argument("--verbose", action="store_true", help="show peerload's own report")
    args = parser.parse_args(argv)
    if not (Path(args.node_modules) / "node_modules" / "ws").is_dir():
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", args.node_modules, "ws@8"], check=True
        )
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit[1], limit[1]))
    extra = dict(item.split("=", 1) for item in args.env)
    scenarios = ["C", "E", "F"] if args.scenario.lower() == "all" else [args.scenario.upper()]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="strangers-peers-out-") as out:
        for _ in range(args.runs):
            for scenario in scenarios:
                result = run_one(scenario, args, extra, Path(out))
                results.append(result)
                print(line(result), flush=True)
    if args.runs > 1:
        for scenario in scenarios:
            mine = [r for r in results if r["scenario"] == scenario]
            print(
                f"{scenario} medians of {len(mine)}: cpu "
                f"{statistics.median(r['server_tree_cpu_s'] for r in mine):.2f} s, pair p99 "
                f"{statistics.median(r['time_to_pair_ms']['p99'] for r in mine):.1f} ms, rtt p99 "
                f"{statistics.median(r['relay_rtt_ms']['p99'] for r in mine):.1f} ms"
            )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
