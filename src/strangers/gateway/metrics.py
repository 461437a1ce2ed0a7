"""Prometheus metrics of a gateway (docs/design.md §1: the operator sees what the service does).

Created once, at import, on prometheus_client's default registry, and served at
``/metrics`` with the frame checks' (``safety/metrics.py``) and the rate limits'
(``safety/ratelimits.py``). What is counted where it happens:

- ``strangers_matched_chatters_total{pool}``: chatters told ``matched`` on this
  gateway; a match counts once per side, so matches per second across gateways are
  ``sum(rate(...)) / 2``.
- ``strangers_time_to_pair_seconds{pool}``: from a chatter's ticket entering the queue
  to its match (the wait the page shows as "looking for someone").
- ``strangers_messages_relayed_total{pool}``: chat lines passed to a partner
  (including those the partner gets withheld: the line still crossed).
- ``strangers_text_checks_total``, ``strangers_text_check_seconds`` and
  ``strangers_text_signals_total{kind}``: the text signal engine, per line.
- ``strangers_actions_total{kind,actor}`` (``moderation/records/store.py``): measures on
  cases once committed, ``automatic`` or by a ``moderator`` (the split DSA art.
  15(1)(c) and (e) ask of the transparency reports).
- ``strangers_websocket_*``: sockets accepted, error codes sent to peers, closes the
  server made by RFC 6455 §7.4 code, and slow readers dropped (shed work).

What is read when scraped (:class:`NodeCollector`), so the chat path pays nothing for it:
chatters online by band, in each pool by state, the broker's counters and the
matchmaker leases a gateway holds.

No label ever carries a session, device, network hash or address: the label sets are
closed and small (OWASP ASVS 5.0 V16.2: logs and telemetry carry no personal data
beyond need; and Prometheus' own advice against unbounded label values).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import fields
from typing import Final, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..brokers.counters import BrokerCounters
from ..core.messages import AgeBand, Mode
from ..core.pools import Pool
from ..core.session import Session, State
from ..core.switchboard import Switchboard
from ..core.text import SignalKind, TextScan, TextScanner

_POOL_KEYS: Final = {(band, mode): Pool(band, mode).key for band in AgeBand for mode in Mode}
POOL_KEYS: Final = tuple(_POOL_KEYS.values())
BROKER_EVENTS: Final = tuple(field.name for field in fields(BrokerCounters))

MATCHED: Final = Counter(
    "strangers_matched_chatters",
    "Chatters told they were matched on this gateway, by pool (two per match).",
    ["pool"],
)
TIME_TO_PAIR: Final = Histogram(
    "strangers_time_to_pair_seconds",
    "Seconds from joining a pool's queue to the match, by pool.",
    ["pool"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
)
MESSAGES_RELAYED: Final = Counter(
    "strangers_messages_relayed",
    "Chat lines passed to the partner, by the sender's pool.",
    ["pool"],
)
TEXT_CHECKS: Final = Counter(
    "strangers_text_checks", "Chat lines run through the text signal engine."
)
TEXT_CHECK_SECONDS: Final = Histogram(
    "strangers_text_check_seconds",
    "Seconds the text signal engine took per line.",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
TEXT_SIGNALS: Final = Counter(
    "strangers_text_signals",
    "Signals the text engine found, by kind (a line may carry several).",
    ["kind"],
)
FACE_AGES: Final = Counter(
    "strangers_face_age_estimates",
    "Facial age estimates of chatters' own cameras, by pool and what they did "
    "(nothing, under_challenge, clearly_adult; docs/safety.md, Age from the camera).",
    ["pool", "outcome"],
)
CONNECTIONS: Final = Counter(
    "strangers_websocket_connections", "Chat sockets accepted by this gateway."
)
ERRORS: Final = Counter(
    "strangers_websocket_errors",
    "Protocol error messages sent to peers, by code (docs/protocol.md).",
    ["code"],
)
CLOSES: Final = Counter(
    "strangers_websocket_closes",
    "Chat sockets this gateway closed, by RFC 6455 close code.",
    ["code"],
)
SLOW_READERS: Final = Counter(
    "strangers_slow_readers_dropped",
    "Chat sockets dropped because their send queue overflowed (shed work).",
)
READY: Final = Gauge(
    "strangers_ready", "1 when the gateway's last readiness check passed (/readyz), else 0."
)
BUILD: Final = Gauge("strangers_build_info", "The running version.", ["version"])
BUILD.labels(version=__version__).set(1)

# Every closed label value exists from the start: a dashboard shows zeros, not gaps.
for _pool in POOL_KEYS:
    MATCHED.labels(pool=_pool)
    TIME_TO_PAIR.labels(pool=_pool)
    MESSAGES_RELAYED.labels(pool=_pool)


def pool_key(band: AgeBand, mode: Mode | None) -> str | None:
    """:attr:`Pool.key` of the pool a session is in (None before its first ``find``),
    without building a :class:`Pool` on every chat line."""
    return None if mode is None else _POOL_KEYS[(band, mode)]


# Label children looked up once: these run on every match and every chat line.
_SIGNALS_OF: Final = {kind: TEXT_SIGNALS.labels(kind=kind.value) for kind in SignalKind}
_MATCHED_IN: Final = {key: MATCHED.labels(pool=key) for key in POOL_KEYS}
_WAITED_IN: Final = {key: TIME_TO_PAIR.labels(pool=key) for key in POOL_KEYS}
_RELAYED_IN: Final = {key: MESSAGES_RELAYED.labels(pool=key) for key in POOL_KEYS}


def count_match(session: Session | None) -> None:
    """A side of a match was told ``matched``: count it and how long it waited."""
    if session is None or (key := pool_key(session.band, session.mode)) is None:
        return
    _MATCHED_IN[key].inc()
    _WAITED_IN[key].observe(max(0.0, session.matched_at - session.waiting_since))


def count_line(session: Session | None) -> None:
    """``session`` sent a chat line that went on to its partner."""
    if session is None or (key := pool_key(session.band, session.mode)) is None:
        return
    _RELAYED_IN[key].inc()


class TimedScanner:
    """A :class:`TextScanner` that counts and times another (the engine stays pure;
    the clock is the gateway's)."""

    def __init__(self, scanner: TextScanner) -> None:
        self.scanner = scanner
        self._observe = TEXT_CHECK_SECONDS.observe
        self._count = TEXT_CHECKS.inc

    def scan(self, text: str) -> TextScan:
        start = time.perf_counter()
        scan = self.scanner.scan(text)
        self._observe(time.perf_counter() - start)
        self._count()
        for signal in scan.signals:
            _SIGNALS_OF[signal.kind].inc()
        return scan


class ScrapedNode(Protocol):
    """What a scrape reads of a node (``gateway/node.py``): its sessions, and its
    broker's counters and leases when it has them. A protocol, so that the node counts
    into this module and this module reads the node without either importing the
    other."""

    @property
    def switchboard(self) -> Switchboard: ...

    @property
    def broker(self) -> object: ...


class NodeCollector(Collector):
    """The gauges read from the live nodes when scraped. One collector for the process,
    registered at import; nodes join at start-up and leave at shutdown (tests run many
    apps in one process)."""

    def __init__(self) -> None:
        self.nodes: list[ScrapedNode] = []

    def collect(self) -> Iterator[Metric]:
        online = GaugeMetricFamily(
            "strangers_chatters_online",
            "Chat sessions open on this gateway, by age band.",
            labels=["band"],
        )
        in_pool = GaugeMetricFamily(
            "strangers_chatters_in_pool",
            "Chat sessions waiting for or in a match, by pool and state.",
            labels=["pool", "state"],
        )
        leases = GaugeMetricFamily(
            "strangers_matchmaker_leases_held",
            "Pools whose matchmaker runs on this gateway.",
        )
        broker = CounterMetricFamily(
            "strangers_broker_events",
            "What the Redis broker did, by event (zero with the in-memory broker).",
            labels=["event"],
        )
        bands = {band.value: 0 for band in AgeBand}
        pools = {(pool, state): 0 for pool in POOL_KEYS for state in ("waiting", "chatting")}
        held = 0
        events = dict.fromkeys(BROKER_EVENTS, 0)
        for node in list(self.nodes):
            for session in list(node.switchboard.sessions.values()):
                bands[session.band.value] += 1
                if session.state is State.WAITING or session.state is State.CHATTING:
                    key = pool_key(session.band, session.mode)
                    if key is not None:
                        pools[(key, session.state.value)] += 1
            held += _leases_held(node)
            counters = getattr(node.broker, "counters", None)
            for event in BROKER_EVENTS:
                events[event] += int(getattr(counters, event, 0))
        for band, count in bands.items():
            online.add_metric([band], count)
        for (pool, state), count in pools.items():
            in_pool.add_metric([pool, state], count)
        leases.add_metric([], held)
        for event, count in events.items():
            broker.add_metric([event], count)
        yield online
        yield in_pool
        yield leases
        yield broker

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can refuse a clash at registration.
        yield GaugeMetricFamily("strangers_chatters_online", "", labels=["band"])
        yield GaugeMetricFamily("strangers_chatters_in_pool", "", labels=["pool", "state"])
        yield GaugeMetricFamily("strangers_matchmaker_leases_held", "")
        yield CounterMetricFamily("strangers_broker_events", "", labels=["event"])


def _leases_held(node: ScrapedNode) -> int:
    holds = getattr(node.broker, "holds", None)
    if holds is None:
        # The in-memory broker runs every pool's matchmaker itself.
        return len(POOL_KEYS)
    return len(holds)


NODES: Final = NodeCollector()
REGISTRY.register(NODES)
