"""Two chatters through a running server: the README's quick start, checked for real.

Run by ``.ci/quickstart`` with the project's venv python (so after ``make run`` has
installed the package: the clients are :class:`strangers.client.Client`), against the
server that ``make run`` started. Each of two websocket clients opens ``/v1/ws`` with the
``Origin`` of the page (as a browser on ``http://127.0.0.1:8000`` would, so the
Origin check of RFC 6455 §10.2 is on the path), solves the server's ``challenge``
with the reference solver (docs/design.md §3, ``docs/protocol.md``: the proof of work at
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
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from strangers.client import ADULT, Client, UnexpectedMessage
from strangers.core.messages import (
    Matched,
    Message,
    Mode,
    Notice,
    PartnerTyping,
    Pong,
    ServerMessage,
    Waiting,
)

# The load generator's rule for where traffic may go (bench/load/targets.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from load.targets import check_loopback

#: Messages that may come between two expected ones without meaning anything went
#: wrong (docs/design.md §1: "Stranger is typing…", calm notices).
PASSING = (PartnerTyping, Notice, Pong)
LINE = "hello from the quick start check, stranger"


class StepFailed(Exception):
    """A step of the quick start did not happen as the README says."""


M = TypeVar("M", bound=ServerMessage)


async def expect(client: Client, name: str, kind: type[M], timeout: float) -> M:
    """The next message of type ``kind``, skipping only :data:`PASSING` ones."""
    try:
        return await client.expect(kind, timeout, passing=PASSING)
    except TimeoutError:
        raise StepFailed(f"{name}: no {kind.__name__} within {timeout:.0f} s") from None
    except UnexpectedMessage as exc:  # it names the type and code, never a line's text
        raise StepFailed(f"{name}: {exc}") from None


async def join(stack: AsyncExitStack, name: str, url: str, origin: str, timeout: float) -> Client:
    """Open a socket with the page's ``Origin``, solve its challenge, say hello as an
    adult; the socket is closed when ``stack`` closes, whatever happened."""
    client = await Client.connect(
        url,
        origin=origin,
        timeout=timeout,
        close_timeout=timeout,
        proxy=None,  # loopback, never through a proxy from the environment
    )
    stack.push_async_callback(client.close)
    started = time.monotonic()
    await client.hello(ADULT, language="en")
    bits = client.challenge.bits
    print(f"  {name}: challenge of {bits} bits solved in {time.monotonic() - started:.2f} s")
    welcome = await client.admitted(timeout)
    print(f"  {name}: welcome, {welcome.band} pool")
    return client


async def main(url: str, origin: str, timeout: float) -> None:
    async with AsyncExitStack() as stack:
        one = await join(stack, "client 1", url, origin, timeout)
        two = await join(stack, "client 2", url, origin, timeout)
        for name, client in (("client 1", one), ("client 2", two)):
            await client.find(Mode.TEXT)  # find → waiting → matched (docs/protocol.md)
            await expect(client, name, Waiting, timeout)
        first, second = await asyncio.gather(
            expect(one, "client 1", Matched, timeout), expect(two, "client 2", Matched, timeout)
        )
        if first.match != second.match:
            raise StepFailed(f"different match ids: {first.match} and {second.match}")
        if first.mode != Mode.TEXT or second.mode != Mode.TEXT:
            raise StepFailed(f"matched in mode {first.mode}/{second.mode}, not text")
        print("  both matched, same match id")
        await one.say(LINE)
        got = await expect(two, "client 2", Message, timeout)
        if got.text != LINE or got.hidden:
            raise StepFailed(
                f"client 2 got a different line ({len(got.text)} characters, "
                f"hidden={got.hidden!r}) than client 1 sent ({len(LINE)} characters)"
            )
        print(f"  client 2 received client 1's line, exactly ({len(LINE)} characters)")
        for name, client in (("client 1", one), ("client 2", two)):
            await client.close()
            if client.ws.close_code is None:
                raise StepFailed(f"{name}: the socket did not close")
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
