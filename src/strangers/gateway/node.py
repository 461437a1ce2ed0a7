"""A node: one process's switchboard, its sockets' outboxes and its broker.

:class:`Node` carries out the core's effects in order, in the event loop's
thread, with no await between an input and its effects: ``Send`` goes to the
session's :class:`Outbox`, a ``Relay`` to a local session goes straight back
into the switchboard (to a remote one, through the broker), ``Enqueue`` and
``Dequeue`` go to the broker, and pairs come back into the switchboard.
What needs the records (``FileReport``, ``EnforceFlag``) is handed back to the
caller to await; ``Kick`` closes a socket through the closer it registered.

With several nodes (docs/design.md §5) the broker also brings what other nodes say: facts
(a block, a ban, an age record) and the loss of a node, whose partners' chats end
here with ``partner_left``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..brokers.base import Broker, home_of
from ..brokers.wire import BlockFact, Fact
from ..core.blocks import Blocklist
from ..core.matching import Pair, WaitNote
from ..core.messages import Matched, encode
from ..core.switchboard import (
    BlockPair,
    Dequeue,
    Effect,
    EnforceFlag,
    Enqueue,
    FileReport,
    Kick,
    PeerEvent,
    PeerLeft,
    PeerText,
    Relay,
    Restage,
    Send,
    Switchboard,
)
from .metrics import count_line, count_match
from .outbox import Outbox

log = logging.getLogger("strangers.node")

#: Effects the caller awaits: records work, and sending a device back to the age question.
Deferred = FileReport | EnforceFlag | Restage


class Node:
    def __init__(
        self,
        switchboard: Switchboard,
        broker: Broker,
        clock: Callable[[], float] = time.monotonic,
        blocks: Blocklist | None = None,
    ) -> None:
        self.switchboard = switchboard
        self.broker = broker
        self.clock = clock
        self.blocks = blocks if blocks is not None else Blocklist()
        self.outboxes: dict[str, Outbox] = {}
        self.closers: dict[str, Callable[[], None]] = {}
        #: What to do with facts this node cannot apply alone (bans and age records
        #: live in the gateway's services); set by the app.
        self.fact_handler: Callable[[Fact], None] | None = None

    def new_session_id(self) -> str:
        """An unguessable session id that names this node, so other nodes route to it."""
        token = secrets.token_urlsafe(12)
        prefix = self.broker.node_id
        return f"{prefix}~{token}" if prefix else token

    async def start(self) -> None:
        await self.broker.start(self)

    async def close(self) -> None:
        await self.broker.close()

    def run(self, effects: Iterable[Effect]) -> list[Deferred]:
        """Carry out effects, and the effects they cause, in order. Reports to file
        and flags to enforce are returned: that is I/O, which the caller awaits."""
        work = deque(effects)
        switchboard = self.switchboard
        deferred: list[Deferred] = []
        while work:
            effect = work.popleft()
            if isinstance(effect, Send):
                outbox = self.outboxes.get(effect.session)
                if outbox is not None:
                    outbox.put(encode(effect.message))
                if type(effect.message) is Matched:
                    count_match(switchboard.sessions.get(effect.session))
            elif isinstance(effect, Relay):
                if type(effect.event) is PeerText:
                    count_line(switchboard.sessions.get(effect.event.sender))
                if effect.to in switchboard.sessions:
                    work.extend(switchboard.from_peer(effect.to, effect.event, self.clock()))
                else:
                    self.broker.relay(effect.to, effect.event)
            elif isinstance(effect, Enqueue):
                now = self.clock()
                for pair in self.broker.enqueue(effect.ticket, now):
                    work.extend(switchboard.paired(pair, now))
            elif isinstance(effect, Dequeue):
                self.broker.dequeue(effect.session)
            elif isinstance(effect, BlockPair):
                # In memory at once, so the pair cannot meet while the report commits;
                # then on every other node, whose matchmaker may be the one that pairs.
                self.blocks.add(effect.device_a, effect.device_b)
                self.broker.share(BlockFact(effect.device_a, effect.device_b))
            elif isinstance(effect, FileReport | EnforceFlag | Restage):
                deferred.append(effect)
            elif isinstance(effect, Kick):
                closer = self.closers.get(effect.session)
                if closer is not None:
                    closer()
        return deferred

    # PairSink: what the broker hands back on its own.

    def on_pairs(self, pairs: list[Pair]) -> None:
        now = self.clock()
        for pair in pairs:
            self.run(self.switchboard.paired(pair, now))

    def on_peer(self, to: str, event: PeerEvent) -> None:
        self.run(self.switchboard.from_peer(to, event, self.clock()))

    def on_wait_notes(self, notes: list[WaitNote]) -> None:
        for note in notes:
            self.run(self.switchboard.wait_note(note))

    def on_fact(self, fact: Fact) -> None:
        if isinstance(fact, BlockFact):
            self.blocks.add(fact.device_a, fact.device_b)
        elif self.fact_handler is not None:
            self.fact_handler(fact)

    def on_nodes_lost(self, nodes: frozenset[str] | None) -> None:
        """End every chat whose partner a lost node held, as if the partner had left
        (docs/design.md §5: ``partner_left`` within 5 s). ``None``: every partner elsewhere."""
        own = self.broker.node_id
        for session in list(self.switchboard.sessions.values()):
            partner, match = session.partner, session.match
            if partner is None or match is None:
                continue
            home = home_of(partner)
            if home == own or (nodes is not None and home not in nodes):
                continue
            if nodes is None:
                # Cut off ourselves: the partner's node may not know; tell it too.
                self.broker.relay(partner, PeerLeft(match, session.id))
            self.run(self.switchboard.from_peer(session.id, PeerLeft(match, partner), self.clock()))
