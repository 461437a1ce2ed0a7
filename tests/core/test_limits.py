"""The token bucket refuses beyond its burst and refills at its rate."""

import pytest

from strangers.core.limits import Limits, RateLimit


def test_burst_then_refusal_with_the_wait():
    limit = RateLimit(rate=2.0, burst=3, now=0.0)
    assert [limit.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take(0.0) == pytest.approx(0.5)
    assert limit.take(0.5) == 0.0
    assert limit.take(0.5) > 0


def test_refill_never_exceeds_the_burst():
    limit = RateLimit(rate=1.0, burst=2, now=0.0)
    assert limit.take(1000.0) == 0.0
    assert limit.take(1000.0) == 0.0
    assert limit.take(1000.0) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message_chars": 0},
        {"frame_chars": 10, "message_chars": 20},
        {"messages_per_second": 0},
        {"skips_per_minute": 0},
    ],
)
def test_unsafe_limits_are_refused(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)
