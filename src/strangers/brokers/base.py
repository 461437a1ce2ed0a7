"""The broker interface: what a gateway needs from wherever matching and
routing happen (docs/design.md §5).

One node (:mod:`.memory`) runs the matchmaker in process; many nodes
(:mod:`.redis`) run it under a lease per pool and route relays between gateways.
The gateway's :class:`~strangers.gateway.node.Node` drives either through this
interface, so the core path is the same in both modes.

A session's id starts with the id of the node that holds it (``node~token``; not a
dot, which frame tokens use to join ids), so a relay, a pair or a lost node can be
routed to the right gateway from the id alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..core.frames import FrameSource
from ..core.matching import Pair, Ticket, WaitNote
from ..core.switchboard import PeerEvent
from .wire import Fact


def home_of(session: str) -> str:
    """The id of the node that holds ``session`` ("" on a single node)."""
    node, mark, _ = session.partition("~")
    return node if mark else ""


class PairSink(Protocol):
    """Where a broker hands what arrives on its own (pairs made by a timer or by a
    matchmaker elsewhere, events for local sessions from other nodes, facts shared by
    other nodes, nodes found dead)."""

    def on_pairs(self, pairs: list[Pair]) -> None: ...

    def on_peer(self, to: str, event: PeerEvent) -> None: ...

    def on_fact(self, fact: Fact) -> None: ...

    def on_wait_notes(self, notes: list[WaitNote]) -> None:
        """Why chatters on this node still wait (a matchmaker's ``wait_notes``)."""
        ...

    def on_nodes_lost(self, nodes: frozenset[str] | None) -> None:
        """Partners held by ``nodes`` are gone (``None``: every other node, because
        this one was cut off long enough to be declared dead itself)."""
        ...


#: Checks a frame for a session this node holds; raises ``StrangersError`` to refuse.
FrameHandler = Callable[[str, str, FrameSource, bytes], Awaitable[None]]


class Broker(Protocol):
    #: Prefix of this node's session ids ("" on a single node).
    node_id: str
    #: Where frames forwarded by other nodes go (set by the app).
    frame_handler: FrameHandler | None

    async def start(self, sink: PairSink) -> None: ...

    async def close(self) -> None: ...

    async def ping(self, timeout: float) -> None:
        """Raise if the shared store cannot be reached within ``timeout`` seconds (for
        ``/readyz``); the in-memory broker has none and never raises."""
        ...

    def enqueue(self, ticket: Ticket, now: float) -> list[Pair]:
        """Queue a ticket; pairs that form at once may be returned directly."""
        ...

    def dequeue(self, session: str) -> None: ...

    def relay(self, to: str, event: PeerEvent) -> None:
        """Deliver an event to a session that is not on this node."""
        ...

    def share(self, fact: Fact) -> None:
        """Tell every other node of ``fact`` (a block, a ban, an age record)."""
        ...

    async def online(self, local: dict[str, int]) -> dict[str, int]:
        """The chatters looking or chatting in each mode on every live gateway, given
        this gateway's own ``local`` counts (which it publishes for the others);
        docs/protocol.md, ``GET /v1/online``."""
        ...

    async def forward_frame(
        self, session: str, match: str, source: FrameSource, jpeg: bytes
    ) -> None:
        """Have the node that holds ``session`` check a frame posted elsewhere; returns
        when it was checked, raises the ``StrangersError`` it refused it with."""
        ...
