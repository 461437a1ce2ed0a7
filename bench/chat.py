"""Load benchmark of the chat service: the real server, simulated chatters.

Starts ``python -m strangers serve`` as a subprocess on a free loopback port
(fresh data directory, default settings), waits for ``/healthz``, warms it up
with a few chatters (not counted), then runs the scenario(s) through
:mod:`strangers.loadtest` and prints the report, with:

- the server's CPU seconds during the measured run (utime + stime, children
  included, from ``/proc/<pid>/stat``) and its peak RSS (``VmHWM`` in
  ``/proc/<pid>/status``, over the life of the process);
- the client's CPU seconds (this process and its client processes), to show
  whether the run was client-bound;
- the design §7 targets, met or missed.

Client and server share the machine (design §7: 2 cores). Each scenario gets
its own fresh server. Traffic goes to 127.0.0.1 only.

Run: ``.venv/bin/python bench/chat.py --scenario C`` (``E``, ``F``, ``all``;
``--scale 0.1`` for a quick look; ``--processes N`` to spread the clients;
``--json out.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from strangers import loadtest

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid``, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14 → index 11.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy (all cores, every process) and
    stolen by the hypervisor, from ``/proc/stat``."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


def wait_for_quiet(console: Console, limit: float, busy_below: float = 0.15) -> float:
    """Wait (at most ``limit`` seconds) until the machine was less than
    ``busy_below`` busy over one second, so that other work on the shared
    machine does not land in the figures. Returns the last busy fraction seen."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + limit
    told = False
    while True:
        busy0, _ = machine_busy_seconds()
        time.sleep(1.0)
        busy1, _ = machine_busy_seconds()
        fraction = (busy1 - busy0) / cores
        if fraction < busy_below or time.monotonic() >= deadline:
            return fraction
        if not told:
            console.print(f"waiting for the machine to be quiet (now {100 * fraction:.0f}% busy)…")
            told = True


def client_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: tempfile.TemporaryDirectory[str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"


def start_server(log_dir: Path) -> Server:
    port = free_port()
    data_dir = tempfile.TemporaryDirectory(prefix="strangers-bench-")
    env = dict(os.environ, STRANGERS_DATA_DIR=data_dir.name)
    log_path = log_dir / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the child's life
    proc = subprocess.Popen(
        [sys.executable, "-m", "strangers", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = Server(proc, port, data_dir, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server
            conn.close()
        time.sleep(0.05)
    stop_server(server)
    raise RuntimeError("server did not become healthy within 30 s")


def stop_server(server: Server) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    server.data_dir.cleanup()


def targets(report: loadtest.Report) -> list[tuple[str, bool]]:
    """The design §7 targets that apply to this scenario, with met (True) or not."""

    def p99(stats: dict[str, Any]) -> float:
        value = stats.get("p99_ms")
        return float("inf") if value is None else float(value)

    name = report.scenario
    if name == "C":
        return [
            ("time-to-pair p99 ≤ 5 ms (open → matched)", p99(report.time_to_pair_first) <= 5),
            ("message round trip p99 ≤ 3 ms", p99(report.round_trip) <= 3),
        ]
    if name == "E":
        return [
            ("everyone paired", report.never_paired == 0 and report.rounds_short == 0),
            ("time-to-pair p99 ≤ 500 ms", p99(report.time_to_pair_first) <= 500),
        ]
    if name == "F":
        return [
            ("zero lost rounds", report.lost_rounds == 0 and report.rounds_short == 0),
            ("zero double pairs", report.double_pairs == 0 and report.repeat_pairs == 0),
        ]
    return []


async def _run(url: str, scenario: loadtest.Scenario) -> loadtest.Report:
    return await loadtest.run(url, scenario)


def run_one(
    name: str,
    scale: float,
    processes: int | None,
    console: Console,
    log_dir: Path,
    quiet_wait: float,
) -> dict[str, Any]:
    scenario = loadtest.scenario(name, scale)
    if processes is not None and not scenario.skip:
        scenario = replace(scenario, processes=processes)
    server = start_server(log_dir)
    try:
        # Warm-up, not counted: the first connections of a fresh process pay for
        # imports and caches that a running service has long paid for.
        warm = loadtest.scenario("C", 0.02)
        asyncio.run(_run(server.url, warm))
        quiet = wait_for_quiet(console, quiet_wait) if quiet_wait > 0 else None
        cpu0, client0, wall0 = cpu_seconds(server.proc.pid), client_cpu_seconds(), time.monotonic()
        busy0, steal0 = machine_busy_seconds()
        report = asyncio.run(_run(server.url, scenario))
        wall = time.monotonic() - wall0
        server_cpu = cpu_seconds(server.proc.pid) - cpu0
        client_cpu = client_cpu_seconds() - client0
        busy1, steal1 = machine_busy_seconds()
        others = max(0.0, busy1 - busy0 - server_cpu - client_cpu)
        steal = steal1 - steal0
        hwm = status_kb(server.proc.pid, "VmHWM")
        rss = status_kb(server.proc.pid, "VmRSS")
        alive = server.proc.poll() is None
    finally:
        stop_server(server)
    report.extra.update(
        server_cpu_s=round(server_cpu, 2),
        client_cpu_s=round(client_cpu, 2),
        wall_s=round(wall, 2),
        server_peak_rss_mb=round(hwm / 1024, 1),
        server_rss_after_mb=round(rss / 1024, 1),
        server_alive_after=alive,
        other_processes_cpu_s=round(others, 2),
        steal_s=round(steal, 2),
        loadavg_after=os.getloadavg()[0],
        machine_busy_before=None if quiet is None else round(quiet, 3),
    )
    console.print(loadtest.render(report))
    console.print(
        f"server: {server_cpu:.2f} CPU s over {wall:.2f} s wall "
        f"({100 * server_cpu / wall:.0f}% of one core), peak RSS {hwm / 1024:.1f} MB "
        f"(RSS after {rss / 1024:.1f} MB); client: {client_cpu:.2f} CPU s "
        f"({100 * client_cpu / wall:.0f}% of one core) in {scenario.processes} process(es), "
        f"{report.extra.get('client_loop', '?')} loop; other processes on the machine: "
        f"{others:.2f} CPU s, stolen {steal:.2f} s"
    )
    result = report.to_dict()
    result["targets"] = {}
    for label, met in targets(report):
        result["targets"][label] = met
        console.print(
            f"  target {label}: " + ("[green]met[/green]" if met else "[red]MISSED[/red]")
        )
    if not alive:
        console.print(f"[red]the server died during the run; see {server.log_path}[/red]")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="C", help="C, E, F or all")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the chatter count")
    parser.add_argument("--processes", type=int, help="client processes (C and E only)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="wait up to this many seconds for the shared machine to be quiet (0: don't)",
    )
    parser.add_argument("--json", dest="json_out", help="also write the results here")
    args = parser.parse_args(argv)
    names = ["C", "E", "F"] if args.scenario.lower() == "all" else [args.scenario.upper()]
    for name in names:
        if name not in loadtest.SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    console = Console()
    console.print(
        f"strangers chat benchmark on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, client and server "
        "on the same machine, loopback"
    )
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    log_dir = Path(tempfile.mkdtemp(prefix="strangers-bench-logs-"))
    results = [
        run_one(name, args.scale, args.processes, console, log_dir, args.quiet_wait)
        for name in names
    ]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    clean = all(r["clean"] for r in results)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
