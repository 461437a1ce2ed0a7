"""What the records keep of a law-enforcement report: that a case was filed (and as
which CyberTipline report), and that its package was downloaded. Never an address.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from strangers.moderation.cybertip.building import escalated_case
from strangers.moderation.cybertip.client import FiledReport
from strangers.moderation.cybertip.package import ReportPackage
from strangers.moderation.errors import RecordError
from strangers.moderation.records import Records
from strangers.moderation.records.checks import check_time
from strangers.moderation.tables import Audit, Case


async def record_filing(
    records: Records, case: str, filed: FiledReport, *, actor: str, now: datetime
) -> None:
    """Record that ``case`` was reported: an audit entry "cybertip.filed" with the
    CyberTipline report id, where it went and the files' SHA-256 (never an address), and
    the case leaves the queue (status "actioned"; it stays escalated, so its evidence is
    kept its year). A case already recorded as filed is ``duplicate``."""
    check_time(now)
    if filed.case != case:
        raise RecordError("invalid", "this filing is of another case")
    async with records.transaction() as session:
        row = await escalated_case(session, case)
        if await _filing_detail(session, row.id) is not None:
            raise RecordError("duplicate", "this case was already reported")
        row.status = "actioned"
        records.audit(
            session,
            at=now,
            action="cybertip.filed",
            case_id=row.id,
            actor=actor,
            report_id=filed.report_id,
            endpoint=filed.base_url,
            files=[{"name": f.name, "sha256": f.sha256} for f in filed.files],
        )


async def filing_of(records: Records, case: str) -> str | None:
    """The CyberTipline report id ``case`` was filed as, if it was."""
    async with records.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.number == case))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        detail = await _filing_detail(session, case_id)
    return None if detail is None else str(detail.get("report_id"))


async def record_download(
    records: Records, package: ReportPackage, *, actor: str, now: datetime
) -> None:
    """Audit that ``actor`` downloaded the report package of a case (it holds evidence
    and raw addresses): "cybertip.package_downloaded" with the report's SHA-256."""
    check_time(now)
    async with records.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.number == package.case))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        records.audit(
            session,
            at=now,
            action="cybertip.package_downloaded",
            case_id=case_id,
            actor=actor,
            report_sha256=hashlib.sha256(package.report_xml).hexdigest(),
            files=len(package.files),
        )


async def _filing_detail(session: Any, case_id: int) -> dict[str, Any] | None:
    detail = await session.scalar(
        select(Audit.detail)
        .where(Audit.case_id == case_id, Audit.action == "cybertip.filed")
        .order_by(Audit.id)
        .limit(1)
    )
    return None if detail is None else dict(json.loads(detail))
