"""What chatters are told on their next visit: decisions (a warning, an appeal's
outcome) waiting to be delivered to their device, and the mark that they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from strangers.moderation.records.checks import check_time
from strangers.moderation.records.store import Store
from strangers.moderation.tables import Case, ChatterNotice


@dataclass(frozen=True)
class PendingNotice:
    """A decision waiting to be shown to its device (a ``decision`` message)."""

    id: int
    device: str
    kind: str
    case: str
    text: str


class Notices:
    """The decisions waiting for their chatters."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def pending(self) -> list[PendingNotice]:
        """Every decision not yet delivered to its device (a warning, an appeal's
        outcome), oldest first, for the gateway's in-memory index."""
        async with self._store.transaction() as session:
            rows = await session.execute(
                select(
                    ChatterNotice.id,
                    ChatterNotice.device,
                    ChatterNotice.kind,
                    Case.number,
                    ChatterNotice.text,
                )
                .join(Case, Case.id == ChatterNotice.case_id)
                .where(ChatterNotice.delivered_at.is_(None))
                .order_by(ChatterNotice.id)
            )
            return [PendingNotice(*row) for row in rows]

    async def delivered(self, ids: Sequence[int], *, now: datetime) -> None:
        """Mark notices as sent to their device, so no later visit repeats them."""
        check_time(now)
        if not ids:
            return
        async with self._store.transaction() as session:
            await session.execute(
                update(ChatterNotice)
                .where(ChatterNotice.id.in_(list(ids)), ChatterNotice.delivered_at.is_(None))
                .values(delivered_at=now)
            )
