"""What the simulated chatters record, and the report their records add up to.

Everything is measured on the client with one monotonic clock (CLOCK_MONOTONIC,
shared by processes on one machine, so records of several processes merge):

- **time-to-pair**: socket open → ``matched`` for the first round; ``find`` or
  ``skip`` sent → ``matched`` for later rounds (reported apart);
- **pairing latency**: ``matched`` − the moment the later of the two partners sent
  its ``find``/``skip``: the server's own part, without the wait for a partner to
  exist;
- **round trip**: ping sent → its echo back (through the server, the partner's
  client, and the server again);
- **double pairs**: a match id seen by other than two chatters, or a ``matched``
  that reaches a chatter that is already in a match; **repeat pairs**: the same
  two chatters paired twice (the server must not within 30 minutes);
- **lost rounds**: a ``find``/``skip`` of a counted round never answered by
  ``matched`` before the deadline; errors by code.

Several targets: the report counts the chatters per URL and the pairs whose two
sides were on different URLs, and gives the throughput: pairs per second of the
arrival phase (socket open of the first chatter → last first-round ``matched``) and
counted rounds per second (→ last counted ``matched``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .scenarios import Scenario

# One round: (index, counted, kind, t_request, t_matched or None, match or None).
# ``kind`` is "find" or "skip"; index 0 is the first find after welcome.
RoundRow = tuple[int, bool, str, float, float | None, str | None]


@dataclass(slots=True)
class ChatterRecord:
    """What one simulated chatter saw. Plain data, so it crosses processes."""

    index: int
    url: str = ""  # the chat socket this chatter connected to
    session: str | None = None
    t_open: float = 0.0
    t_connected: float | None = None
    t_welcome: float | None = None
    rounds: list[RoundRow] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    pings_unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    failure: str | None = None
    partner_left_early: int = 0
    timed_out: bool = False


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds (nearest rank), ``None`` when empty."""
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        k = max(0, math.ceil(q * len(ordered)) - 1)
        return round(ordered[k] * 1000.0, 3)

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000.0, 3),
    }


@dataclass(slots=True)
class Report:
    scenario: str
    chatters: int
    processes: int
    duration_s: float
    rounds_requested: int
    rounds_paired: int
    never_paired: int
    double_pairs: int
    repeat_pairs: int
    lost_rounds: int
    rounds_short: int
    standby_rounds: int
    connect_failures: int
    partner_left_early: int
    pings_unanswered: int
    protocol_violations: dict[str, int]
    errors: dict[str, int]
    failures: dict[str, int]
    time_to_pair_first: dict[str, float | None]
    time_to_pair_later: dict[str, float | None]
    pairing_latency: dict[str, float | None]
    pairing_latency_later: dict[str, float | None]
    round_trip: dict[str, float | None]
    connect: dict[str, float | None] = field(default_factory=dict)
    welcome: dict[str, float | None] = field(default_factory=dict)
    # Several targets: chatters per URL (in the order of the targets), and the
    # matches whose two sides were connected to different URLs.
    chatters_per_url: dict[str, int] = field(default_factory=dict)
    cross_url_pairs: int = 0
    throughput: dict[str, float | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            not self.protocol_violations
            and self.never_paired == 0
            and self.double_pairs == 0
            and self.repeat_pairs == 0
            and self.lost_rounds == 0
            and self.rounds_short == 0
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        return data


def analyse(scenario: Scenario, records: list[ChatterRecord], duration: float) -> Report:
    """Merge the chatters' records into the figures of a :class:`Report`."""
    by_match: dict[str, list[tuple[ChatterRecord, RoundRow]]] = {}
    for rec in records:
        for row in rec.rounds:
            if row[5] is not None:
                by_match.setdefault(row[5], []).append((rec, row))
    double = sum(1 for sides in by_match.values() if len(sides) != 2)
    violations: Counter[str] = Counter()
    for rec in records:
        violations.update(rec.violations)
    double += violations["matched while already in a match"]

    seen_pairs: Counter[frozenset[int]] = Counter()
    pairing: list[float] = []
    pairing_later: list[float] = []
    cross = 0
    for sides in by_match.values():
        if len(sides) != 2:
            continue
        (ra, a), (rb, b) = sides
        seen_pairs[frozenset((ra.index, rb.index))] += 1
        cross += ra.url != rb.url
        if ra.index == rb.index:
            double += 1
        later = max(a[3], b[3])
        for row in (a, b):
            if row[4] is not None and row[1]:  # counted rounds only
                (pairing if row[0] == 0 else pairing_later).append(row[4] - later)
    repeat = sum(n - 1 for n in seen_pairs.values() if n > 1)

    first: list[float] = []
    later_ttp: list[float] = []
    requested = scenario.chatters * scenario.rounds
    paired = lost = never = 0
    for rec in records:
        counted = [row for row in rec.rounds if row[1]]
        got = [row for row in counted if row[4] is not None]
        paired += min(len(got), scenario.rounds)
        lost += sum(1 for row in counted if row[4] is None)
        if not got or got[0][0] != 0:
            never += 1
        for row in got:
            assert row[4] is not None
            if row[0] == 0:
                first.append(row[4] - rec.t_open)
            else:
                later_ttp.append(row[4] - row[3])
    errors: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for rec in records:
        errors.update(rec.errors)
        if rec.failure:
            failures[rec.failure.split(":", 1)[0]] += 1
        if rec.timed_out:
            failures["deadline"] += 1
    rtts = [x for rec in records for x in rec.round_trips]
    per_url: dict[str, int] = {}
    for rec in sorted(records, key=lambda r: r.index):
        per_url[rec.url] = per_url.get(rec.url, 0) + 1
    return Report(
        scenario=scenario.name,
        chatters=len(records),
        processes=scenario.processes,
        duration_s=round(duration, 3),
        rounds_requested=requested,
        rounds_paired=paired,
        never_paired=never,
        double_pairs=double,
        repeat_pairs=repeat,
        lost_rounds=lost,
        rounds_short=requested - paired,
        standby_rounds=sum(
            1 for rec in records for row in rec.rounds if not row[1] and row[4] is not None
        ),
        connect_failures=sum(1 for rec in records if rec.session is None),
        partner_left_early=sum(rec.partner_left_early for rec in records),
        pings_unanswered=sum(rec.pings_unanswered for rec in records),
        protocol_violations=dict(violations),
        errors=dict(errors),
        failures=dict(failures),
        time_to_pair_first=percentiles(first),
        time_to_pair_later=percentiles(later_ttp),
        pairing_latency=percentiles(pairing),
        pairing_latency_later=percentiles(pairing_later),
        round_trip=percentiles(rtts),
        connect=percentiles([r.t_connected - r.t_open for r in records if r.t_connected]),
        welcome=percentiles([r.t_welcome - r.t_open for r in records if r.t_welcome]),
        chatters_per_url=per_url,
        cross_url_pairs=cross,
        throughput=throughput_of(scenario, records),
    )


def throughput_of(scenario: Scenario, records: list[ChatterRecord]) -> dict[str, float | None]:
    """Rates over the wall time of the run, all from the first socket open:

    - ``arrivals_per_s``: sockets opened per second (first → last open), to
      compare with ``offered_arrivals_per_s`` (the scenario's rate): a client
      that cannot keep up opens them late;
    - ``pairs_per_s``: half the chatters whose first round was paired, per
      second, up to the last first-round ``matched`` (the arrival phase): the
      pairs per second where every pair is two first rounds (C, E);
    - ``rounds_per_s``: counted rounds paired (one per chatter per match) per
      second, up to the last counted ``matched``.

    ``None`` where there is nothing to count or no time span."""
    opens = [rec.t_open for rec in records if rec.t_open > 0]
    first: list[float] = []
    counted: list[float] = []
    for rec in records:
        for index, is_counted, _, _, matched, _ in rec.rounds:
            if matched is not None:
                if index == 0:
                    first.append(matched)
                if is_counted:
                    counted.append(matched)
    t0 = min(opens) if opens else None

    def rate(count: float, until: list[float]) -> float | None:
        if t0 is None or not until or max(until) <= t0:
            return None
        return round(count / (max(until) - t0), 1)

    return {
        "offered_arrivals_per_s": scenario.arrival_rate,
        "arrivals_per_s": rate(len(opens) - 1, opens) if len(opens) > 1 else None,
        "arrival_phase_s": None if t0 is None or not first else round(max(first) - t0, 3),
        "pairs_per_s": rate(len(first) / 2, first),
        "rounds_per_s": rate(len(counted), counted),
    }


def render(report: Report) -> Any:
    """A Rich table of the report."""
    from rich.table import Table

    table = Table(title=f"load test — scenario {report.scenario}", show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")

    def ms(stats: dict[str, float | None]) -> str:
        if not stats.get("n"):
            return "—"
        return (
            f"p50 {stats['p50_ms']:.2f} / p99 {stats['p99_ms']:.2f} / "
            f"max {stats['max_ms']:.2f} ms (n={stats['n']})"
        )

    rows: list[tuple[str, str]] = [
        ("chatters", f"{report.chatters} in {report.processes} client process(es)"),
        ("duration", f"{report.duration_s:.2f} s"),
        ("rounds requested / paired", f"{report.rounds_requested} / {report.rounds_paired}"),
        ("chatters never paired", str(report.never_paired)),
        ("double pairs", str(report.double_pairs)),
        ("repeat pairs (same two again)", str(report.repeat_pairs)),
        ("lost rounds", str(report.lost_rounds)),
        ("rounds short", str(report.rounds_short)),
        ("standby rounds (uncounted looks paired)", str(report.standby_rounds)),
        ("connect failures", str(report.connect_failures)),
        ("partner left early", str(report.partner_left_early)),
        ("pings unanswered", str(report.pings_unanswered)),
        ("errors by code", _counts(report.errors)),
        ("client failures", _counts(report.failures)),
        ("protocol violations", _counts(report.protocol_violations)),
        ("connect (open → challenge received)", ms(report.connect)),
        ("welcome (open → welcome)", ms(report.welcome)),
        ("time-to-pair, first (open → matched)", ms(report.time_to_pair_first)),
        ("time-to-pair, later (find/skip → matched)", ms(report.time_to_pair_later)),
        ("pairing latency, first (matched − later find)", ms(report.pairing_latency)),
        ("pairing latency, later rounds", ms(report.pairing_latency_later)),
        ("message round trip", ms(report.round_trip)),
        ("chatters per URL", _counts(report.chatters_per_url)),
        ("pairs across URLs", str(report.cross_url_pairs)),
        ("arrivals/s offered / opened", _rates(report.throughput)),
        ("pairs/s (arrival phase)", _rate(report.throughput.get("pairs_per_s"))),
        ("counted rounds/s", _rate(report.throughput.get("rounds_per_s"))),
        ("clean", "yes" if report.clean else "NO"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _rates(figures: dict[str, float | None]) -> str:
    offered = figures.get("offered_arrivals_per_s")
    return f"{'all at once' if offered is None else _rate(offered)} / " + _rate(
        figures.get("arrivals_per_s")
    )
