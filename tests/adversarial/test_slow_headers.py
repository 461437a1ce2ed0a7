"""Attack 9b of issue 15: requests whose headers never end. On the code before the fix
the server had no header read timeout: 200 half-sent requests stayed open for as long as
the client liked (70 s when measured, and more). Now each request has
``header_timeout`` seconds to finish its line and headers, counted from the connection
or its first byte and never extended by more bytes; then 408 and close
(``gateway/serving.py``; docs/security.md, "Flooders"). A websocket, once its handshake
is in, is governed by ``hello_timeout`` and ``idle_timeout`` as before.

Against the real server, in process, with a 1 s deadline. The bounds asserted are loose
(several times the deadline): they prove the connection is closed, not how fast."""

from __future__ import annotations

import asyncio

import pytest

from ..gateway.chatter import Chatter
from ..inprocess import serving

DEADLINE = 1.0
#: Far above the deadline: the server closes long before, or never.
CLOSED_WITHIN = 10.0


@pytest.fixture
async def srv(tmp_path):
    async with serving(
        tmp_path,
        header_timeout=DEADLINE,
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
    ) as served:
        yield served


async def _open(srv) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(srv.base.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection."""
    return await asyncio.wait_for(reader.read(), CLOSED_WITHIN)


async def test_two_hundred_half_sent_requests_are_answered_408_and_closed(srv):
    opened = [await _open(srv) for _ in range(200)]
    for n, (_, writer) in enumerate(opened):
        # Half a request line, a request without its blank line, or nothing at all.
        writer.write([b"GET /v1/hea", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n", b""][n % 3])
        await writer.drain()
    answers = await asyncio.gather(*(_closed(reader) for reader, _ in opened))
    for (_, writer), answer in zip(opened, answers, strict=True):
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        writer.close()


async def test_trickling_bytes_does_not_extend_the_deadline(srv):
    reader, writer = await _open(srv)

    async def trickle() -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            await asyncio.sleep(DEADLINE / 8)

    dripping = asyncio.create_task(trickle())
    try:
        assert (await _closed(reader)).startswith(b"HTTP/1.1 408 ")
        assert not dripping.done()  # closed while the client was still sending
    finally:
        dripping.cancel()
        writer.close()


async def test_a_kept_alive_connection_gets_a_fresh_deadline_per_request(srv):
    reader, writer = await _open(srv)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSED_WITHIN)
    assert first.startswith(b"HTTP/1.1 ") and not first.startswith(b"HTTP/1.1 408")
    writer.write(b"GET /healthz HTTP/1.1\r\nHo")  # the next one, never finished
    rest = await _closed(reader)
    assert b"HTTP/1.1 408 " in rest
    writer.close()


async def test_an_open_websocket_outlives_the_header_deadline(srv):
    chatter = await Chatter.join(srv.ws)
    await asyncio.sleep(DEADLINE * 2.5)
    await chatter.send(type="ping", id=7)
    assert await chatter.expect("pong") == {"type": "pong", "id": 7}
    await chatter.close()
