"""The neutral age question and what it admits (docs/design.md §1 Start, §6 Age).

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
held by the server (:class:`AgeLedger`, kept in the records and shared between
gateways), so replaying an older token does not undo it.

Age state belongs to the device and its network, not to one socket
(``docs/safety.md``, "Age"): what a chatter states in a chat moves the device too —
a minor's age in the adult pool sends it back to the age question after a
cooldown, an adult's age in the teen pool bars it from the teen pool — and every
open session of the device is held to the new state (:meth:`AgeLedger.refusal_for`).
A network that just gave a minor's answer or statement is *held*: for
``network_hold_minutes`` a device the server has not seen as an adult before the
hold cannot be welcomed as an adult from it (a child who clears the browser's
storage and answers again), while the adults already known there are not
disturbed and a teen answer still reaches the teen pool.
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
    """The youngest answer a device gave while its lock lasts (Unix seconds).

    For an adult answer nothing is locked: ``locked_until`` is then when the device
    first answered as an adult, which tells a device known before a network hold
    from one that appeared after it (:meth:`AgeGate.admit`)."""

    stage: Stage
    locked_until: int


@dataclass(frozen=True, slots=True)
class Admitted:
    band: AgeBand
    record: AgeRecord


RefusalReason = Literal["too_young", "adults_only", "age_check"]


@dataclass(frozen=True, slots=True)
class Refused:
    """Not admitted: ``too_young`` (under 13), ``adults_only`` (13–17 while the teen pool
    is off) or ``age_check`` (asked again once ``until`` has passed: after a minor's
    age statement in the adult pool, a bar from the teen pool, or a network hold)."""

    reason: RefusalReason
    record: AgeRecord
    until: int = 0

    def __post_init__(self) -> None:
        if not self.until:
            object.__setattr__(self, "until", self.record.locked_until)


@dataclass(frozen=True, slots=True)
class DeviceAge:
    """What the server holds of one device's age while any of it lasts (Unix seconds):
    ``record``, its youngest answer or statement under its lock; ``recheck_until``,
    when it may answer again after stating a minor's age in the adult pool;
    ``teen_barred_until``, the end of its bar from the teen pool (it stated an adult's
    age there). 0 is "not set"."""

    record: AgeRecord | None = None
    recheck_until: int = 0
    teen_barred_until: int = 0

    def expires(self) -> int:
        """When none of it holds any more."""
        locked = self.record.locked_until if self.record is not None else 0
        return max(locked, self.recheck_until, self.teen_barred_until)

    def stricter(self, other: DeviceAge) -> DeviceAge:
        """Both together: the younger live record, the later cooldown and bar. Facts
        from other gateways and the records merge this way, so no order of arrival
        can loosen a device's state."""
        record = self.record
        if other.record is not None and (
            record is None
            or (other.record.stage, -other.record.locked_until)
            < (record.stage, -record.locked_until)
        ):
            record = other.record
        return DeviceAge(
            record,
            max(self.recheck_until, other.recheck_until),
            max(self.teen_barred_until, other.teen_barred_until),
        )


@dataclass(frozen=True, slots=True)
class NetworkHold:
    """A network that gave a minor's answer or statement at ``since``: until ``until``,
    a device not known there as an adult before ``since`` is not welcomed as an adult."""

    since: int
    until: int

    def stricter(self, other: NetworkHold) -> NetworkHold:
        return NetworkHold(min(self.since, other.since), max(self.until, other.until))


@dataclass(frozen=True, slots=True)
class AgeChanges:
    """What changed in a ledger since the last :meth:`AgeLedger.take_changes`: the
    state to store and to tell the other gateways, by device and by network."""

    devices: dict[str, DeviceAge]
    networks: dict[str, NetworkHold]

    def __bool__(self) -> bool:
        return bool(self.devices or self.networks)


class AgeLedger:
    """The age state of devices and networks, while it lasts.

    The gateway keeps one per node, loads it from the records at start-up, stores what
    :meth:`take_changes` returns and shares it with the other gateways, which
    :meth:`merge` it. Every change here is stricter, never looser, until it expires
    (:meth:`prune`).
    """

    def __init__(self) -> None:
        self._devices: dict[str, DeviceAge] = {}
        self._networks: dict[str, NetworkHold] = {}
        self._changed_devices: set[str] = set()
        self._changed_networks: set[str] = set()

    def __len__(self) -> int:
        return len(self._devices)

    # --- reading -----------------------------------------------------------------------

    def state(self, device: str) -> DeviceAge:
        return self._devices.get(device) or DeviceAge()

    def youngest(self, device: str, carried: AgeRecord | None, now: int) -> AgeRecord | None:
        """The stricter of the token's record and the ledger's, if either still locks."""
        held = self.state(device).record
        live = [r for r in (held, carried) if r is not None and r.locked_until > now]
        if not live:
            return None
        return min(live, key=lambda r: (r.stage, -r.locked_until))

    def recheck_until(self, device: str, now: int) -> int | None:
        """The end of ``device``'s cooldown, while it lasts."""
        until = self.state(device).recheck_until
        return until if until > now else None

    def teen_barred_until(self, device: str, now: int) -> int | None:
        until = self.state(device).teen_barred_until
        return until if until > now else None

    def network_hold(self, network: str, now: int) -> NetworkHold | None:
        hold = self._networks.get(network)
        return hold if hold is not None and hold.until > now else None

    def refusal_for(
        self, device: str, band: AgeBand, now: int, *, teen_pool: bool
    ) -> tuple[RefusalReason, int] | None:
        """Why a session of ``device`` in ``band`` may not stay there, as a refusal's
        (reason, until), or None when it may. Applied to every open session of a
        device whose state changed, on every gateway (``docs/safety.md``, "Age")."""
        state = self.state(device)
        if state.recheck_until > now:
            return "age_check", state.recheck_until
        record = state.record
        if record is not None and record.locked_until > now:
            if record.stage is Stage.CHILD:
                return "too_young", record.locked_until
            if record.stage is Stage.TEEN and band is AgeBand.ADULT:
                # Asked again at once: the answer can now only reach the teen pool.
                return ("age_check", now) if teen_pool else ("adults_only", record.locked_until)
        if band is AgeBand.TEEN and state.teen_barred_until > now:
            return "age_check", state.teen_barred_until
        return None

    # --- changes -----------------------------------------------------------------------

    def remember(self, device: str, record: AgeRecord, now: int) -> None:
        if record.locked_until > now:
            self._change_device(device, DeviceAge(record))

    def recheck(self, device: str, until: int) -> None:
        """Send ``device`` back to the age question once ``until`` has passed."""
        self._change_device(device, DeviceAge(recheck_until=until))

    def bar_from_teen(self, device: str, until: int) -> None:
        self._change_device(device, DeviceAge(teen_barred_until=until))

    def hold_network(self, network: str, since: int, until: int) -> None:
        held = self._networks.get(network)
        hold = (
            NetworkHold(since, until) if held is None else held.stricter(NetworkHold(since, until))
        )
        if hold != held:
            self._networks[network] = hold
            self._changed_networks.add(network)

    def take_changes(self) -> AgeChanges:
        changes = AgeChanges(
            {d: self._devices[d] for d in self._changed_devices if d in self._devices},
            {n: self._networks[n] for n in self._changed_networks if n in self._networks},
        )
        self._changed_devices.clear()
        self._changed_networks.clear()
        return changes

    def merge(self, changes: AgeChanges) -> list[str]:
        """Take state from elsewhere (another gateway, the records) without counting it
        as a change of this ledger; returns the devices whose state became stricter."""
        stricter: list[str] = []
        for device, state in changes.devices.items():
            held = self._devices.get(device)
            merged = state if held is None else held.stricter(state)
            if merged != held:
                self._devices[device] = merged
                stricter.append(device)
        for network, hold in changes.networks.items():
            held_hold = self._networks.get(network)
            self._networks[network] = hold if held_hold is None else held_hold.stricter(hold)
        return stricter

    def prune(self, now: int) -> None:
        self._devices = {d: s for d, s in self._devices.items() if s.expires() > now}
        self._networks = {n: h for n, h in self._networks.items() if h.until > now}

    def _change_device(self, device: str, change: DeviceAge) -> None:
        held = self._devices.get(device)
        merged = change if held is None else held.stricter(change)
        if merged != held:
            self._devices[device] = merged
            self._changed_devices.add(device)


class AgeGate:
    """Decides admission from an answer, a device's earlier record and the time.

    ``teen_pool`` is off by default: the service is for adults unless the
    operator deliberately opens the separate teen pool. ``lock_hours``: how long a
    minor's answer or statement holds its device; ``recheck_minutes``: the cooldown
    before a device that stated a minor's age in the adult pool is asked again;
    ``network_hold_minutes``: how long a network that gave a minor's answer keeps new
    devices from being welcomed as adults (0: never).
    """

    def __init__(
        self,
        *,
        teen_pool: bool = False,
        lock_hours: float = 24.0,
        recheck_minutes: float = 10.0,
        network_hold_minutes: float = 15.0,
    ) -> None:
        if lock_hours <= 0:
            raise ValueError("lock_hours must be positive")
        if recheck_minutes < 0 or network_hold_minutes < 0:
            raise ValueError("recheck_minutes and network_hold_minutes must be at least 0")
        self.teen_pool = teen_pool
        self.lock_seconds = int(lock_hours * SECONDS_PER_HOUR)
        self.recheck_seconds = round(recheck_minutes * 60)
        self.network_hold_seconds = round(network_hold_minutes * 60)

    def decide(
        self,
        birth_year: int,
        birth_month: int,
        earlier: AgeRecord | None,
        *,
        today: date,
        now: int,
    ) -> Admitted | Refused:
        """The answer alone, under ``earlier`` (a live lock): the pool or the refusal."""
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

    def admit(
        self,
        ledger: AgeLedger,
        device: str,
        carried: AgeRecord | None,
        network: str | None,
        birth_year: int,
        birth_month: int,
        *,
        today: date,
        now: int,
    ) -> Admitted | Refused:
        """The age question answered at ``hello`` by ``device`` (``carried``: the record
        its token carries) from ``network`` (None: unknown), under all the ledger
        holds: the device's lock, its cooldown and teen-pool bar, and its network's
        hold. Records what the answer changes in ``ledger``."""
        earlier = ledger.youngest(device, carried, now)
        decision = self.decide(birth_year, birth_month, earlier, today=today, now=now)
        ledger.remember(device, decision.record, now)
        recheck = ledger.recheck_until(device, now)
        if recheck is not None:
            return Refused("age_check", decision.record, recheck)
        if isinstance(decision, Refused):
            if network is not None and self.network_hold_seconds:
                ledger.hold_network(network, now, now + self.network_hold_seconds)
            return decision
        if decision.band is AgeBand.TEEN:
            barred = ledger.teen_barred_until(device, now)
            return decision if barred is None else Refused("age_check", decision.record, barred)
        known = carried is not None and carried.stage is Stage.ADULT
        record = carried if known and carried is not None else decision.record
        hold = ledger.network_hold(network, now) if network is not None else None
        if hold is not None and record.locked_until >= hold.since:
            # Not seen as an adult here before a minor answered from this network.
            return Refused("age_check", record, hold.until)
        return Admitted(AgeBand.ADULT, record)

    def restage(
        self, ledger: AgeLedger, device: str, network: str | None, age: int, *, now: int
    ) -> None:
        """``device`` stated ``age`` (under 18) in the adult pool (docs/design.md §6): the age
        locks it like an answer would (it can only go younger), it is asked again after
        the cooldown, and its network is held as for a minor's answer."""
        record = AgeRecord(stage_for(age), now + self.lock_seconds)
        earlier = ledger.youngest(device, None, now)
        if earlier is not None and earlier.stage < record.stage:
            record = earlier
        ledger.remember(device, record, now)
        ledger.recheck(device, now + max(self.recheck_seconds, 1))
        if network is not None and self.network_hold_seconds:
            ledger.hold_network(network, now, now + self.network_hold_seconds)

    def bar_from_teen(self, ledger: AgeLedger, device: str, *, now: int) -> None:
        """``device`` stated an adult's age in the teen pool: it stays out of the teen
        pool for the lock period (docs/design.md §6; a case opens for a moderator)."""
        ledger.bar_from_teen(device, now + self.lock_seconds)
