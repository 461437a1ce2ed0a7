"""A test chatter: a real websocket client speaking the protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ADULT = {"birth_year": 1990, "birth_month": 1}
TEEN = {"birth_year": 2011, "birth_month": 1}


class Chatter:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def join(
        cls, url: str, *, birth=ADULT, device=None, language="en", **connect_args: Any
    ) -> Chatter:
        ws = await connect(url, compression=None, max_size=2**20, **connect_args)
        chatter = cls(ws)
        await chatter.send(type="hello", version=1, device=device, language=language, **birth)
        chatter.welcome = await chatter.expect("welcome")
        return chatter

    @staticmethod
    async def hello(url: str, *, birth=ADULT, device=None, **connect_args: Any) -> dict[str, Any]:
        """Say hello and return the server's first answer (for refusals and bans)."""
        async with connect(url, compression=None, **connect_args) as ws:
            hello = {"type": "hello", "version": 1, "device": device, **birth}
            await ws.send(json.dumps(hello))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.recv(timeout)
        assert message["type"] == kind, f"expected {kind}, got {message}"
        return message

    async def quiet(self, seconds: float) -> bool:
        """Whether nothing arrives for ``seconds``."""
        try:
            await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        return False

    async def find(self, interests=()) -> dict[str, Any]:
        await self.send(type="find", mode="text", interests=list(interests))
        return await self.expect("waiting")

    async def close(self) -> None:
        await self.ws.close()
