"""Bans and strikes.

A ban holds a device, a network (keyed hash) or both until a time or for good, with
the reason shown to the banned chatter and the case it came from (DSA art. 17). A
strike counts against a device for :data:`STRIKE_WINDOW`; enough of them earn a ban
(``strangers.core.video.ban_after_strikes``, applied by :mod:`.flags`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.core.bans import BanEntry
from strangers.moderation.errors import RecordError
from strangers.moderation.records.checks import check_ban, check_id, check_reason, check_time
from strangers.moderation.records.store import Store
from strangers.moderation.tables import BAN_NOTE_MAX, Ban, Case, Strike

STRIKE_WINDOW: Final = timedelta(hours=24)

#: What a banned chatter is shown (docs/design.md §1, Ban notice): reason, case number, end.
BanNotice = BanEntry


class Bans:
    """The bans and strikes of the records."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(
        self,
        *,
        device: str | None,
        network: str | None,
        reason: str,
        case: str | None,
        until: datetime | None,
        now: datetime,
        note: str | None = None,
    ) -> int:
        """Ban a device, a network or both until ``until`` (None: for good), with the
        moderator's written reason ``note`` when there is one. Returns its id.

        ``reason`` is shown to the banned chatter with the case number (DSA art. 17):
        at most 64 characters. The unknown network is never a ban target."""
        check_time(now)
        check_ban(device, network, reason, until)
        async with self._store.transaction() as session:
            case_id = None if case is None else await self._store.case_id(session, case)
            return await self.add_in(
                session,
                device=device,
                network=network,
                reason=reason,
                case_id=case_id,
                until=until,
                now=now,
                note=note,
            )

    async def add_in(
        self,
        session: AsyncSession,
        *,
        device: str | None,
        network: str | None,
        reason: str,
        case_id: int | None,
        until: datetime | None,
        now: datetime,
        note: str | None = None,
    ) -> int:
        """:meth:`add` inside the caller's transaction (a flag's bans, a moderator's
        ban with the rest of the decision). ``note`` is the moderator's written reason
        (plain text, at most :data:`BAN_NOTE_MAX` characters), shown with ``reason``.
        Returns the ban's id."""
        check_ban(device, network, reason, until)
        if note is not None and (not note.strip() or len(note) > BAN_NOTE_MAX):
            raise RecordError("invalid", f"a ban's note is 1 to {BAN_NOTE_MAX} characters")
        ban = Ban(
            device=device,
            network=network,
            reason=reason,
            case_id=case_id,
            created_at=now,
            until=until,
            note=note,
        )
        session.add(ban)
        await session.flush()
        self._store.audit(
            session,
            at=now,
            action="ban.added",
            case_id=case_id,
            ban=ban.id,
            until=None if until is None else until.isoformat(),
        )
        return ban.id

    async def active(self, *, now: datetime) -> list[tuple[str | None, str | None, BanNotice]]:
        """Every ban in force: (device, network, notice), for the gateway's in-memory index."""
        check_time(now)
        async with self._store.transaction() as session:
            rows = (
                await session.execute(
                    select(Ban.device, Ban.network, Ban.reason, Case.number, Ban.until, Ban.note)
                    .outerjoin(Case, Case.id == Ban.case_id)
                    .where(or_(Ban.until.is_(None), Ban.until > now))
                )
            ).all()
        return [
            (device, network, BanNotice(reason=reason, case=number, until=until, note=note))
            for device, network, reason, number, until, note in rows
        ]

    async def strike(
        self, *, device: str, network: str, reason: str, case: str | None, now: datetime
    ) -> int:
        """Record a strike; returns the device's strikes in the last 24 hours, this one
        included."""
        check_time(now)
        check_id(device, "device")
        check_id(network, "network")
        check_reason(reason)
        async with self._store.transaction() as session:
            case_id = None if case is None else await self._store.case_id(session, case)
            return await self.strike_in(
                session, device=device, network=network, reason=reason, case_id=case_id, now=now
            )

    @staticmethod
    async def strike_in(
        session: AsyncSession,
        *,
        device: str,
        network: str,
        reason: str,
        case_id: int | None,
        now: datetime,
    ) -> int:
        """Add a strike inside the caller's transaction; returns the device's strikes in
        the window, this one included."""
        session.add(Strike(device=device, network=network, case_id=case_id, reason=reason, at=now))
        await session.flush()
        count = await session.scalar(
            select(func.count())
            .select_from(Strike)
            .where(
                and_(
                    Strike.device == device,
                    Strike.at > now - STRIKE_WINDOW,
                    Strike.at <= now,
                )
            )
        )
        return int(count or 0)
