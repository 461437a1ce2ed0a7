"""Limits across sessions, per device and per network (docs/design.md §3 limits; issue 9).

The core's token buckets limit one *session*; a bot opens many. These limits count
what one **device** (its token) and one **network** (the keyed hash of its address,
docs/design.md §6) do across all their sessions and, with Redis, across every gateway, so that
a flood meets a clear refusal and persistent abuse a temporary ban (OWASP ASVS 5.0
V2.4.1 anti-automation).

This is the generic limiter, below the gateway and the moderation layer, which both
count with it: the chat socket, the frame posts and the appeals (``gateway/``) and the
console's sign-in (``moderation/console/signin.py``). What a refusal leads to (a
``rate_limited`` answer, a ban for abuse) is the caller's.

- Every action has a limit per device and a looser one per network: networks are
  shared (a school, an office, a carrier's NAT), and one pupil's flood must not lock
  out the rest of the school before it locks out the pupil. The limits are settings
  (``limit_<action>_device``, ``limit_<action>_network``) in the syntax of the
  ``limits`` library, counted with its sliding-window-counter strategy: two counters a
  key, and no burst at a window's edge as with fixed windows.
- Every refusal also counts against an **abuse** limit per device and per network
  (``limit_abuse_*``). A refused caller whose *device* is past it is ``abusive``, and
  the caller bans that device for a while (``ban_for_abuse`` in
  ``gateway/enforcement.py``). A network past it makes a refusal abusive only when no
  device is known (a handshake before ``hello``, a frame with a forged token), and then
  nothing is banned: a network-wide ban would hit every innocent device behind it; the
  limits keep refusing it, which costs nothing.
- Where counters live: in this node's memory when ``redis_url`` is unset; in Redis
  (keys under ``<redis_namespace>:limits``, hash-tagged by ``limits`` so that a window's
  two counters share a Redis Cluster slot) when it is set, so a limit holds across
  gateways. **MESSAGE is always counted in node-local memory**: a Redis round trip per
  chat line would double the cost of a relay (``docs/performance.md``), the session's
  own token bucket is the first line, and a device's tabs are usually on one gateway
  (nginx is sticky by address).
- **Redis failing** must neither crash the caller nor open the gates: a failed call
  falls back to this node's memory for ``SHARED_RETRY_SECONDS`` before Redis is tried
  again, with one log line per outage and the counter
  ``strangers_rate_limit_storage_failures_total``. During an outage each gateway
  enforces every limit on its own, so a flood spread over N gateways gets at most N
  times the limit: bounded, where failing open would be unbounded, and failing closed
  would refuse every chatter because of a cache.
- **Memory is bounded**: :class:`LocalStorage` drops a key once both its windows are
  over (at most two windows after its last hit), a few keys at a time on each call so
  no call pays for a whole sweep, and evicts the oldest keys past ``max_keys``
  (counted: ``strangers_rate_limit_evictions_total``). The ``limits`` library's own
  ``MemoryStorage`` was measured and not used: after every hit it schedules a sweep of
  *all* its keys, which at 20,000 live keys made a hit cost ~70 µs instead of ~8 µs,
  on the path of every chat line.
- **A local count is synchronous** (issue 18): :meth:`RateLimits.hit_local` counts in
  :class:`LocalStorage` with plain calls (no coroutine, no ``limits`` limiter), the
  keys' text around the identifier built once per limit, the identifiers' key parts
  remembered (bounded, :data:`IDENTIFIER_CACHE`), and no sweep unless a key is due.
  It gives the answers the ``limits`` sliding-window-counter strategy over
  :class:`LocalStorage` gave, key for key (``tests/safety/test_ratelimits_local.py``
  drives both; ``bench/ratelimits.py`` times both); ``hit`` uses it for every local
  count, and the limiter only for Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import Counter

from ..core.network import UNKNOWN_NETWORK

log = logging.getLogger("strangers.ratelimits")

#: Seconds the node counts in its own memory after Redis failed, before trying it again.
SHARED_RETRY_SECONDS: Final = 10.0
#: Redis answers within this or the call counts as failed (then the memory fallback).
REDIS_TIMEOUT_SECONDS: Final = 0.5
#: Expired keys dropped at most per call, so that no single call pays for a big sweep.
SWEEP_BATCH: Final = 256
#: Identifiers whose key part (:func:`_identifier`) a :class:`RateLimits` remembers; past
#: it the memo starts again empty. About two a live chatter (device and network).
IDENTIFIER_CACHE: Final = 65_536

REFUSED: Final = Counter(
    "strangers_rate_limited_total",
    "Actions refused by the per-device and per-network limits, by action and whether "
    "the refused caller was abusive.",
    ["action", "abusive"],
)
STORAGE_FAILURES: Final = Counter(
    "strangers_rate_limit_storage_failures_total",
    "Calls to the shared (Redis) rate-limit storage that failed; each was counted in the "
    "node's memory instead.",
)
EVICTIONS: Final = Counter(
    "strangers_rate_limit_evictions_total",
    "Live rate-limit counters dropped because a node held max_keys of them.",
)


class Action(StrEnum):
    CONNECT = "connect"
    FIND = "find"  # find and skip
    MESSAGE = "message"
    REPORT = "report"
    FRAME = "frame"
    SIGN_IN = "sign_in"  # the console's; the account name goes as ``device``
    APPEAL = "appeal"
    STANDING = "standing"  # GET /v1/standing
    ONLINE = "online"  # GET /v1/online


#: The refusal counter of each (action, abusive), looked up once rather than per refusal.
_REFUSED_BY: Final = {
    (action, abusive): REFUSED.labels(action=action.value, abusive=str(abusive).lower())
    for action in Action
    for abusive in (False, True)
}


@dataclass(frozen=True, slots=True)
class Refusal:
    action: Action
    retry_after: float  # seconds until the limit that refused lets this through again
    abusive: bool  # persistent abuse: the caller issues a temporary ban with a reason


@dataclass(frozen=True, slots=True)
class Pair:
    """One limit for a device and a looser one for its network."""

    device: RateLimitItem
    network: RateLimitItem

    @classmethod
    def parse(cls, device: str, network: str) -> Pair:
        return cls(parse(device), parse(network))


class LimitSettings(Protocol):
    """The settings the limits read (``strangers.gateway.settings.Settings``); besides
    these, :func:`rules_from` reads ``limit_<action>_device`` (``_account`` for
    ``SIGN_IN``) and ``limit_<action>_network`` for every :class:`Action`."""

    rate_limit_keys: int
    limit_abuse_device: str
    limit_abuse_network: str
    redis_url: str | None
    redis_namespace: str


def rules_from(settings: LimitSettings) -> dict[Action, Pair]:
    """The limits of every action, from the ``limit_*`` settings."""
    rules = {}
    for action in Action:
        who = "account" if action is Action.SIGN_IN else "device"
        rules[action] = Pair.parse(
            getattr(settings, f"limit_{action.value}_{who}"),
            getattr(settings, f"limit_{action.value}_network"),
        )
    return rules


class _Window:
    """The counters of one key: its current window's index and count, and the count of
    the window before (the sliding window counter of ``limits``)."""

    __slots__ = ("current", "expiry", "index", "previous")

    def __init__(self, index: int, expiry: int) -> None:
        self.index = index
        self.expiry = expiry
        self.previous = 0
        self.current = 0

    def dead_at(self) -> float:
        """When both counts are of windows that are over: the key can go."""
        return float((self.index + 2) * self.expiry)


class LocalStorage(Storage, SlidingWindowCounterSupport):
    """Sliding-window counters in this process's memory, bounded (see the module's
    docstring), for the ``limits`` sliding-window-counter strategy only.

    Windows are aligned on multiples of their length, as in ``limits``' own storages,
    and the clock is an argument so tests can move time. Single event loop, no
    awaits inside an update: no locks needed."""

    STORAGE_SCHEME = None  # built directly, never from a URI

    def __init__(self, *, max_keys: int = 250_000, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.max_keys = max_keys
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        # (time, key): when that key may have expired; a key appears once per window
        # it is used in, and is dropped only if it really is dead by then.
        self._due: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def _sweep(self, now: float) -> None:
        due = self._due
        for _ in range(SWEEP_BATCH):
            if not due or due[0][0] > now:
                break
            _, key = heapq.heappop(due)
            window = self._windows.get(key)
            if window is not None and window.dead_at() <= now:
                del self._windows[key]
        if len(due) > 4 * self.max_keys:
            # Only after evictions: entries of evicted keys linger until due.
            self._due = [(at, key) for at, key in due if key in self._windows]
            heapq.heapify(self._due)

    def _window(self, key: str, expiry: int, now: float, *, create: bool) -> _Window | None:
        """The key's counters rolled forward to the window of ``now``."""
        index = int(now / expiry)
        window = self._windows.get(key)
        if window is None:
            if not create:
                return None
            if len(self._windows) >= self.max_keys:
                self._evict()
            window = self._windows[key] = _Window(index, expiry)
        elif window.index != index or window.expiry != expiry:
            window.previous = window.current if window.index == index - 1 else 0
            window.current = 0
            window.index, window.expiry = index, expiry
        else:
            return window
        heapq.heappush(self._due, (window.dead_at(), key))
        return window

    def _evict(self) -> None:
        """Drop the oldest 1% of keys (first created first): their counts restart,
        which lets those callers through early, never refuses anyone wrongly."""
        count = max(1, self.max_keys // 100)
        for key in list(itertools.islice(self._windows, count)):
            del self._windows[key]
        EVICTIONS.inc(count)

    @staticmethod
    def _previous_ttl(window: _Window, now: float) -> float:
        return window.expiry - (now % window.expiry) if window.previous else 0.0

    def acquire(self, key: str, limit: int, expiry: int, now: float, amount: int = 1) -> bool:
        """Count ``amount`` on ``key`` at ``now`` if the sliding window counter
        (``limits``' strategy: the previous window's count weighted by the share of it
        still inside the sliding window, plus the current count) stays within
        ``limit``; False, counting nothing, if not. Synchronous: the one
        implementation behind :meth:`acquire_sliding_window_entry` and
        :meth:`RateLimits.hit_local`."""
        due = self._due
        if (due and due[0][0] <= now) or len(due) > 4 * self.max_keys:
            self._sweep(now)  # only when a key is due: most calls have none
        if amount > limit:
            return False
        window = self._windows.get(key)
        if window is None:
            window = self._window(key, expiry, now, create=True)
            assert window is not None
        else:
            if window.index != int(now / expiry) or window.expiry != expiry:
                self._window(key, expiry, now, create=False)  # rolls it forward, in place
            if window.previous:
                weighted = window.previous * (expiry - now % expiry) / expiry
                if math.floor(weighted + window.current) + amount > limit:
                    return False
            elif window.current + amount > limit:
                return False
        window.current += amount
        return True

    def window_at(self, key: str, expiry: int, now: float) -> tuple[int, float, int, float]:
        """``(previous count, previous TTL, current count, current TTL)`` of ``key`` at
        ``now``, as ``limits``' storages report a sliding window (see :func:`wait_for`)."""
        window = self._window(key, expiry, now, create=False)
        if window is None:
            return 0, 0.0, 0, 0.0
        current_ttl = expiry - (now % expiry) + expiry  # as limits' storages count it
        return window.previous, self._previous_ttl(window, now), window.current, current_ttl

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        return self.acquire(key, limit, expiry, self.clock(), amount)

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return self.window_at(key, expiry, self.clock())

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        self._windows.pop(key, None)

    # The rest of limits' storage interface; the sliding window counter needs none of it.

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("LocalStorage serves the sliding window counter only")

    async def get(self, key: str) -> int:
        window = self._windows.get(key)
        return 0 if window is None else window.current

    async def get_expiry(self, key: str) -> float:
        window = self._windows.get(key)
        return self.clock() if window is None else window.dead_at()

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        self._due.clear()
        return count

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)


def wait_for(item: RateLimitItem, window: tuple[int, float, int, float]) -> float:
    """Seconds until the sliding window counter of ``item`` admits one more hit, from
    ``(previous count, previous TTL, current count, current TTL)`` as the storages
    report them: the previous window's count weighs in proportion to its TTL, and the
    current window ends ``current TTL - expiry`` from now."""
    limit, expiry = item.amount, float(item.get_expiry())
    previous, previous_ttl, current, current_ttl = window
    rolls_in = max(0.0, current_ttl - expiry)
    if current >= limit:
        # Wait for this window to end; then its count decays as the previous one.
        return rolls_in + max(0.0, expiry * (1 - limit / current))
    if previous:
        # Wait until the previous window's weight leaves room, at most until the roll.
        return min(max(0.0, previous_ttl - (limit - current) * expiry / previous), rolls_in)
    return 0.0


_KEY_SYNTAX: Final = frozenset("/{} ")  # the key's separator, Redis' hash tag braces


def _identifier(value: str) -> str:
    """An identifier as a key part: short and plain, as is; anything else (long, or
    with a character that means something in a key) hashed, so keys stay small and
    well formed."""
    plain = value.isascii() and value.isprintable() and _KEY_SYNTAX.isdisjoint(value)
    if plain and len(value) <= 64:
        return value
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:32]


class _Counter:
    """One limit of one action for one kind of caller (``d`` device, ``n`` network), ready
    for a local count: a key is ``head + key part + tail``, the very text
    ``item.key_for(action, kind, key part)`` gives (so a local key is the key the
    ``limits`` limiter would use), with the text around the key part built once."""

    __slots__ = ("amount", "expiry", "head", "item", "tail")

    def __init__(self, item: RateLimitItem, action: str, kind: str) -> None:
        self.item = item
        self.amount = item.amount
        self.expiry = item.get_expiry()
        # NUL is never in a key part: _identifier hashes what is not printable.
        self.head, _, self.tail = item.key_for(action, kind, "\0").partition("\0")


Window = tuple[int, float, int, float]  # as LocalStorage.window_at and wait_for read it


class RateLimits:
    """The per-device and per-network limits of every :class:`Action`.

    ``hit`` counts an action and answers ``None`` (allowed) or a :class:`Refusal`. It
    never raises for a storage failure (see the module's docstring). ``hit_local`` is
    its synchronous path for the actions ``is_local`` says are counted in this node's
    memory. ``rules`` and ``abuse`` are read once, when built."""

    def __init__(
        self,
        rules: Mapping[Action, Pair],
        abuse: Pair,
        *,
        local: LocalStorage | None = None,
        shared: Storage | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        shared_retry: float = SHARED_RETRY_SECONDS,
    ) -> None:
        missing = set(Action) - set(rules)
        if missing:
            raise ValueError(f"no limits for {sorted(missing)}")
        self.rules = dict(rules)
        self.abuse = abuse
        self.local = local if local is not None else LocalStorage()
        self.shared = shared
        self._shared = None if shared is None else SlidingWindowCounterRateLimiter(shared)
        self._on_close = on_close
        self._shared_retry = shared_retry
        self._shared_down_until = 0.0
        self._counters = {
            action: (
                _Counter(pair.device, action.value, "d"),
                _Counter(pair.network, action.value, "n"),
            )
            for action, pair in self.rules.items()
        }
        self._abuse = (_Counter(abuse.device, "abuse", "d"), _Counter(abuse.network, "abuse", "n"))
        self._parts: dict[str, str] = {}  # identifier -> _identifier(identifier), bounded

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> RateLimits:
        local = LocalStorage(max_keys=settings.rate_limit_keys)
        abuse = Pair.parse(settings.limit_abuse_device, settings.limit_abuse_network)
        if not settings.redis_url:
            return cls(rules_from(settings), abuse, local=local)
        import redis.asyncio as aioredis

        pool: Any = aioredis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        options: dict[str, Any] = {"connection_pool": pool}
        shared = RedisStorage(
            settings.redis_url,
            implementation="redispy",
            key_prefix=f"{settings.redis_namespace}:limits",
            wrap_exceptions=True,
            **options,
        )
        return cls(
            rules_from(settings), abuse, local=local, shared=shared, on_close=pool.disconnect
        )

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()
            self._on_close = None

    def is_local(self, action: Action) -> bool:
        """Whether :meth:`hit` would count ``action`` in this node's memory now: always
        without Redis, always for MESSAGE, and while Redis is marked down after a
        failure (see the module's docstring). Then :meth:`hit_local` answers the same."""
        return (
            self._shared is None
            or action is Action.MESSAGE
            or time.monotonic() < self._shared_down_until
        )

    def _fall_back(self, exc: Exception) -> None:
        STORAGE_FAILURES.inc()
        if time.monotonic() >= self._shared_down_until:
            log.warning(
                "rate limits: the shared storage failed (%s); counting in this node's "
                "memory for %.0f s",
                type(exc).__name__,
                self._shared_retry,
            )
        self._shared_down_until = time.monotonic() + self._shared_retry

    def _part(self, identifier: str) -> str:
        """:func:`_identifier`, remembered for short identifiers (a device's token id,
        a network's hash: the same few strings on every chat line). Long ones are not
        kept, so the memo holds at most :data:`IDENTIFIER_CACHE` strings of at most 64
        characters; when full it starts again empty, which costs only recomputing."""
        part = self._parts.get(identifier)
        if part is None:
            part = _identifier(identifier)
            if len(identifier) <= 64:
                if len(self._parts) >= IDENTIFIER_CACHE:
                    self._parts.clear()
                self._parts[identifier] = part
        return part

    def _count(self, counter: _Counter, identifier: str, now: float) -> str | None:
        """Count one hit of ``identifier`` on ``counter`` in this node's memory: None
        if it is within the limit, else the key that refused it."""
        # The memo's hit inline: this runs twice for every chat line.
        part = self._parts.get(identifier) or self._part(identifier)
        key = counter.head + part + counter.tail
        if self.local.acquire(key, counter.amount, counter.expiry, now):
            return None
        return key

    async def hit(self, action: Action, *, device: str | None, network: str) -> Refusal | None:
        """Count ``action`` by ``device`` (None: not known yet) from ``network``.
        ``None``: allowed. A refusal counts towards the abuse limits."""
        if self.is_local(action):
            return self.hit_local(action, device=device, network=network)
        try:
            return await self._hit_shared(action, device, network)
        except Exception as exc:
            self._fall_back(exc)
            return self.hit_local(action, device=device, network=network)

    def hit_local(self, action: Action, *, device: str | None, network: str) -> Refusal | None:
        """:meth:`hit` for an action counted in this node's memory (:meth:`is_local`),
        synchronously: the same keys, sliding window counters, refusals, abuse counts
        and ``strangers_rate_limited_total`` as ``limits``' sliding-window-counter
        strategy over :class:`LocalStorage` (docs/design.md §3 limits; issue 18). All
        the counters of one call are counted at one reading of the storage's clock.
        Called for an action that is not local, it counts in memory all the same."""
        device_counter, network_counter = self._counters[action]
        now = self.local.clock()
        refused_device = refused_network = None
        if device:
            refused_device = self._count(device_counter, device, now)
        if network and network != UNKNOWN_NETWORK:
            # Every peer whose address could not be read shares this one: not a network.
            refused_network = self._count(network_counter, network, now)
        if refused_device is None and refused_network is None:
            return None
        windows = [
            (counter.item, self.local.window_at(key, counter.expiry, now))
            for counter, key in (
                (device_counter, refused_device),
                (network_counter, refused_network),
            )
            if key is not None
        ]
        abuse_device, abuse_network = self._abuse
        over_device = over_network = False
        if device:
            over_device = self._count(abuse_device, device, now) is not None
        if network and network != UNKNOWN_NETWORK:
            over_network = self._count(abuse_network, network, now) is not None
        return _refusal(action, windows, device, over_device=over_device, over_network=over_network)

    def _shared_keys(
        self, pair: Pair, action: str, device: str | None, network: str
    ) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        keys: list[tuple[RateLimitItem, tuple[str, ...]]] = []
        if device:
            keys.append((pair.device, (action, "d", self._part(device))))
        if network and network != UNKNOWN_NETWORK:
            keys.append((pair.network, (action, "n", self._part(network))))
        return keys

    async def _hit_shared(self, action: Action, device: str | None, network: str) -> Refusal | None:
        """:meth:`hit` counted in Redis through ``limits``' limiter, each step's calls
        concurrently (one round trip's wait for all); raises what the storage raises."""
        limiter = self._shared
        assert limiter is not None
        keys = self._shared_keys(self.rules[action], action.value, device, network)
        if not keys:
            return None
        allowed = await _gather(limiter.hit(item, *parts) for item, parts in keys)
        refused = [key for key, ok in zip(keys, allowed, strict=True) if not ok]
        if not refused:
            return None
        storage: Any = limiter.storage  # a sliding window storage
        waits: list[Window] = await _gather(
            storage.get_sliding_window(item.key_for(*parts), item.get_expiry())
            for item, parts in refused
        )
        windows = [(item, window) for (item, _), window in zip(refused, waits, strict=True)]
        abuse = self._shared_keys(self.abuse, "abuse", device, network)
        counted = await _gather(limiter.hit(item, *parts) for item, parts in abuse)
        over = {parts[1] for (_, parts), ok in zip(abuse, counted, strict=True) if not ok}
        return _refusal(action, windows, device, over_device="d" in over, over_network="n" in over)


def _refusal(
    action: Action,
    windows: list[tuple[RateLimitItem, Window]],
    device: str | None,
    *,
    over_device: bool,
    over_network: bool,
) -> Refusal:
    """The refusal of ``action`` by the limits whose windows are ``windows``: the wait
    until the last of them lets one more through, and abusive when the device is past
    its abuse limit, or when no device is known and the network is past its own (see
    the module's docstring)."""
    retry_after = max(wait_for(item, window) for item, window in windows)
    if retry_after <= 0:  # a count that moved in between: one slot's time
        retry_after = max(item.get_expiry() / item.amount for item, _ in windows)
    abusive = over_device or (not device and over_network)
    _REFUSED_BY[action, abusive].inc()
    return Refusal(action, round(max(retry_after, 0.001), 3), abusive)


async def _gather(calls: Iterable[Awaitable[Any]]) -> list[Any]:
    """Await calls to Redis concurrently: one round trip's wait for all (one call alone
    is awaited directly, a task for it would cost more than it saves)."""
    pending = list(calls)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))
