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
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
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


for _action in Action:
    for _abusive in ("false", "true"):
        REFUSED.labels(action=_action.value, abusive=_abusive)


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

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        now = self.clock()
        self._sweep(now)
        if amount > limit:
            return False
        existing = self._window(key, expiry, now, create=False)
        if existing is not None:
            weighted = existing.previous * self._previous_ttl(existing, now) / expiry
            if math.floor(weighted + existing.current) + amount > limit:
                return False
        window = existing or self._window(key, expiry, now, create=True)
        assert window is not None
        window.current += amount
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = self.clock()
        window = self._window(key, expiry, now, create=False)
        if window is None:
            return 0, 0.0, 0, 0.0
        current_ttl = expiry - (now % expiry) + expiry  # as limits' storages count it
        return window.previous, self._previous_ttl(window, now), window.current, current_ttl

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


class RateLimits:
    """The per-device and per-network limits of every :class:`Action`.

    ``hit`` counts an action and answers ``None`` (allowed) or a :class:`Refusal`. It
    never raises for a storage failure (see the module's docstring)."""

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
        self._local = SlidingWindowCounterRateLimiter(self.local)
        self.shared = shared
        self._shared = None if shared is None else SlidingWindowCounterRateLimiter(shared)
        self._on_close = on_close
        self._shared_retry = shared_retry
        self._shared_down_until = 0.0

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

    def _limiter(self, action: Action) -> SlidingWindowCounterRateLimiter:
        if (
            self._shared is None
            or action is Action.MESSAGE
            or time.monotonic() < self._shared_down_until
        ):
            return self._local
        return self._shared

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

    @staticmethod
    def _keys(
        pair: Pair, action: str, device: str | None, network: str
    ) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        keys: list[tuple[RateLimitItem, tuple[str, ...]]] = []
        if device:
            keys.append((pair.device, (action, "d", _identifier(device))))
        if network and network != UNKNOWN_NETWORK:
            # Every peer whose address could not be read shares this one: not a network.
            keys.append((pair.network, (action, "n", _identifier(network))))
        return keys

    async def hit(self, action: Action, *, device: str | None, network: str) -> Refusal | None:
        """Count ``action`` by ``device`` (None: not known yet) from ``network``.
        ``None``: allowed. A refusal counts towards the abuse limits."""
        limiter = self._limiter(action)
        keys = self._keys(self.rules[action], action.value, device, network)
        if not keys:
            return None
        try:
            return await self._hit(limiter, action, keys, device, network)
        except Exception as exc:
            if limiter is self._local:
                raise  # a bug, not an outage: the caller's own handler logs it
            self._fall_back(exc)
            return await self._hit(self._local, action, keys, device, network)

    async def _hit(
        self,
        limiter: SlidingWindowCounterRateLimiter,
        action: Action,
        keys: list[tuple[RateLimitItem, tuple[str, ...]]],
        device: str | None,
        network: str,
    ) -> Refusal | None:
        shared = limiter is not self._local
        allowed = await _all(
            (limiter.hit(item, *parts) for item, parts in keys), concurrently=shared
        )
        refused = [key for key, ok in zip(keys, allowed, strict=True) if not ok]
        if not refused:
            return None
        storage: Any = limiter.storage  # a sliding window storage (both of them are)
        waits = await _all(
            (
                storage.get_sliding_window(item.key_for(*parts), item.get_expiry())
                for item, parts in refused
            ),
            concurrently=shared,
        )
        retry_after = max(
            wait_for(item, window) for (item, _), window in zip(refused, waits, strict=True)
        )
        if retry_after <= 0:  # a count that moved in between: one slot's time
            retry_after = max(item.get_expiry() / item.amount for item, _ in refused)
        abuse = self._keys(self.abuse, "abuse", device, network)
        counted = await _all(
            (limiter.hit(item, *parts) for item, parts in abuse), concurrently=shared
        )
        over = {parts[1] for (_, parts), ok in zip(abuse, counted, strict=True) if not ok}
        abusive = "d" in over or (not device and "n" in over)
        REFUSED.labels(action=action.value, abusive=str(abusive).lower()).inc()
        return Refusal(action, round(max(retry_after, 0.001), 3), abusive)


async def _all(calls: Any, *, concurrently: bool) -> list[Any]:
    """Await each call: concurrently for Redis (one round trip's wait for all), one
    after the other in memory (where nothing waits, and a task per call would cost
    more than the call)."""
    pending = list(calls)
    if not concurrently or len(pending) == 1:
        return [await call for call in pending]
    return list(await asyncio.gather(*pending))
