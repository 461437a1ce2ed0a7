"""Appeals: a chatter's request to review a case that acted on its device (a report
against it, a ban). Another moderator decides it (``moderation/casework``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import func, or_, select

from strangers.moderation.errors import RecordError
from strangers.moderation.records.checks import check_time
from strangers.moderation.records.store import Store
from strangers.moderation.tables import Appeal, Ban, Report

MAX_APPEAL_CHARS: Final = 2000


class Appeals:
    """The appeals of the records."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def submit(self, *, case: str, device: str, text: str, now: datetime) -> int:
        """Store an appeal from the device a case acted on (reported or banned).
        Returns the appeal's id."""
        check_time(now)
        text = text.strip()
        if not text or len(text) > MAX_APPEAL_CHARS:
            raise RecordError("invalid", "the appeal is empty or too long")
        async with self._store.transaction() as session:
            case_id = await self._store.case_id(session, case)
            concerned = await session.scalar(
                select(func.count()).where(
                    or_(
                        select(Report.id)
                        .where(Report.case_id == case_id, Report.reported_device == device)
                        .exists(),
                        select(Ban.id).where(Ban.case_id == case_id, Ban.device == device).exists(),
                    )
                )
            )
            if not concerned:
                raise RecordError("not_allowed", "this case is not about this device")
            pending = await session.scalar(
                select(Appeal.id).where(
                    Appeal.case_id == case_id,
                    Appeal.device == device,
                    Appeal.status == "pending",
                )
            )
            if pending is not None:
                raise RecordError("duplicate", "an appeal of this case is already pending")
            appeal = Appeal(
                case_id=case_id, device=device, text=text, submitted_at=now, status="pending"
            )
            session.add(appeal)
            await session.flush()
            self._store.audit(
                session,
                at=now,
                action="appeal.submitted",
                case_id=case_id,
                actor="chatter",
                appeal=appeal.id,
            )
            return appeal.id
