"""The request size cap (gateway/request_size.py): a body over ``max_request_bytes`` gets
413 ``too_large`` whether it declares its length or streams in chunks, and the app
never sees the part past the cap; a normal request is untouched. The rest of a refused
body is read before the connection closes (within bounds), so a client still sending it
reads the 413 rather than a reset (RFC 9112 §9.6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from strangers.gateway.request_size import DRAIN_BYTES, RequestSizeCap

from ..inprocess import serving_in_thread

CAP = 65_536


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_in_thread(
        tmp_path_factory.mktemp("size"),
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
        max_request_bytes=CAP,
    ) as srv:
        yield srv.base


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "code": "too_large",
        "text": f"The request body may be at most {CAP} bytes.",
    }
    assert response.headers["x-content-type-options"] == "nosniff"  # the usual headers


async def test_a_declared_length_over_the_cap_is_refused_at_once(base):
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/v1/appeals",
            content=b"x" * (CAP + 1),
            headers={"content-type": "application/json"},
        )
    assert_too_large(response)


@pytest.mark.parametrize(("size", "count"), [(16_384, 8), (65_536, 16)])
async def test_a_chunked_body_that_grows_past_the_cap_is_refused(base, size, count):
    # A megabyte streamed past the cap: before the drain, the reset could overtake the 413.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b" " * size

    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/v1/appeals", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_too_large(response)
        # The server still serves the next request.
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("size", [300_000, DRAIN_BYTES])
async def test_a_long_declared_body_gets_the_413_not_a_reset(base, size):
    # Before the drain, the server closed with the body unread and the kernel's reset
    # reached the client before the 413 did: every time at 300 kB.
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/v1/appeals", content=b"x" * size, headers={"content-type": "application/json"}
        )
        assert_too_large(response)


async def test_a_normal_request_is_untouched(base):
    body = {"device": "not-a-token", "case": "S-000001", "text": "x" * 2000}
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/v1/appeals", json=body)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


class Exchange:
    """One HTTP request through the middleware to an app that reads its whole body."""

    def __init__(self, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> None:
        self.chunks = chunks
        self.headers = headers
        self.seen = 0
        self.received = 0  # body messages the middleware and the app took in all
        self.app_called = False
        self.sent: list[dict[str, Any]] = []

    async def app(self, scope, receive, send) -> None:
        self.app_called = True
        try:
            while True:
                message = await receive()
                self.seen += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except Exception:
            # An app that swallows the error and answers anyway: that answer is dropped.
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"mine"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run(self, cap: int, path: str = "/v1/appeals", **kw: Any) -> int:
        pending = list(self.chunks)

        async def receive() -> dict[str, Any]:
            if not pending:
                await asyncio.sleep(3600)  # a client that stops sending, body unfinished
            self.received += 1
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": self.headers}
        await RequestSizeCap(self.app, max_bytes=cap, **kw)(scope, receive, send)
        return int(self.sent[0]["status"])


async def test_the_app_never_sees_the_chunk_past_the_cap():
    exchange = Exchange([b"a" * 300] * 10, [])
    assert await exchange.run(1000) == 413
    assert exchange.seen == 900  # three chunks; the fourth went past the cap
    body = json.loads(exchange.sent[1]["body"])
    assert body["code"] == "too_large"


async def test_the_413_is_written_first_and_the_rest_of_the_body_read_before_it_ends():
    exchange = Exchange([b"a" * 300] * 10, [])
    assert await exchange.run(1000) == 413
    start, body, end = exchange.sent
    assert start["status"] == 413
    assert body["more_body"] is True and json.loads(body["body"])["code"] == "too_large"
    assert end == {"type": "http.response.body", "body": b""}
    assert exchange.received == 10  # all of it taken off the connection, the app saw 3


async def test_a_declared_length_over_the_cap_never_reaches_the_app():
    exchange = Exchange([b"a" * 10], [(b"content-length", b"5000")])
    assert await exchange.run(1000) == 413
    assert not exchange.app_called
    assert exchange.received == 1  # read and thrown away


async def test_a_body_behind_100_continue_is_never_invited():
    headers = [(b"content-length", b"5000"), (b"expect", b"100-continue")]
    exchange = Exchange([b"a" * 10], headers)
    assert await exchange.run(1000) == 413
    assert exchange.received == 0 and len(exchange.sent) == 2


async def test_a_body_declared_far_past_the_drain_is_not_read():
    exchange = Exchange([b"a" * 10], [(b"content-length", b"5000")])
    assert await exchange.run(1000, drain_bytes=100) == 413
    assert exchange.received == 0


async def test_the_drain_stops_at_its_byte_bound():
    exchange = Exchange([b"a" * 300] * 100, [])
    assert await exchange.run(1000, drain_bytes=3000) == 413
    # 3 chunks to the app, 1 past the cap, then 11 more (3300 bytes > 3000) and no more
    assert exchange.received == 15 and exchange.sent[-1]["body"] == b""


async def test_the_drain_stops_at_its_time_bound_when_the_client_stops_sending():
    exchange = Exchange([], [])  # its app; the body comes from the client below
    pending = [b"a" * 300] * 5  # each says more is coming; after the fifth, nothing

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": pending.pop(0), "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/appeals", "headers": []}
    cap = RequestSizeCap(exchange.app, max_bytes=1000, drain_seconds=0.05)
    await asyncio.wait_for(cap(scope, receive, send), 30)
    assert sent[0]["status"] == 413 and sent[-1] == {"type": "http.response.body", "body": b""}


async def test_a_route_may_have_a_larger_cap():
    exchange = Exchange([b"a" * 300] * 10, [])
    assert await exchange.run(1000, path="/mod/hashes", paths={"/mod/hashes": 4000}) == 200
    assert exchange.seen == 3000
