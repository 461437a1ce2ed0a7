"""The local route of ``RateLimits.hit`` as it was before issue 18, kept as the reference
that the synchronous path (``RateLimits.hit_local``, ``safety/ratelimits.py``) must agree
with: every counter goes through the ``limits`` library's
``SlidingWindowCounterRateLimiter`` over :class:`LocalStorage` (``item.key_for`` builds
each key, ``_identifier`` runs on every call, the storage's coroutine sweeps on every
call), one counter after the other. :class:`ReferenceStorage` is :class:`LocalStorage`
with its coroutines and its sweep as they were, so that a change to the storage's
synchronous path is checked too. ``tests/safety/test_ratelimits_local.py`` drives both
with the same clock and the same actions; ``bench/ratelimits.py`` times both."""

from __future__ import annotations

import heapq
import math

from limits import RateLimitItem
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from strangers.core.network import UNKNOWN_NETWORK
from strangers.safety.ratelimits import (
    REFUSED,
    SWEEP_BATCH,
    Action,
    LocalStorage,
    Pair,
    RateLimits,
    Refusal,
    _identifier,
    wait_for,
)

Keys = list[tuple[RateLimitItem, tuple[str, ...]]]


class ReferenceStorage(LocalStorage):
    """:class:`LocalStorage` as the limiter used it before issue 18: a sweep (of up to
    ``SWEEP_BATCH`` due keys) in every call, the clock read in every call."""

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
            self._due = [(at, key) for at, key in due if key in self._windows]
            heapq.heapify(self._due)

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
        current_ttl = expiry - (now % expiry) + expiry
        return window.previous, self._previous_ttl(window, now), window.current, current_ttl


class LimiterRoute:
    """``hit`` for a local action, counted the way the limiter did it, with the rules
    and abuse limits of ``limits`` and its storage (a :class:`ReferenceStorage`, or
    any :class:`LocalStorage`)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.limiter = SlidingWindowCounterRateLimiter(limits.local)

    @staticmethod
    def keys(pair: Pair, action: str, device: str | None, network: str) -> Keys:
        keys: Keys = []
        if device:
            keys.append((pair.device, (action, "d", _identifier(device))))
        if network and network != UNKNOWN_NETWORK:
            keys.append((pair.network, (action, "n", _identifier(network))))
        return keys

    async def hit(self, action: Action, *, device: str | None, network: str) -> Refusal | None:
        keys = self.keys(self.limits.rules[action], action.value, device, network)
        if not keys:
            return None
        limiter, storage = self.limiter, self.limits.local
        allowed = [await limiter.hit(item, *parts) for item, parts in keys]
        refused = [key for key, ok in zip(keys, allowed, strict=True) if not ok]
        if not refused:
            return None
        waits = [
            await storage.get_sliding_window(item.key_for(*parts), item.get_expiry())
            for item, parts in refused
        ]
        retry_after = max(
            wait_for(item, window) for (item, _), window in zip(refused, waits, strict=True)
        )
        if retry_after <= 0:
            retry_after = max(item.get_expiry() / item.amount for item, _ in refused)
        abuse = self.keys(self.limits.abuse, "abuse", device, network)
        counted = [await limiter.hit(item, *parts) for item, parts in abuse]
        over = {parts[1] for (_, parts), ok in zip(abuse, counted, strict=True) if not ok}
        abusive = "d" in over or (not device and "n" in over)
        REFUSED.labels(action=action.value, abusive=str(abusive).lower()).inc()
        return Refusal(action, round(max(retry_after, 0.001), 3), abusive)
