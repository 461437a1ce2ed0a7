"""The load shapes of the load generator (docs/design.md §7, ``docs/performance.md``), and the
server limits a load test needs.

- **C** — 1000 chatters arriving at 200/s, evenly spaced; once paired, each side sends 5
  pings 200 ms apart, the partner echoes each, and the sender measures the round trip.
- **E** — 4000 chatters connecting at once; 3 round trips each, 200 ms apart.
- **F** — 2000 chatters arriving at 400/s, 3 rounds each with a skip between rounds (see
  ``chatters.py`` for how the sides behave, and how standby chatters keep anyone from
  being starved by parity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape. ``arrival_rate`` is chatters per second, evenly spaced;
    ``None`` opens every socket at once. ``rounds`` is how many pairings each
    chatter must get (with a skip between them when ``skip``); ``round_trips``
    are the pings each side sends per match (``gap`` seconds apart; in a skip
    scenario only the skipping side pings). ``deadline`` counts from the last
    arrival. ``processes`` spreads the chatters over that many client processes
    (not for skip scenarios, whose sides must be in one process)."""

    name: str
    chatters: int
    arrival_rate: float | None
    rounds: int
    round_trips: int
    gap: float
    skip: bool
    deadline: float
    processes: int = 1
    standby_after: float = 0.1
    standby_reserve: int = 1
    standby_rest: float = 1.0
    language: str = "en"

    def __post_init__(self) -> None:
        if self.chatters < 2 or self.rounds < 1 or self.round_trips < 0:
            raise ValueError("a scenario needs at least two chatters and one round")
        if self.arrival_rate is not None and self.arrival_rate <= 0:
            raise ValueError("arrival_rate must be positive")
        if self.processes < 1 or (self.skip and self.processes != 1):
            raise ValueError("a skip scenario runs in one process")
        if not 0 < self.deadline <= 3600 or self.gap < 0:
            raise ValueError("deadline must be within (0, 3600] seconds")

    @property
    def arrival_span(self) -> float:
        if self.arrival_rate is None:
            return 0.0
        return (self.chatters - 1) / self.arrival_rate


SCENARIOS: dict[str, Scenario] = {
    "C": Scenario("C", 1000, 200.0, rounds=1, round_trips=5, gap=0.2, skip=False, deadline=30.0),
    "E": Scenario("E", 4000, None, rounds=1, round_trips=3, gap=0.2, skip=False, deadline=60.0),
    "F": Scenario("F", 2000, 400.0, rounds=3, round_trips=1, gap=0.0, skip=True, deadline=30.0),
}


def scenario(name: str, scale: float = 1.0, **changes: Any) -> Scenario:
    """A named scenario, its chatter count multiplied by ``scale`` (rounded up to
    an even number, so that everyone can have a partner)."""
    base = SCENARIOS[name.upper()]
    if not 0 < scale <= 10:
        raise ValueError("scale must be in (0, 10]")
    count = max(2, math.ceil(base.chatters * scale))
    count += count % 2
    return replace(base, chatters=count, **changes)


#: Cross-session limits (``STRANGERS_LIMIT_*``, docs/design.md §3) loose enough for a whole load
#: test: its chatters all come from one address, one network hash, so the per-network
#: limits would refuse the load itself. A server under a load test is started with
#: these (``bench/chat.py``, the tests that drive it); its other limits stay as they are.
LOAD_TEST_LIMITS: dict[str, str] = {
    "limit_connect_network": "100000/minute",
    "limit_find_device": "100000/minute",
    "limit_find_network": "100000/minute",
    "limit_message_device": "100000/second",
    "limit_message_network": "100000/second",
}
