"""A test chatter: a real websocket client speaking the protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from strangers.core.admission import meets, solve
from strangers.core.messages import PROTOCOL_VERSION

ADULT = {"birth_year": 1990, "birth_month": 1}
TEEN = {"birth_year": 2011, "birth_month": 1}


async def challenge(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The server's first message on ``ws``: its challenge."""
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert message["type"] == "challenge", f"expected challenge, got {message}"
    return message


def proof_for(challenge: dict[str, Any]) -> dict[str, str]:
    """The ``proof`` that solves a ``challenge`` message."""
    return {
        "challenge": challenge["challenge"],
        "nonce": solve(challenge["challenge"], challenge["bits"]),
    }


async def hello_frame(ws: ClientConnection, **fields: Any) -> str:
    """Read the challenge on ``ws`` and return a ``hello`` with its proof and ``fields``."""
    proof = proof_for(await challenge(ws))
    return json.dumps({"type": "hello", "version": PROTOCOL_VERSION, "proof": proof, **fields})


#: The challenge a scripted socket (a browser test's fake server) sends first.
SCRIPTED_CHALLENGE = {
    "type": "challenge",
    "challenge": "scripted-socket-challenge",
    "bits": 8,
    "expires_in": 30,
}


def proves(hello: dict[str, Any], issued: dict[str, Any] = SCRIPTED_CHALLENGE) -> bool:
    """Whether ``hello`` carries a right proof for the challenge ``issued``."""
    proof = hello.get("proof") or {}
    return proof.get("challenge") == issued["challenge"] and meets(
        issued["challenge"], str(proof.get("nonce")), issued["bits"]
    )


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
        await ws.send(await hello_frame(ws, device=device, language=language, **birth))
        chatter.welcome = await chatter.expect("welcome")
        return chatter

    @staticmethod
    async def hello(url: str, *, birth=ADULT, device=None, **connect_args: Any) -> dict[str, Any]:
        """Say hello and return the server's first answer (for refusals and bans)."""
        async with connect(url, compression=None, **connect_args) as ws:
            await ws.send(await hello_frame(ws, device=device, **birth))
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
