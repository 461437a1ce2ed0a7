"""A node: one process's switchboard, its sockets' outboxes and its broker.

:class:`Node` carries out the core's effects in order, in the event loop's
thread, with no await between an input and its effects: ``Send`` goes to the
session's :class:`Outbox`, a ``Relay`` to a local session goes straight back
into the switchboard (to a remote one, through the broker), ``Enqueue`` and
``Dequeue`` go to the broker, and pairs come back into the switchboard.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..brokers.base import Broker
from ..core.matching import Pair
from ..core.messages import encode
from ..core.switchboard import Dequeue, Effect, Enqueue, PeerEvent, Relay, Send, Switchboard
from .outbox import Outbox

log = logging.getLogger("strangers.node")


class Node:
    def __init__(
        self,
        switchboard: Switchboard,
        broker: Broker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.switchboard = switchboard
        self.broker = broker
        self.clock = clock
        self.outboxes: dict[str, Outbox] = {}

    async def start(self) -> None:
        await self.broker.start(self)

    async def close(self) -> None:
        await self.broker.close()

    def run(self, effects: Iterable[Effect]) -> None:
        """Carry out effects, and the effects they cause, in order."""
        work = deque(effects)
        switchboard = self.switchboard
        while work:
            effect = work.popleft()
            if isinstance(effect, Send):
                outbox = self.outboxes.get(effect.session)
                if outbox is not None:
                    outbox.put(encode(effect.message))
            elif isinstance(effect, Relay):
                if effect.to in switchboard.sessions:
                    work.extend(switchboard.from_peer(effect.to, effect.event))
                else:
                    self.broker.relay(effect.to, effect.event)
            elif isinstance(effect, Enqueue):
                for pair in self.broker.enqueue(effect.ticket, self.clock()):
                    work.extend(switchboard.paired(pair))
            elif isinstance(effect, Dequeue):
                self.broker.dequeue(effect.session)

    # PairSink: what the broker hands back on its own.

    def on_pairs(self, pairs: list[Pair]) -> None:
        for pair in pairs:
            self.run(self.switchboard.paired(pair))

    def on_peer(self, to: str, event: PeerEvent) -> None:
        self.run(self.switchboard.from_peer(to, event))
