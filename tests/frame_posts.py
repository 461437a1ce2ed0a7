"""Posting frames as a page does: a video pair, an HTTP client from a chosen loopback
address (another address is another network to the server), and ``POST /v1/frames``."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.chatter import Chatter


async def video_pair(
    url: str, address: str | None = None
) -> tuple[Chatter, Chatter, dict[str, Any], dict[str, Any]]:
    """Two chatters matched for video (from ``address``, when given), and their
    ``matched`` messages."""
    local = {} if address is None else {"local_addr": (address, 0)}
    a, b = await Chatter.join(url, **local), await Chatter.join(url, **local)
    for chatter in (a, b):
        await chatter.send(type="find", mode="video", interests=[])
        await chatter.expect("waiting")
    return a, b, await a.expect("matched"), await b.expect("matched")


def client_from(base: str, address: str, timeout: float = 30) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=timeout)


def post(client: httpx.AsyncClient, token: str | None, body: bytes, **kw: Any) -> Any:
    """``POST /v1/frames`` with ``token`` (none: no header); ``source`` and
    ``content_type`` may be given, the rest goes to httpx."""
    headers = {"content-type": kw.pop("content_type", "image/jpeg")}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    source = kw.pop("source", "partner")
    return client.post(f"/v1/frames?source={source}", content=body, headers=headers, **kw)
