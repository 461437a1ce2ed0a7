"""The websocket ``Origin`` check (gateway/origins.py; RFC 6455 §10.2): a page of another
origin cannot open the chat socket (403 before the handshake completes); the page's
own origin, a configured one and a client that sends none can."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from strangers.gateway.origins import OriginCheck, normalise

from ..inprocess import serving_in_thread
from .conftest import NO_MODELS

EXTRA = "https://partner.example.net"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_in_thread(
        tmp_path_factory.mktemp("origins"), allowed_origins=[EXTRA], **NO_MODELS
    ) as srv:
        yield srv.base


async def first_message(url: str, origin: str | None) -> dict[str, Any]:
    async with connect(url, origin=origin, compression=None) as ws:  # type: ignore[arg-type]
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


def refused_count(base: str) -> float:
    """The refusals counted so far in this process (the counter is process-wide: tests
    read how much it moved)."""
    metrics = httpx.get(base + "/metrics").text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("strangers_websocket_origins_refused_total ")
    )
    return float(line.split()[1])


async def test_a_page_of_another_origin_is_refused_before_the_handshake(base):
    url = base.replace("http://", "ws://") + "/v1/ws"
    before = refused_count(base)
    for origin in ("https://evil.example", "null", base.replace("127.0.0.1", "localhost")):
        with pytest.raises(InvalidStatus) as refused:
            await first_message(url, origin)
        assert refused.value.response.status_code == 403
    assert refused_count(base) == before + 3


async def test_the_pages_own_origin_a_configured_one_and_none_are_let_in(base):
    url = base.replace("http://", "ws://") + "/v1/ws"
    for origin in (base, EXTRA, None):
        assert (await first_message(url, origin))["type"] == "challenge"


def test_origins_compare_as_rfc_6454_serialises_them():
    assert normalise("HTTPS://Chat.Example.ORG:443") == "https://chat.example.org"
    assert normalise("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert normalise("http://[::1]:80") == "http://[::1]"
    for bad in ("null", "https://x.org/path", "ftp://x.org", "https://x.org:99999", "", "x"):
        assert normalise(bad) is None


class Recorder:
    """A bare ASGI websocket exchange: what the middleware and the app sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.app_called = False

    async def app(self, scope, receive, send) -> None:
        self.app_called = True
        await receive()
        await send({"type": "websocket.accept"})

    async def receive(self) -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def scope(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "path": "/v1/ws", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("https://chat.example.org", "10.0.0.11:8001", "ws", True),  # behind the proxy
        ("https://chat.example.org:443", "chat.example.org", "wss", True),
        ("http://chat.example.org", "chat.example.org", "ws", False),  # not the public one
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", False),  # own, but public is set
        ("https://www.example.org", "chat.example.org", "wss", True),  # allowed_origins
        (None, "chat.example.org", "wss", True),
    ],
)
async def test_with_a_public_origin_only_it_and_the_allowed_ones_pass(
    origin, host, scheme, allowed
):
    recorder = Recorder()
    check = OriginCheck(
        recorder.app,
        public_origin="https://chat.example.org",
        allowed=["https://www.example.org"],
    )
    await check(scope(origin, host, scheme), recorder.receive, recorder.send)
    assert recorder.app_called is allowed
    expected = "websocket.accept" if allowed else "websocket.close"
    assert [m["type"] for m in recorder.sent] == [expected]


async def test_without_a_public_origin_the_scheme_and_host_decide():
    recorder = Recorder()
    check = OriginCheck(recorder.app, public_origin=None, allowed=[])
    for origin in ("https://chat.example.org", "http://chat.example.org"):
        await check(scope(origin, "chat.example.org", "wss"), recorder.receive, recorder.send)
    assert [m["type"] for m in recorder.sent] == ["websocket.accept", "websocket.close"]


def test_a_bad_origin_setting_is_refused_at_start():
    with pytest.raises(ValueError, match="not an origin"):
        OriginCheck(lambda *a: None, public_origin="chat.example.org", allowed=[])  # type: ignore[arg-type,return-value]
