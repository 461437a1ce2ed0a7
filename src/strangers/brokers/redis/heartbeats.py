"""Heartbeats and lost gateways.

Each gateway renews a key that expires ``dead_after`` seconds later. A gateway whose key
has expired is dead: every other gateway ends its chatters' chats with that gateway's
sessions (``partner_left``), and a matchmaker drops its waiting tickets. A gateway that
finds itself silent for that long (a stall) ends its own chats across gateways and
re-announces its waiting chatters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from ...core.matching import Matchmaker
from ..base import PairSink, home_of
from ..counters import BrokerCounters
from ..keys import Keys
from .link import Link
from .waiting import Waiting

log = logging.getLogger("strangers.redis")


class Heartbeats:
    """This gateway's heartbeat, and the watch over the others'. ``dead`` holds the
    gateways found dead, with when (this node's clock)."""

    def __init__(
        self,
        link: Link,
        keys: Keys,
        node_id: str,
        *,
        matchmaker: Matchmaker,
        waiting: Waiting,
        counters: BrokerCounters,
        heartbeat_seconds: float,
        dead_after: float,
        watch_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._link = link
        self._keys = keys
        self.node_id = node_id
        self.matchmaker = matchmaker
        self._waiting = waiting
        self.counters = counters
        self.heartbeat_seconds = heartbeat_seconds
        self.dead_after = dead_after
        self.watch_seconds = watch_seconds
        self._clock = clock
        self.dead: dict[str, float] = {}

    async def beat(self) -> None:
        pipe = self._link.redis.pipeline(transaction=False)
        pipe.set(self._keys.heartbeat(self.node_id), "1", px=int(self.dead_after * 1000))
        pipe.sadd(self._keys.nodes, self.node_id)
        await pipe.execute()

    async def stop(self) -> None:
        """Leave the set of gateways at once, rather than when the heartbeat runs out."""
        client = self._link.redis
        await client.delete(self._keys.heartbeat(self.node_id))
        await client.srem(self._keys.nodes, self.node_id)

    async def beat_forever(self, sink: PairSink) -> None:
        """Beat; and when this gateway has not been heard for ``dead_after`` (Redis out
        of reach, or the process stalled), the others hold it dead: they have ended their
        chatters' chats with ours and dropped our waiting ones. Match that view at once
        (our chats across gateways end here too), and re-announce once heard again."""
        last, cut_off = self._clock(), False
        while self._link.running:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.beat()
                beating = True
            except (RedisError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)
                beating = False
            now = self._clock()
            if now - last > self.dead_after and not cut_off:
                log.warning(
                    "this gateway was not heard for %.1f s; its chats with other gateways end",
                    now - last,
                )
                cut_off = True
                sink.on_nodes_lost(None)
            if beating:
                if cut_off:
                    cut_off = False
                    self._waiting.reannounce(None)
                last = now

    async def watch_forever(self, sink: PairSink) -> None:
        while self._link.running:
            await asyncio.sleep(self.watch_seconds)
            try:
                await self.watch_once(sink)
            except (RedisError, OSError) as exc:
                log.warning("could not check the other gateways: %s", exc)

    async def watch_once(self, sink: PairSink) -> None:
        client = self._link.redis
        names = await client.smembers(self._keys.nodes)
        members = [str(m) for m in names if str(m) != self.node_id]
        if not members:
            return
        pipe = client.pipeline(transaction=False)
        for member in members:
            pipe.exists(self._keys.heartbeat(member))
        alive = await pipe.execute()
        now = self._clock()
        lost: set[str] = set()
        for member, beating in zip(members, alive, strict=True):
            if beating:
                self.dead.pop(member, None)
            elif member not in self.dead:
                self.dead[member] = now
                lost.add(member)
        if lost:
            log.warning("gateways lost: %s", ", ".join(sorted(lost)))
            self.counters.nodes_lost += len(lost)
            for ticket in self.matchmaker.waiting_tickets():
                if home_of(ticket.session) in lost:
                    self.matchmaker.leave(ticket.session)
            sink.on_nodes_lost(frozenset(lost))
        # Forget the long dead, once every gateway has had time to see them go.
        for member, since in list(self.dead.items()):
            if now - since > 60 * self.dead_after:
                await client.srem(self._keys.nodes, member)
                del self.dead[member]

    async def recheck(self, homes: set[str]) -> None:
        """Of ``homes`` held dead, forget those beating again: back from a stall or an
        outage, re-announcing their chatters."""
        client = self._link.redis
        for home in homes & self.dead.keys():
            with contextlib.suppress(RedisError, OSError):
                if await client.exists(self._keys.heartbeat(home)):
                    del self.dead[home]
