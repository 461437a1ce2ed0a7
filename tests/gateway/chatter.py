"""A test chatter: :class:`strangers.client.Client`, with its messages as plain dicts.

:class:`Chatter` opens, solves, says hello and sends through the protocol client, and
hands each server message to the test as the dict it was on the wire (the typed
message, decoded strictly by ``core.messages.decode_server``, dumped back), so tests
compare messages with literals and every message they see is a valid server message.

The functions below it are for tests that drive a raw ``websockets`` connection (a
hello with a wrong proof, split frames) or play the server (a browser test's scripted
socket)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from strangers.client import Birth, Client, ServerMessage
from strangers.core.admission import meets, solve
from strangers.core.messages import PROTOCOL_VERSION, Challenge, Mode, decode_server

ADULT = {"birth_year": 1990, "birth_month": 1}
TEEN = {"birth_year": 2011, "birth_month": 1}


def plain(message: ServerMessage) -> dict[str, Any]:
    """A server message as its JSON object (what ``core.messages.encode`` sent)."""
    return message.model_dump(mode="json", exclude_none=True)


async def challenge(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The server's first message on ``ws``: its challenge."""
    message = decode_server(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, Challenge), f"expected challenge, got {message}"
    return plain(message)


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


def _birth(birth: dict[str, int]) -> Birth:
    return Birth(birth["birth_year"], birth["birth_month"])


class Chatter:
    """One test chatter. ``client`` is its protocol client, ``ws`` the socket under it
    (for raw frames and close codes), ``welcome`` the server's welcome as a dict."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ws = client.ws
        self.welcome: dict[str, Any] = {} if client.welcome is None else plain(client.welcome)

    @classmethod
    async def join(
        cls, url: str, *, birth=ADULT, device=None, language="en", **connect_args: Any
    ) -> Chatter:
        """Connect, solve the challenge and say hello; fails unless welcomed."""
        client = await Client.join(
            url, _birth(birth), device=device, language=language, **connect_args
        )
        return cls(client)

    @staticmethod
    async def hello(url: str, *, birth=ADULT, device=None, **connect_args: Any) -> dict[str, Any]:
        """Say hello and return the server's first answer (for refusals and bans)."""
        async with await Client.connect(url, **connect_args) as client:
            await client.hello(_birth(birth), device=device)
            return plain(await client.receive(5))

    async def send(self, **message: Any) -> None:
        """Send ``message`` as it is, right or wrong: the server is under test."""
        await self.client.send_frame(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return plain(await self.client.receive(timeout))

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.recv(timeout)
        assert message["type"] == kind, f"expected {kind}, got {message}"
        return message

    async def quiet(self, seconds: float) -> bool:
        """Whether nothing arrives for ``seconds``."""
        try:
            await self.client.receive(seconds)
        except TimeoutError:
            return True
        return False

    async def find(self, interests=()) -> dict[str, Any]:
        await self.client.find(Mode.TEXT, list(interests))
        return await self.expect("waiting")

    async def close(self) -> None:
        await self.client.close()
