"""Micro-benchmark of the pure core matcher (docs/design.md §7: ≥ 100,000 joins per second).

No I/O, no server: ``Matchmaker.join`` is called directly with a fake clock, with
100,000 tickets already waiting in the pool. Each variant is run twice on a fresh
matchmaker: once timed as a whole (joins/s, loop overhead included) and once with
every join timed on its own (p50/p99/max µs per join). Tickets are built before
the clock starts: building them is the gateway's work, not the matcher's. The
garbage collector stays on, as in the server.

Variants:

a. plain pairs — the 100,000 waiting tickets all have interests and are still in
   their interest phase, with tags no joiner uses, so no joiner may take them;
   joiners without interests pair with each other (every other join pairs).
b. shared interest — each joiner has one interest that waiting tickets have, and
   pairs on its join with the longest-waiting of them. The pool starts with
   100,000 + N waiting so that it never holds fewer than 100,000.
c. waiting joiners — each joiner has three interests nobody else has and waits;
   the queue grows from 100,000 to 100,000 + N.
d. popular interests — each joiner has three interests out of ten popular ones
   (10,000+ waiting per tag); the matcher ranks up to ``interest_scan`` candidates
   of each shared tag by how many tags they share, then pairs.

Run: ``.venv/bin/python bench/matcher.py`` (``--joins``, ``--waiting``, ``--json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from strangers.core.matching import Matchmaker, MatchRules, Ticket
from strangers.core.messages import AgeBand, Mode
from strangers.core.pools import pool_for
from strangers.runtime import settle_garbage_collector

POOL = pool_for(AgeBand.ADULT, Mode.TEXT)
LANGUAGES = ("en", "fr", "de", "es")


@dataclass
class Result:
    variant: str
    description: str
    waiting_before: int
    waiting_after: int
    joins: int
    pairs: int
    joins_per_second: float
    p50_us: float
    p99_us: float
    max_us: float
    mean_us: float


def _ticket(n: int, prefix: str, interests: frozenset[str], at: float, lang: str = "en") -> Ticket:
    sid = f"{prefix}{n}"
    return Ticket(
        session=sid,
        device=f"d-{sid}",
        pool=POOL,
        language=lang,
        interests=interests,
        joined_at=at,
    )


@dataclass
class Setup:
    """A matchmaker with its waiting tickets in place, the joiners to time, and
    the start of the fake clock."""

    mm: Matchmaker
    joiners: list[Ticket]
    start: float


def _waiting_apart(device_a: str, device_b: str) -> bool:
    """The ``blocked`` predicate: the pre-filled tickets ("d-w…") have all blocked
    each other, so that they stay waiting although many share tags; a joiner
    ("d-j…") is never blocked. A real gateway passes a block check too, so its
    cost (one call per candidate) is part of every timed join."""
    return device_a[2] == "w" and device_b[2] == "w"


def _matchmaker() -> Matchmaker:
    return Matchmaker(MatchRules(), blocked=_waiting_apart)


def _fill(mm: Matchmaker, count: int, interests_of: Callable[[int], frozenset[str]]) -> None:
    """Queue ``count`` tickets that cannot pair with each other.

    The fill runs with ``interest_scan=1`` so that it takes seconds, not minutes
    (each fill join would otherwise test 256 blocked candidates per tag); the
    default rules are put back before anything is timed.
    """
    rules = mm.rules
    mm.rules = replace(rules, interest_scan=1)
    for i in range(count):
        mm.join(_ticket(i, "w", interests_of(i), 0.0, LANGUAGES[i % len(LANGUAGES)]), 0.0)
    mm.rules = rules
    assert mm.waiting_count() == count, "the fill must leave every ticket waiting"


# Joiners arrive on a fake clock that starts after the waiting tickets and moves
# 1 µs per join: N = 200,000 joins span 0.2 s, far below the 10 s interest timeout,
# so no waiting ticket changes level during a run (no tick is due).
START = 1.0
STEP = 1e-6


def setup_a(waiting: int, joins: int) -> Setup:
    mm = _matchmaker()
    _fill(mm, waiting, lambda i: frozenset({f"old{i % 5000}", f"older{i % 777}"}))
    joiners = [_ticket(i, "j", frozenset(), START + i * STEP) for i in range(joins)]
    return Setup(mm, joiners, START)


def setup_b(waiting: int, joins: int) -> Setup:
    mm = _matchmaker()
    tags = 1000
    _fill(mm, waiting + joins, lambda i: frozenset({f"t{i % tags}"}))
    joiners = [_ticket(i, "j", frozenset({f"t{i % tags}"}), START + i * STEP) for i in range(joins)]
    return Setup(mm, joiners, START)


def setup_c(waiting: int, joins: int) -> Setup:
    mm = _matchmaker()
    _fill(mm, waiting, lambda i: frozenset({f"old{i % 5000}"}))
    joiners = [
        _ticket(i, "j", frozenset({f"u{i}a", f"u{i}b", f"u{i}c"}), START + i * STEP)
        for i in range(joins)
    ]
    return Setup(mm, joiners, START)


def setup_d(waiting: int, joins: int) -> Setup:
    mm = _matchmaker()
    popular = 10
    _fill(
        mm,
        waiting + joins,
        lambda i: frozenset({f"p{i % popular}", f"p{(i // popular) % popular}"}),
    )
    joiners = [
        _ticket(
            i,
            "j",
            frozenset({f"p{i % popular}", f"p{(i + 3) % popular}", f"p{(i + 7) % popular}"}),
            START + i * STEP,
        )
        for i in range(joins)
    ]
    return Setup(mm, joiners, START)


VARIANTS: dict[str, tuple[str, Callable[[int, int], Setup]]] = {
    "a": ("no interests, pair with each other; 100k waiting untouchable", setup_a),
    "b": ("1 shared interest, pairs on join with a waiting ticket", setup_b),
    "c": ("3 unique interests, every joiner waits (queue grows)", setup_c),
    "d": ("3 of 10 popular interests, ranked, pairs on join", setup_d),
}


def _bulk(setup: Setup) -> tuple[float, int]:
    mm, joiners = setup.mm, setup.joiners
    join = mm.join
    pairs = 0
    t0 = time.perf_counter()
    for ticket in joiners:
        pairs += len(join(ticket, ticket.joined_at))
    return time.perf_counter() - t0, pairs


def _each(setup: Setup) -> list[int]:
    mm, joiners = setup.mm, setup.joiners
    join = mm.join
    clock = time.perf_counter_ns
    out = [0] * len(joiners)
    for i, ticket in enumerate(joiners):
        t0 = clock()
        join(ticket, ticket.joined_at)
        out[i] = clock() - t0
    return out


def _pct(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return 0.0
    k = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[k] / 1000.0


def run_variant(key: str, waiting: int, joins: int) -> Result:
    description, make = VARIANTS[key]
    # Warm up the code paths on a small instance first.
    _bulk(make(1000, 1000))

    setup = make(waiting, joins)
    before = setup.mm.waiting_count()
    gc.collect()
    elapsed, pairs = _bulk(setup)
    after = setup.mm.waiting_count()
    del setup

    setup = make(waiting, joins)
    gc.collect()
    each = sorted(_each(setup))
    del setup
    gc.collect()

    return Result(
        variant=key,
        description=description,
        waiting_before=before,
        waiting_after=after,
        joins=joins,
        pairs=pairs,
        joins_per_second=joins / elapsed,
        p50_us=_pct(each, 0.50),
        p99_us=_pct(each, 0.99),
        max_us=each[-1] / 1000.0,
        mean_us=statistics.fmean(each) / 1000.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=100_000, help="tickets waiting before")
    parser.add_argument("--joins", type=int, default=100_000, help="timed joins per variant")
    parser.add_argument("--variants", default="abcd", help="which variants, e.g. 'ab'")
    parser.add_argument(
        "--gc",
        choices=("server", "on", "off"),
        default="server",
        help="'server': tuned as `strangers serve` tunes it (strangers.runtime); "
        "'on': CPython's defaults; 'off': disabled, to show the collector's share",
    )
    parser.add_argument("--json", dest="json_out", help="also write the results here")
    args = parser.parse_args(argv)
    if args.gc == "off":
        gc.disable()
    elif args.gc == "server":
        settle_garbage_collector()

    print(
        f"core matcher: {args.joins:,} joins per variant, {args.waiting:,} waiting; "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{_cpu_name()}, garbage collector {args.gc}",
        flush=True,
    )
    results = []
    for key in args.variants:
        if key not in VARIANTS:
            parser.error(f"unknown variant {key!r}")
        result = run_variant(key, args.waiting, args.joins)
        results.append(result)
        print(
            f"({key}) {result.description}\n"
            f"    waiting {result.waiting_before:,} -> {result.waiting_after:,}, "
            f"pairs {result.pairs:,}\n"
            f"    {result.joins_per_second:>10,.0f} joins/s   "
            f"p50 {result.p50_us:6.2f} µs   p99 {result.p99_us:6.2f} µs   "
            f"max {result.max_us:8.1f} µs   mean {result.mean_us:6.2f} µs",
            flush=True,
        )
    waiting_bytes, couple_bytes = memory_per_entry(args.waiting)
    print(
        f"memory: {waiting_bytes:,.0f} B per waiting ticket (3 interests, with its ticket), "
        f"{couple_bytes:,.0f} B per pair held in the 30-minute cooldown",
        flush=True,
    )
    target = 100_000
    for r in results:
        verdict = "met" if r.joins_per_second >= target else "MISSED"
        print(f"target ≥ {target:,} joins/s, variant ({r.variant}): {verdict}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2)
    return 0


def memory_per_entry(count: int) -> tuple[float, float]:
    """Bytes the matchmaker holds per waiting ticket and per paired couple (its
    cooldown entry), by tracemalloc over ``count`` of each."""
    import tracemalloc

    tracemalloc.start()
    try:
        mm = Matchmaker(MatchRules(), blocked=lambda _a, _b: True)
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            tags = frozenset((f"w{i}", f"x{i}", f"y{i}"))
            mm.join(Ticket(f"w{i}", f"wd{i:012d}", POOL, "en", tags, 0.0), 0.0)
        waiting = (tracemalloc.get_traced_memory()[0] - before) / count
        mm = Matchmaker(MatchRules())
        joiners = [
            Ticket(f"p{i}", f"pd{i:012d}", POOL, "en", frozenset(), 0.0) for i in range(2 * count)
        ]
        before = tracemalloc.get_traced_memory()[0]
        for ticket in joiners:
            mm.join(ticket, 0.0)
        couple = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    return waiting, couple


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
