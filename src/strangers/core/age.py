"""The neutral age question and what it admits (design §1 Start, §6 Age).

The page asks for month and year of birth, with nothing that hints at a
threshold. :class:`AgeGate` turns the answer into a pool:

- under 13 — refused (``too_young``), and the device stays refused for
  ``lock_hours`` so that changing the answer does not open the door (COPPA and
  UK GDPR art. 8 set 13 as the floor; Ofcom's Illegal Content Codes, ICU F1,
  ask that a child cannot simply retry);
- 13 to 17 — the teen pool when the operator enables it, otherwise refused
  (``adults_only``), with the same lock;
- 18 and over — the adult pool.

While a device's lock lasts, a new answer can only make it younger, never
older: a 15-year-old who retries with an earlier year stays in the teen band.
The record travels in the signed device token (:mod:`.device`) and is also
kept in memory by the gateway, so replaying an older token does not undo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Final, Literal

from .messages import AgeBand

SECONDS_PER_HOUR: Final = 3600


class Stage(IntEnum):
    """Age answers ordered youngest first, so ``min`` keeps the youngest."""

    CHILD = 0
    TEEN = 1
    ADULT = 2


def age_on(birth_year: int, birth_month: int, today: date) -> int:
    """Whole years of age on ``today`` for someone born in that month.

    Without a day of birth, the birthday counts as reached only once its month
    has passed: the answer is never older than the person can be.
    """
    years = today.year - birth_year
    if today.month <= birth_month:
        years -= 1
    return years


def stage_for(age: int) -> Stage:
    if age < 13:
        return Stage.CHILD
    if age < 18:
        return Stage.TEEN
    return Stage.ADULT


@dataclass(frozen=True, slots=True)
class AgeRecord:
    """The youngest answer a device gave while its lock lasts (Unix seconds)."""

    stage: Stage
    locked_until: int


@dataclass(frozen=True, slots=True)
class Admitted:
    band: AgeBand
    record: AgeRecord


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Literal["too_young", "adults_only"]
    record: AgeRecord


class AgeGate:
    """Decides admission from an answer, a device's earlier record and the time.

    ``teen_pool`` is off by default: the service is for adults unless the
    operator deliberately opens the separate teen pool.
    """

    def __init__(self, *, teen_pool: bool = False, lock_hours: float = 24.0) -> None:
        if lock_hours <= 0:
            raise ValueError("lock_hours must be positive")
        self.teen_pool = teen_pool
        self.lock_seconds = int(lock_hours * SECONDS_PER_HOUR)

    def decide(
        self,
        birth_year: int,
        birth_month: int,
        earlier: AgeRecord | None,
        *,
        today: date,
        now: int,
    ) -> Admitted | Refused:
        stage = stage_for(age_on(birth_year, birth_month, today))
        if earlier is not None and earlier.locked_until > now and earlier.stage < stage:
            stage = earlier.stage
        if stage == Stage.ADULT:
            # An adult answer starts no lock: nothing to hold back.
            record = earlier if earlier is not None and earlier.locked_until > now else None
            return Admitted(AgeBand.ADULT, record or AgeRecord(Stage.ADULT, now))
        if earlier is not None and earlier.locked_until > now and earlier.stage == stage:
            record = earlier
        else:
            record = AgeRecord(stage, now + self.lock_seconds)
        if stage == Stage.CHILD:
            return Refused("too_young", record)
        if not self.teen_pool:
            return Refused("adults_only", record)
        return Admitted(AgeBand.TEEN, record)


class AgeLedger:
    """The age records of devices whose lock still lasts, in memory.

    The token carries the record to the device; the ledger keeps it on the
    server too, so a device that replays a token issued before its lock does
    not escape it. Expired records are dropped by :meth:`prune`.

    It also holds the devices sent back to the age question (a minor's age statement
    in the adult pool, design §6): until their cooldown ends they are refused with
    ``age_check``; then the question is asked again, under the record's lock.
    """

    def __init__(self) -> None:
        self._records: dict[str, AgeRecord] = {}
        self._rechecks: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._records)

    def youngest(self, device: str, carried: AgeRecord | None, now: int) -> AgeRecord | None:
        """The stricter of the token's record and the ledger's, if either still locks."""
        held = self._records.get(device)
        live = [r for r in (held, carried) if r is not None and r.locked_until > now]
        if not live:
            return None
        return min(live, key=lambda r: (r.stage, -r.locked_until))

    def remember(self, device: str, record: AgeRecord, now: int) -> None:
        if record.locked_until > now:
            self._records[device] = record

    def recheck(self, device: str, until: int) -> None:
        """Send ``device`` back to the age question once ``until`` has passed."""
        self._rechecks[device] = max(until, self._rechecks.get(device, 0))

    def recheck_until(self, device: str, now: int) -> int | None:
        """The end of ``device``'s cooldown, while it lasts."""
        until = self._rechecks.get(device)
        return until if until is not None and until > now else None

    def prune(self, now: int) -> None:
        self._records = {d: r for d, r in self._records.items() if r.locked_until > now}
        self._rechecks = {d: u for d, u in self._rechecks.items() if u > now}
