"""The broker's connection to Redis: connecting (and saying clearly when Redis cannot be
reached), the ``/readyz`` probe, and the writes, kept in order and batched.

A chat line never waits on Redis: what a gateway writes (joins, leaves, relays, facts)
is queued and sent by one writer, many per round trip. If Redis goes away the writes are
kept and retried; past ``max_backlog`` they are dropped and ``on_resync`` is called once
Redis is back (the broker then re-announces every waiting chatter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..counters import BrokerCounters
from ..errors import BrokerError

log = logging.getLogger("strangers.redis")


class RedisUnavailable(BrokerError, RuntimeError):
    """Redis could not be reached: when the gateway started, or by the ``/readyz`` probe."""

    code: ClassVar[str] = "redis_unavailable"


class Link:
    """One Redis client and the queue of writes to it. ``running`` is the broker's: every
    loop of the broker ends once it is false."""

    def __init__(
        self,
        url: str,
        *,
        counters: BrokerCounters,
        on_resync: Callable[[], None],
        max_backlog: int,
        stream_cap: int,
        connect_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.counters = counters
        self.max_backlog = max_backlog
        self.stream_cap = stream_cap
        self.connect_timeout = connect_timeout
        self.client: aioredis.Redis | None = None
        self.running = False
        self._on_resync = on_resync
        self._clock = clock
        self._out: list[tuple[str, str, Any]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._resync = False

    @property
    def redis(self) -> aioredis.Redis:
        """The client, once connected."""
        assert self.client is not None
        return self.client

    @property
    def safe_url(self) -> str:
        # Never log a password that may be in the URL.
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    async def connect(self) -> aioredis.Redis:
        """Connect, retrying for ``connect_timeout`` seconds; :class:`RedisUnavailable`
        (the URL without its password) when Redis cannot be reached."""
        client = aioredis.from_url(self.url, decode_responses=True)
        deadline = self._clock() + self.connect_timeout
        while True:
            try:
                await client.ping()
                break
            except (RedisError, OSError) as exc:
                if self._clock() > deadline:
                    await client.aclose()
                    where = self.safe_url
                    raise RedisUnavailable(f"cannot reach Redis at {where}: {exc}") from exc
                await asyncio.sleep(0.25)
        self.client = client
        return client

    async def ping(self, timeout: float) -> None:
        """One ``PING`` within ``timeout`` seconds; raises :class:`RedisUnavailable`
        otherwise (for ``/readyz``: a gateway cut off from Redis cannot pair anyone)."""
        client = self.client
        if client is None or not self.running:
            raise RedisUnavailable("not connected to Redis")
        try:
            await asyncio.wait_for(client.ping(), timeout)
        except Exception as exc:  # any failure of the probe means: not ready
            raise RedisUnavailable(f"Redis did not answer a ping: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    # --- writing, in order, batched ----------------------------------------------------

    def push(self, op: str, key: str, value: Any) -> None:
        """Queue a write: ``xadd`` of the fields ``value`` to the stream ``key``, or
        ``publish`` of ``value`` on the channel ``key``."""
        self._out.append((op, key, value))
        self._wake.set()

    async def flushed(self) -> None:
        """Return once every queued write has been sent."""
        while self._out or not self._idle.is_set():
            self._wake.set()
            await asyncio.sleep(0.01)

    async def write_forever(self) -> None:
        backoff = 0.1
        while self.running:
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
            if self._resync and self.client is not None:
                self._resync = False
                self._on_resync()

    async def _write(self, batch: list[tuple[str, str, Any]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for op, key, value in batch:
            if op == "xadd":
                pipe.xadd(key, value, maxlen=self.stream_cap, approximate=True)
            else:
                pipe.publish(key, value)
        await pipe.execute()
