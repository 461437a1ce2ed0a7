"""What the broker did, counted where it happens (every part of the broker shares one)."""

from __future__ import annotations

from dataclasses import dataclass


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
