"""A refused body is still read before the connection closes, so that an honest client
still sending gets its 413 rather than a reset (gateway/request_size.py, RFC 9112 §9.6).
An attacker must not turn that reading into a way to hold a connection: one that trickles
the rest of a refused body, a byte at a time, is closed once the drain's time is up, and
one that streams without end is closed once the drain's bytes are read.

Against the real server, in process, over a raw socket (the attacker's own client). Time
bounds are generous "arrives at all" bounds, not speed assertions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from strangers.gateway.request_size import DRAIN_BYTES, DRAIN_SECONDS

from ..gateway.conftest import NO_MODELS
from ..inprocess import Served, serving

CAP = 65_536
#: Far more than the drain's seconds, far less than the header timeout or a test's limit.
GENEROUS = DRAIN_SECONDS + 8.0


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(tmp_path, max_request_bytes=CAP, **NO_MODELS) as served:
        yield served


async def refused_upload(
    srv: Served,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A chunked upload whose first chunk is over the cap: refused as it arrives."""
    address = urlsplit(srv.base)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        b"POST /v1/appeals HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    writer.write(b"%x\r\n" % (CAP + 1) + b" " * (CAP + 1) + b"\r\n")
    await writer.drain()
    return reader, writer


async def answer_while_sending(
    srv: Served, send: Callable[[asyncio.StreamWriter], Awaitable[None]]
) -> bytes:
    """Everything the server sent to a refused upload until it closed the connection
    (EOF, or a reset once it stopped reading), while ``send`` goes on sending."""
    reader, writer = await refused_upload(srv)
    sending = asyncio.create_task(send(writer))
    deadline = time.monotonic() + GENEROUS
    answer = b""
    try:
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65_536), deadline - time.monotonic())
            except ConnectionError:
                return answer
            if not chunk:
                return answer
            answer += chunk
        raise AssertionError(f"still open after {GENEROUS} s: {answer[:80]!r}")
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


async def test_a_trickled_refused_body_does_not_hold_the_connection(srv):
    async def trickle(writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            await asyncio.sleep(0.1)

    answer = await answer_while_sending(srv, trickle)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]


async def test_an_endless_refused_body_is_cut_off_after_the_drain(srv):
    sent = 0

    async def flood(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        chunk = b"%x\r\n" % 65_536 + b" " * 65_536 + b"\r\n"
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += 65_536

    answer = await answer_while_sending(srv, flood)
    # The 413 was written before the drain began, so even a client cut off mid-stream
    # has it, unless the reset overtook it; what matters here is the close.
    assert not answer or answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert sent >= DRAIN_BYTES  # it was read up to the bound, then the server closed
