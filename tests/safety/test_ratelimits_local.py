"""The synchronous local path of the limits (``RateLimits.hit_local``,
``safety/ratelimits.py``; issue 18) answers what the ``limits`` library's
sliding-window-counter limiter over :class:`LocalStorage` answered before it
(``tests/safety/ratelimits_reference.py``, with the storage's code of then), key for
key: the same refusals, waits and abuse, the same counters left in memory, the same
sweeps and evictions."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from strangers.core.network import UNKNOWN_NETWORK
from strangers.safety.ratelimits import (
    IDENTIFIER_CACHE,
    REFUSED,
    Action,
    LocalStorage,
    Pair,
    RateLimits,
    Refusal,
)
from tests.safety.ratelimits_reference import LimiterRoute, ReferenceStorage


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def finished(call: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that must not wait on anything (a count in memory)."""
    try:
        call.send(None)
    except StopIteration as done:
        return done.value
    call.close()
    raise AssertionError("a count in memory waited on something")


def refused_total() -> float:
    return float(
        sum(
            REFUSED.labels(action=action.value, abusive=abusive)._value.get()
            for action in Action
            for abusive in ("false", "true")
        )
    )


def state(storage: LocalStorage) -> tuple[object, ...]:
    windows = {k: (w.index, w.expiry, w.previous, w.current) for k, w in storage._windows.items()}
    return list(windows.items()), sorted(storage._due)


# Tight limits, so that refusals, abuse and both windows' weights all happen.
LIMITS = st.sampled_from(["1/second", "2/second", "3/10 seconds", "2/minute", "7/2 seconds"])
DEVICES = [None, "", "FC_8usYyavOk3qCwzWhoNg", "dX", "a:moderator", "a b/{c}", "é", "x" * 80]
NETWORKS = ["", UNKNOWN_NETWORK, "n:c2d40e5bc1088f9c3b1d71bcd62334cd", "n:2", "n:{x}", "n" * 70]
# Time moves in multiples of a grain: with a grain of 0.25 s every sum is exact, so that
# hits land right on window edges and on keys' expiry; 0.001 s lands anywhere.
GRAINS = st.sampled_from([0.25, 0.001])
STEPS = [0, 1, 2, 3, 4, 8, 40, 240, 1000, 4000]


@st.composite
def hit_lists(draw: st.DrawFn) -> list[tuple[Action, str | None, str, int]]:
    """Hits by a small cast (one to three actions, devices, networks, time steps drawn
    per example), so that the same keys are hit often and fast enough to reach their
    limits and to weigh in the next window."""
    actions, devices, networks, steps = (
        draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
        for values in (list(Action), DEVICES, NETWORKS, STEPS)
    )
    hit = st.tuples(*map(st.sampled_from, (actions, devices, networks, steps)))
    return draw(st.lists(hit, min_size=1, max_size=150))


@settings(max_examples=500)
@given(
    device=LIMITS,
    network=LIMITS,
    abuse=st.tuples(LIMITS, LIMITS),
    max_keys=st.sampled_from([3, 7, 250_000]),
    start=st.sampled_from([1_000_000.0, 1_000_000.37, 1_700_000_123.9]),
    grain=GRAINS,
    hits=hit_lists(),
)
# A full window, then a hit right on the next window's edge, where the previous count
# still weighs all of it.
@example(
    device="7/2 seconds",
    network="7/2 seconds",
    abuse=("3/10 seconds", "2/minute"),
    max_keys=250_000,
    start=1_000_000.0,
    grain=0.25,
    hits=[(Action.MESSAGE, "dX", "n:2", 0)] * 7 + [(Action.MESSAGE, "dX", "n:2", 8)] * 3,
)
def test_hit_local_answers_what_the_limiter_over_local_storage_answered(
    device: str,
    network: str,
    abuse: tuple[str, str],
    max_keys: int,
    start: float,
    grain: float,
    hits: list[tuple[Action, str | None, str, int]],
) -> None:
    clock = Clock(start)
    rules = {action: Pair.parse(device, network) for action in Action}

    def limits(storage: type[LocalStorage] = LocalStorage) -> RateLimits:
        return RateLimits(rules, Pair.parse(*abuse), local=storage(max_keys=max_keys, clock=clock))

    reference, local, through_hit = limits(ReferenceStorage), limits(), limits()
    route = LimiterRoute(reference)
    for action, who, where, step in hits:
        clock.now += step * grain
        before = refused_total()
        expected: Refusal | None = finished(route.hit(action, device=who, network=where))
        assert refused_total() == before + (expected is not None)
        got = local.hit_local(action, device=who, network=where)
        assert refused_total() == before + 2 * (expected is not None)
        also = finished(through_hit.hit(action, device=who, network=where))
        for answer in (got, also):
            if expected is None:
                assert answer is None
            else:
                assert answer is not None
                assert (answer.action, answer.abusive) == (expected.action, expected.abusive)
                assert answer.retry_after == pytest.approx(expected.retry_after, abs=1e-6)
        assert state(local.local) == state(reference.local) == state(through_hit.local)


def test_the_identifier_memo_is_bounded_and_keeps_no_long_identifier() -> None:
    limits = RateLimits(
        {action: Pair.parse("1000/second", "1000/second") for action in Action},
        Pair.parse("10/minute", "10/minute"),
        local=LocalStorage(clock=Clock(1_000_000.0)),
    )
    for n in range(IDENTIFIER_CACHE + 10):
        assert limits.hit_local(Action.MESSAGE, device=f"d{n}", network="") is None
    assert len(limits._parts) <= IDENTIFIER_CACHE
    limits.hit_local(Action.SIGN_IN, device="a:" + "x" * 10_000, network="n:1")
    assert not any(len(identifier) > 64 for identifier in limits._parts)


def test_only_message_is_local_when_redis_is_up() -> None:
    rules = {action: Pair.parse("3/minute", "10/minute") for action in Action}
    abuse = Pair.parse("50/hour", "50/hour")
    assert all(RateLimits(rules, abuse).is_local(action) for action in Action)
    shared = LocalStorage()  # any sliding window storage stands for Redis here
    with_redis = RateLimits(rules, abuse, shared=shared)
    assert [a for a in Action if with_redis.is_local(a)] == [Action.MESSAGE]
    with_redis._fall_back(ConnectionError("down"))
    assert all(with_redis.is_local(action) for action in Action)
