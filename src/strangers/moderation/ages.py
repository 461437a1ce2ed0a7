"""The age state of devices and networks, kept in the records (docs/safety.md, "Age").

A gateway holds the state in memory (``strangers.core.age.AgeLedger``) and decides on
it; this module keeps it so that a restart, or a gateway that missed a fact, holds a
device to it all the same. Rows only ever get stricter until they expire: a store
merges with what is there (the younger record, the later cooldown, bar and hold), so
two gateways writing at once cannot loosen a device's state. Nothing here is evidence;
rows are deleted once they no longer hold anything (:meth:`AgeStates.prune`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from strangers.core.age import AgeChanges, AgeRecord, DeviceAge, NetworkHold, Stage
from strangers.moderation.records import Records
from strangers.moderation.tables import DeviceAgeState, NetworkHoldState


def _at(unix: int) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None


def _unix(at: datetime | None) -> int:
    return int(at.timestamp()) if at is not None else 0


def _state_of(row: DeviceAgeState) -> DeviceAge:
    record = None
    if row.stage is not None and row.locked_until is not None:
        record = AgeRecord(Stage(row.stage), _unix(row.locked_until))
    return DeviceAge(record, _unix(row.recheck_until), _unix(row.teen_barred_until))


class AgeStates:
    """Age state in the records, through their transactions (``Records.transaction``:
    failures are ``RecordError``, never SQL)."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def load(self, *, now: datetime) -> AgeChanges:
        """Everything that still holds at ``now``, for a gateway starting up."""
        async with self._records.transaction() as session:
            devices = (
                await session.scalars(select(DeviceAgeState).where(DeviceAgeState.expires_at > now))
            ).all()
            networks = (
                await session.scalars(select(NetworkHoldState).where(NetworkHoldState.until > now))
            ).all()
        return AgeChanges(
            {row.device: _state_of(row) for row in devices},
            {row.network: NetworkHold(_unix(row.since), _unix(row.until)) for row in networks},
        )

    async def store(self, changes: AgeChanges) -> None:
        """Merge ``changes`` into what the records hold, in one transaction."""
        if not changes:
            return
        async with self._records.transaction() as session:
            for device, state in changes.devices.items():
                row = await session.get(DeviceAgeState, device)
                if row is not None:
                    state = _state_of(row).stricter(state)
                else:
                    row = DeviceAgeState(device=device)
                    session.add(row)
                record = state.record
                row.stage = None if record is None else int(record.stage)
                row.locked_until = None if record is None else _at(record.locked_until)
                row.recheck_until = _at(state.recheck_until)
                row.teen_barred_until = _at(state.teen_barred_until)
                row.expires_at = datetime.fromtimestamp(state.expires(), UTC)
            for network, hold in changes.networks.items():
                held = await session.get(NetworkHoldState, network)
                if held is not None:
                    hold = NetworkHold(_unix(held.since), _unix(held.until)).stricter(hold)
                else:
                    held = NetworkHoldState(network=network)
                    session.add(held)
                held.since = datetime.fromtimestamp(hold.since, UTC)
                held.until = datetime.fromtimestamp(hold.until, UTC)

    async def prune(self, *, now: datetime) -> int:
        """Delete what no longer holds anything; returns how many rows went."""
        async with self._records.transaction() as session:
            devices: Any = await session.execute(
                delete(DeviceAgeState).where(DeviceAgeState.expires_at <= now)
            )
            networks: Any = await session.execute(
                delete(NetworkHoldState).where(NetworkHoldState.until <= now)
            )
        return int(devices.rowcount or 0) + int(networks.rowcount or 0)
