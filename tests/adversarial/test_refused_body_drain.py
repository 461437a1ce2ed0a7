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
from collections.abc import AsyncIterator
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


async def closed_by_server(reader: asyncio.StreamReader, deadline: float) -> bytes:
    """Everything the server sent until it closed (EOF, or a reset once it stopped)."""
    answer = b""
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65_536), deadline - time.monotonic())
        except ConnectionError:
            return answer
        if not chunk:
            return answer
        answer += chunk
    raise AssertionError(f"still open after {GENEROUS} s: {answer[:80]!r}")


async def test_a_trickled_refused_body_does_not_hold_the_connection(srv):
    reader, writer = await refused_upload(srv)

    async def trickle() -> None:
        while True:
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    try:
        answer = await closed_by_server(reader, time.monotonic() + GENEROUS)
    finally:
        trickling.cancel()
        await asyncio.gather(trickling, return_exceptions=True)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]


async def test_an_endless_refused_body_is_cut_off_after_the_drain(srv):
    reader, writer = await refused_upload(srv)
    sent = 0

    async def flood() -> None:
        nonlocal sent
        chunk = b"%x\r\n" % 65_536 + b" " * 65_536 + b"\r\n"
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += 65_536

    flooding = asyncio.create_task(flood())
    try:
        answer = await closed_by_server(reader, time.monotonic() + GENEROUS)
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
        writer.close()
    # The 413 was written before the drain began, so even a client cut off mid-stream
    # has it, unless the reset overtook it; what matters here is the close.
    assert not answer or answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert sent >= DRAIN_BYTES  # it was read up to the bound, then the server closed
