"""The limits per device and per network (gateway/ratelimits.py): what they allow and
refuse, when a caller becomes abusive, where the counters live (memory, Redis, and
memory for chat lines even with Redis), what a Redis failure does, and that memory
stays bounded. Time is a fake clock given to the memory storage; Redis tests talk to
the real one on loopback in a namespace of their own."""

from __future__ import annotations

import pytest
import redis
from limits import parse
from limits.aio.storage import RedisStorage
from pydantic import ValidationError

from strangers.core.network import UNKNOWN_NETWORK
from strangers.gateway.settings import Settings
from strangers.safety.ratelimits import (
    STORAGE_FAILURES,
    Action,
    LocalStorage,
    Pair,
    RateLimits,
    Refusal,
    wait_for,
)
from tests.brokers.gateways import REDIS_URL


class Clock:
    """Seconds since the epoch, moved by hand; starts at a window boundary."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limits_with(
    clock: Clock,
    *,
    device: str = "3/10 seconds",
    network: str = "5/10 seconds",
    abuse: tuple[str, str] = ("4/10 minutes", "6/10 minutes"),
    max_keys: int = 250_000,
) -> RateLimits:
    rules = {action: Pair.parse(device, network) for action in Action}
    return RateLimits(rules, Pair.parse(*abuse), local=LocalStorage(max_keys=max_keys, clock=clock))


async def hits(limits: RateLimits, count: int, **who: str | None) -> list[Refusal | None]:
    return [await limits.hit(Action.FIND, network="n:one", **who) for _ in range(count)]  # type: ignore[arg-type]


async def test_a_device_gets_its_limit_then_a_refusal_that_says_when_to_come_back() -> None:
    clock = Clock()
    limits = limits_with(clock)
    assert await hits(limits, 3, device="d1") == [None, None, None]
    refusal = await limits.hit(Action.FIND, device="d1", network="n:one")
    # The window of 10 s began at the first hit; its 3 hits count until it ends.
    assert refusal == Refusal(Action.FIND, 10.0, abusive=False)
    clock.now += 5
    assert (await limits.hit(Action.FIND, device="d1", network="n:one")) is not None
    clock.now += 5.5  # the next window; the last one's 3 hits weigh 95% of 3: still 2
    assert await limits.hit(Action.FIND, device="d1", network="n:one") is None
    assert await limits.hit(Action.FIND, device="d1", network="n:one") is not None


async def test_actions_and_devices_are_counted_apart() -> None:
    limits = limits_with(Clock())
    assert await hits(limits, 3, device="d1") == [None] * 3
    assert await limits.hit(Action.MESSAGE, device="d1", network="n:two") is None
    assert await limits.hit(Action.FIND, device="d2", network="n:two") is None


async def test_a_network_is_shared_so_its_limit_is_looser_and_counts_every_device() -> None:
    limits = limits_with(Clock())
    results = [await limits.hit(Action.FIND, device=f"d{n}", network="n:school") for n in range(6)]
    # Five per network (each device well within its own three), then refused.
    assert results[:5] == [None] * 5 and results[5] is not None
    assert await limits.hit(Action.FIND, device="d9", network="n:elsewhere") is None


async def test_without_a_device_only_the_network_counts() -> None:
    limits = limits_with(Clock())
    assert await hits(limits, 5, device=None) == [None] * 5
    assert await limits.hit(Action.FIND, device=None, network="n:one") is not None


async def test_the_unknown_network_is_no_network_and_never_limited_as_one() -> None:
    limits = limits_with(Clock())
    results = [
        await limits.hit(Action.FIND, device=f"d{n}", network=UNKNOWN_NETWORK) for n in range(20)
    ]
    assert results == [None] * 20


async def test_a_device_that_keeps_going_past_its_limit_becomes_abusive() -> None:
    limits = limits_with(Clock())
    results = await hits(limits, 3 + 5, device="d1")
    refusals = [r for r in results if r is not None]
    # Abuse: 4 refusals in 10 minutes are allowed; the fifth is past it.
    assert [r.abusive for r in refusals] == [False] * 4 + [True]


async def test_an_abusive_network_does_not_make_an_innocent_device_abusive() -> None:
    limits = limits_with(Clock(), abuse=("100/10 minutes", "2/10 minutes"))
    for n in range(10):  # many devices of one network, each once: the network is flooded
        await limits.hit(Action.FIND, device=f"d{n}", network="n:nat")
    refused = await limits.hit(Action.FIND, device="innocent", network="n:nat")
    assert refused is not None and refused.abusive is False
    anonymous = await limits.hit(Action.FIND, device=None, network="n:nat")
    assert anonymous is not None and anonymous.abusive is True


async def test_a_bounded_flood_is_held_and_a_well_behaved_device_still_gets_through() -> None:
    clock = Clock()
    limits = limits_with(clock, device="10/second", network="100/second")
    flood = [await limits.hit(Action.MESSAGE, device="bot", network="n:bot") for _ in range(500)]
    assert sum(r is None for r in flood) == 10
    clock.now += 0.5
    assert await limits.hit(Action.MESSAGE, device="person", network="n:home") is None


def test_the_wait_follows_the_sliding_window_counter() -> None:
    item = parse("10/minute")
    # Current window full, 30 s left in it: wait for it to end.
    assert wait_for(item, (0, 0.0, 10, 90.0)) == 30.0
    # 5 now, 10 last window weighing 10 * 40/60: room once that weight is under 5.
    assert wait_for(item, (10, 40.0, 5, 80.0)) == pytest.approx(10.0)
    # Room already (a race): nothing to wait.
    assert wait_for(item, (0, 0.0, 3, 100.0)) == 0.0


def test_limits_are_settings_and_bad_ones_are_refused() -> None:
    settings = Settings(limit_frame_device="2 per 5 seconds")
    limits = RateLimits.from_settings(settings)
    assert limits.rules[Action.FRAME].device == parse("2/5 seconds")
    for bad in ("ten/minute", "0/minute", "5/fortnight", ""):
        with pytest.raises(ValidationError):
            Settings(limit_find_device=bad)


async def test_memory_stays_bounded_under_a_flood_of_distinct_keys() -> None:
    clock = Clock()
    limits = limits_with(clock, device="3/second", network="5/second")
    storage = limits.local
    baseline = len(storage)
    for n in range(5000):
        await limits.hit(Action.MESSAGE, device=f"d{n}", network=f"n:{n}")
    assert len(storage) == 10_000
    clock.now += 3  # two windows later: every one of them has expired
    for _ in range(100):  # a steady caller, once a second: each call sweeps a few
        assert await limits.hit(Action.MESSAGE, device="d-steady", network="n:s") is None
        clock.now += 1
        if len(storage) <= baseline + 2:
            break
    assert len(storage) == baseline + 2  # only the steady caller's two counters


async def test_memory_has_a_hard_cap_even_before_anything_expires() -> None:
    limits = limits_with(Clock(), device="3/hour", network="5/hour", max_keys=1000)
    for n in range(5000):
        await limits.hit(Action.REPORT, device=f"d{n}", network=f"n:{n}")
    assert len(limits.local) <= 1000


# With Redis: the real one on loopback (the namespace fixture of tests/conftest.py).


def redis_keys(namespace: str) -> list[str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return list(client.scan_iter(match=f"{namespace}:*", count=1000))
    finally:
        client.close()


def redis_settings(namespace: str, **limits: str) -> Settings:
    return Settings(redis_url=REDIS_URL, redis_namespace=namespace, **limits)  # type: ignore[arg-type]


async def test_with_redis_a_limit_holds_across_gateways(namespace: str) -> None:
    settings = redis_settings(namespace, limit_connect_device="4/minute")
    one, two = RateLimits.from_settings(settings), RateLimits.from_settings(settings)
    try:
        results = [
            await gateway.hit(Action.CONNECT, device="d1", network="n:one")
            for gateway in (one, two, one, two, one)
        ]
        assert results[:4] == [None] * 4 and results[4] is not None
        assert any("connect" in key for key in redis_keys(namespace))
    finally:
        await one.close()
        await two.close()


async def test_with_redis_chat_lines_are_still_counted_in_memory(namespace: str) -> None:
    limits = RateLimits.from_settings(redis_settings(namespace, limit_message_device="3/second"))
    try:
        results = [await limits.hit(Action.MESSAGE, device="d1", network="n:one") for _ in range(4)]
        assert results[:3] == [None] * 3 and results[3] is not None
        assert not any("message" in key or "abuse" in key for key in redis_keys(namespace))
        assert len(limits.local) > 0
    finally:
        await limits.close()


async def test_a_redis_failure_falls_back_to_memory_and_still_limits(caplog) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    dead = RedisStorage("redis://127.0.0.1:1/0", implementation="redispy", wrap_exceptions=True)
    rules = {action: Pair.parse("3/minute", "10/minute") for action in Action}
    limits = RateLimits(rules, Pair.parse("50/hour", "50/hour"), shared=dead)
    failures = STORAGE_FAILURES._value.get()
    results = [await limits.hit(Action.CONNECT, device="d1", network="n:one") for _ in range(5)]
    assert results[:3] == [None] * 3 and all(r is not None for r in results[3:])
    assert STORAGE_FAILURES._value.get() == failures + 1  # then memory until the retry
    assert sum("counting in this node's memory" in r.message for r in caplog.records) == 1
