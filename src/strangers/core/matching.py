"""The matchmaker: pure, deterministic, clock passed in (docs/design.md §4).

Never, in any order of events:

- a pair across pools (age band × mode) — each pool has its own queue;
- a chatter with itself or two sessions of one device (two tabs), unless
  ``same_device`` is set for trying the service alone on a laptop;
- a pair either side has blocked (the ``blocked`` predicate);
- the same two devices again within ``repair_cooldown`` seconds.

Order of preference, each level opening after its timeout:

1. common interests — most shared first, then longest waiting; a ticket with
   interests accepts only these for ``interest_timeout`` seconds;
2. the same language, for ``language_timeout`` seconds more;
3. anyone in the pool.

A pair forms when each side accepts the other at its own level, so the
invariant the property tests check holds after every call: no two waiting
tickets of a pool accept each other and are allowed to meet. Every event that
can make two tickets acceptable (a join, a level opening at ``tick``, a
cooldown running out at ``tick``) triggers a search for that ticket, so a
compatible partner is never left waiting.

Cost: a join without interests is O(1) on average; with interests it scans
at most ``interest_scan`` of the longest-waiting tickets per shared tag.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from .blocks import couple
from .pools import Pool


class Level(IntEnum):
    """What a waiting ticket accepts now; higher accepts more."""

    INTERESTS = 0
    LANGUAGE = 1
    ANYONE = 2


@dataclass(frozen=True, slots=True)
class Ticket:
    """One chatter waiting in one pool. ``serial`` tells this wait from the
    session's earlier ones, so a late pair for an old wait is recognised."""

    session: str
    device: str
    pool: Pool
    language: str
    interests: frozenset[str]
    joined_at: float
    serial: int = 0
    network: str = ""


@dataclass(frozen=True, slots=True)
class Pair:
    """Two tickets the matchmaker has taken out of the queue together."""

    match: str
    a: Ticket
    b: Ticket
    common: tuple[str, ...]

    def fallback_for(self, ticket: Ticket) -> bool:
        """True when this side asked for interests and got none in common."""
        return bool(ticket.interests) and not self.common


@dataclass(frozen=True, slots=True)
class MatchRules:
    """Timeouts in seconds; limits as counts. Defaults follow docs/design.md §4."""

    interest_timeout: float = 10.0
    language_timeout: float = 5.0
    repair_cooldown: float = 1800.0
    interest_scan: int = 64
    #: Seconds a ticket waits before the matchmaker says why it still waits (a
    #: :class:`WaitNote`: nobody else is looking, or only people met within
    #: ``repair_cooldown``); docs/protocol.md, ``queue``.
    quiet_after: float = 8.0
    #: Let two sessions of one device meet (and meet again at once), so one person
    #: can try the service with two tabs on a laptop. Never for real chatters.
    same_device: bool = False

    def __post_init__(self) -> None:
        if (
            min(
                self.interest_timeout,
                self.language_timeout,
                self.repair_cooldown,
                self.quiet_after,
            )
            < 0
        ):
            raise ValueError("timeouts must not be negative")
        if self.interest_scan < 1:
            raise ValueError("interest_scan must be at least 1")


#: Why a ticket still waits, as its chatter is told (docs/protocol.md, ``queue``):
#: ``nobody``: no one else waits in its pool; ``met_recently``: the only others are
#: devices it met within ``repair_cooldown`` (they may not meet again yet); ``others``:
#: someone else waits who may yet be paired with it (an interest or language level has
#: not opened). A pair blocked by a report counts as nobody: whether a reported or
#: reporting device is online is never told.
WaitState = Literal["nobody", "met_recently", "others"]


@dataclass(frozen=True, slots=True)
class WaitNote:
    """What the chatter of ``session`` is told about its wait number ``serial``."""

    session: str
    serial: int
    state: WaitState


def _never_blocked(_a: str, _b: str) -> bool:
    return False


def _counter_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"m{next(counter)}"


class _Lane:
    """Tickets that accept a level, in waiting order.

    Two FIFO halves: tickets that came with interests reach a lane a fixed
    timeout after those that came without, so each half stays in join order
    and merging their heads gives the longest-waiting ticket first.
    """

    __slots__ = ("plain", "tagged")

    def __init__(self) -> None:
        self.plain: OrderedDict[str, Ticket] = OrderedDict()
        self.tagged: OrderedDict[str, Ticket] = OrderedDict()

    def add(self, ticket: Ticket) -> None:
        (self.tagged if ticket.interests else self.plain)[ticket.session] = ticket

    def discard(self, ticket: Ticket) -> None:
        (self.tagged if ticket.interests else self.plain).pop(ticket.session, None)

    def __len__(self) -> int:
        return len(self.plain) + len(self.tagged)

    def oldest_first(self) -> Iterator[Ticket]:
        left, right = iter(self.plain.values()), iter(self.tagged.values())
        a, b = next(left, None), next(right, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a.joined_at <= b.joined_at):
                assert a is not None
                yield a
                a = next(left, None)
            else:
                yield b
                b = next(right, None)


@dataclass(slots=True)
class _Queue:
    """The waiting tickets of one pool, indexed by what they accept."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    levels: dict[str, Level] = field(default_factory=dict)
    by_tag: dict[str, OrderedDict[str, Ticket]] = field(default_factory=dict)
    by_language: dict[str, _Lane] = field(default_factory=dict)
    anyone: _Lane = field(default_factory=_Lane)
    by_device: dict[str, set[str]] = field(default_factory=dict)


class Matchmaker:
    """Pairs waiting chatters, one queue per pool.

    ``join`` and ``tick`` return the pairs they make; a paired ticket leaves
    the queue. ``now`` is a monotonic time in seconds and must not go back.
    ``blocked(device_a, device_b)`` is consulted for every candidate pair;
    ``match_ids`` names each pair (the gateway passes unguessable ids).
    """

    def __init__(
        self,
        rules: MatchRules | None = None,
        *,
        blocked: Callable[[str, str], bool] = _never_blocked,
        match_ids: Callable[[], str] | None = None,
    ) -> None:
        self.rules = rules or MatchRules()
        self._blocked = blocked
        self._match_id = match_ids or _counter_ids()
        self._queues: dict[Pool, _Queue] = {}
        self._where: dict[str, Pool] = {}
        # (deadline, order, session, ticket) for level changes; stale entries are skipped.
        self._timers: list[tuple[float, int, str, Ticket]] = []
        self._order = itertools.count()
        # device pair (sorted) -> time the cooldown ends, oldest first. A sorted tuple
        # costs a quarter of a frozenset, and one is kept per pair for 30 minutes.
        self._recent: OrderedDict[tuple[str, str], float] = OrderedDict()
        # session -> the wait state it was last told, so a note goes only on a change.
        self._noted: dict[str, WaitState] = {}

    # --- queries ---------------------------------------------------------------------

    def waiting(self, session: str) -> Ticket | None:
        pool = self._where.get(session)
        return None if pool is None else self._queues[pool].tickets.get(session)

    def waiting_count(self, pool: Pool | None = None) -> int:
        if pool is not None:
            queue = self._queues.get(pool)
            return 0 if queue is None else len(queue.tickets)
        return len(self._where)

    def waiting_tickets(self) -> list[Ticket]:
        return [t for q in self._queues.values() for t in q.tickets.values()]

    def level_of(self, session: str) -> Level | None:
        pool = self._where.get(session)
        return None if pool is None else self._queues[pool].levels.get(session)

    def recently_paired(self, device_a: str, device_b: str, now: float) -> bool:
        until = self._recent.get(couple(device_a, device_b))
        return until is not None and until > now

    def remember(self, device_a: str, device_b: str, until: float) -> None:
        """Keep two devices apart until ``until`` (this matchmaker's clock), for a pair
        another matchmaker made, or one made before this one took over its pool (design
        §5). A cooldown only ever grows. One that arrives out of order behind a later one
        may end a little after ``until`` (never before): cooldowns end oldest first."""
        if device_a == device_b:
            return
        key = couple(device_a, device_b)
        held = self._recent.get(key)
        if held is not None and held >= until:
            return
        self._recent[key] = until
        self._recent.move_to_end(key)

    # --- events ----------------------------------------------------------------------

    def join(self, ticket: Ticket, now: float) -> list[Pair]:
        """Queue ``ticket`` (replacing the session's earlier one) and pair it if possible."""
        self.leave(ticket.session)
        queue = self._queues.get(ticket.pool)
        if queue is None:
            queue = self._queues[ticket.pool] = _Queue()
        level = self._level_at(ticket, now)
        partner = self._search(queue, ticket, level, now, searched_below=None)
        if partner is not None:
            return [self._pair(queue, ticket, partner, now)]
        self._insert(queue, ticket, level)
        self._schedule(ticket, level)
        return []

    def leave(self, session: str) -> Ticket | None:
        """Take a session out of its queue; returns its ticket if it was waiting."""
        pool = self._where.pop(session, None)
        if pool is None:
            return None
        self._noted.pop(session, None)
        queue = self._queues[pool]
        ticket = queue.tickets.pop(session)
        level = queue.levels.pop(session)
        for tag in ticket.interests:
            bucket = queue.by_tag.get(tag)
            if bucket is not None:
                bucket.pop(session, None)
                if not bucket:
                    del queue.by_tag[tag]
        if level >= Level.LANGUAGE:
            lane = queue.by_language.get(ticket.language)
            if lane is not None:
                lane.discard(ticket)
                if not lane:
                    del queue.by_language[ticket.language]
        if level == Level.ANYONE:
            queue.anyone.discard(ticket)
        sessions = queue.by_device.get(ticket.device)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del queue.by_device[ticket.device]
        return ticket

    def tick(self, now: float) -> list[Pair]:
        """Open the levels whose timeouts have passed and end finished cooldowns,
        pairing every ticket that can now be paired."""
        pairs: list[Pair] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, session, ticket = heapq.heappop(timers)
            pool = self._where.get(session)
            if pool is None:
                continue
            queue = self._queues[pool]
            if queue.tickets.get(session) is not ticket:
                continue
            old = queue.levels[session]
            new = self._level_at(ticket, now)
            if new <= old:
                continue
            self._promote(queue, ticket, old, new)
            partner = self._search(queue, ticket, new, now, searched_below=old)
            if partner is not None:
                self.leave(session)
                pairs.append(self._pair(queue, ticket, partner, now))
            else:
                self._schedule(ticket, new)
        pairs.extend(self._end_cooldowns(now))
        return pairs

    def wait_notes(self, now: float) -> list[WaitNote]:
        """The notes for the tickets waiting at least ``quiet_after`` seconds whose
        :data:`WaitState` changed since they were last told (the first one always goes).

        Cost: one look at each such ticket's pool, stopping at the first other ticket
        that may still meet it, and at ``interest_scan`` others whatever they are (a
        pool that full is not quiet: ``others``)."""
        notes: list[WaitNote] = []
        quiet_since = now - self.rules.quiet_after
        for queue in self._queues.values():
            for ticket in queue.tickets.values():
                if ticket.joined_at > quiet_since:
                    continue
                state = self._wait_state(queue, ticket, now)
                if self._noted.get(ticket.session) != state:
                    self._noted[ticket.session] = state
                    notes.append(WaitNote(ticket.session, ticket.serial, state))
        return notes

    def _wait_state(self, queue: _Queue, ticket: Ticket, now: float) -> WaitState:
        met = False
        for seen, other in enumerate(queue.tickets.values()):
            if seen > self.rules.interest_scan:
                return "others"
            if other.session == ticket.session:
                continue
            if self._blocked(ticket.device, other.device):
                continue
            if other.device != ticket.device and self.recently_paired(
                ticket.device, other.device, now
            ):
                met = True
                continue
            if other.device == ticket.device and not self.rules.same_device:
                continue  # its own other tab
            return "others"
        return "met_recently" if met else "nobody"

    # --- internals -------------------------------------------------------------------

    def _opens_at(self, ticket: Ticket) -> tuple[float, float]:
        """When the ticket starts to accept its language, and anyone. Levels and
        timers both come from these two sums, so they never disagree by a rounding."""
        rules = self.rules
        language_at = ticket.joined_at + (rules.interest_timeout if ticket.interests else 0.0)
        return language_at, language_at + rules.language_timeout

    def _level_at(self, ticket: Ticket, now: float) -> Level:
        language_at, anyone_at = self._opens_at(ticket)
        if now >= anyone_at:
            return Level.ANYONE
        return Level.LANGUAGE if now >= language_at else Level.INTERESTS

    def _next_deadline(self, ticket: Ticket, level: Level) -> float | None:
        language_at, anyone_at = self._opens_at(ticket)
        if level == Level.INTERESTS:
            return language_at
        if level == Level.LANGUAGE:
            return anyone_at
        return None

    def _schedule(self, ticket: Ticket, level: Level) -> None:
        deadline = self._next_deadline(ticket, level)
        if deadline is not None:
            heapq.heappush(self._timers, (deadline, next(self._order), ticket.session, ticket))

    def _allowed(self, a: Ticket, b: Ticket, now: float) -> bool:
        if a.session == b.session:
            return False
        if a.device == b.device:
            return self.rules.same_device
        return not self.recently_paired(a.device, b.device, now) and not self._blocked(
            a.device, b.device
        )

    def _search(
        self, queue: _Queue, ticket: Ticket, level: Level, now: float, searched_below: Level | None
    ) -> Ticket | None:
        """The best partner for ``ticket`` at ``level``, skipping the levels that
        were already searched (``searched_below`` and lower) with no result."""
        if ticket.interests and searched_below is None:
            partner = self._by_interests(queue, ticket, now)
            if partner is not None:
                return partner
        if level >= Level.LANGUAGE and (searched_below is None or searched_below < Level.LANGUAGE):
            lane = queue.by_language.get(ticket.language)
            if lane is not None:
                for candidate in lane.oldest_first():
                    if self._allowed(ticket, candidate, now):
                        return candidate
        if level == Level.ANYONE:
            for candidate in queue.anyone.oldest_first():
                if self._allowed(ticket, candidate, now):
                    return candidate
        return None

    def _by_interests(self, queue: _Queue, ticket: Ticket, now: float) -> Ticket | None:
        buckets = [queue.by_tag[tag] for tag in ticket.interests if tag in queue.by_tag]
        if not buckets:
            return None
        if len(buckets) == 1:
            for candidate in itertools.islice(buckets[0].values(), self.rules.interest_scan):
                if self._allowed(ticket, candidate, now):
                    return candidate
            return None
        shared: dict[str, int] = {}
        found: dict[str, Ticket] = {}
        for bucket in buckets:
            for candidate in itertools.islice(bucket.values(), self.rules.interest_scan):
                session = candidate.session
                shared[session] = shared.get(session, 0) + 1
                found[session] = candidate
        # One pass finds the best; a sort is needed only when the best may not meet.
        best = max(found.values(), key=lambda c: (shared[c.session], -c.joined_at))
        if self._allowed(ticket, best, now):
            return best
        ranked = sorted(found.values(), key=lambda c: (-shared[c.session], c.joined_at))
        for candidate in ranked:
            if self._allowed(ticket, candidate, now):
                return candidate
        return None

    def _insert(self, queue: _Queue, ticket: Ticket, level: Level) -> None:
        session = ticket.session
        queue.tickets[session] = ticket
        queue.levels[session] = level
        self._where[session] = ticket.pool
        for tag in ticket.interests:
            bucket = queue.by_tag.get(tag)
            if bucket is None:
                bucket = queue.by_tag[tag] = OrderedDict()
            bucket[session] = ticket
        if level >= Level.LANGUAGE:
            self._lane(queue, ticket.language).add(ticket)
        if level == Level.ANYONE:
            queue.anyone.add(ticket)
        queue.by_device.setdefault(ticket.device, set()).add(session)

    def _promote(self, queue: _Queue, ticket: Ticket, old: Level, new: Level) -> None:
        queue.levels[ticket.session] = new
        if old < Level.LANGUAGE <= new:
            self._lane(queue, ticket.language).add(ticket)
        if new == Level.ANYONE:
            queue.anyone.add(ticket)

    @staticmethod
    def _lane(queue: _Queue, language: str) -> _Lane:
        lane = queue.by_language.get(language)
        if lane is None:
            lane = queue.by_language[language] = _Lane()
        return lane

    def _pair(self, queue: _Queue, ticket: Ticket, partner: Ticket, now: float) -> Pair:
        self.leave(partner.session)
        if ticket.device != partner.device:
            key = couple(ticket.device, partner.device)
            self._recent[key] = now + self.rules.repair_cooldown
            self._recent.move_to_end(key)
        common = tuple(sorted(ticket.interests & partner.interests))
        # The longer-waiting side is ``a``: it came first.
        a, b = (partner, ticket) if partner.joined_at <= ticket.joined_at else (ticket, partner)
        return Pair(self._match_id(), a, b, common)

    def _end_cooldowns(self, now: float) -> list[Pair]:
        """Cooldowns end in the order they began; a pair of devices that were kept
        apart only by one may meet now if both still wait and accept each other."""
        pairs: list[Pair] = []
        recent = self._recent
        while recent:
            key, until = next(iter(recent.items()))
            if until > now:
                break
            del recent[key]
            first, second = key
            for queue in self._queues.values():
                pairs.extend(self._retry_devices(queue, first, second, now))
        return pairs

    def _retry_devices(self, queue: _Queue, first: str, second: str, now: float) -> list[Pair]:
        pairs: list[Pair] = []
        for session in sorted(queue.by_device.get(first, ())):
            ticket = queue.tickets.get(session)
            if ticket is None:
                continue
            for other in sorted(queue.by_device.get(second, ())):
                candidate = queue.tickets.get(other)
                if candidate is None or not self._accept(queue, ticket, candidate, now):
                    continue
                self.leave(session)
                pairs.append(self._pair(queue, ticket, candidate, now))
                break
        return pairs

    def _accept(self, queue: _Queue, a: Ticket, b: Ticket, now: float) -> bool:
        """Whether two waiting tickets accept each other at their current levels."""
        if not self._allowed(a, b, now):
            return False
        if a.interests & b.interests:
            return True
        level_a, level_b = queue.levels[a.session], queue.levels[b.session]
        if min(level_a, level_b) == Level.ANYONE:
            return True
        return min(level_a, level_b) >= Level.LANGUAGE and a.language == b.language
