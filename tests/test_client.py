"""The protocol client (``strangers.client``) keeps its contract against the real server,
served in this process (``tests/inprocess.serving_in_thread``, one for the module: every
pair meets on an interest of its own), and against a scripted one for what the real
server never does (a frame that is no server message)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from strangers.client import ADULT, BadFrame, Birth, Client, NotAdmitted, UnexpectedMessage
from strangers.core.errors import InvalidField, Malformed, UnknownType
from strangers.core.messages import (
    Challenge,
    Ended,
    Error,
    Matched,
    Message,
    Mode,
    PartnerLeft,
    PartnerTyping,
    Pong,
    Refused,
    Reported,
    Waiting,
    Welcome,
    decode_server,
)
from strangers.core.reports import ReportReason

from .gateway.conftest import NO_MODELS
from .inprocess import serving_in_thread


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No frames here: the scripted checker in threads, no model to load.
    with serving_in_thread(tmp_path_factory.mktemp("client"), **NO_MODELS) as served:
        yield served.ws


async def pair(url: str) -> tuple[Client, Client, Matched, Matched]:
    a, b = await Client.join(url), await Client.join(url)
    tag = "client-" + secrets.token_hex(4)
    for client in (a, b):
        await client.find(Mode.TEXT, [tag])
        await client.expect(Waiting)
    first, second = await a.expect(Matched), await b.expect(Matched)
    assert first.interests == (tag,)
    return a, b, first, second


async def test_join_solves_the_challenge_and_is_welcomed_with_typed_messages(url: str) -> None:
    async with await Client.join(url, ADULT, language="fr") as client:
        assert isinstance(client.challenge, Challenge)
        assert isinstance(client.welcome, Welcome)
        assert client.welcome.band == "adult" and client.welcome.device


async def test_two_clients_meet_and_exchange_lines_typing_and_pings(url: str) -> None:
    a, b, first, second = await pair(url)
    assert first.match == second.match
    await a.typing(True)
    assert await b.expect(PartnerTyping) == PartnerTyping(active=True)
    await a.say("hello, stranger")
    got = await b.expect(Message)
    assert got.text == "hello, stranger" and got.hidden is None
    await b.ping(7)
    assert await b.expect(Pong) == Pong(id=7)
    await a.close()
    await b.close()


async def test_expect_drops_the_passing_types_and_refuses_others(url: str) -> None:
    a, b, _, _ = await pair(url)
    await a.typing(True)
    await a.say("after typing")
    assert (await b.expect(Message, passing=(PartnerTyping,))).text == "after typing"
    await a.typing(False)
    with pytest.raises(UnexpectedMessage) as unexpected:
        await b.expect(Message)
    assert isinstance(unexpected.value.message, PartnerTyping)
    assert unexpected.value.expected is Message
    await a.close()
    await b.close()


async def test_a_timeout_loses_nothing(url: str) -> None:
    a, b, _, _ = await pair(url)
    with pytest.raises(TimeoutError):
        await b.receive(0.05)
    await a.say("still here")
    assert (await b.expect(Message)).text == "still here"
    await a.close()
    await b.close()


async def test_a_refused_hello_raises_not_admitted_with_the_answer(url: str) -> None:
    # From a network of its own: a child's answer holds back its network's newcomers.
    with pytest.raises(NotAdmitted) as refused:
        await Client.join(url, Birth(2020, 1), local_addr=("127.0.0.5", 0))
    assert isinstance(refused.value.answer, Refused)
    assert refused.value.answer.reason == "too_young"


async def test_skip_ends_the_chat_for_both_and_looks_again(url: str) -> None:
    a, b, first, _ = await pair(url)
    await a.skip()
    assert await a.expect(Ended) == Ended(reason="skip", match=first.match)
    await a.expect(Waiting)
    assert await b.expect(PartnerLeft) == PartnerLeft(match=first.match)
    await a.close()
    await b.close()


async def test_a_report_is_answered_once_stored(url: str) -> None:
    a, b, first, _ = await pair(url)
    await a.report(ReportReason.SPAM, "a test report")
    assert await a.expect(Ended) == Ended(reason="report", match=first.match)
    reported = await a.expect(Reported)
    assert reported.match == first.match and reported.case
    assert await b.expect(PartnerLeft) == PartnerLeft(match=first.match)
    await a.close()
    await b.close()


async def test_signalling_in_a_text_chat_is_refused_and_the_chat_goes_on(url: str) -> None:
    a, b, _, _ = await pair(url)
    await a.signal("offer", sdp="v=0")
    refused = await a.expect(Error)
    assert refused.code == "not_allowed"
    await a.say("still chatting")
    assert (await b.expect(Message)).text == "still chatting"
    await a.close()
    await b.close()


async def test_a_foreign_origin_is_refused_at_the_handshake(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await Client.connect(url, origin="https://elsewhere.example")
    assert refused.value.response.status_code == 403
    page = url.replace("ws://", "http://").removesuffix("/v1/ws")
    async with await Client.connect(url, origin=page) as client:
        assert client.challenge.bits >= 0


async def scripted(frames: list[str]) -> AsyncIterator[str]:
    async def handler(ws: ServerConnection) -> None:
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/ws"


CHALLENGE = json.dumps({"type": "challenge", "challenge": "c", "bits": 0, "expires_in": 30})


async def test_a_frame_that_is_no_server_message_raises_bad_frame() -> None:
    async for url in scripted([CHALLENGE, '{"type": "teleport"}', '{"type": "pong", "x": 1}']):
        async with await Client.connect(url) as client:
            with pytest.raises(BadFrame) as bad:
                await client.receive()
            assert bad.value.problem.code == "unknown_type"
            with pytest.raises(BadFrame):  # an unknown field: the schema is strict
                await client.receive()


async def test_a_server_that_does_not_start_with_a_challenge_is_refused() -> None:
    async for url in scripted([json.dumps({"type": "pong"})]):
        with pytest.raises(UnexpectedMessage):
            await Client.connect(url)


async def test_iteration_ends_when_the_server_closes_normally() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(CHALLENGE)
        await ws.send(json.dumps({"type": "pong", "id": 1}))
        await ws.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await Client.connect(f"ws://127.0.0.1:{port}/")
        assert [message async for message in client] == [Pong(id=1)]
        with pytest.raises(ConnectionClosed):
            await client.receive()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", Malformed),
        ('{"type": "teleport"}', UnknownType),
        ('{"type": "waiting", "mode": "smell"}', InvalidField),
        ('{"type": "waiting", "mode": "text", "extra": 1}', InvalidField),
        (b"\xff\xfe", Malformed),
    ],
)
def test_decode_server_refuses_what_is_not_a_server_message(frame: str, error: type) -> None:
    with pytest.raises(error):
        decode_server(frame)


def test_decode_server_reads_every_kind_the_server_encodes() -> None:
    assert decode_server('{"type": "waiting", "mode": "video"}') == Waiting(mode=Mode.VIDEO)
    matched = decode_server('{"type": "matched", "match": "m", "mode": "text", "interests": ["a"]}')
    assert matched == Matched(match="m", mode=Mode.TEXT, interests=("a",))


async def test_receive_has_no_time_limit_with_none(url: str) -> None:
    a, b, _, _ = await pair(url)
    waiting = asyncio.create_task(b.receive(None))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await a.say("late")
    message = await waiting
    assert isinstance(message, Message) and message.text == "late"
    await a.close()
    await b.close()
