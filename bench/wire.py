"""The websocket layer alone (issue 18): the project's own RFC 6455 framing
(``strangers.gateway.wire.ChatWire``) against picows, websockets' asyncio server and
granian, each as a bare relay with no chat behind it.

Every server runs in its own process on uvloop on 127.0.0.1, pairs connections in the
order their handshakes complete (1st with 2nd, ...) and relays every text frame to the
partner unchanged (as ``str``: each one checks the UTF-8 the chat needs to parse JSON).
No JSON, no matcher, no rate limits: the point is what the websocket layer costs.

- ``chatwire``: ``ChatWire`` as the gateway runs it (``chat_opener.py``): a minimal
  asyncio protocol parses the request with httptools (as uvicorn does), answers with
  ``handshake.opening``/``handshake.answer`` and hands the transport to a ``ChatWire``;
  one task per socket awaits ``receive()`` and writes with ``write_now`` (``send_text``
  when the partner's transport paused). uvicorn's own per-request work (its scope, the
  header deadline) is left out, so its handshake figure is a floor for the gateway's.
- ``picows``: picows 2.x (``ws_create_server``, a ``WSListener`` relaying in
  ``on_ws_frame``) on its default transport, aiofastnet (a hard dependency of picows 2;
  it replaces the loop's own socket transport); ``picows-uvloop``: the same on uvloop's
  transport (``use_aiofastnet=False``). ``max_frame_size`` 64 KiB, no auto-ping, its
  16 KiB initial read buffer per connection (``read_buffer_init_size``) left as it is.
- ``websockets``: ``websockets.asyncio.server.serve``, ``compression=None``,
  ``max_size`` 64 KiB, ``ping_interval=None`` (the chat wire sends no pings either).
- ``granian``: granian's RSGI websocket (``--interface rsgi --loop uvloop --workers 1``);
  the handshake and framing are in Rust, each message crosses into Python as an object.
  Its CPU and memory are summed over its process tree (the supervisor and the worker).

One load client, Node with ``ws`` (a fresh process per phase group), drives each
server in two runs: **paced**: ``--n`` sockets opened at ``--rate``/s; each pair does
``--trips`` round trips of a 60-byte text (A→B→A) ``--gap`` ms apart (project's
scenario C), then ``--fast-trips`` round trips back to back; **burst**: ``--burst``
sockets opened at once, then ``--burst-trips`` round trips ``--gap`` ms apart (scenario
E). Before the trips, each socket sends one 60-byte frame naming itself, so that each
learns its partner (the lower number starts the trips). The server's CPU
(utime + stime of its tree, ``/proc/<pid>/stat``) is read at each phase's end, while
the client waits: per handshake for the openings, per relayed frame (the frames the
clients received) for the trips. Also: connect→open p50/p99, round trip p50/p99, the
server's RSS at start and its peak (``VmHWM``), and the CPU other processes used
(``others``: a run disturbed by other work shows there). Servers are interleaved
(a, b, c, ... per round), each run on a fresh server after ``wait_for_quiet``;
medians over the rounds.

Run: ``.venv/bin/python bench/wire.py --rounds 3`` (``--servers chatwire,picows``,
``--json out.json``). Needs ``picows`` and ``granian`` in the venv (``pip install
picows granian``: optional bench tools like py-spy, not in pyproject or the lock) and
``ws@8`` for Node in ``--node-modules`` (default ``/tmp/strangers-peerload``; installed
there with ``npm install --prefix DIR ws@8`` when missing). Loopback only.

Left out: TLS (the deployment ends TLS at the proxy), permessage-deflate (the chat
negotiates none), the gateway's HTTP layer past the handshake, the chat's JSON and
matching, several gateway processes, and clients on other machines (client and server
share the 2 cores here, so round trips include the client's own scheduling).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peers import free_port, machine_busy, own_cpu, rss_mib, tree, wait_for_quiet

BENCH = Path(__file__).resolve().parent
SERVERS = ("chatwire", "picows", "picows-uvloop", "websockets", "granian")
MAX_SIZE = 65536
BACKLOG = 4096


# --- the relay servers (each in its own process) -------------------------------------


class Peer:
    """One socket of a relay server and its partner, once it has one."""

    __slots__ = ("conn", "partner")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.partner: Peer | None = None


class Pairing:
    """Pairs sockets in arrival order."""

    def __init__(self) -> None:
        self.waiting: Peer | None = None

    def arrive(self, peer: Peer) -> None:
        other = self.waiting
        if other is None:
            self.waiting = peer
            return
        self.waiting = None
        peer.partner, other.partner = other, peer

    def leave(self, peer: Peer) -> None:
        if self.waiting is peer:
            self.waiting = None


async def serve_chatwire(port: int) -> None:
    import httptools

    from strangers.gateway import handshake
    from strangers.gateway.errors import WireClosed
    from strangers.gateway.wire import ChatWire

    pairing = Pairing()
    tasks: set[asyncio.Task[None]] = set()

    async def relay(wire: ChatWire, me: Peer) -> None:
        try:
            while True:
                text = await wire.receive()
                partner = me.partner
                if partner is None or not isinstance(text, str):
                    continue
                other: ChatWire = partner.conn
                if not other.write_now(text):
                    with contextlib.suppress(WireClosed):
                        await other.send_text(text)
        except WireClosed:
            pass
        finally:
            pairing.leave(me)
            await wire.close(1000, "")

    class Upgrade(asyncio.Protocol):
        """The request's head (httptools, as uvicorn), then the gateway's handshake
        answer and a ChatWire on the same transport (``chat_opener.py``)."""

        def __init__(self) -> None:
            self.headers: list[tuple[bytes, bytes]] = []
            self.parser = httptools.HttpRequestParser(self)
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name.lower(), value))

        def data_received(self, data: bytes) -> None:
            transport = self.transport
            assert transport is not None
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                self.upgrade(transport, data[upgrade.args[0] :])
            except httptools.HttpParserError:
                transport.write(handshake.BAD_REQUEST.response())
                transport.close()

        def upgrade(self, transport: asyncio.Transport, pending: bytes) -> None:
            opening = handshake.opening(
                transport.get_extra_info("peername"), "ws", self.headers, None
            )
            answer = handshake.answer(
                self.parser.get_method().decode(),
                opening.headers,
                self.parser.get_http_version(),
            )
            if isinstance(answer, handshake.Refusal):
                transport.write(answer.response())
                transport.close()
                return
            wire = ChatWire(max_size=MAX_SIZE)
            transport.set_protocol(wire)
            wire.connection_made(transport)
            transport.write(answer)
            me = Peer(wire)
            pairing.arrive(me)
            task = asyncio.get_running_loop().create_task(relay(wire, me))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if pending:
                wire.data_received(pending)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upgrade, "127.0.0.1", port, backlog=BACKLOG)
    await server.serve_forever()


async def serve_picows(port: int, *, aiofastnet: bool) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    pairing = Pairing()

    class Relay(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.me = Peer(None)

        def on_ws_connected(self, transport: Any) -> None:
            self.me.conn = transport
            pairing.arrive(self.me)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.TEXT:
                text = frame.get_payload_as_utf8_text()
                partner = self.me.partner
                if partner is not None and not partner.conn.is_close_frame_sent:
                    partner.conn.send(WSMsgType.TEXT, text)
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            pairing.leave(self.me)

    server = await ws_create_server(
        lambda request: Relay(),
        "127.0.0.1",
        port,
        max_frame_size=MAX_SIZE,
        use_aiofastnet=aiofastnet,
        backlog=BACKLOG,
    )
    await server.serve_forever()


async def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    pairing = Pairing()

    async def handler(ws: Any) -> None:
        me = Peer(ws)
        pairing.arrive(me)
        try:
            async for message in ws:
                partner = me.partner
                if partner is not None and isinstance(message, str):
                    with contextlib.suppress(ConnectionClosed):
                        await partner.conn.send(message)
        finally:
            pairing.leave(me)

    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
        backlog=BACKLOG,
    ) as server:
        await server.serve_forever()


_granian_pairing = Pairing()


async def granian_app(scope: Any, proto: Any) -> None:
    """The RSGI relay (module docstring), run by ``granian --interface rsgi``."""
    if scope.proto != "ws":
        proto.response_empty(404, [])
        return
    transport = await proto.accept()
    me = Peer(transport)
    _granian_pairing.arrive(me)
    try:
        while True:
            message = await transport.receive()
            if message.kind == 0:  # close
                break
            partner = me.partner
            if partner is not None and message.kind == 2:
                with contextlib.suppress(Exception):
                    await partner.conn.send_str(message.data)
    except Exception:
        pass
    finally:
        _granian_pairing.leave(me)
        with contextlib.suppress(Exception):
            proto.close(1000)


def serve(kind: str, port: int) -> None:
    import uvloop

    if kind == "chatwire":
        uvloop.run(serve_chatwire(port))
    elif kind == "picows":
        uvloop.run(serve_picows(port, aiofastnet=True))
    elif kind == "picows-uvloop":
        uvloop.run(serve_picows(port, aiofastnet=False))
    elif kind == "websockets":
        uvloop.run(serve_websockets(port))
    else:
        raise SystemExit(f"unknown server {kind}")


# --- the load client (Node, ws@8) -----------------------------------------------------

CLIENT_JS = r"""
const WebSocket = require('ws');
const { performance } = require('perf_hooks');
const a = JSON.parse(process.argv[2]);
const PAD = 'x'.repeat(60);
const text = (tag) => (tag + ':' + PAD).slice(0, 60);
const waiters = [];
require('readline').createInterface({ input: process.stdin })
  .on('line', () => { const w = waiters.shift(); if (w) w(); });
const report = (r) => { process.stdout.write(JSON.stringify(r) + '\n');
  return new Promise((res) => waiters.push(res)); };
const pct = (xs, p) => { if (!xs.length) return null; const s = xs.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const socks = []; const openMs = []; let errors = 0; let received = 0;
const partner = []; let phase = 'open'; let introsIn = 0;
const onReply = [];
function open(i) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const ws = new WebSocket(a.url, { perMessageDeflate: false });
    socks[i] = ws;
    ws.on('open', () => { openMs.push(performance.now() - t0); resolve(true); });
    ws.on('error', () => { errors++; resolve(false); });
    ws.on('message', (data) => {
      received++;
      if (phase === 'intro') { partner[i] = parseInt(data.toString().slice(1), 10); introsIn++; }
      else if (onReply[i]) onReply[i]();
      else ws.send(data, { binary: false });  // the responder echoes, unchanged
    });
  });
}
async function trips(pairs, count, gap, rtts) {
  await Promise.all(pairs.map((i, k) => new Promise((done) => {
    let n = 0; let sent = 0;
    const send = () => { sent = performance.now(); socks[i].send(text('t' + n)); };
    onReply[i] = () => {
      const rtt = performance.now() - sent; rtts.push(rtt); n++;
      if (n >= count) { onReply[i] = null; done(); return; }
      if (gap > 0) setTimeout(send, Math.max(0, gap - rtt)); else send();
    };
    if (gap > 0) setTimeout(send, (k * gap) / pairs.length); else send();
  })));
}
(async () => {
  const opens = [];
  for (let i = 0; i < a.n; i++) {
    opens.push(open(i));
    if (a.rate > 0) await sleep(1000 / a.rate);
  }
  const ok = await Promise.all(opens);
  const live = [...ok.keys()].filter((i) => ok[i]);
  await report({ phase: 'opened', opened: live.length, errors,
    open_p50: pct(openMs, 50), open_p99: pct(openMs, 99), open_max: pct(openMs, 100) });
  phase = 'intro'; received = 0;
  await sleep(200);  // every handshake's server side has run: all are paired
  for (const i of live) socks[i].send(text('i' + i));
  const deadline = performance.now() + 20000;
  const expected = live.length - (live.length % 2);
  while (introsIn < expected && performance.now() < deadline) await sleep(10);
  phase = 'trips';
  const pairs = live.filter((i) => partner[i] !== undefined && i < partner[i]);
  await report({ phase: 'intro', received, pairs: pairs.length });
  for (const [name, count, gap] of [['paced', a.trips, a.gap], ['fast', a.fast, 0]]) {
    if (!count) continue;
    received = 0; const rtts = [];
    const t0 = performance.now();
    await trips(pairs, count, gap, rtts);
    await report({ phase: name, received, seconds: (performance.now() - t0) / 1000,
      rtt_p50: pct(rtts, 50), rtt_p99: pct(rtts, 99), round_trips: rtts.length });
  }
  await Promise.all(live.map((i) => new Promise((r) => {
    const ws = socks[i]; const t = setTimeout(r, 10000);
    ws.on('close', () => { clearTimeout(t); r(); }); ws.close(1000);
  })));
  await report({ phase: 'closed' });
  process.exit(0);
})();
"""


# --- the harness ----------------------------------------------------------------------


def tree_cpu(pids: set[int]) -> float:
    return sum(own_cpu(pid) for pid in pids)


def peak_rss_mib(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


def start_server(kind: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "granian":
        command = [
            str(Path(sys.executable).parent / "granian"),
            "--interface",
            "rsgi",
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backlog",
            str(BACKLOG),
            "--log-level",
            "warning",
            "--working-dir",
            str(BENCH),
            "wire:granian_app",
        ]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind]
        command += ["--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            time.sleep(1.0)  # let start-up settle
            return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} did not listen within 30 s; see {log}")


def drive(
    server_pids: set[int], client_args: dict[str, Any], node_modules: Path, script: Path
) -> dict[str, Any]:
    """One client process through its phases; the server's CPU read at each phase end."""
    env = dict(os.environ, NODE_PATH=str(node_modules / "node_modules"))
    client = subprocess.Popen(
        ["node", str(script), json.dumps(client_args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert client.stdin is not None and client.stdout is not None
    phases: dict[str, Any] = {}
    cpu = tree_cpu(server_pids)
    busy = machine_busy()
    start_cpu, start_busy = cpu, busy
    client_cpu = 0.0
    for raw in client.stdout:
        report = json.loads(raw)
        now = tree_cpu(server_pids)
        report["server_cpu_s"] = now - cpu
        cpu = now
        phases[report["phase"]] = report
        if report["phase"] == "closed":
            client_cpu = own_cpu(client.pid)
        client.stdin.write(b"go\n")
        client.stdin.flush()
    client.wait(timeout=60)
    if client.returncode:
        raise RuntimeError(f"the client exited with {client.returncode}")
    server_cpu = tree_cpu(server_pids) - start_cpu
    phases["server_cpu_s"] = server_cpu
    phases["others_cpu_s"] = max(0.0, machine_busy() - start_busy - server_cpu - client_cpu)
    return phases


def run_one(kind: str, args: argparse.Namespace, out: Path, script: Path) -> dict[str, Any]:
    wait_for_quiet(limit=args.quiet_limit)
    proc, port = start_server(kind, out / f"{kind}.log")
    try:
        pids = set(tree(proc.pid))
        rss_start = sum(rss_mib(pid) for pid in pids)
        url = f"ws://127.0.0.1:{port}/v1/ws"
        node_modules = Path(args.node_modules)
        paced = drive(
            pids,
            {
                "url": url,
                "n": args.n,
                "rate": args.rate,
                "trips": args.trips,
                "gap": args.gap,
                "fast": args.fast_trips,
            },
            node_modules,
            script,
        )
        burst = drive(
            pids,
            {
                "url": url,
                "n": args.burst,
                "rate": 0,
                "trips": args.burst_trips,
                "gap": args.gap,
                "fast": 0,
            },
            node_modules,
            script,
        )
        pids |= set(tree(proc.pid))
        rss_peak = peak_rss_mib(pids)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def per_frame(phase: dict[str, Any]) -> float:
        return 1e6 * phase["server_cpu_s"] / max(1, phase["received"])

    def per_open(phase: dict[str, Any]) -> float:
        return 1e6 * phase["server_cpu_s"] / max(1, phase["opened"])

    return {
        "server": kind,
        "paced_open_us": per_open(paced["opened"]),
        "paced_opened": paced["opened"]["opened"],
        "burst_open_us": per_open(burst["opened"]),
        "burst_opened": burst["opened"]["opened"],
        "errors": burst["opened"]["errors"] + paced["opened"]["errors"],
        "burst_open_p50_ms": burst["opened"]["open_p50"],
        "burst_open_p99_ms": burst["opened"]["open_p99"],
        "paced_frame_us": per_frame(paced["paced"]),
        "paced_rtt_p50_ms": paced["paced"]["rtt_p50"],
        "paced_rtt_p99_ms": paced["paced"]["rtt_p99"],
        "fast_frame_us": per_frame(paced["fast"]),
        "fast_frames_per_s": paced["fast"]["received"] / paced["fast"]["seconds"],
        "fast_rtt_p50_ms": paced["fast"]["rtt_p50"],
        "fast_rtt_p99_ms": paced["fast"]["rtt_p99"],
        "burst_frame_us": per_frame(burst["paced"]),
        "burst_rtt_p50_ms": burst["paced"]["rtt_p50"],
        "burst_rtt_p99_ms": burst["paced"]["rtt_p99"],
        "server_cpu_s": paced["server_cpu_s"] + burst["server_cpu_s"],
        "rss_start_mib": rss_start,
        "rss_peak_mib": rss_peak,
        "others_cpu_s": paced["others_cpu_s"] + burst["others_cpu_s"],
        "raw": {"paced": paced, "burst": burst},
    }


COLUMNS = (
    ("server_cpu_s", "cpu s", "{:.2f}"),
    ("paced_open_us", "open µs/conn", "{:.0f}"),
    ("burst_open_us", "burst open µs/conn", "{:.0f}"),
    ("burst_open_p50_ms", "burst open p50", "{:.0f}"),
    ("burst_open_p99_ms", "p99 ms", "{:.0f}"),
    ("paced_frame_us", "paced µs/frame", "{:.1f}"),
    ("paced_rtt_p50_ms", "paced rtt p50", "{:.2f}"),
    ("paced_rtt_p99_ms", "p99 ms", "{:.2f}"),
    ("fast_frame_us", "fast µs/frame", "{:.1f}"),
    ("fast_frames_per_s", "fast frames/s", "{:.0f}"),
    ("fast_rtt_p50_ms", "fast rtt p50", "{:.2f}"),
    ("fast_rtt_p99_ms", "p99 ms", "{:.2f}"),
    ("burst_frame_us", "burst µs/frame", "{:.1f}"),
    ("burst_rtt_p50_ms", "burst rtt p50", "{:.2f}"),
    ("burst_rtt_p99_ms", "p99 ms", "{:.2f}"),
    ("rss_start_mib", "rss start", "{:.1f}"),
    ("rss_peak_mib", "peak MiB", "{:.1f}"),
    ("others_cpu_s", "others s", "{:.2f}"),
)


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    head = "| run | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    lines = [head, rule]
    for name, row in rows:
        cells = [
            fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in COLUMNS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="paced sockets")
    parser.add_argument("--rate", type=float, default=200, help="paced sockets opened per s")
    parser.add_argument("--trips", type=int, default=10, help="paced round trips per pair")
    parser.add_argument("--gap", type=float, default=200, help="ms between paced round trips")
    parser.add_argument("--fast-trips", type=int, default=40, help="back-to-back round trips")
    parser.add_argument("--burst", type=int, default=4000, help="sockets opened at once")
    parser.add_argument("--burst-trips", type=int, default=3)
    parser.add_argument("--node-modules", default="/tmp/strangers-peerload")
    parser.add_argument(
        "--quiet-limit", type=float, default=120, help="s to wait at most for a quiet machine"
    )
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if not (Path(args.node_modules) / "node_modules" / "ws").is_dir():
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", args.node_modules, "ws@8"], check=True
        )
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit[1], limit[1]))
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="strangers-wire-") as tmp:
        out = Path(tmp)
        script = out / "client.js"
        script.write_text(CLIENT_JS)
        for number in range(1, args.rounds + 1):
            for kind in kinds:
                result = run_one(kind, args, out, script)
                result["round"] = number
                results.append(result)
                print(table([(f"{kind} #{number}", result)]).splitlines()[-1], flush=True)
    print("\nAll runs:")
    print(table([(f"{r['server']} #{r['round']}", r) for r in results]))
    print(f"\nMedians of {args.rounds}:")
    medians = []
    for kind in kinds:
        mine = [r for r in results if r["server"] == kind]
        medians.append(
            (
                kind,
                {
                    key: statistics.median(r[key] for r in mine if r[key] is not None)
                    for key, _, _ in COLUMNS
                    if any(r[key] is not None for r in mine)
                },
            )
        )
    print(table(medians))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
