"""Matchmaker leases: whichever gateway holds a pool's lease runs the core
:class:`~strangers.core.matching.Matchmaker` for it, reading the pool's join stream.

It publishes each pair to the delivery channels of the two sides' gateways with a script
that first checks it still holds the lease, so a holder that stalled and lost its lease
can never publish a pair (fencing); the same script records the cooldown of the two
devices, which a new holder loads. A lease lapses ``lease_seconds`` after its holder
stops renewing it; a standby takes it within ``lease_check_seconds`` more, marks the
stream with a new epoch, loads the cooldowns and asks every gateway to re-announce its
waiting chatters of that pool. It reads only what follows its mark, so the waiting set
is rebuilt from the gateways (who is waiting *now*), never from an older holder's view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from ...core.matching import Matchmaker, Pair
from ...core.pools import Pool
from ..base import home_of
from ..counters import BrokerCounters
from ..keys import Keys
from ..wire import WireError, dumps, loads, note_to_wire, pair_to_wire, ticket_from_wire
from .heartbeats import Heartbeats
from .link import Link

log = logging.getLogger("strangers.redis")


@dataclass(slots=True)
class Held:
    """A pool whose matchmaker runs here."""

    token: str
    epoch: int
    last_id: str
    renewed_at: float
    reader: asyncio.Task[None] | None = None


class Leases:
    """The pools whose matchmaker runs here, and the loops that keep, take and run them.
    ``pools`` are the pools this gateway may hold."""

    def __init__(
        self,
        link: Link,
        keys: Keys,
        node_id: str,
        *,
        matchmaker: Matchmaker,
        heartbeats: Heartbeats,
        counters: BrokerCounters,
        pools: Iterable[Pool],
        lease_seconds: float,
        lease_check_seconds: float,
        tick_seconds: float,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self._link = link
        self._keys = keys
        self.node_id = node_id
        self.matchmaker = matchmaker
        self._heartbeats = heartbeats
        self.counters = counters
        self.pools = tuple(pools)
        self.lease_seconds = lease_seconds
        self.lease_check_seconds = lease_check_seconds
        self.tick_seconds = tick_seconds
        self._clock = clock
        self._wall = wall
        self._scripts: dict[str, Any] = {}
        self.held: dict[Pool, Held] = {}

    def use(self, scripts: dict[str, Any]) -> None:
        """Run the lease scripts registered on the connected client (:mod:`.scripts`)."""
        self._scripts = scripts

    def readers(self) -> list[asyncio.Task[None]]:
        """The tasks reading the join streams of the pools held here."""
        return [held.reader for held in self.held.values() if held.reader is not None]

    async def release_all(self) -> None:
        """Stop every matchmaker here and hand its lease back, so another gateway takes
        it at once rather than after the lease runs out."""
        for pool, held in list(self.held.items()):
            held.reader = None
            self.drop(pool)
            with contextlib.suppress(RedisError, OSError):
                lease = self._keys.pool(pool).lease
                await self._scripts["release"](keys=[lease], args=[held.token])

    def drop(self, pool: Pool) -> None:
        """Stop running ``pool``'s matchmaker here (its waiting tickets go with it)."""
        held = self.held.pop(pool, None)
        if held is None:
            return
        if held.reader is not None:
            held.reader.cancel()
        for ticket in self.matchmaker.waiting_tickets():
            if ticket.pool == pool:
                self.matchmaker.leave(ticket.session)

    def remember(self, entries: Any) -> None:
        """Cooldowns of pairs made by other matchmakers (another pool's), so the same two
        devices do not meet in this node's pools either (docs/design.md §4)."""
        if not isinstance(entries, list):
            raise WireError("bad cooldowns")
        offset = self._clock() - self._wall()
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3):
                raise WireError("bad cooldown")
            a, b, until = entry
            if isinstance(a, str) and isinstance(b, str) and isinstance(until, int | float):
                self.matchmaker.remember(a, b, until + offset)

    async def lease_forever(self) -> None:
        while self._link.running:
            for pool in self.pools:
                try:
                    await self._keep_or_take(pool)
                except (RedisError, OSError) as exc:
                    log.warning("lease of %s: %s", pool.key, exc)
                    held = self.held.get(pool)
                    if held is not None and self._clock() - held.renewed_at > self.lease_seconds:
                        self.drop(pool)
            await asyncio.sleep(self.lease_check_seconds)

    async def _keep_or_take(self, pool: Pool) -> None:
        keys = self._keys.pool(pool)
        px = int(self.lease_seconds * 1000)
        held = self.held.get(pool)
        if held is not None:
            if await self._scripts["renew"](keys=[keys.lease], args=[held.token, px]):
                held.renewed_at = self._clock()
            else:
                log.warning("lost the matchmaker lease of %s", pool.key)
                self.drop(pool)
            return
        token = f"{self.node_id}:{secrets.token_hex(4)}"
        taken = await self._scripts["acquire"](
            keys=[keys.lease, keys.epoch, keys.joins], args=[token, px]
        )
        if not taken:
            return
        epoch, mark = int(taken[0]), str(taken[1])
        held = Held(token, epoch, mark, self._clock())
        self.held[pool] = held
        self.counters.takeovers += 1
        await self._load_cooldowns()
        await self._link.redis.publish(
            self._keys.everyone, dumps({"t": "reannounce", "p": pool.key, "e": epoch})
        )
        held.reader = asyncio.create_task(self._read_pool(pool, held), name=f"match-{pool.key}")
        log.info("matchmaker of %s runs here (epoch %d)", pool.key, epoch)

    async def _load_cooldowns(self) -> None:
        """Every pool's cooldowns still running, oldest first, into the matchmaker."""
        wall = self._wall()
        offset = self._clock() - wall
        found: list[tuple[float, str]] = []
        for pool in self.pools:
            rows: Any = await self._link.redis.zrangebyscore(
                self._keys.pool(pool).recent, wall, "+inf", withscores=True
            )
            found.extend((float(score), str(member)) for member, score in rows)
        for until, member in sorted(found):
            a, _, b = member.partition("|")
            self.matchmaker.remember(a, b, until + offset)

    async def _read_pool(self, pool: Pool, held: Held) -> None:
        client = self._link.redis
        keys = self._keys.pool(pool)
        trimmed_at = self._clock()
        while self.held.get(pool) is held:
            try:
                reply = await client.xread({keys.joins: held.last_id}, count=2000, block=200)
            except (RedisError, OSError) as exc:
                log.warning("reading the joins of %s: %s", pool.key, exc)
                await asyncio.sleep(0.2)
                continue
            if self.held.get(pool) is not held:
                return
            streams: Any = reply.items() if isinstance(reply, dict) else (reply or ())  # RESP3/2
            batch = [(str(i), fields) for _stream, entries in streams for i, fields in entries]
            await self._recheck_dead(batch)
            now = self._clock()
            pairs: list[Pair] = []
            for entry_id, fields in batch:
                held.last_id = entry_id
                pairs.extend(self._apply(pool, held, fields, now))
            if pairs:
                await self._publish(pool, held, pairs)
            if now - trimmed_at > 1.0:
                trimmed_at = now
                with contextlib.suppress(RedisError, OSError):
                    await client.xtrim(keys.joins, minid=held.last_id, approximate=True)
                    await client.zremrangebyscore(keys.recent, "-inf", self._wall())

    async def _recheck_dead(self, batch: list[tuple[str, dict[str, str]]]) -> None:
        """Joins from a gateway held dead are dropped (one written just before it died
        would wait forever as a ghost), unless it is beating again: it came back from
        a stall or an outage and is re-announcing its chatters."""
        if not self._heartbeats.dead:
            return
        suspects: set[str] = set()
        for _, fields in batch:
            if fields.get("k") == "join":
                with contextlib.suppress(WireError):
                    suspects.add(home_of(str(loads(fields.get("v", "")).get("s", ""))))
        await self._heartbeats.recheck(suspects)

    def _apply(self, pool: Pool, held: Held, fields: dict[str, str], now: float) -> list[Pair]:
        kind = fields.get("k")
        try:
            if kind == "join":
                ticket = ticket_from_wire(loads(fields.get("v", "")), now)
                if ticket.pool != pool or home_of(ticket.session) in self._heartbeats.dead:
                    return []
                return self.matchmaker.join(ticket, now)
            if kind == "leave":
                self.matchmaker.leave(str(fields.get("s")))
            elif kind == "epoch" and int(fields.get("e", "0")) > held.epoch:
                log.warning("another gateway took the matchmaker of %s", pool.key)
                self.drop(pool)
        except (WireError, ValueError) as exc:
            self.counters.bad_payloads += 1
            log.warning("dropped a bad entry in the joins of %s: %s", pool.key, exc)
        return []

    async def tick_forever(self) -> None:
        while self._link.running:
            await asyncio.sleep(self.tick_seconds)
            if not self.held:
                continue
            pairs = self.matchmaker.tick(self._clock())
            await self._publish_notes()
            by_pool: dict[Pool, list[Pair]] = {}
            for pair in pairs:
                by_pool.setdefault(pair.a.pool, []).append(pair)
            for pool, found in by_pool.items():
                held = self.held.get(pool)
                if held is not None:
                    await self._publish(pool, held, found)

    async def _publish_notes(self) -> None:
        """Tell the gateways of the chatters waiting here for a while why they still
        wait (``WaitNote``; docs/protocol.md, ``queue``). Advisory, so unfenced: a note
        from a holder that just lost its lease says what it saw a moment ago."""
        notes = self.matchmaker.wait_notes(self._clock())
        if not notes:
            return
        pipe = self._link.redis.pipeline(transaction=False)
        for note in notes:
            pipe.publish(self._keys.inbox(home_of(note.session)), dumps(note_to_wire(note)))
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not publish %d wait notes: %s", len(notes), exc)

    async def _publish(self, pool: Pool, held: Held, pairs: list[Pair]) -> None:
        """Send each pair to its sides' gateways, only while the lease is ours."""
        keys = self._keys.pool(pool)
        now, wall = self._clock(), self._wall()
        until = wall + self.matchmaker.rules.repair_cooldown
        messages: list[str | bytes] = []
        cooldowns: list[str] = []
        shared: list[list[Any]] = []
        for pair in pairs:
            payload = dumps(pair_to_wire(pair, now))
            for home in {home_of(pair.a.session), home_of(pair.b.session)}:
                messages += [self._keys.inbox(home), payload]
            if pair.a.device != pair.b.device:
                a, b = sorted((pair.a.device, pair.b.device))
                cooldowns += [f"{a}|{b}", repr(until)]
                shared.append([a, b, until])
        if shared:
            note = dumps({"t": "cooldowns", "o": self.node_id, "l": shared})
            messages += [self._keys.everyone, note]
        args = [held.token, len(messages) // 2, *messages, *cooldowns]
        try:
            published = await self._scripts["publish"](keys=[keys.lease, keys.recent], args=args)
        except (RedisError, OSError) as exc:
            # The sides stay waiting on their gateways and are re-announced to whoever
            # holds the pool next; this holder must not keep a view it could not share.
            log.warning("could not publish %d pairs of %s: %s", len(pairs), pool.key, exc)
            published = 0
        if published:
            self.counters.pairs_published += len(pairs)
            return
        self.counters.stale_publishes += len(pairs)
        self.drop(pool)
