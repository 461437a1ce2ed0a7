"""The chat socket's wire (``gateway/wire.py``) and opening handshake
(``gateway/handshake.py``) against RFC 6455, rule by rule.

``ChatWire`` runs on a recording transport here: the transport is the boundary (what
the protocol wrote, closed, aborted, paused), and the bytes fed to the protocol are a
client's frames made by hand (``client_frames.py``). The same rules are proven against
the live server over raw sockets in ``tests/adversarial/test_chat_wire.py``."""

from __future__ import annotations

import asyncio
import base64
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from strangers.gateway import handshake
from strangers.gateway.errors import WireClosed
from strangers.gateway.wire import ChatWire, close_payload

from .client_frames import (
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


class Transport:
    """What ``ChatWire`` did to its connection; ``buffered`` is what the transport would
    still hold unsent (the peer stopped reading)."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.buffered = 0

    def write(self, data: bytes) -> None:
        assert not self.aborted, "written after abort"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def frames(self) -> list[ServerFrame]:
        frames, rest = server_frames(bytes(self.written))
        assert rest == b"", "a server frame written in part"
        return frames


def wire(**options: Any) -> tuple[ChatWire, Transport]:
    protocol = ChatWire(**options)
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


def received(protocol: ChatWire) -> list[str | bytes]:
    """The messages delivered so far (taken from the queue, as the chat socket does)."""
    out: list[str | bytes] = []
    while protocol._messages:
        coroutine = protocol.receive()
        try:
            coroutine.send(None)
        except StopIteration as done:
            out.append(done.value)
        else:  # pragma: no cover - receive() suspends only when nothing is queued
            raise AssertionError("receive() suspended with messages queued")
    return out


def feed_bytewise(protocol: ChatWire, data: bytes) -> None:
    for i in range(len(data)):
        protocol.data_received(data[i : i + 1])


async def closed_with(protocol: ChatWire) -> int | None:
    """The close code ``receive`` raises once nothing more is queued."""
    with pytest.raises(WireClosed) as closed:
        await protocol.receive()
    return closed.value.close_code


# --- the opening handshake (RFC 6455 §4.2) --------------------------------------------------

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def request_headers(**replace: bytes | None) -> list[tuple[bytes, bytes]]:
    headers = {
        b"host": b"chat.example",
        b"upgrade": b"websocket",
        b"connection": b"Upgrade",
        b"sec-websocket-key": KEY,
        b"sec-websocket-version": b"13",
    }
    for name, value in replace.items():
        key = name.replace("_", "-").encode()
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    return list(headers.items())


def test_the_accept_key_is_rfc_6455s_own_example():
    assert handshake.accept_key(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_valid_opening_is_answered_101_with_the_accept_key_and_nothing_agreed():
    answer = handshake.answer("GET", request_headers())
    assert isinstance(answer, bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert body == b""
    status, *lines = head.split(b"\r\n")
    assert status == b"HTTP/1.1 101 Switching Protocols"
    fields = dict(line.lower().split(b": ", 1) for line in lines)
    assert fields[b"upgrade"] == b"websocket"
    assert fields[b"connection"] == b"upgrade"
    assert fields[b"sec-websocket-accept"] == b"s3pplmbitxaq9kygzzhzrbk+xoo="
    # No extension and no subprotocol: the client may use neither (§4.2.2 /5/).
    assert b"sec-websocket-extensions" not in fields
    assert b"sec-websocket-protocol" not in fields


@pytest.mark.parametrize(
    "headers",
    [
        request_headers(upgrade=b"WebSocket"),
        request_headers(connection=b"keep-alive, Upgrade"),
        request_headers(upgrade=b"foo, websocket"),
        request_headers(sec_websocket_key=b" " + KEY + b" "),
        request_headers(sec_websocket_version=b" 13 "),
    ],
)
def test_tokens_and_spaces_a_browser_may_send_are_accepted(headers):
    assert isinstance(handshake.answer("GET", headers), bytes)


@pytest.mark.parametrize(
    ("method", "version", "headers"),
    [
        ("POST", "1.1", request_headers()),
        ("GET", "1.0", request_headers()),
        ("GET", "2", request_headers()),
        ("GET", "1.1", request_headers(upgrade=None)),
        ("GET", "1.1", request_headers(upgrade=b"h2c")),
        ("GET", "1.1", request_headers(connection=None)),
        ("GET", "1.1", request_headers(connection=b"keep-alive")),
        ("GET", "1.1", request_headers(sec_websocket_key=None)),
        ("GET", "1.1", request_headers(sec_websocket_key=b"not base64!")),
        ("GET", "1.1", request_headers(sec_websocket_key=base64.b64encode(b"x" * 15))),
        ("GET", "1.1", request_headers(sec_websocket_key=base64.b64encode(b"x" * 17))),
        ("GET", "1.1", request_headers(sec_websocket_key=b"")),
        ("GET", "1.1", [*request_headers(), (b"sec-websocket-key", KEY)]),
        (
            "GET",
            "1.1",
            [*request_headers(), (b"sec-websocket-key", base64.b64encode(b"y" * 16))],
        ),
    ],
)
def test_a_request_that_is_no_websocket_opening_is_refused_400(method, version, headers):
    answer = handshake.answer(method, headers, version)
    assert answer is handshake.BAD_REQUEST


@pytest.mark.parametrize("version", [None, b"8", b"12", b"14", b"13, 8", b""])
def test_another_protocol_version_is_refused_426_naming_13(version):
    answer = handshake.answer("GET", request_headers(sec_websocket_version=version))
    assert answer is handshake.WRONG_VERSION
    response = answer.response()
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nsec-websocket-version: 13\r\n" in response


@pytest.mark.parametrize(
    "refusal", [handshake.BAD_REQUEST, handshake.WRONG_VERSION, handshake.FORBIDDEN]
)
def test_a_refusal_is_a_complete_http_response_that_closes(refusal):
    head, _, body = refusal.response().partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    assert status == f"HTTP/1.1 {refusal.status} {refusal.reason}".encode()
    fields = dict(line.split(b": ", 1) for line in lines)
    assert int(fields[b"content-length"]) == len(body) == len(refusal.text.encode())
    assert fields[b"connection"] == b"close"


# --- the peer's address: uvicorn's rule for trusted proxies ----------------------------------


def proxies(trusted: str = "127.0.0.1") -> handshake.TrustedProxies:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called
        raise AssertionError

    return ProxyHeadersMiddleware(app, trusted).trusted_hosts  # type: ignore[no-any-return]


async def uvicorn_sees(
    client: tuple[str, int], headers: list[tuple[bytes, bytes]], trusted: str
) -> tuple[str | None, str]:
    """The client address and scheme uvicorn's own middleware gives every other request
    (the HTTP path), for the same connection and headers."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = ProxyHeadersMiddleware(app, trusted)
    scope = {"type": "websocket", "scheme": "ws", "client": client, "headers": headers}
    await middleware(scope, None, None)  # type: ignore[arg-type]
    return (seen["client"][0] if seen["client"] else None), seen["scheme"]


FORWARDED = [
    [],
    [(b"x-forwarded-for", b"203.0.113.7")],
    [(b"x-forwarded-for", b"203.0.113.7, 127.0.0.1")],
    [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.7")],
    [(b"x-forwarded-for", b" 203.0.113.7 ,  10.0.0.9 ")],
    [(b"x-forwarded-for", b"")],
    [(b"x-forwarded-for", b"not an address")],
    [(b"x-forwarded-for", b"2001:db8::1")],
    [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-for", b"203.0.113.7")],
    [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.7")],
    [(b"x-forwarded-proto", b"wss")],
    [(b"x-forwarded-proto", b"gopher")],
]


@pytest.mark.parametrize("forwarded", FORWARDED)
@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.3", "127.0.0.1"),
        ("10.0.0.2", "10.0.0.0/8"),
        ("10.0.0.2", "*"),
    ],
)
async def test_the_chat_path_reads_x_forwarded_for_as_uvicorn_does_for_http(
    forwarded, peer, trusted
):
    headers = request_headers() + forwarded
    opening = handshake.opening((peer, 50000), "ws", headers, proxies(trusted))
    assert (opening.client, opening.scheme) == await uvicorn_sees((peer, 50000), headers, trusted)


def test_forwarded_headers_count_only_from_a_trusted_proxy():
    forwarded = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    headers = request_headers() + forwarded
    trusted = handshake.opening(("127.0.0.1", 1), "ws", headers, proxies())
    assert (trusted.client, trusted.scheme) == ("203.0.113.7", "wss")
    untrusted = handshake.opening(("127.0.0.3", 1), "ws", headers, proxies())
    assert (untrusted.client, untrusted.scheme) == ("127.0.0.3", "ws")
    off = handshake.opening(("127.0.0.1", 1), "ws", headers, None)  # proxy_headers off
    assert (off.client, off.scheme) == ("127.0.0.1", "ws")
    unknown = handshake.opening(None, "ws", headers, proxies())
    assert unknown.client is None


# --- frames that arrive right ---------------------------------------------------------------


def test_a_text_message_is_delivered_as_str_and_a_binary_one_as_bytes():
    protocol, transport = wire()
    protocol.data_received(text("héllo 𝄞") + client_frame(BINARY, b"\x00\xff"))
    assert received(protocol) == ["héllo 𝄞", b"\x00\xff"]
    assert transport.written == b"" and not transport.closed


def test_several_frames_in_one_chunk_are_each_delivered_in_order():
    protocol, _ = wire()
    protocol.data_received(b"".join(text(f"line {i}") for i in range(10)))
    assert received(protocol) == [f"line {i}" for i in range(10)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536])
def test_each_length_encoding_is_read_up_to_the_size_limit(size):
    # 0-125 in the header, 126-65535 in 16 bits, 65536 in 64 bits (RFC 6455 §5.2).
    protocol, transport = wire(max_size=65536)
    protocol.data_received(
        client_frame(BINARY, bytes(range(256)) * (size // 256) + b"a" * (size % 256))
    )
    assert [len(m) for m in received(protocol)] == [size]
    assert not transport.closed


STREAM = (
    text("first")
    + client_frame(PING, b"are you there")
    + text("日本", fin=False)
    + client_frame(CONTINUATION, "語".encode()[:1], fin=False)  # a character cut in two
    + client_frame(PING, b"")
    + client_frame(CONTINUATION, "語".encode()[1:] + b"!", fin=True)
    + client_frame(PONG, b"unsolicited")
    + client_frame(BINARY, b"x" * 300)
    + text("é" * 100)  # 16-bit length
)
STREAM_MESSAGES = ["first", "日本語!", b"x" * 300, "é" * 100]


def test_frames_fed_one_byte_at_a_time_parse_as_when_whole():
    whole, whole_transport = wire()
    whole.data_received(STREAM)
    bytewise, bytewise_transport = wire()
    feed_bytewise(bytewise, STREAM)
    assert received(whole) == received(bytewise) == STREAM_MESSAGES
    assert whole_transport.frames() == bytewise_transport.frames()


def test_a_fragmented_text_with_a_character_split_across_fragments_is_one_message():
    protocol, _ = wire()
    data = "naïve café ✓ 𝄞".encode()
    cuts = [3, 11, len(data) - 2]  # inside ï, inside ✓, inside 𝄞
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    protocol.data_received(
        text(pieces[0], fin=False)
        + b"".join(client_frame(CONTINUATION, p, fin=False) for p in pieces[1:-1])
        + client_frame(CONTINUATION, pieces[-1])
    )
    assert received(protocol) == ["naïve café ✓ 𝄞"]


def test_a_ping_inside_a_fragmented_message_is_answered_at_once_and_the_message_kept():
    protocol, transport = wire()
    protocol.data_received(text("hel", fin=False) + client_frame(PING, b"\x01\x02"))
    assert transport.frames() == [ServerFrame(PONG, b"\x01\x02")]
    assert received(protocol) == []
    protocol.data_received(client_frame(CONTINUATION, b"lo"))
    assert received(protocol) == ["hello"]


def test_empty_continuation_frames_hold_no_memory():
    """A fragmented message is one buffer of at most ``max_size`` bytes: fragments of
    no bytes, sent without end, add nothing to it."""
    protocol, _ = wire()
    protocol.data_received(text("x", fin=False))
    empty = client_frame(CONTINUATION, b"", fin=False)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            protocol.data_received(empty * 10_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown
    protocol.data_received(client_frame(CONTINUATION, b"y"))
    assert received(protocol) == ["xy"]


# --- protocol violations: the close code, and nothing delivered after ----------------------

VIOLATIONS = {
    "unmasked frame": (client_frame(TEXT, b"hi", masked=False), 1002),
    "RSV1": (client_frame(TEXT, b"hi", rsv=0b100), 1002),
    "RSV2": (client_frame(TEXT, b"hi", rsv=0b010), 1002),
    "RSV3": (client_frame(TEXT, b"hi", rsv=0b001), 1002),
    **{f"opcode {op:#x}": (client_frame(op, b"hi"), 1002) for op in (3, 4, 5, 6, 7)},
    **{f"opcode {op:#x}": (client_frame(op, b"hi"), 1002) for op in (0xB, 0xC, 0xD, 0xE, 0xF)},
    "fragmented ping": (client_frame(PING, b"hi", fin=False), 1002),
    "fragmented close": (client_frame(CLOSE, b"\x03\xe8", fin=False), 1002),
    "ping of 126 bytes": (client_frame(PING, b"p" * 126), 1002),
    "pong of 126 bytes": (client_frame(PONG, b"p" * 126), 1002),
    "close of 126 bytes": (client_frame(CLOSE, b"\x03\xe8" + b"r" * 124), 1002),
    "continuation first": (client_frame(CONTINUATION, b"hi"), 1002),
    "text inside a fragmented text": (text("a", fin=False) + text("b"), 1002),
    "binary inside a fragmented text": (text("a", fin=False) + client_frame(BINARY, b"b"), 1002),
    "over max_size": (client_frame(BINARY, length=65537, with_payload=False), 1009),
    "over max_size in fragments": (
        text("a" * 40_000, fin=False)
        + client_frame(CONTINUATION, length=30_000, with_payload=False),
        1009,
    ),
    "a length of 2**63": (client_frame(TEXT, length=2**63, with_payload=False), 1009),
    "a length of 2**64 - 1": (client_frame(TEXT, length=2**64 - 1, with_payload=False), 1009),
    "invalid UTF-8": (text(b"\xff"), 1007),
    "a surrogate in UTF-8": (text(b"\xed\xa0\x80"), 1007),
    "an overlong slash": (text(b"\xc0\xaf"), 1007),
    "invalid UTF-8 once joined": (
        text(b"\xc3", fin=False) + client_frame(CONTINUATION, b"("),
        1007,
    ),
    "a message ending inside a character": (
        text(b"a", fin=False) + client_frame(CONTINUATION, b"\xe6\x97"),
        1007,
    ),
    "a close payload of one byte": (client_frame(CLOSE, b"\x03"), 1002),
    **{
        f"close code {code}": (close_frame(code), 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    },
    "a close reason not UTF-8": (close_frame(1000, b"\xff"), 1007),
}


@pytest.fixture(params=sorted(VIOLATIONS), ids=str)
def violation(request: pytest.FixtureRequest) -> Iterator[tuple[bytes, int]]:
    yield VIOLATIONS[request.param]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_a_violation_fails_the_connection_with_its_code_and_delivers_nothing_after(
    violation, bytewise
):
    data, code = violation
    protocol, transport = wire(max_size=65536)
    chunk = text("before") + data + text("after") + client_frame(PING, b"after")
    if bytewise:
        feed_bytewise(protocol, chunk)
    else:
        protocol.data_received(chunk)
    protocol.data_received(text("later") + client_frame(PING, b"later"))
    assert received(protocol) == ["before"]
    frames = transport.frames()
    assert [f.opcode for f in frames] == [CLOSE], frames  # no pong after the failure
    assert frames[0].code == code
    assert transport.closed  # the server closes TCP (RFC 6455 §7.1.7)
    assert await closed_with(protocol) == code
    with pytest.raises(WireClosed):
        await protocol.send_text("too late")
    assert transport.frames() == frames


async def test_a_frame_over_the_size_limit_is_refused_from_its_header():
    protocol, transport = wire(max_size=1000)
    protocol.data_received(client_frame(BINARY, length=1001, with_payload=False)[:4])
    assert [f.code for f in transport.frames()] == [1009]
    assert await closed_with(protocol) == 1009


# --- closing (RFC 6455 §7.1) ----------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 1012, 1014, 3000, 4000, 4999])
async def test_the_peers_close_is_echoed_with_its_code_then_tcp_closed(code):
    protocol, transport = wire()
    protocol.data_received(text("last") + close_frame(code, "bye ✓".encode()) + text("ignored"))
    assert received(protocol) == ["last"]
    assert [(f.opcode, f.code) for f in transport.frames()] == [(CLOSE, code)]
    assert transport.closed and not transport.aborted
    assert await closed_with(protocol) == code


async def test_an_empty_close_is_echoed_empty_and_reads_as_1005():
    protocol, transport = wire()
    protocol.data_received(close_frame())
    assert transport.frames() == [ServerFrame(CLOSE, b"")]
    assert await closed_with(protocol) == 1005


async def test_our_close_then_the_peers_answer_closes_tcp():
    protocol, transport = wire(close_timeout=30)
    await protocol.close(4000, "idle")
    assert transport.frames() == [ServerFrame(CLOSE, close_payload(4000, "idle"))]
    assert not transport.closed  # waiting for the peer's close frame
    assert await closed_with(protocol) == 4000
    with pytest.raises(WireClosed):
        await protocol.send_text("after close")
    # Data and pings after our close are discarded and unanswered (§5.5.1).
    protocol.data_received(text("late") + client_frame(PING, b"late"))
    assert received(protocol) == []
    protocol.data_received(close_frame(1000))
    assert transport.closed and not transport.aborted
    assert len(transport.frames()) == 1  # our close is not sent twice
    protocol.connection_lost(None)
    assert protocol.close_code == 4000
    await protocol.close(1000)  # closing again is harmless
    assert len(transport.frames()) == 1


async def test_our_close_unanswered_closes_tcp_after_close_timeout():
    protocol, transport = wire(close_timeout=0.05)
    await protocol.close(1000)
    await asyncio.sleep(0.2)
    assert transport.closed and not transport.aborted


async def test_a_close_that_cannot_be_flushed_is_aborted_after_close_timeout():
    """A peer that reads nothing would hold a closing connection for ever: its close
    frame waits in the transport, and ``close`` waits for the flush."""
    protocol, transport = wire(close_timeout=0.05)
    transport.buffered = 1 << 20
    protocol.data_received(close_frame(1000))  # the peer's close, echoed into a full buffer
    assert transport.closed and not transport.aborted
    await asyncio.sleep(0.2)
    assert transport.aborted


async def test_a_failed_connection_that_cannot_be_flushed_is_aborted_after_close_timeout():
    protocol, transport = wire(close_timeout=0.05)
    transport.buffered = 1 << 20
    protocol.data_received(text(b"\xff"))
    assert [f.code for f in transport.frames()] == [1007] and transport.closed
    await asyncio.sleep(0.2)
    assert transport.aborted


async def test_the_peers_eof_closes_and_is_bounded_too():
    protocol, transport = wire(close_timeout=0.05)
    transport.buffered = 1 << 20
    assert not protocol.eof_received()  # the transport closes itself
    await asyncio.sleep(0.2)
    assert transport.aborted


async def test_a_lost_connection_ends_receive_and_send_with_1006_and_calls_on_lost_once():
    protocol, _ = wire()
    lost = []
    protocol.on_lost = lambda: lost.append(1)
    waiting = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    protocol.connection_lost(ConnectionResetError())
    with pytest.raises(WireClosed) as closed:
        await waiting
    assert closed.value.close_code == 1006
    with pytest.raises(WireClosed):
        await protocol.send_text("x")
    await protocol.close(1000)  # nothing to do, no error
    protocol.connection_lost(None)
    assert lost == [1]
    assert not await protocol.accept()


async def test_receive_waits_for_a_message_and_is_woken_by_a_close():
    protocol, _ = wire()
    waiting = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    protocol.data_received(text("hi"))
    assert await waiting == "hi"
    waiting = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    protocol.data_received(close_frame(1001))
    with pytest.raises(WireClosed) as closed:
        await waiting
    assert closed.value.close_code == 1001


async def test_shutdown_closes_with_1012_and_wakes_the_reader():
    protocol, transport = wire()
    waiting = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    protocol.shutdown()
    with pytest.raises(WireClosed) as closed:
        await waiting
    assert closed.value.close_code == 1012
    assert [f.code for f in transport.frames()] == [1012]


def test_a_close_reason_is_cut_to_fit_at_a_characters_edge():
    payload = close_payload(1000, "é" * 100)  # 200 bytes of UTF-8
    assert len(payload) <= 125
    assert payload[2:].decode() == "é" * 61


async def test_a_server_text_is_one_unmasked_final_frame():
    protocol, transport = wire()
    for size in (0, 125, 126, 65535, 65536, 70000):
        await protocol.send_text("a" * size)
    assert [(f.opcode, len(f.payload)) for f in transport.frames()] == [
        (TEXT, size) for size in (0, 125, 126, 65535, 65536, 70000)
    ]


# --- flow control ---------------------------------------------------------------------------


async def test_reading_pauses_at_max_queue_and_resumes_below_half():
    protocol, transport = wire(max_queue=4)
    protocol.data_received(b"".join(text(str(i)) for i in range(3)))
    assert transport.reading
    protocol.data_received(text("3"))
    assert not transport.reading
    assert await protocol.receive() == "0"
    assert await protocol.receive() == "1"
    assert not transport.reading  # 2 left: not below half of 4
    assert await protocol.receive() == "2"
    assert transport.reading


async def test_send_waits_while_writing_is_paused_and_goes_on_when_resumed():
    protocol, transport = wire()
    protocol.pause_writing()
    sending = asyncio.ensure_future(protocol.send_text("held"))
    await asyncio.sleep(0.01)
    assert not sending.done() and transport.written == b""
    protocol.resume_writing()
    await sending
    assert transport.frames() == [ServerFrame(TEXT, b"held")]


async def test_write_now_writes_only_when_no_wait_is_needed():
    protocol, transport = wire(close_timeout=30)
    assert protocol.write_now("now")
    protocol.pause_writing()
    assert not protocol.write_now("paused")
    protocol.resume_writing()
    assert protocol.write_now("resumed")
    await protocol.close(1000)
    assert not protocol.write_now("closing")
    protocol.connection_lost(None)
    assert not protocol.write_now("gone")
    assert [f.payload for f in transport.frames() if f.opcode == TEXT] == [b"now", b"resumed"]


async def test_a_send_waiting_on_a_paused_transport_ends_when_the_connection_closes():
    protocol, transport = wire(close_timeout=30)
    protocol.pause_writing()
    sending = asyncio.ensure_future(protocol.send_text("held"))
    await asyncio.sleep(0.01)
    protocol.shutdown()
    with pytest.raises(WireClosed):
        await sending
    assert [f.opcode for f in transport.frames()] == [CLOSE]


async def test_writing_paused_past_write_timeout_drops_the_connection():
    protocol, transport = wire(write_timeout=0.05)
    protocol.pause_writing()
    sending = asyncio.ensure_future(protocol.send_text("held"))
    await asyncio.sleep(0.2)
    assert transport.aborted
    protocol.connection_lost(None)  # what the transport does after abort
    with pytest.raises(WireClosed) as closed:
        await sending
    assert closed.value.close_code == 1006


async def test_writing_resumed_in_time_is_not_dropped():
    protocol, transport = wire(write_timeout=0.1)
    protocol.pause_writing()
    await asyncio.sleep(0.02)
    protocol.resume_writing()
    await asyncio.sleep(0.2)
    assert not transport.closed


async def test_pings_while_writing_is_paused_are_answered_once_with_the_latest():
    """RFC 6455 §5.5.3: only the most recent ping need be answered. A peer that pings
    and never reads gets no pong written until it reads again."""
    protocol, transport = wire()
    protocol.data_received(client_frame(PING, b"0"))
    protocol.pause_writing()
    protocol.data_received(b"".join(client_frame(PING, str(i).encode()) for i in range(1, 1000)))
    assert transport.frames() == [ServerFrame(PONG, b"0")]
    protocol.resume_writing()
    assert transport.frames() == [ServerFrame(PONG, b"0"), ServerFrame(PONG, b"999")]
    protocol.resume_writing()  # nothing more is owed
    assert len(transport.frames()) == 2


async def test_no_pong_is_owed_after_our_close():
    protocol, transport = wire(close_timeout=30)
    protocol.pause_writing()
    protocol.data_received(client_frame(PING, b"p"))
    await protocol.close(1000)
    protocol.resume_writing()
    assert [f.opcode for f in transport.frames()] == [CLOSE]


# --- any valid stream, cut anywhere ---------------------------------------------------------

messages = st.lists(
    st.one_of(
        st.text(max_size=300).map(lambda s: (TEXT, s.encode())),
        st.binary(max_size=300).map(lambda b: (BINARY, b)),
        st.sampled_from([126, 65535, 65536]).map(lambda n: (BINARY, b"z" * n)),
    ),
    max_size=8,
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[str | bytes], list[bytes]]:
    """Valid client frames: each message whole or in fragments (cut anywhere, also in
    the middle of a character, and into empty fragments), with pings between frames.
    Returns the bytes, the messages and the pings' payloads."""
    data = bytearray()
    sent: list[str | bytes] = []
    pings: list[bytes] = []

    def maybe_ping() -> None:
        if draw(st.integers(0, 3)) == 0:
            payload = draw(st.binary(max_size=125))
            pings.append(payload)
            data.extend(client_frame(PING, payload))

    for opcode, payload in draw(messages):
        sent.append(payload.decode() if opcode == TEXT else payload)
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, piece in enumerate(pieces):
            maybe_ping()
            data.extend(
                client_frame(opcode if i == 0 else CONTINUATION, piece, fin=i == len(pieces) - 1)
            )
        maybe_ping()
    return bytes(data), sent, pings


@given(stream=streams(), data=st.data())
def test_any_valid_stream_in_any_chunks_delivers_exactly_what_was_sent(stream, data):
    raw, sent, pings = stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    protocol, transport = wire(max_size=65536, max_queue=1000)
    for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        protocol.data_received(raw[a:b])
    assert received(protocol) == sent
    assert transport.frames() == [ServerFrame(PONG, p) for p in pings]
    assert not transport.closed
