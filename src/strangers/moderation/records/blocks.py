"""Blocked pairs: two devices that must never be matched again (a report blocks its
two sides). A pair is kept once, sorted; one device on both sides blocks nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.moderation.records.store import Store, insert_new
from strangers.moderation.tables import Block


class Blocks:
    """The blocked pairs of the records."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    async def add_in(
        session: AsyncSession, one: str, other: str, case_id: int | None, now: datetime
    ) -> None:
        """Block ``one`` and ``other`` inside the caller's transaction (a pair already
        blocked stays as it was)."""
        if one == other:
            return  # one device on both sides (the laptop default): nothing to block
        a, b = sorted((one, other))
        values = {"device_a": a, "device_b": b, "created_at": now, "case_id": case_id}
        await session.execute(insert_new(session, Block, values))

    async def pairs(self) -> list[tuple[str, str]]:
        """Every blocked pair, each sorted ``(device_a, device_b)``."""
        async with self._store.transaction() as session:
            rows = await session.execute(
                select(Block.device_a, Block.device_b).order_by(Block.device_a, Block.device_b)
            )
            return [(a, b) for a, b in rows]
