"""The broker interface: what a gateway needs from wherever matching and
routing happen (design §5).

One node (:mod:`.memory`) runs the matchmaker in process; many nodes (Redis)
run it under a lease and route relays between gateways. The gateway's
:class:`~strangers.gateway.node.Node` drives either through this interface,
so the core path is the same in both modes.
"""

from __future__ import annotations

from typing import Protocol

from ..core.matching import Pair, Ticket
from ..core.switchboard import PeerEvent


class PairSink(Protocol):
    """Where a broker hands what arrives on its own (pairs made by a timer,
    events for local sessions from other nodes)."""

    def on_pairs(self, pairs: list[Pair]) -> None: ...

    def on_peer(self, to: str, event: PeerEvent) -> None: ...


class Broker(Protocol):
    async def start(self, sink: PairSink) -> None: ...

    async def close(self) -> None: ...

    def enqueue(self, ticket: Ticket, now: float) -> list[Pair]:
        """Queue a ticket; pairs that form at once may be returned directly."""
        ...

    def dequeue(self, session: str) -> None: ...

    def relay(self, to: str, event: PeerEvent) -> None:
        """Deliver an event to a session that is not on this node."""
        ...
