"""Hostile input to the chat socket of a live server (issue 9; docs/design.md §3; RFC 6455;
OWASP ASVS 5.0 V1.5 safe decoding, V16.5 no internals in errors).

Hypothesis generates websocket frames, sent before ``hello`` (right after the
challenge) and after a match: JSON of wrong types, messages of wrong shapes (a field
missing or extra or of a wrong type, an unknown ``type``, no ``type``), frames over the
decoder's limit (``frame_chars``, 8192 characters: ``too_large``) and over the socket's
(``ws_max_size``, 65,536 bytes: closed with 1009, RFC 6455 §7.4.1), binary frames,
invalid UTF-8 in a text frame, and text split into fragments (§5.4) in the middle of a
multi-byte character. Every example must end one of these ways, and the one that
follows from the frame:

- an ``error`` with a code of ``ERROR_CODES``: the code the core's own decoder gives
  that frame (the same limits as the server), or for a frame it accepts a state or limit
  code, never ``internal``; before ``hello`` the socket is then closed with 1008;
- a close with a code: 1007 for invalid UTF-8, in one frame or across fragments (RFC
  6455 §8.1), 1009 over the size limit;
- a text split correctly between fragments is one message: the ``hello`` so sent is
  welcomed, the chat line so sent reaches the partner whole.

Never a traceback or an internal detail to the peer, never a crash: after each example
the server process is alive and ``/healthz`` answers; its log is read for tracebacks at
the end. All the while a well-behaved pair (``steady_pair.py``, from a network of its
own) chats, and must have lost nothing. The outcomes are counted and printed (``-s``).

The server is ``strangers serve`` in a process of its own (``pytest -m process``): the log
read for tracebacks is that command's, with the logging it sets up (``cli.serve``:
uvicorn's records in its format, a peer's text frame that is not UTF-8 answered 1007 and
not logged as a fault); a server in the test's process logs through the test's logging,
where uvicorn writes a traceback for each such frame.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from strangers.core.errors import ERROR_CODES, ProtocolError
from strangers.core.limits import Limits
from strangers.core.messages import PROTOCOL_VERSION, Codec, Hello

from .chatter import ADULT, Chatter, challenge, proof_for
from .steady_pair import LiveServer, PairThread, live_server

pytestmark = pytest.mark.process

#: The socket's message size limit (``ws_max_size`` in ``strangers serve``).
WS_MAX_BYTES = 65_536
#: Decodes as the server does: the server below runs with the default limits.
CODEC = Codec(Limits())
#: Close codes (RFC 6455 §7.4.1); 1006: the connection ended without a close frame.
POLICY, INVALID_DATA, TOO_BIG, ABNORMAL = 1008, 1007, 1009, 1006
#: What would be an internal detail in a peer's answer.
INTERNALS = ("Traceback", 'File "', ".py", "site-packages", "pydantic", "Exception", "Error(")

EXAMPLES_BEFORE_HELLO = 300
EXAMPLES_AFTER_MATCH = 150

OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module. Its per-network connection limit is raised: the fuzzer
    opens a few hundred sockets from 127.0.0.1 within a minute (one network to the
    server), which the default 120/minute would refuse long before the end; everything
    else keeps its default. The steady pair comes from 127.0.0.2, another network, and
    sends one line (and one echo) each 0.25 s: within the default limits of its devices
    (10 lines/s) and sessions (5/s), so any refusal or loss it sees is the fuzzer's doing.
    The frame checker is the scripted one (no frames here; no models to load)."""
    with live_server(
        tmp_path_factory.mktemp("fuzz"),
        frame_checker="tests.checkers:scripted",
        limit_connect_network="100000/minute",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def steady(server: LiveServer) -> Iterator[PairThread]:
    with PairThread(server.url, interval=0.25) as pair:
        yield pair


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


# --- frames ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One websocket message as sent: ``text`` (a str), ``binary`` (bytes), ``raw_text``
    (bytes in a text frame, possibly not UTF-8) or ``fragments`` (bytes in a text frame
    and its continuation frames). ``split`` names the text of a correct split."""

    kind: str
    data: Any
    split: str | None = None

    def payload(self) -> bytes:
        if self.kind == "text":
            return str(self.data).encode()
        if self.kind == "fragments":
            return b"".join(self.data)
        return bytes(self.data)

    def utf8(self) -> str | None:
        """The text the server should see, None when it is not valid UTF-8."""
        if self.kind == "binary":
            return None
        try:
            return self.payload().decode()
        except UnicodeDecodeError:
            return None

    async def send(self, ws: ClientConnection) -> None:
        if self.kind == "text":
            await ws.send(str(self.data))
        elif self.kind == "binary":
            await ws.send(bytes(self.data))
        elif self.kind == "raw_text":
            await ws.send(bytes(self.data), text=True)
        else:
            await ws.send(list(self.data), text=True)

    def __repr__(self) -> str:  # short in Hypothesis's report of a failing example
        shown = repr(self.data)
        return f"Frame({self.kind}, {shown[:300]}{'…' if len(shown) > 300 else ''})"


def expected(frame: Frame, before_hello: bool) -> tuple[str, object]:
    """What the server must answer: ``("close", code)``, ``("error", code)``, or
    ``("accepted", None)`` (a frame the decoder takes: any answer but ``internal``)."""
    if len(frame.payload()) > WS_MAX_BYTES:
        return "close", TOO_BIG
    if frame.kind == "binary":
        return "error", "malformed"
    text = frame.utf8()
    if text is None:
        return "close", INVALID_DATA
    try:
        message = CODEC.decode(text)
    except ProtocolError as exc:
        return "error", exc.code
    if before_hello:
        if not isinstance(message, Hello):
            return "error", "hello_required"
        return "error", "proof_required" if message.proof is None else "proof_invalid"
    return "accepted", None


RELAY_CANDIDATE = "candidate:1 1 udp 1 192.0.2.1 9 typ relay"
TEMPLATES: list[dict[str, Any]] = [
    {"type": "hello", "version": PROTOCOL_VERSION, "device": None, **ADULT, "language": "en"},
    {"type": "find", "mode": "text", "interests": ["music"]},
    {"type": "typing", "active": True},
    {"type": "message", "text": "hello there"},
    {"type": "skip"},
    {"type": "stop"},
    {"type": "report", "reason": "spam", "note": ""},
    {
        "type": "signal",
        "kind": "candidate",
        "candidate": "candidate:1 1 udp 1 192.0.2.1 3 typ relay",
    },
    {"type": "signal", "kind": "offer", "sdp": "v=0"},
    {"type": "ping", "id": 7},
]
TYPES = {template["type"] for template in TEMPLATES}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def shaped(draw: st.DrawFn) -> str:
    """A protocol message bent out of shape: a field dropped, added or of another
    type, an unknown or missing ``type``; or left valid."""
    message = dict(draw(st.sampled_from(TEMPLATES)))
    fields = sorted(k for k in message if k != "type")
    how = draw(
        st.sampled_from(["drop", "extra", "retype"] * 3 + ["unknown_type", "no_type", "valid"])
    )
    if how == "drop" and fields:
        del message[draw(st.sampled_from(fields))]
    elif how == "extra":
        message[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    elif how == "retype" and fields:
        message[draw(st.sampled_from(fields))] = draw(json_values)
    elif how == "unknown_type":
        message["type"] = draw(
            json_values.filter(lambda t: not isinstance(t, str) or t not in TYPES)
        )
    elif how == "no_type":
        del message["type"]
    return json.dumps(message, ensure_ascii=draw(st.booleans()))


def huge(size: int) -> str:
    """A chat line frame of ``size`` bytes (over the decoder's limit; over the
    socket's too from 65,537)."""
    head, tail = '{"type":"message","text":"', '"}'
    return head + "a" * (size - len(head) - len(tail)) + tail


#: Byte sequences that are never UTF-8 (RFC 3629 §3-4): a byte never used, a lone
#: continuation byte, an overlong '/', a UTF-16 surrogate, past U+10FFFF, a lead byte
#: cut short by what follows.
NOT_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3("]
#: Chat lines with characters of 2, 3 and 4 bytes in UTF-8.
LINES = ["héllo wörld", "日本語のテキスト", "𝄞 music 🙂", "naïve café ✓", "ß" * 40]


def line_frame(text: str) -> bytes:
    return json.dumps({"type": "message", "text": text}, ensure_ascii=False).encode()


def inner_cuts(data: bytes) -> list[int]:
    """The offsets that fall inside a multi-byte character (before a continuation byte)."""
    return [i for i in range(1, len(data)) if 0x80 <= data[i] <= 0xBF]


def halves(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut inside its first multi-byte character."""
    cut = inner_cuts(data)[0]
    return data[:cut], data[cut:]


@st.composite
def split_line(draw: st.DrawFn) -> Frame:
    """A chat line in 2 to 4 fragments, at least one cut inside a character."""
    text = draw(st.sampled_from(LINES)) + f" #{draw(st.integers(0, 10**6))}"
    data = line_frame(text)
    inner = draw(st.sampled_from(inner_cuts(data)))
    others = draw(st.lists(st.integers(1, len(data) - 1), max_size=2))
    cuts = sorted({inner, *others})
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return Frame("fragments", tuple(pieces), split=text)


@st.composite
def bad_split(draw: st.DrawFn) -> Frame:
    """Fragments that are not UTF-8 once joined: a character cut and its rest replaced,
    or the message ending inside a character."""
    data = line_frame(draw(st.sampled_from(LINES)))
    cut = draw(st.sampled_from(inner_cuts(data)))
    if draw(st.booleans()):
        pieces = (data[:cut], b"A" + data[cut + 1 :])
    else:
        pieces = (data[: cut - 1], data[cut - 1 : cut])  # the message ends mid-character
    frame = Frame("fragments", pieces)
    assert frame.utf8() is None, pieces
    return frame


@st.composite
def not_utf8(draw: st.DrawFn) -> Frame:
    """A text frame with bytes that are not UTF-8 somewhere in valid JSON."""
    data = json.dumps(draw(st.sampled_from(TEMPLATES))).encode()
    at = draw(st.integers(0, len(data)))
    return Frame("raw_text", data[:at] + draw(st.sampled_from(NOT_UTF8)) + data[at:])


frames = st.one_of(
    # Shapes near the protocol's are the most telling: three times as likely.
    *[shaped().map(lambda text: Frame("text", text))] * 3,
    json_values.map(lambda value: Frame("text", json.dumps(value))),
    st.text(max_size=200).map(lambda text: Frame("text", text)),
    st.integers(8193, 80_000).map(lambda size: Frame("text", huge(size))),
    st.binary(max_size=200).map(lambda data: Frame("binary", data)),
    st.sampled_from(TEMPLATES).map(lambda m: Frame("binary", json.dumps(m).encode())),
    not_utf8(),
    split_line(),
    bad_split(),
)

#: One of each kind, always run (Hypothesis adds its own on top).
ALWAYS = [
    Frame("text", "[1, 2, 3]"),
    Frame("text", '{"type": 42}'),
    Frame("text", '{"type": "whisper"}'),
    Frame("text", '{"type": "message", "text": ["not", "text"]}'),
    Frame("text", '{"type": "ping", "id": 1, "extra": true}'),
    Frame("text", "not json at all"),
    Frame("text", huge(9000)),
    Frame("text", huge(WS_MAX_BYTES + 1)),
    Frame("binary", b"\x00\x01\x02"),
    Frame("raw_text", b'{"type": "ping", "id": 1, "x": "\xff"}'),
    Frame("fragments", halves(line_frame("héllo")), split="héllo"),
    Frame("fragments", (halves(line_frame("日本"))[0], b"A" + halves(line_frame("日本"))[1][1:])),
]


# --- the checks ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """What came back for one frame: the messages, and the close code if it closed."""

    messages: list[dict[str, Any]]
    closed: int | None

    def errors(self) -> list[str]:
        return [m["code"] for m in self.messages if m.get("type") == "error"]


async def answer_to(ws: ClientConnection, frame: Frame, *, sync: bool) -> Answer:
    """Send ``frame``; collect what the server sends until it closes or, with ``sync``,
    until it answers a ``ping`` sent right behind the frame (everything before that
    pong is the frame's answer: frames are handled in order)."""
    marker = secrets.randbelow(2**52) + 2**52
    messages: list[dict[str, Any]] = []
    try:
        await frame.send(ws)
        if sync:
            await ws.send(json.dumps({"type": "ping", "id": marker}))
        while True:
            raw = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(raw, str), "the server sends text frames only"
            check_no_internals(raw)
            message = json.loads(raw)
            if message == {"type": "pong", "id": marker}:
                return Answer(messages, None)
            messages.append(message)
    except ConnectionClosed as closed:
        return Answer(messages, closed.rcvd.code if closed.rcvd else ABNORMAL)


def check_no_internals(raw: str) -> None:
    message = json.loads(raw)
    # An unknown field's name is the peer's own input, named back to it: not checked.
    echoed = message.get("field") if message.get("type") == "error" else None
    said = raw.replace(json.dumps(echoed)[1:-1], "") if isinstance(echoed, str) else raw
    leaked = [word for word in INTERNALS if word in said]
    assert not leaked, f"internal detail {leaked} in {raw[:500]!r}"
    if message.get("type") == "error":
        assert message["code"] in ERROR_CODES and message["code"] != "internal", message
        assert isinstance(message["text"], str) and message["text"], message


def check_outcome(frame: Frame, got: Answer, before_hello: bool) -> str:
    """Assert the answer is the expected one; return the outcome's name for the tally."""
    kind, code = expected(frame, before_hello)
    if kind == "close":
        # Over the size limit, the server fails the connection as soon as it reads the
        # frame's header (RFC 6455 §7.1.7): its close frame is sent, and the socket
        # closed while the client may still be sending the payload, so the client's
        # kernel may get a reset and drop that close frame (1006) before it is read.
        allowed = (code, ABNORMAL) if code == TOO_BIG else (code,)
        assert got.closed in allowed, (frame, got)
        assert not got.errors(), (frame, got)  # closed by the socket layer, nothing said
        return f"close {got.closed}"
    if kind == "error":
        assert got.errors()[:1] == [code], (frame, got)
        if before_hello:
            assert got.closed == POLICY, (frame, got)
        else:
            assert got.closed is None, (frame, got)
        return f"error {code}"
    assert got.closed is None, (frame, got)
    return "accepted" + "".join(f", error {c}" for c in got.errors())


def check_server(server: LiveServer) -> None:
    assert server.alive(), "the server died or /healthz failed:\n" + server.log.read_text()


# --- before hello ------------------------------------------------------------------------------


async def before_hello(server: LiveServer, frame: Frame) -> str:
    async with connect(server.url, compression=None, max_size=2**20) as ws:
        await challenge(ws)
        got = await answer_to(ws, frame, sync=False)
    outcome = check_outcome(frame, got, before_hello=True)
    if frame.split is not None:
        # Decoded as one message (a chat line, so hello_required); a hello split the
        # same way is welcomed.
        async with connect(server.url, compression=None, max_size=2**20) as ws:
            outcome = await split_hello(ws, await challenge(ws))
    return outcome


async def split_hello(ws: ClientConnection, issued: dict[str, Any]) -> str:
    """A right ``hello`` with a multi-byte device string, cut inside a character."""
    hello = {
        "type": "hello",
        "version": PROTOCOL_VERSION,
        "proof": proof_for(issued),
        "device": "appareil-été-日本-𝄞",
        **ADULT,
    }
    data = json.dumps(hello, ensure_ascii=False).encode()
    cuts = inner_cuts(data)
    pieces = [data[: cuts[0]], data[cuts[0] : cuts[-1]], data[cuts[-1] :]]
    await ws.send(pieces, text=True)
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert welcome["type"] == "welcome", welcome
    return "split hello welcomed"


@settings(
    max_examples=EXAMPLES_BEFORE_HELLO,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=frames)
def fuzz_before_hello(server: LiveServer, runner: asyncio.Runner, frame: Frame) -> None:
    OUTCOMES["before hello: " + runner.run(before_hello(server, frame))] += 1
    check_server(server)


def test_hostile_frames_before_hello_get_an_error_code_or_a_close_code(server, steady, runner):
    for frame in ALWAYS:
        OUTCOMES["before hello: " + runner.run(before_hello(server, frame))] += 1
        check_server(server)
    fuzz_before_hello(server, runner)
    seen = {outcome for outcome in OUTCOMES if outcome.startswith("before hello")}
    for outcome in (
        "close 1007",
        "close 1009",
        "error malformed",
        "error unknown_type",
        "error invalid_field",
        "error too_large",
        "error hello_required",
        "split hello welcomed",
    ):
        assert "before hello: " + outcome in seen, (outcome, seen)


# --- after a match -----------------------------------------------------------------------------


async def matched_pair(url: str) -> tuple[Chatter, Chatter]:
    """Two fuzz chatters matched with each other (an interest of their own, so they meet
    no one else)."""
    tag = "fuzz-" + secrets.token_hex(4)
    a, b = await Chatter.join(url), await Chatter.join(url)
    await a.find([tag])
    await b.find([tag])
    first, second = await a.expect("matched"), await b.expect("matched")
    assert first["match"] == second["match"]
    return a, b


async def after_match(server: LiveServer, sent: list[Frame]) -> list[str]:
    a, b = await matched_pair(server.url)
    outcomes = []
    chatting = True
    try:
        for frame in sent:
            # No ping behind a frame that closes the socket: it would arrive after the
            # close, and could reset the connection before the close frame is read.
            closes = expected(frame, before_hello=False)[0] == "close"
            got = await answer_to(a.ws, frame, sync=not closes)
            outcome = check_outcome(frame, got, before_hello=False)
            if frame.split is not None and chatting and got.closed is None:
                assert not got.errors(), (frame, got)
                await partner_receives(b, frame.split)
                outcome = "split line relayed whole"
            outcomes.append(outcome)
            if any(m.get("type") in ("ended", "reported", "banned") for m in got.messages):
                chatting = False
            if got.closed is not None:
                break
    finally:
        await a.close()
        await b.close()
    return outcomes


async def partner_receives(b: Chatter, text: str) -> None:
    while True:
        message = await b.recv(timeout=10)
        check_no_internals(json.dumps(message))
        if message["type"] == "message" and message["text"] == text:
            return
        # Anything else the fuzzer made it send before: lines, typing, signals, and the
        # calm notice a line's safety signal earns its reader (docs/protocol.md).
        assert message["type"] in ("message", "typing", "signal", "notice"), message


@settings(
    max_examples=EXAMPLES_AFTER_MATCH,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sent=st.lists(frames, min_size=1, max_size=4))
def fuzz_after_match(server: LiveServer, runner: asyncio.Runner, sent: list[Frame]) -> None:
    for outcome in runner.run(after_match(server, sent)):
        OUTCOMES["after a match: " + outcome] += 1
    check_server(server)


def test_hostile_frames_after_a_match_get_an_error_code_or_a_close_code(server, steady, runner):
    for frame in ALWAYS:
        for outcome in runner.run(after_match(server, [frame])):
            OUTCOMES["after a match: " + outcome] += 1
        check_server(server)
    fuzz_after_match(server, runner)
    seen = {outcome for outcome in OUTCOMES if outcome.startswith("after a match")}
    for outcome in (
        "close 1007",
        "close 1009",
        "error malformed",
        "error unknown_type",
        "error invalid_field",
        "error too_large",
        "split line relayed whole",
    ):
        assert "after a match: " + outcome in seen, (outcome, seen)


# --- what the fuzzing left ----------------------------------------------------------------------


def test_the_steady_pair_lost_nothing_while_the_fuzzer_ran(steady):
    tally = steady.settle()
    print("\nfuzz outcomes:", *sorted(OUTCOMES.items()), sep="\n  ")
    print(f"steady pair: {tally.sent} lines sent, {tally.echoed} echoed")
    assert tally.sent > 0
    assert tally.unexpected == []
    assert tally.received == tally.echoed == tally.sent


def test_the_server_logged_no_traceback_under_the_fuzzer(server):
    assert server.alive()
    found = server.tracebacks()
    assert not found, f"{len(found)} traceback(s) in the server log; the first:\n{found[0]}"
