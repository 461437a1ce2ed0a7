"""Micro-benchmark of a chat line's rate limits (``safety/ratelimits.py``; issue 18): the
cost of one ``MESSAGE`` count in node-local memory, by the route the limits took before
issue 18 (the ``limits`` library's ``SlidingWindowCounterRateLimiter`` over the
storage's coroutines: ``tests/safety/ratelimits_reference.py``) and by
``RateLimits.hit_local``, and by ``await RateLimits.hit`` (which takes ``hit_local`` for
a local count).

1000 devices (ids as the chat socket makes them, 22 characters) on 100 networks
(``n:`` and 32 hex digits), one after the other, with the limits of the default
settings (``limit_message_*``, ``limit_abuse_*``, ``rate_limit_keys``) and a fake clock
moved by hand before each hit, the same for every route:

- *steady*: the clock moves 1 ms a hit, so each device sends a line a second and each
  network ten: every hit is allowed (the path of every ordinary chat line);
- *flood*: the clock moves 1 µs a hit, so nearly every hit is refused and counted
  against the abuse limits (the path of a flood).

Each route runs on a fresh ``RateLimits`` in one coroutine (as the chat socket awaits
``hit``), ``--rounds`` times; the best round is printed, in µs of this process's CPU
time per hit (``process_time``: other work on a shared machine does not count, though it
still slows caches), loop and clock step included (an empty loop's cost is printed too),
with the garbage collector on as in the service. Every route must give the same number
of refusals, which is checked.

Run: ``.venv/bin/python bench/ratelimits.py`` (``--hits``, ``--rounds``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.safety.ratelimits_reference import LimiterRoute, ReferenceStorage

from strangers.gateway.settings import Settings
from strangers.safety.ratelimits import (
    Action,
    LocalStorage,
    Pair,
    RateLimits,
    Refusal,
    rules_from,
)

DEVICES = 1000
NETWORKS = 100
START = 1_000_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


Who = list[tuple[str, str]]
Route = Callable[[Clock, Who, int, float], Coroutine[Any, Any, int]]


def fresh(clock: Clock, storage: type[LocalStorage]) -> RateLimits:
    settings = Settings(redis_url=None)
    abuse = Pair.parse(settings.limit_abuse_device, settings.limit_abuse_network)
    local = storage(max_keys=settings.rate_limit_keys, clock=clock)
    return RateLimits(rules_from(settings), abuse, local=local)


async def empty_loop(clock: Clock, who: Who, hits: int, step: float) -> int:
    count = len(who)
    for n in range(hits):
        clock.now += step
        _device, _network = who[n % count]
    return 0


async def limiter_route(clock: Clock, who: Who, hits: int, step: float) -> int:
    route = LimiterRoute(fresh(clock, ReferenceStorage))
    hit, count, refused = route.hit, len(who), 0
    for n in range(hits):
        clock.now += step
        device, network = who[n % count]
        answer: Refusal | None = await hit(Action.MESSAGE, device=device, network=network)
        refused += answer is not None
    return refused


async def awaited_hit(clock: Clock, who: Who, hits: int, step: float) -> int:
    hit, count, refused = fresh(clock, LocalStorage).hit, len(who), 0
    for n in range(hits):
        clock.now += step
        device, network = who[n % count]
        refused += await hit(Action.MESSAGE, device=device, network=network) is not None
    return refused


async def hit_local(clock: Clock, who: Who, hits: int, step: float) -> int:
    hit, count, refused = fresh(clock, LocalStorage).hit_local, len(who), 0
    for n in range(hits):
        clock.now += step
        device, network = who[n % count]
        refused += hit(Action.MESSAGE, device=device, network=network) is not None
    return refused


ROUTES: dict[str, Route] = {
    "empty loop": empty_loop,
    "limiter (before)": limiter_route,
    "await hit": awaited_hit,
    "hit_local": hit_local,
}
SCENARIOS = {"steady": 0.001, "flood": 0.000001}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=100_000, help="hits per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    networks = ["n:" + secrets.token_hex(16) for _ in range(NETWORKS)]
    who = [(secrets.token_urlsafe(16), networks[n % NETWORKS]) for n in range(DEVICES)]
    print(f"Python {platform.python_version()}, {args.hits} hits a round, best of {args.rounds}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for scenario, step in SCENARIOS.items():
        best: dict[str, float] = {}
        refusals: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, route in ROUTES.items():
                clock = Clock()
                started = time.process_time()
                refusals[name] = asyncio.run(route(clock, who, args.hits, step))
                elapsed = time.process_time() - started
                best[name] = min(best.get(name, elapsed), elapsed)
        counted = {refusals[name] for name in ROUTES if name != "empty loop"}
        assert len(counted) == 1, f"the routes disagree: {refusals}"
        print(f"\n{scenario}: {counted.pop()} of {args.hits} refused")
        before = best["limiter (before)"]
        for name in ROUTES:
            micros = best[name] / args.hits * 1e6
            ratio = "" if name == "empty loop" else f"  ({before / best[name]:.1f}× faster)"
            print(f"  {name:<17} {micros:6.2f} µs/hit{ratio if name != 'limiter (before)' else ''}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
