"""Many gateways on one Redis (design §5).

Every gateway runs this broker beside its own sockets. Redis holds what they share
(the layout is in :mod:`.keys`):

- **joins**: a gateway appends its chatters' ``join`` and ``leave`` to the stream of
  their pool; nothing waits for a reply, so a chat line never waits on Redis.
- **matchmakers**: whichever gateway holds a pool's lease runs the core
  :class:`~strangers.core.matching.Matchmaker` for it, reading the pool's stream.
  It publishes each pair to the delivery channels of the two sides' gateways with a
  script that first checks it still holds the lease, so a holder that stalled and lost
  its lease can never publish a pair (fencing); the same script records the cooldown
  of the two devices, which a new holder loads.
- **takeover**: a lease lapses ``lease_seconds`` after its holder stops renewing it;
  a standby takes it within ``lease_check_seconds`` more, marks the stream with a new
  epoch, loads the cooldowns and asks every gateway to re-announce its waiting
  chatters of that pool. It reads only what follows its mark, so the waiting set is
  rebuilt from the gateways (who is waiting *now*), never from an older holder's view.
- **delivery**: a channel per gateway carries pairs and partner events; another
  channel reaches every gateway (facts: blocks, bans, age records; cooldowns;
  re-announce requests).
- **heartbeats**: each gateway renews a key that expires ``dead_after`` seconds
  later. A gateway whose key has expired is dead: every other gateway ends its
  chatters' chats with that gateway's sessions (``partner_left``), and a matchmaker
  drops its waiting tickets. A gateway that finds itself silent for that long (a
  stall) ends its own chats across gateways and re-announces its waiting chatters.

With the defaults (beat 1 s, dead after 3 s, checked every 0.5 s; lease 3 s, tried
every 0.5 s) a dead gateway's partners hear within about 4 s and a pool has a new
matchmaker within about 4 s: design §5 asks for 5 s.

If Redis goes away, chats on one gateway go on; pairing and relays across gateways
wait for it. Writes are kept in order and retried; past ``max_backlog`` they are
dropped and every waiting chatter is re-announced once Redis is back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..core.errors import MatchOver, StrangersError, error_for
from ..core.frames import FrameSource
from ..core.matching import Matchmaker, Pair, Ticket
from ..core.messages import AgeBand, Mode
from ..core.pools import Pool
from ..core.switchboard import PeerEvent
from .base import FrameHandler, PairSink, home_of
from .keys import Keys
from .wire import (
    Fact,
    WireError,
    dumps,
    event_from_wire,
    event_to_wire,
    fact_from_wire,
    fact_to_wire,
    loads,
    pair_from_wire,
    pair_to_wire,
    pool_from_key,
    ticket_from_wire,
    ticket_to_wire,
)

log = logging.getLogger("strangers.redis")

ALL_POOLS = tuple(Pool(band, mode) for band in AgeBand for mode in Mode)

# Take the lease if free; then a new epoch, and its mark in the stream.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local epoch = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], '*', 'k', 'epoch', 'e', epoch)
return {epoch, id}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Publish pairs only while holding the lease (fencing), and keep their cooldowns.
# ARGV: token, number of messages, then channel/payload pairs, then member/score pairs.
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
  i = i + 2
end
return 1
"""


class RedisUnavailable(RuntimeError):
    """Redis could not be reached when the gateway started."""


@dataclass(slots=True)
class _Held:
    """A pool whose matchmaker runs here."""

    token: str
    epoch: int
    last_id: str
    renewed_at: float
    reader: asyncio.Task[None] | None = None


@dataclass(slots=True)
class BrokerCounters:
    """What the broker did, for tests, logs and ``/metrics`` (``gateway/metrics.py``)."""

    pairs_published: int = 0
    relays_sent: int = 0
    takeovers: int = 0
    nodes_lost: int = 0
    bad_payloads: int = 0
    dropped_writes: int = 0
    stale_publishes: int = 0


class RedisBroker:
    """The broker of a gateway among several (design §5). ``matchmaker`` serves the
    pools whose lease this gateway holds; its ``blocked`` predicate should read the
    node's block list, which facts from other gateways keep current."""

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
        self.pools = tuple(pools)
        self.heartbeat_seconds = heartbeat_seconds
        self.dead_after = dead_after
        self.watch_seconds = watch_seconds
        self.lease_seconds = lease_seconds
        self.lease_check_seconds = lease_check_seconds
        self.tick_seconds = tick_seconds
        self.max_backlog = max_backlog
        self.stream_cap = stream_cap
        self.connect_timeout = connect_timeout
        self.forward_timeout = forward_timeout
        self.frame_handler: FrameHandler | None = None
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._wall = wall
        self.counters = BrokerCounters()
        self._sink: PairSink | None = None
        self._redis: aioredis.Redis | None = None
        self._out: list[tuple[str, str, Any]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._resync = False
        self._waiting: dict[str, Ticket] = {}
        self._held: dict[Pool, _Held] = {}
        self._dead: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._scripts: dict[str, Any] = {}
        self._running = False

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, sink: PairSink) -> None:
        self._sink = sink
        client = aioredis.from_url(self.url, decode_responses=True)
        deadline = self._clock() + self.connect_timeout
        while True:
            try:
                await client.ping()
                break
            except (RedisError, OSError) as exc:
                if self._clock() > deadline:
                    await client.aclose()
                    where = self._safe_url
                    raise RedisUnavailable(f"cannot reach Redis at {where}: {exc}") from exc
                await asyncio.sleep(0.25)
        self._redis = client
        for name, body in (
            ("acquire", _ACQUIRE),
            ("renew", _RENEW),
            ("release", _RELEASE),
            ("publish", _PUBLISH),
        ):
            self._scripts[name] = client.register_script(body)
        await self._beat()
        self._running = True
        spawn = asyncio.create_task
        self._tasks = [
            spawn(self._write_forever(), name="redis-writer"),
            spawn(self._listen_forever(), name="redis-listener"),
        ]
        # Deliveries must be heard before this node takes a lease or a chatter.
        await asyncio.wait_for(self._subscribed.wait(), timeout=self.connect_timeout)
        self._tasks += [
            spawn(self._beat_forever(), name="redis-heartbeat"),
            spawn(self._watch_forever(), name="redis-watch"),
            spawn(self._lease_forever(), name="redis-leases"),
            spawn(self._tick_forever(), name="redis-tick"),
        ]
        log.info("gateway %s joined the nodes on %s", self.node_id, self._safe_url)

    async def ping(self, timeout: float) -> None:
        """One ``PING`` within ``timeout`` seconds; raises :class:`RedisUnavailable`
        otherwise (for ``/readyz``: a gateway cut off from Redis cannot pair anyone)."""
        client = self._redis
        if client is None or not self._running:
            raise RedisUnavailable("not connected to Redis")
        try:
            await asyncio.wait_for(client.ping(), timeout)
        except Exception as exc:  # any failure of the probe means: not ready
            raise RedisUnavailable(f"Redis did not answer a ping: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Leave cleanly: flush what is queued (a closing socket's ``partner_left``),
        hand back the leases and stop beating, so others take over at once rather than
        after the lease and heartbeat run out."""
        client = self._redis
        if client is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._flushed(), timeout=2.0)
        self._running = False
        readers = [held.reader for held in self._held.values() if held.reader is not None]
        tasks = [*self._tasks, *readers, *self._serving]
        for task in tasks:
            task.cancel()
        # A cancellation that lands inside a Redis call can come out as a Redis error,
        # which a loop survives; the flag ends it at its next turn, and the wait is capped.
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._tasks = []
        for pool, held in list(self._held.items()):
            held.reader = None
            self._drop_pool(pool)
            with contextlib.suppress(RedisError, OSError):
                await self._scripts["release"](keys=[self.keys.pool(pool).lease], args=[held.token])
        with contextlib.suppress(RedisError, OSError):
            await client.delete(self.keys.heartbeat(self.node_id))
            await client.srem(self.keys.nodes, self.node_id)
        await client.aclose()
        self._redis = None

    async def _flushed(self) -> None:
        while self._out or not self._idle.is_set():
            self._wake.set()
            await asyncio.sleep(0.01)

    @property
    def _safe_url(self) -> str:
        # Never log a password that may be in the URL.
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    @property
    def holds(self) -> frozenset[Pool]:
        return frozenset(self._held)

    # --- the Broker interface (called in the event loop, never blocks) ----------------

    def enqueue(self, ticket: Ticket, now: float) -> list[Pair]:
        self._waiting[ticket.session] = ticket
        self._join(ticket, now)
        return []

    def dequeue(self, session: str) -> None:
        ticket = self._waiting.pop(session, None)
        if ticket is not None:
            fields = {"k": "leave", "s": session}
            self._push("xadd", self.keys.pool(ticket.pool).joins, fields)

    def relay(self, to: str, event: PeerEvent) -> None:
        home = home_of(to)
        if not home:
            return
        self.counters.relays_sent += 1
        self._push("publish", self.keys.inbox(home), dumps(event_to_wire(to, event)))

    def share(self, fact: Fact) -> None:
        payload = fact_to_wire(fact) | {"o": self.node_id}
        self._push("publish", self.keys.everyone, dumps(payload))

    async def forward_frame(
        self, session: str, match: str, source: FrameSource, jpeg: bytes
    ) -> None:
        """Ask the gateway that holds ``session`` to check a frame, and wait for its
        answer; a gateway that does not answer in ``forward_timeout`` is taken as gone
        (``match_over``: the page stops sampling a match that has ended)."""
        home = home_of(session)
        call = secrets.token_hex(8)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call] = answer
        request = {
            "t": "frame",
            "id": call,
            "r": self.node_id,
            "s": session,
            "m": match,
            "src": source.value,
            "j": base64.b64encode(jpeg).decode("ascii"),
        }
        self._push("publish", self.keys.inbox(home), dumps(request))
        try:
            reply = await asyncio.wait_for(answer, self.forward_timeout)
        except TimeoutError:
            raise MatchOver() from None
        finally:
            self._calls.pop(call, None)
        code = reply.get("c")
        if code is None:
            return
        retry = reply.get("ra")
        detail = reply.get("x")
        raise error_for(
            str(code),
            detail if isinstance(detail, str) else None,
            float(retry) if isinstance(retry, int | float) else 1.0,
        )

    def _serve_frame(self, value: dict[str, Any]) -> None:
        """Check a frame another gateway forwarded, then answer it."""
        caller, call = value.get("r"), value.get("id")
        session, match, source = value.get("s"), value.get("m"), value.get("src")
        if not all(isinstance(v, str) for v in (caller, call, session, match, source)):
            raise WireError("bad frame request")
        assert isinstance(caller, str) and isinstance(call, str)
        assert isinstance(session, str) and isinstance(match, str) and isinstance(source, str)
        try:
            jpeg = base64.b64decode(str(value.get("j", "")), validate=True)
            where = FrameSource(source)
        except (binascii.Error, ValueError) as exc:
            raise WireError("bad frame request") from exc
        handler = self.frame_handler

        async def serve() -> None:
            reply: dict[str, Any] = {"t": "frame_reply", "id": call, "c": None}
            try:
                if handler is None:
                    raise MatchOver()
                await handler(session, match, where, jpeg)
            except StrangersError as exc:
                reply |= {"c": exc.code, "x": exc.detail, "ra": getattr(exc, "retry_after", None)}
            except Exception:
                log.exception("fault while checking a forwarded frame")
                reply["c"] = "internal"
            self._push("publish", self.keys.inbox(caller), dumps(reply))

        task = asyncio.create_task(serve(), name="forwarded-frame")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    # --- writing, in order, batched ----------------------------------------------------

    def _join(self, ticket: Ticket, now: float) -> None:
        fields = {"k": "join", "v": dumps(ticket_to_wire(ticket, now))}
        self._push("xadd", self.keys.pool(ticket.pool).joins, fields)

    def _push(self, op: str, key: str, value: Any) -> None:
        self._out.append((op, key, value))
        self._wake.set()

    async def _write_forever(self) -> None:
        backoff = 0.1
        while self._running:
            await self._wake.wait()
            # One turn of the loop lets the handlers that are ready add theirs: one
            # round trip then carries many writes (a pipeline costs more than its ops).
            await asyncio.sleep(0)
            self._wake.clear()
            while self._out:
                batch, self._out = self._out, []
                self._idle.clear()
                try:
                    await self._write(batch)
                    backoff = 0.1
                except (RedisError, OSError) as exc:
                    self._out = batch + self._out
                    if len(self._out) > self.max_backlog:
                        log.error("Redis unreachable; dropping %d queued writes", len(self._out))
                        self.counters.dropped_writes += len(self._out)
                        self._out = []
                        self._resync = True
                    else:
                        log.warning("Redis write failed (%s); retrying in %.1f s", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                finally:
                    self._idle.set()
            if self._resync and self._redis is not None:
                self._resync = False
                self._reannounce(None)

    async def _write(self, batch: list[tuple[str, str, Any]]) -> None:
        assert self._redis is not None
        pipe = self._redis.pipeline(transaction=False)
        for op, key, value in batch:
            if op == "xadd":
                pipe.xadd(key, value, maxlen=self.stream_cap, approximate=True)
            else:
                pipe.publish(key, value)
        await pipe.execute()

    # --- receiving ------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        assert self._redis is not None
        first = True
        while self._running:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.keys.inbox(self.node_id), self.keys.everyone)
                if not first:
                    # Deliveries were missed while the subscription was down.
                    self._reannounce(None)
                first = False
                self._subscribed.set()
                while self._running:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    def _dispatch(self, channel: str, data: str) -> None:
        try:
            value = loads(data)
            if channel == self.keys.everyone:
                self._on_everyone(value)
            else:
                self._on_inbox(value)
        except WireError as exc:
            self.counters.bad_payloads += 1
            log.warning("dropped a payload from Redis: %s", exc)
        except Exception:
            # A fault in one delivery must not stop the node hearing the next.
            log.exception("fault while applying a delivery from Redis")

    def _on_inbox(self, value: dict[str, Any]) -> None:
        assert self._sink is not None
        kind = value.get("t")
        if kind == "relay":
            to, event = event_from_wire(value)
            if home_of(to) == self.node_id:
                self._sink.on_peer(to, event)
        elif kind == "pair":
            pair = pair_from_wire(value, self._clock())
            self._sink.on_pairs([self._own_tickets(pair)])
        elif kind == "frame":
            self._serve_frame(value)
        elif kind == "frame_reply":
            answer = self._calls.get(str(value.get("id")))
            if answer is not None and not answer.done():
                answer.set_result(value)
        else:
            raise WireError(f"unknown delivery {kind!r}")

    def _own_tickets(self, pair: Pair) -> Pair:
        """The pair with this node's sides as it queued them (its clock, its tickets);
        a side still waiting for that very ticket is no longer waiting here."""
        sides = []
        for ticket in (pair.a, pair.b):
            mine = self._waiting.get(ticket.session)
            if mine is not None and mine.serial == ticket.serial:
                del self._waiting[ticket.session]
                ticket = mine
            sides.append(ticket)
        return Pair(pair.match, sides[0], sides[1], pair.common)

    def _on_everyone(self, value: dict[str, Any]) -> None:
        assert self._sink is not None
        kind = value.get("t")
        if kind == "reannounce":
            self._reannounce(pool_from_key(str(value.get("p"))))
        elif kind == "cooldowns":
            if value.get("o") != self.node_id and self._held:
                self._remember(value.get("l"))
        elif value.get("o") != self.node_id:
            self._sink.on_fact(fact_from_wire(value))

    def _remember(self, entries: Any) -> None:
        """Cooldowns of pairs made by other matchmakers (another pool's), so the same two
        devices do not meet in this node's pools either (design §4)."""
        if not isinstance(entries, list):
            raise WireError("bad cooldowns")
        offset = self._clock() - self._wall()
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3):
                raise WireError("bad cooldown")
            a, b, until = entry
            if isinstance(a, str) and isinstance(b, str) and isinstance(until, int | float):
                self.matchmaker.remember(a, b, until + offset)

    def _reannounce(self, pool: Pool | None) -> None:
        """Queue a join for every chatter waiting here (in ``pool``, or all)."""
        now = self._clock()
        for ticket in self._waiting.values():
            if pool is None or ticket.pool == pool:
                self._join(ticket, now)

    # --- heartbeats and lost nodes --------------------------------------------------------

    async def _beat(self) -> None:
        assert self._redis is not None
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.keys.heartbeat(self.node_id), "1", px=int(self.dead_after * 1000))
        pipe.sadd(self.keys.nodes, self.node_id)
        await pipe.execute()

    async def _beat_forever(self) -> None:
        """Beat; and when this gateway has not been heard for ``dead_after`` (Redis out
        of reach, or the process stalled), the others hold it dead: they have ended their
        chatters' chats with ours and dropped our waiting ones. Match that view at once
        (our chats across gateways end here too), and re-announce once heard again."""
        assert self._sink is not None
        last, cut_off = self._clock(), False
        while self._running:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
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
                self._sink.on_nodes_lost(None)
            if beating:
                if cut_off:
                    cut_off = False
                    self._reannounce(None)
                last = now

    async def _watch_forever(self) -> None:
        assert self._redis is not None
        while self._running:
            await asyncio.sleep(self.watch_seconds)
            try:
                await self._watch_once()
            except (RedisError, OSError) as exc:
                log.warning("could not check the other gateways: %s", exc)

    async def _watch_once(self) -> None:
        assert self._redis is not None and self._sink is not None
        names = await self._redis.smembers(self.keys.nodes)
        members = [str(m) for m in names if str(m) != self.node_id]
        if not members:
            return
        pipe = self._redis.pipeline(transaction=False)
        for member in members:
            pipe.exists(self.keys.heartbeat(member))
        alive = await pipe.execute()
        now = self._clock()
        lost: set[str] = set()
        for member, beating in zip(members, alive, strict=True):
            if beating:
                self._dead.pop(member, None)
            elif member not in self._dead:
                self._dead[member] = now
                lost.add(member)
        if lost:
            log.warning("gateways lost: %s", ", ".join(sorted(lost)))
            self.counters.nodes_lost += len(lost)
            for ticket in self.matchmaker.waiting_tickets():
                if home_of(ticket.session) in lost:
                    self.matchmaker.leave(ticket.session)
            self._sink.on_nodes_lost(frozenset(lost))
        # Forget the long dead, once every gateway has had time to see them go.
        for member, since in list(self._dead.items()):
            if now - since > 60 * self.dead_after:
                await self._redis.srem(self.keys.nodes, member)
                del self._dead[member]

    # --- matchmaker leases ------------------------------------------------------------------

    async def _lease_forever(self) -> None:
        while self._running:
            for pool in self.pools:
                try:
                    await self._keep_or_take(pool)
                except (RedisError, OSError) as exc:
                    log.warning("lease of %s: %s", pool.key, exc)
                    held = self._held.get(pool)
                    if held is not None and self._clock() - held.renewed_at > self.lease_seconds:
                        self._drop_pool(pool)
            await asyncio.sleep(self.lease_check_seconds)

    async def _keep_or_take(self, pool: Pool) -> None:
        keys = self.keys.pool(pool)
        px = int(self.lease_seconds * 1000)
        held = self._held.get(pool)
        if held is not None:
            if await self._scripts["renew"](keys=[keys.lease], args=[held.token, px]):
                held.renewed_at = self._clock()
            else:
                log.warning("lost the matchmaker lease of %s", pool.key)
                self._drop_pool(pool)
            return
        token = f"{self.node_id}:{secrets.token_hex(4)}"
        taken = await self._scripts["acquire"](
            keys=[keys.lease, keys.epoch, keys.joins], args=[token, px]
        )
        if not taken:
            return
        epoch, mark = int(taken[0]), str(taken[1])
        held = _Held(token, epoch, mark, self._clock())
        self._held[pool] = held
        self.counters.takeovers += 1
        await self._load_cooldowns()
        assert self._redis is not None
        await self._redis.publish(
            self.keys.everyone, dumps({"t": "reannounce", "p": pool.key, "e": epoch})
        )
        held.reader = asyncio.create_task(self._read_pool(pool, held), name=f"match-{pool.key}")
        log.info("matchmaker of %s runs here (epoch %d)", pool.key, epoch)

    async def _load_cooldowns(self) -> None:
        """Every pool's cooldowns still running, oldest first, into the matchmaker."""
        assert self._redis is not None
        wall = self._wall()
        offset = self._clock() - wall
        found: list[tuple[float, str]] = []
        for pool in self.pools:
            rows: Any = await self._redis.zrangebyscore(
                self.keys.pool(pool).recent, wall, "+inf", withscores=True
            )
            found.extend((float(score), str(member)) for member, score in rows)
        for until, member in sorted(found):
            a, _, b = member.partition("|")
            self.matchmaker.remember(a, b, until + offset)

    def _drop_pool(self, pool: Pool) -> None:
        held = self._held.pop(pool, None)
        if held is None:
            return
        if held.reader is not None:
            held.reader.cancel()
        for ticket in self.matchmaker.waiting_tickets():
            if ticket.pool == pool:
                self.matchmaker.leave(ticket.session)

    async def _read_pool(self, pool: Pool, held: _Held) -> None:
        assert self._redis is not None
        keys = self.keys.pool(pool)
        trimmed_at = self._clock()
        while self._held.get(pool) is held:
            try:
                reply = await self._redis.xread({keys.joins: held.last_id}, count=2000, block=200)
            except (RedisError, OSError) as exc:
                log.warning("reading the joins of %s: %s", pool.key, exc)
                await asyncio.sleep(0.2)
                continue
            if self._held.get(pool) is not held:
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
                    await self._redis.xtrim(keys.joins, minid=held.last_id, approximate=True)
                    await self._redis.zremrangebyscore(keys.recent, "-inf", self._wall())

    async def _recheck_dead(self, batch: list[tuple[str, dict[str, str]]]) -> None:
        """Joins from a gateway held dead are dropped (one written just before it died
        would wait forever as a ghost), unless it is beating again: it came back from
        a stall or an outage and is re-announcing its chatters."""
        if not self._dead:
            return
        suspects: set[str] = set()
        for _, fields in batch:
            if fields.get("k") == "join":
                with contextlib.suppress(WireError):
                    suspects.add(home_of(str(loads(fields.get("v", "")).get("s", ""))))
        suspects &= self._dead.keys()
        assert self._redis is not None
        for home in suspects:
            with contextlib.suppress(RedisError, OSError):
                if await self._redis.exists(self.keys.heartbeat(home)):
                    del self._dead[home]

    def _apply(self, pool: Pool, held: _Held, fields: dict[str, str], now: float) -> list[Pair]:
        kind = fields.get("k")
        try:
            if kind == "join":
                ticket = ticket_from_wire(loads(fields.get("v", "")), now)
                if ticket.pool != pool or home_of(ticket.session) in self._dead:
                    return []
                return self.matchmaker.join(ticket, now)
            if kind == "leave":
                self.matchmaker.leave(str(fields.get("s")))
            elif kind == "epoch" and int(fields.get("e", "0")) > held.epoch:
                log.warning("another gateway took the matchmaker of %s", pool.key)
                self._drop_pool(pool)
        except (WireError, ValueError) as exc:
            self.counters.bad_payloads += 1
            log.warning("dropped a bad entry in the joins of %s: %s", pool.key, exc)
        return []

    async def _tick_forever(self) -> None:
        while self._running:
            await asyncio.sleep(self.tick_seconds)
            if not self._held:
                continue
            pairs = self.matchmaker.tick(self._clock())
            by_pool: dict[Pool, list[Pair]] = {}
            for pair in pairs:
                by_pool.setdefault(pair.a.pool, []).append(pair)
            for pool, found in by_pool.items():
                held = self._held.get(pool)
                if held is not None:
                    await self._publish(pool, held, found)

    async def _publish(self, pool: Pool, held: _Held, pairs: list[Pair]) -> None:
        """Send each pair to its sides' gateways, only while the lease is ours."""
        keys = self.keys.pool(pool)
        now, wall = self._clock(), self._wall()
        until = wall + self.matchmaker.rules.repair_cooldown
        messages: list[str | bytes] = []
        cooldowns: list[str] = []
        shared: list[list[Any]] = []
        for pair in pairs:
            payload = dumps(pair_to_wire(pair, now))
            for home in {home_of(pair.a.session), home_of(pair.b.session)}:
                messages += [self.keys.inbox(home), payload]
            if pair.a.device != pair.b.device:
                a, b = sorted((pair.a.device, pair.b.device))
                cooldowns += [f"{a}|{b}", repr(until)]
                shared.append([a, b, until])
        if shared:
            note = dumps({"t": "cooldowns", "o": self.node_id, "l": shared})
            messages += [self.keys.everyone, note]
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
        self._drop_pool(pool)
