"""The errors the brokers raise on purpose, in one tree.

Every one is a :class:`BrokerError` with a stable, machine-readable ``code`` (logs and
``/readyz`` name a failure by it, never by the text). The built-in class each one
extended before the tree keeps being a base too, so an ``except ValueError`` or
``except RuntimeError`` written against it still holds.

Hierarchy, with each class's code::

    BrokerError           broker
    ├── RedisUnavailable  redis_unavailable: Redis could not be reached (at start, or by
    │                     the ``/readyz`` probe); also a RuntimeError (``redis/link.py``)
    └── WireError         bad_payload: a payload from Redis that is not one this version
                          writes; also a ValueError (``wire.py``)
"""

from __future__ import annotations

from typing import ClassVar


class BrokerError(Exception):
    """Base of every error the brokers raise on purpose; ``code`` is stable."""

    code: ClassVar[str] = "broker"
