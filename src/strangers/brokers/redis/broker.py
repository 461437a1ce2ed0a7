"""The broker of a gateway among several (docs/design.md §5): it wires the parts of this
package together and gives the gateway's node the :class:`~strangers.brokers.base.Broker`
interface, whose calls never block on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError

from ...core.frames import FrameSource
from ...core.matching import Matchmaker, Pair, Ticket
from ...core.messages import AgeBand, Mode
from ...core.pools import Pool
from ...core.switchboard import PeerEvent
from ..base import FrameHandler, PairSink, home_of
from ..counters import BrokerCounters
from ..keys import Keys
from ..wire import Fact, WireError, dumps, event_to_wire, fact_to_wire, loads
from . import scripts
from .deliveries import Deliveries
from .frames import FrameCalls
from .heartbeats import Heartbeats
from .leases import Leases
from .link import Link
from .waiting import Waiting

log = logging.getLogger("strangers.redis")

#: Seconds a gateway's published online counts last: a few of its refreshes
#: (``gateway/online.py``), so a gateway that stops counting drops out soon after.
ONLINE_TTL = 20.0
ALL_POOLS = tuple(Pool(band, mode) for band in AgeBand for mode in Mode)


class RedisBroker:
    """The broker of a gateway among several (docs/design.md §5). ``matchmaker`` serves the
    pools whose lease this gateway holds; its ``blocked`` predicate should read the
    node's block list, which facts from other gateways keep current.

    Its parts: ``link`` (the connection and the ordered writes), ``waiting`` (this
    gateway's waiting chatters), ``heartbeats`` (this gateway's and the watch over the
    others'), ``leases`` (the matchmakers run here), ``frames`` (frame checks across
    gateways) and ``deliveries`` (what arrives by pub/sub)."""

    def __init__(
        self,
        url: str,
        matchmaker: Matchmaker,
        *,
        namespace: str = "strangers",
        gateway: str | None = None,
        pools: Iterable[Pool] = ALL_POOLS,
        heartbeat_seconds: float = 1.0,
        dead_after: float = 3.0,
        watch_seconds: float = 0.5,
        lease_seconds: float = 3.0,
        lease_check_seconds: float = 0.5,
        tick_seconds: float = 0.25,
        max_backlog: int = 100_000,
        stream_cap: int = 200_000,
        connect_timeout: float = 10.0,
        forward_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not heartbeat_seconds < dead_after or not lease_check_seconds < lease_seconds:
            raise ValueError("a heartbeat or renewal must come well before its expiry")
        self.url = url
        self.matchmaker = matchmaker
        self.keys = Keys(namespace)
        # One id per start: a gateway that restarts under the same name is a new node,
        # so its old sessions are recognised as gone.
        self.node_id = f"{gateway or 'gw'}-{secrets.token_hex(3)}"
        self.connect_timeout = connect_timeout
        self.counters = BrokerCounters()
        self.link = Link(
            url,
            counters=self.counters,
            # Writes were dropped while Redis was away: announce every waiting chatter.
            on_resync=lambda: self.waiting.reannounce(None),
            max_backlog=max_backlog,
            stream_cap=stream_cap,
            connect_timeout=connect_timeout,
            clock=clock,
        )
        self.waiting = Waiting(self.link, self.keys, clock)
        self.heartbeats = Heartbeats(
            self.link,
            self.keys,
            self.node_id,
            matchmaker=matchmaker,
            waiting=self.waiting,
            counters=self.counters,
            heartbeat_seconds=heartbeat_seconds,
            dead_after=dead_after,
            watch_seconds=watch_seconds,
            clock=clock,
        )
        self.leases = Leases(
            self.link,
            self.keys,
            self.node_id,
            matchmaker=matchmaker,
            heartbeats=self.heartbeats,
            counters=self.counters,
            pools=pools,
            lease_seconds=lease_seconds,
            lease_check_seconds=lease_check_seconds,
            tick_seconds=tick_seconds,
            clock=clock,
            wall=wall,
        )
        self.frames = FrameCalls(
            self.link, self.keys, self.node_id, forward_timeout=forward_timeout
        )
        self.deliveries = Deliveries(
            self.link,
            self.keys,
            self.node_id,
            waiting=self.waiting,
            leases=self.leases,
            frames=self.frames,
            counters=self.counters,
            clock=clock,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def frame_handler(self) -> FrameHandler | None:
        """Checks the frames other gateways forward for sessions held here (set by the app)."""
        return self.frames.handler

    @frame_handler.setter
    def frame_handler(self, handler: FrameHandler | None) -> None:
        self.frames.handler = handler

    @property
    def holds(self) -> frozenset[Pool]:
        """The pools whose matchmaker runs here."""
        return frozenset(self.leases.held)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, sink: PairSink) -> None:
        client = await self.link.connect()
        self.leases.use(scripts.register(client))
        await self.heartbeats.beat()
        self.link.running = True
        spawn = asyncio.create_task
        self._tasks = [
            spawn(self.link.write_forever(), name="redis-writer"),
            spawn(self.deliveries.listen_forever(sink), name="redis-listener"),
        ]
        # Deliveries must be heard before this node takes a lease or a chatter.
        await asyncio.wait_for(self.deliveries.subscribed.wait(), timeout=self.connect_timeout)
        self._tasks += [
            spawn(self.heartbeats.beat_forever(sink), name="redis-heartbeat"),
            spawn(self.heartbeats.watch_forever(sink), name="redis-watch"),
            spawn(self.leases.lease_forever(), name="redis-leases"),
            spawn(self.leases.tick_forever(), name="redis-tick"),
        ]
        log.info("gateway %s joined the nodes on %s", self.node_id, self.link.safe_url)

    async def ping(self, timeout: float) -> None:
        """One ``PING`` within ``timeout`` seconds; raises
        :class:`~.link.RedisUnavailable` otherwise (for ``/readyz``)."""
        await self.link.ping(timeout)

    async def close(self) -> None:
        """Leave cleanly: flush what is queued (a closing socket's ``partner_left``),
        hand back the leases and stop beating, so others take over at once rather than
        after the lease and heartbeat run out."""
        if self.link.client is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.link.flushed(), timeout=2.0)
        self.link.running = False
        tasks = [*self._tasks, *self.leases.readers(), *self.frames.serving]
        for task in tasks:
            task.cancel()
        # A cancellation that lands inside a Redis call can come out as a Redis error,
        # which a loop survives; the flag ends it at its next turn, and the wait is capped.
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._tasks = []
        await self.leases.release_all()
        with contextlib.suppress(RedisError, OSError):
            await self.heartbeats.stop()
        await self.link.aclose()

    async def online(self, local: dict[str, int]) -> dict[str, int]:
        """Publish this gateway's counts (a key that runs out ``ONLINE_TTL`` seconds
        later, so a dead gateway's count goes with it) and sum every gateway's. Raises
        ``RedisError``/``OSError`` when Redis is out of reach: the caller keeps its last
        answer."""
        client = self.link.redis
        await client.set(self.keys.online(self.node_id), dumps(local), px=int(ONLINE_TTL * 1000))
        members = sorted(str(m) for m in await client.smembers(self.keys.nodes))
        if not members:
            return dict(local)
        values = await client.mget([self.keys.online(m) for m in members])
        total = dict.fromkeys(local, 0)
        for value in values:
            if value is None:
                continue
            try:
                counts = loads(value)
            except WireError:
                self.counters.bad_payloads += 1
                continue
            for mode in total:
                count = counts.get(mode)
                if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                    total[mode] += count
        return total

    # --- the Broker interface (called in the event loop, never blocks) ----------------

    def enqueue(self, ticket: Ticket, now: float) -> list[Pair]:
        self.waiting.join(ticket, now)
        return []

    def dequeue(self, session: str) -> None:
        self.waiting.leave(session)

    def relay(self, to: str, event: PeerEvent) -> None:
        home = home_of(to)
        if not home:
            return
        self.counters.relays_sent += 1
        self.link.push("publish", self.keys.inbox(home), dumps(event_to_wire(to, event)))

    def share(self, fact: Fact) -> None:
        payload = fact_to_wire(fact) | {"o": self.node_id}
        self.link.push("publish", self.keys.everyone, dumps(payload))

    async def forward_frame(
        self, session: str, match: str, source: FrameSource, jpeg: bytes
    ) -> None:
        """Ask the gateway that holds ``session`` to check a frame, and wait for its
        answer; a gateway that does not answer in ``forward_timeout`` is taken as gone
        (``match_over``: the page stops sampling a match that has ended)."""
        await self.frames.forward(session, match, source, jpeg)
