"""Cases and their evidence: a case's number, its sealed evidence and how long it is
kept, escalation for a law-enforcement report, and the purge of what is past retention.

Reports (:mod:`.reports`) and automatic flags (:mod:`.flags`) open cases through
:meth:`Cases.open_in`; evidence is kept 90 days (docs/design.md §6), a year once the case is
escalated (REPORT Act).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.moderation.records.checks import check_time
from strangers.moderation.records.evidence import AddressCapture, capture_json
from strangers.moderation.records.store import Store
from strangers.moderation.tables import Case, CaseClaim, Evidence

EVIDENCE_DAYS: Final = 90  # docs/design.md §6
ESCALATED_EVIDENCE_DAYS: Final = 365  # REPORT Act: a year when escalated


def case_number(case_id: int) -> str:
    return f"S-{case_id:06d}"


def evidence_rows(
    case_id: int, sealed: Mapping[str, bytes], *, days: int, now: datetime
) -> list[Evidence]:
    """One evidence row per sealed item of ``sealed`` (kind to ciphertext), kept ``days``."""
    return [
        Evidence(
            case_id=case_id,
            kind=kind,
            ciphertext=ciphertext,
            created_at=now,
            retain_until=now + timedelta(days=days),
        )
        for kind, ciphertext in sealed.items()
    ]


class Cases:
    """The cases of the records and their evidence."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    async def open_in(
        session: AsyncSession,
        *,
        kind: str,
        severity: int,
        status: str,
        escalated: bool,
        pool: str,
        now: datetime,
    ) -> Case:
        """Open a case inside the caller's transaction; it has its number on return."""
        # The number derives from the id: insert with a placeholder nobody else can see
        # (it never leaves this transaction), then set it.
        case = Case(
            number=f"~{uuid.uuid4().hex[:24]}",
            kind=kind,
            severity=severity,
            status=status,
            opened_at=now,
            escalated=escalated,
            pool=pool,
        )
        session.add(case)
        await session.flush()
        case.number = case_number(case.id)
        return case

    async def evidence(self, case: str) -> list[dict[str, Any]]:
        """The decrypted evidence of a case, oldest first."""
        async with self._store.transaction() as session:
            case_id = await self._store.case_id(session, case)
            blobs = (
                await session.scalars(
                    select(Evidence.ciphertext)
                    .where(Evidence.case_id == case_id)
                    .order_by(Evidence.id)
                )
            ).all()
        return [self._store.unseal(blob, what="evidence sealed") for blob in blobs]

    async def escalate(
        self,
        case: str,
        *,
        actor: str,
        now: datetime,
        capture: AddressCapture | None = None,
        device: str | None = None,
        incident_type: str | None = None,
    ) -> None:
        """Mark a case for a law-enforcement report: its evidence is kept a year. With
        ``capture`` (the raw address of ``device``, the case's subject, while its session
        is still live), an "identifiers" evidence item holds it, sealed. ``incident_type``
        is the CyberTipline incident type a moderator chose (checked by the caller,
        ``casework.act``), kept in the action's detail for the report. An escalation
        ends any claim on the case."""
        check_time(now)
        store = self._store
        async with store.transaction() as session:
            row = await session.get(Case, await store.case_id(session, case))
            assert row is not None
            row.escalated = True
            row.status = "escalated"
            claimed = await session.get(CaseClaim, row.id)
            if claimed is not None:
                await session.delete(claimed)
            if capture is not None:
                sealed = {
                    "identifiers": store.seal(
                        {"device": device, "captures": [capture_json(capture)]}
                    )
                }
                session.add_all(
                    evidence_rows(row.id, sealed, days=ESCALATED_EVIDENCE_DAYS, now=now)
                )
            chosen = {} if incident_type is None else {"incident_type": incident_type}
            store.record_action(session, row.id, "escalate", now=now, actor=actor, **chosen)
            store.audit(
                session,
                at=now,
                action="case.escalated",
                case_id=row.id,
                actor=actor,
                address_kept=capture is not None,
                **chosen,
            )

    async def purge(self, *, now: datetime) -> int:
        """Delete evidence past its retention: 90 days, a year from creation when the
        case is escalated. Returns the number of evidence rows deleted."""
        check_time(now)
        escalated = select(Case.id).where(Case.escalated.is_(True))
        async with self._store.transaction() as session:
            result: Any = await session.execute(
                delete(Evidence).where(
                    Evidence.retain_until <= now,
                    or_(
                        Evidence.case_id.not_in(escalated),
                        Evidence.created_at <= now - timedelta(days=ESCALATED_EVIDENCE_DAYS),
                    ),
                )
            )
            deleted = int(result.rowcount or 0)
            if deleted:
                self._store.audit(
                    session, at=now, action="evidence.purged", case_id=None, rows=deleted
                )
        return deleted
