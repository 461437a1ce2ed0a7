"""Two chatters through a running server: the README's quick start, checked for real.

Run by ``.ci/quickstart`` with the project's venv python, against the server that
``make run`` started. Each of two websocket clients opens ``/v1/ws`` with the
``Origin`` of the page (as a browser on ``http://127.0.0.1:8000`` would, so the
Origin check of RFC 6455 §10.2 is on the path), solves the server's ``challenge``
with the reference solver (design §3, ``docs/protocol.md``: the proof of work at
``hello``; the server's default difficulty, 16 bits), says ``hello`` as an adult,
gets ``welcome``, sends ``find`` in text mode (``waiting``), and both must get
``matched`` with the same match id; one sends a line and the other must receive that
exact text; both close.

Exit code 0 when every step passed, 1 with the failed step on stderr. Every wait is
bounded (``--timeout`` seconds per step). Only loopback: the URL is checked. The chat
line is a fixed test sentence; it is compared, never printed (project rule: chat text
is not logged).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from strangers.core.admission import solve
from strangers.core.messages import PROTOCOL_VERSION
from strangers.loadtest import check_loopback

#: Frames that may come between two expected ones without meaning anything went
#: wrong (design §1: "Stranger is typing…", calm notices).
PASSING = frozenset({"typing", "notice", "pong"})
LINE = "hello from the quick start check, stranger"


class StepFailed(Exception):
    """A step of the quick start did not happen as the README says."""


class Client:
    def __init__(self, name: str, ws: ClientConnection, timeout: float) -> None:
        self.name = name
        self.ws = ws
        self.timeout = timeout

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next frame of type ``kind``, skipping only :data:`PASSING` ones."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepFailed(f"{self.name}: no {kind!r} within {self.timeout:.0f} s")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                raise StepFailed(f"{self.name}: no {kind!r} within {self.timeout:.0f} s") from None
            frame = json.loads(raw)
            if frame.get("type") == kind:
                return dict(frame)
            if frame.get("type") not in PASSING:
                # The frame's type and code only: an error's text may quote the peer.
                got = {k: frame.get(k) for k in ("type", "code", "reason") if k in frame}
                raise StepFailed(f"{self.name}: expected {kind!r}, got {got}")


async def join(stack: AsyncExitStack, name: str, url: str, origin: str, timeout: float) -> Client:
    """Open a socket, solve its challenge, say hello as an adult; the socket is
    closed when ``stack`` closes, whatever happened."""
    ws = await connect(
        url,
        origin=Origin(origin),
        compression=None,
        open_timeout=timeout,
        close_timeout=timeout,
        proxy=None,  # loopback, never through a proxy from the environment
    )
    stack.push_async_callback(ws.close)
    client = Client(name, ws, timeout)
    challenge = await client.expect("challenge")
    value, bits = str(challenge["challenge"]), int(challenge["bits"])
    started = time.monotonic()
    nonce = solve(value, bits)
    print(f"  {name}: challenge of {bits} bits solved in {time.monotonic() - started:.2f} s")
    await client.send(
        type="hello",
        version=PROTOCOL_VERSION,
        proof={"challenge": value, "nonce": nonce},
        device=None,
        birth_year=1990,
        birth_month=1,
        language="en",
    )
    welcome = await client.expect("welcome")
    print(f"  {name}: welcome, {welcome.get('band')} pool")
    return client


async def main(url: str, origin: str, timeout: float) -> None:
    async with AsyncExitStack() as stack:
        one = await join(stack, "client 1", url, origin, timeout)
        two = await join(stack, "client 2", url, origin, timeout)
        for client in (one, two):  # find → waiting → matched (docs/protocol.md)
            await client.send(type="find", mode="text", interests=[])
            await client.expect("waiting")
        first, second = await asyncio.gather(one.expect("matched"), two.expect("matched"))
        if not first.get("match") or first.get("match") != second.get("match"):
            raise StepFailed(f"different match ids: {first.get('match')} and {second.get('match')}")
        if first.get("mode") != "text" or second.get("mode") != "text":
            raise StepFailed(f"matched in mode {first.get('mode')}/{second.get('mode')}, not text")
        print("  both matched, same match id")
        await one.send(type="message", text=LINE)
        got = await two.expect("message")
        if got.get("text") != LINE or got.get("hidden"):
            raise StepFailed(
                f"client 2 got a different line ({len(str(got.get('text')))} characters, "
                f"hidden={got.get('hidden')!r}) than client 1 sent ({len(LINE)} characters)"
            )
        print(f"  client 2 received client 1's line, exactly ({len(LINE)} characters)")
        for client in (one, two):
            await client.ws.close()
            if client.ws.close_code is None:
                raise StepFailed(f"{client.name}: the socket did not close")
    print("  both closed")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/v1/ws")
    parser.add_argument("--origin", default="http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per step")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    try:
        check_loopback(args.url)  # the load generator's rule: traffic to loopback only
    except ValueError as exc:
        sys.exit(f"quick start clients: {exc}")
    if urlsplit(args.origin).hostname is None:
        sys.exit(f"quick start clients: not an origin: {args.origin!r}")
    try:
        asyncio.run(main(args.url, args.origin, args.timeout))
    except Exception as exc:  # a failed step, a refused socket, a timeout: one line each
        print(f"quick start clients: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print("quick start clients: OK")
