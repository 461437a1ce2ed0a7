"""The brokers' exceptions form one tree under BrokerError, each with its own code."""

from strangers.brokers.errors import BrokerError
from strangers.brokers.redis import RedisUnavailable
from strangers.brokers.wire import WireError

from ..error_trees import check_tree, exception_classes


def test_every_broker_exception_derives_from_broker_error_with_a_unique_code() -> None:
    check_tree("strangers.brokers", BrokerError)
    assert {RedisUnavailable, WireError} <= set(exception_classes("strangers.brokers"))


def test_the_builtin_bases_still_catch_them() -> None:
    # Re-parented, not re-based: ``except ValueError`` around the wire still holds.
    assert issubclass(WireError, ValueError) and issubclass(RedisUnavailable, RuntimeError)
