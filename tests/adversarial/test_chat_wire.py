"""The chat socket's own websocket code (issue 18: ``gateway/handshake.py``,
``gateway/wire.py``, ``gateway/chat_opener.py``) under a modified client: raw TCP
sockets speaking hand-made frames and handshakes to the real server, in process.

Each attack asserts the server's answer (RFC 6455: the HTTP refusal of §4.2.1, the close
code of §7.4.1) and that the server then still serves a normal chatter, with no
traceback or error in its log (``caplog``: an in-process server logs through the test's
logging). The holes this found and the fixes (``wire.py``): a peer that pinged and never
read grew the server's send buffer without bound (7 MB from 10 MB of pings), and a
connection whose peer stopped reading never closed (the close waited for a flush that
never came), which also held a graceful shutdown until it was forced (docs/security.md,
"Flooders": every resource a client holds has a bound)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from strangers.core.messages import PROTOCOL_VERSION
from strangers.core.network import network_hash
from strangers.gateway import chat_opener
from strangers.gateway.wire import ChatWire

from ..gateway.chatter import ADULT, Chatter, proof_for
from ..gateway.client_frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    ServerFrame,
    client_frame,
    close_frame,
    server_frames,
    text,
)
from ..inprocess import Served, serving

#: Short enough that a test waiting for it waits little (the default is 10 s).
HELLO_TIMEOUT = 1.0
#: Far above every bound asserted: the server closes long before, or never.
CLOSED_WITHIN = 10.0
#: The server's ``write_timeout`` in these tests (20 s by default).
WRITE_TIMEOUT = 1.0
#: No frame is posted here: the scripted checker, in this process (no check workers to
#: start and stop with each server).
NO_FRAMES: dict[str, Any] = {
    "frame_checker": "tests.checkers:scripted",
    "frame_check_mode": "thread",
}
#: The transport's high-water mark (asyncio's and uvloop's default, 64 KiB) and a little.
SEND_BUFFER_BOUND = 65 * 1024


def record_wires(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> list[ChatWire]:
    """Every ``ChatWire`` the server makes from now on, with ``settings``."""
    wires: list[ChatWire] = []

    def make(**options: Any) -> ChatWire:
        wire = ChatWire(**settings, **options)
        wires.append(wire)
        return wire

    monkeypatch.setattr(chat_opener, "ChatWire", make)
    return wires


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[ChatWire]:
    """The server's wires, with a short ``write_timeout``: a test sees a peer that
    stopped reading dropped without waiting 20 s."""
    return record_wires(monkeypatch, write_timeout=WRITE_TIMEOUT)


@pytest.fixture
async def srv(tmp_path, made, caplog) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        hello_timeout=HELLO_TIMEOUT,
        pow_expires=HELLO_TIMEOUT,
        **NO_FRAMES,
    ) as served:
        yield served


def port_of(srv: Served) -> int:
    return int(srv.base.rsplit(":", 1)[1])


def opening_request(
    srv: Served,
    *,
    version: str = "13",
    http: str = "1.1",
    keys: tuple[str, ...] | None = None,
    extra: tuple[str, ...] = (),
) -> bytes:
    keys = keys or (base64.b64encode(os.urandom(16)).decode(),)
    lines = [
        f"GET /v1/ws HTTP/{http}",
        f"Host: 127.0.0.1:{port_of(srv)}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        *(f"Sec-WebSocket-Key: {key}" for key in keys),
        f"Sec-WebSocket-Version: {version}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect(
    srv: Served, *, receive_buffer: int | None = None, local: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        # Before connect: the window the peer sees is set at the handshake.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    if local is not None:
        sock.bind((local, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port_of(srv)))
    return await asyncio.open_connection(sock=sock)


async def response_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSED_WITHIN)
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(status.split()[1]), fields


async def opened(
    srv: Served, **connect_args: Any
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """A raw chat socket past its handshake, and the challenge it was sent."""
    reader, writer = await connect(srv, **connect_args)
    writer.write(opening_request(srv))
    status, _ = await response_head(reader)
    assert status == 101
    first = await read_frame(reader)
    assert first.opcode == TEXT
    issued = json.loads(first.payload)
    assert issued["type"] == "challenge"
    return reader, writer, issued


async def read_frame(reader: asyncio.StreamReader) -> ServerFrame:
    """The server's next frame (checked by ``server_frames``)."""
    head = await asyncio.wait_for(reader.readexactly(2), CLOSED_WITHIN)
    size = {126: 2, 127: 8}.get(head[1] & 0x7F, 0)
    field = await asyncio.wait_for(reader.readexactly(size), CLOSED_WITHIN) if size else b""
    length = int.from_bytes(field, "big") if size else head[1] & 0x7F
    payload = await asyncio.wait_for(reader.readexactly(length), CLOSED_WITHIN)
    frames, rest = server_frames(head + field + payload)
    assert len(frames) == 1 and rest == b""
    return frames[0]


async def until_closed(reader: asyncio.StreamReader) -> list[ServerFrame]:
    """Every frame the server sends until it closes the connection."""
    data = await asyncio.wait_for(reader.read(), CLOSED_WITHIN)
    frames, rest = server_frames(data)
    assert rest == b"", rest
    return frames


def clean_log(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing in the server's log at ERROR or with a traceback (what
    ``tests/gateway/test_fuzz_socket.py`` reads in a server process's log)."""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= 40]
    assert not bad, "\n".join(caplog.text.splitlines()[-40:])
    assert "Traceback" not in caplog.text


async def still_serves(srv: Served, caplog: pytest.LogCaptureFixture) -> None:
    """A normal chatter is welcomed and answered; the log holds no fault."""
    chatter = await Chatter.join(srv.ws)
    try:
        await chatter.send(type="ping", id=7)
        assert await chatter.expect("pong") == {"type": "pong", "id": 7}
    finally:
        await chatter.close()
    clean_log(caplog)


def hello_frame(issued: dict[str, Any]) -> bytes:
    hello = {"type": "hello", "version": PROTOCOL_VERSION, "proof": proof_for(issued), **ADULT}
    return text(json.dumps(hello))


# --- frames that break RFC 6455 -------------------------------------------------------------

VIOLATIONS = {
    "unmasked": (client_frame(TEXT, b'{"type":"ping"}', masked=False), 1002),
    "RSV1 (no extension was agreed)": (client_frame(TEXT, b"{}", rsv=0b100), 1002),
    "RSV3": (client_frame(BINARY, b"{}", rsv=0b001), 1002),
    "unknown data opcode": (client_frame(0x3, b"{}"), 1002),
    "unknown control opcode": (client_frame(0xB, b""), 1002),
    "a length of 2**63": (client_frame(BINARY, length=2**63, with_payload=False), 1009),
    "a message over 64 KiB": (
        # The header and a start of the payload: a client whose frame is refused from its
        # header need not send the rest (and unread bytes would make the close a reset).
        client_frame(TEXT, length=65537, with_payload=False) + b"a" * 1000,
        1009,
    ),
    "64 KiB passed in fragments": (
        text("a" * 40_000, fin=False)
        + client_frame(CONTINUATION, length=30_000, with_payload=False),
        1009,
    ),
    "a ping of 126 bytes": (client_frame(PING, b"p" * 126), 1002),
    "a fragmented ping": (client_frame(PING, b"p", fin=False), 1002),
    "a continuation with no message": (client_frame(CONTINUATION, b"{}"), 1002),
    "bad UTF-8": (text(b'{"type": "\xff"}'), 1007),
    "bad UTF-8 across fragments": (
        text(b"\xe6", fin=False) + client_frame(CONTINUATION, b"("),
        1007,
    ),
    "a close code no one may send": (close_frame(1005), 1002),
    "a close code out of range": (close_frame(999), 1002),
    "a close reason not UTF-8": (close_frame(1000, b"\xc3"), 1007),
}


@pytest.mark.parametrize("sent", sorted(VIOLATIONS), ids=str)
async def test_a_frame_against_rfc_6455_is_closed_with_its_code(srv, caplog, sent):
    data, code = VIOLATIONS[sent]
    reader, writer, _ = await opened(srv)
    writer.write(data)
    frames = await until_closed(reader)
    assert frames == [ServerFrame(CLOSE, frames[0].payload)], frames
    assert frames[0].code == code
    writer.close()
    await still_serves(srv, caplog)


async def test_a_clients_close_is_echoed_and_the_server_closes_tcp(srv, caplog):
    reader, writer, _ = await opened(srv)
    writer.write(close_frame(4321, b"done") + text("after the close"))
    assert [f.code for f in await until_closed(reader)] == [4321]
    writer.close()
    await still_serves(srv, caplog)


async def test_pings_are_answered_before_and_after_hello(srv, caplog):
    reader, writer, issued = await opened(srv)
    writer.write(client_frame(PING, b"x" * 125))
    assert await read_frame(reader) == ServerFrame(PONG, b"x" * 125)
    writer.write(hello_frame(issued))
    assert json.loads((await read_frame(reader)).payload)["type"] == "welcome"
    writer.write(client_frame(PING, b""))
    assert await read_frame(reader) == ServerFrame(PONG, b"")
    writer.close()
    await still_serves(srv, caplog)


# --- slow and unfinished --------------------------------------------------------------------


async def test_a_hello_dripped_one_byte_at_a_time_is_closed_at_hello_timeout(srv, caplog):
    reader, writer, issued = await opened(srv)

    async def drip() -> None:
        for byte in hello_frame(issued):
            writer.write(bytes([byte]))
            await asyncio.sleep(HELLO_TIMEOUT / 5)

    dripping = asyncio.create_task(drip())
    started = time.monotonic()
    try:
        frames = await until_closed(reader)
        assert time.monotonic() - started < HELLO_TIMEOUT * 4
        assert not dripping.done()  # closed while the client was still sending
    finally:
        dripping.cancel()
        writer.close()
    error = json.loads(frames[0].payload)
    assert (error["type"], error["code"]) == ("error", "hello_required")
    assert frames[-1].code == 1008
    await still_serves(srv, caplog)


async def test_a_fragmented_message_never_finished_is_closed_at_hello_timeout(srv, caplog):
    reader, writer, _ = await opened(srv)
    writer.write(text('{"type": "hel', fin=False) + client_frame(CONTINUATION, b"lo", fin=False))
    frames = await until_closed(reader)
    assert json.loads(frames[0].payload)["code"] == "hello_required"
    assert frames[-1].code == 1008
    writer.close()
    await still_serves(srv, caplog)


async def test_a_peer_that_pings_and_never_reads_holds_a_bounded_buffer_then_is_dropped(
    srv, caplog, made
):
    """10 MB of pings from a client that reads nothing: before the fix every pong was
    written into the transport's buffer (7 MB held here, and the connection never closed:
    the hello timeout's answer waited for a flush that never came)."""
    _, writer, _ = await opened(srv, receive_buffer=4096)
    flooder = made[-1]
    pings = client_frame(PING, b"p" * 125) * 1000
    for _ in range(80):
        writer.write(pings)
        await writer.drain()
    await asyncio.sleep(0.2)  # the server reads what is in flight
    assert flooder.transport is not None
    assert flooder.transport.get_write_buffer_size() <= SEND_BUFFER_BOUND
    # Responsive meanwhile: a normal chatter is served while the flooder is held.
    await still_serves(srv, caplog)
    # Not reading for write_timeout seconds while the server has bytes for it: dropped.
    deadline = time.monotonic() + HELLO_TIMEOUT + WRITE_TIMEOUT + 5
    while not flooder.lost and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert flooder.lost
    writer.close()
    clean_log(caplog)


# --- handshakes a browser never sends -------------------------------------------------------


async def refused(srv: Served, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await connect(srv)
    writer.write(request)
    status, fields = await response_head(reader)
    body = await asyncio.wait_for(reader.read(), CLOSED_WITHIN)  # then the server closes
    writer.close()
    return status, fields, body


async def test_two_keys_are_refused_400(srv, caplog):
    keys = (base64.b64encode(os.urandom(16)).decode(), base64.b64encode(os.urandom(16)).decode())
    status, fields, body = await refused(srv, opening_request(srv, keys=keys))
    assert status == 400 and len(body) == int(fields["content-length"])
    await still_serves(srv, caplog)


async def test_another_version_is_refused_426_naming_13(srv, caplog):
    status, fields, _ = await refused(srv, opening_request(srv, version="8"))
    assert status == 426 and fields["sec-websocket-version"] == "13"
    await still_serves(srv, caplog)


async def test_a_page_of_another_origin_is_refused_403(srv, caplog):
    request = opening_request(srv, extra=("Origin: https://evil.example",))
    status, _, _ = await refused(srv, request)
    assert status == 403
    await still_serves(srv, caplog)


async def test_an_http_1_0_upgrade_is_refused_400(srv, caplog):
    status, _, _ = await refused(srv, opening_request(srv, http="1.0"))
    assert status == 400
    await still_serves(srv, caplog)


async def test_frames_pipelined_before_the_101_do_not_break_the_connection(srv, caplog):
    """RFC 6455 §4.1: a client must wait for the answer before it sends a frame. One that
    does not is still answered 101, sent its challenge, and served."""
    reader, writer = await connect(srv)
    writer.write(opening_request(srv) + client_frame(PING, b"early"))
    status, _ = await response_head(reader)
    assert status == 101
    while (frame := await read_frame(reader)).opcode == PONG:
        pass  # the early ping's answer may come before or after the challenge
    issued = json.loads(frame.payload)
    writer.write(hello_frame(issued))
    while (frame := await read_frame(reader)).opcode == PONG:
        pass
    assert json.loads(frame.payload)["type"] == "welcome"
    writer.close()
    await still_serves(srv, caplog)


async def test_a_ping_pipelined_with_the_opening_is_answered_after_the_101(srv):
    reader, writer = await connect(srv)
    writer.write(opening_request(srv) + client_frame(PING, b"early"))
    status, _ = await response_head(reader)
    assert status == 101
    frames = [await read_frame(reader), await read_frame(reader)]
    writer.close()
    assert ServerFrame(PONG, b"early") in frames


# --- the peer's address (X-Forwarded-For) ---------------------------------------------------


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every chat socket the server runs (the real class, recorded as made)."""
    opened_sockets: list[Any] = []

    class Recorded(chat_opener.ChatSocket):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened_sockets.append(self)

    monkeypatch.setattr(chat_opener, "ChatSocket", Recorded)
    return opened_sockets


@pytest.mark.parametrize(
    ("peer", "seen_as"),
    [("127.0.0.1", "203.0.113.7"), ("127.0.0.3", "127.0.0.3")],
    ids=["trusted proxy", "untrusted peer"],
)
async def test_x_forwarded_for_counts_on_the_chat_path_only_from_a_trusted_proxy(
    srv, caplog, sockets, peer, seen_as
):
    """uvicorn trusts 127.0.0.1 by default (``forwarded_allow_ips``), as on every HTTP
    request: from it, the forwarded address is the one hashed into the network hash and
    captured for the session; from any other peer the header is the peer's own claim,
    and ignored (docs/design.md §6)."""
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    chatter = await Chatter.join(srv.ws, local_addr=(peer, 0), additional_headers=forwarded)
    try:
        [chat] = sockets
        key = srv.settings.subkey("network-hash")
        assert chat.network == network_hash(key, seen_as)
        capture = chat.services.addresses.of_session(chatter.welcome["session"])
        assert capture is not None and capture.address == seen_as
    finally:
        await chatter.close()
    clean_log(caplog)


# --- a graceful shutdown --------------------------------------------------------------------


async def test_a_stopping_server_closes_its_chat_sockets_with_1012_and_exits_promptly(
    tmp_path, caplog, monkeypatch
):
    """Open: a welcomed chatter, a raw socket before hello, and one that floods pings
    and reads nothing (its server side paused writing). Before the fix the last held the
    shutdown until it was forced (15 s here); now each is closed within the wire's
    ``close_timeout`` (2 s). The wires keep their default ``write_timeout`` (20 s), so
    the close's own deadline is what ends the flooder here."""
    made = record_wires(monkeypatch)
    stopping = None
    async with serving(tmp_path, hello_timeout=30, **NO_FRAMES) as served:
        chatter = await Chatter.join(served.ws)
        reader, writer, _ = await opened(served)
        _, flooding, _ = await opened(served, receive_buffer=4096)
        for _ in range(40):
            flooding.write(client_frame(PING, b"p" * 125) * 1000)
            await flooding.drain()
        await asyncio.sleep(0.2)
        assert made[-1]._writing_paused  # the server holds bytes the flooder will not read
        stopping = time.monotonic()
    stopped = time.monotonic() - stopping
    assert stopped < 5, f"the server took {stopped:.1f} s to stop"
    with pytest.raises(ConnectionClosed) as closed:
        await chatter.client.receive(CLOSED_WITHIN)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert [f.code for f in await until_closed(reader)] == [1012]
    writer.close()
    flooding.close()
    clean_log(caplog)
