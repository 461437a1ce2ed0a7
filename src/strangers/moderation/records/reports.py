"""Reports: a chatter's report of the stranger it was matched with, filed in one
transaction with its case, its sealed evidence (the transcript and any frames the
reporter's page sampled), the block between the two devices, and the audit.

One report keeps no more of its match than :data:`REPORT_TRANSCRIPT_BYTES` of lines
and :data:`REPORT_FRAME_BYTES` of frames, the newest (docs/security.md, "Flooders").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from strangers.core.frames import FrameSource
from strangers.core.reports import MAX_NOTE_CHARS, Filing, ReportReason
from strangers.moderation.errors import RecordError
from strangers.moderation.records.blocks import Blocks
from strangers.moderation.records.cases import EVIDENCE_DAYS, Cases, evidence_rows
from strangers.moderation.records.checks import at, check_parties, check_time
from strangers.moderation.records.evidence import frames_json, lines_json
from strangers.moderation.records.store import Store
from strangers.moderation.tables import Report

#: What one report may keep of its match (docs/security.md, "Flooders"): the newest
#: chat lines up to this many bytes of JSON-escaped UTF-8 text, and the newest frames up to this
#: many JPEG bytes. With the note (500 characters) a report's sealed evidence stays
#: under ``REPORT_EVIDENCE_MAX_BYTES`` whatever a modified client sent.
REPORT_TRANSCRIPT_BYTES: Final = 32 * 1024
REPORT_FRAME_BYTES: Final = 96 * 1024
REPORT_EVIDENCE_MAX_BYTES: Final = 256 * 1024

#: Queue order: most severe first (docs/design.md §1, Moderator).
SEVERITY: Final[dict[ReportReason, int]] = {
    ReportReason.UNDERAGE: 90,
    ReportReason.SEXUAL: 70,
    ReportReason.ADULT: 60,
    ReportReason.HARASSMENT: 50,
    ReportReason.SPAM: 20,
    ReportReason.OTHER: 10,
}


def _newest_within(sizes: Sequence[int], budget: int) -> int:
    """How many of the last items fit in ``budget`` together (the newest are kept)."""
    kept = spent = 0
    for size in reversed(sizes):
        if spent + size > budget:
            break
        spent += size
        kept += 1
    return kept


def _bounded(filing: Filing) -> Filing:
    """``filing`` with no more evidence than one report may keep (the newest lines and
    frames within ``REPORT_TRANSCRIPT_BYTES`` and ``REPORT_FRAME_BYTES``): the switchboard
    keeps 500 lines of 1000 characters and 64 KB frames, which a modified client can
    fill to several megabytes once sealed."""
    # Sized as sealed (JSON-escaped UTF-8): a control character costs six bytes there.
    texts = [len(json.dumps(line.text, ensure_ascii=False).encode()) for line in filing.transcript]
    lines = _newest_within(texts, REPORT_TRANSCRIPT_BYTES)
    frames = _newest_within([len(frame.jpeg) for frame in filing.frames], REPORT_FRAME_BYTES)
    if lines == len(filing.transcript) and frames == len(filing.frames):
        return filing
    return dataclasses.replace(
        filing,
        transcript=filing.transcript[len(filing.transcript) - lines :],
        frames=filing.frames[len(filing.frames) - frames :],
    )


class Reports:
    """The chatters' reports."""

    def __init__(self, store: Store, cases: Cases, blocks: Blocks) -> None:
        self._store = store
        self._cases = cases
        self._blocks = blocks

    async def file(self, filing: Filing, *, now: datetime) -> str:
        """Commit a report: case, report, encrypted transcript, block, audit. Returns the
        case number, only once all of it is committed."""
        check_time(now)
        if len(filing.note) > MAX_NOTE_CHARS:
            raise RecordError("invalid", "the note is too long")
        if filing.reason not in SEVERITY:
            raise RecordError("invalid", "unknown report reason")
        check_parties((filing.reporter, "reporter"), (filing.reported, "reported"))
        filing = _bounded(filing)
        store = self._store
        same_sides = {"reporter": "reporter", "reported": "reported"}
        sealed = {
            "transcript": store.seal(
                {
                    "match": filing.match,
                    "pool": filing.pool,
                    "matched_at": filing.matched_at,
                    "reported_at": filing.reported_at,
                    "lines": lines_json(filing.transcript, same_sides),
                }
            )
        }
        if filing.frames:
            # The reporter's page sampled them: "own" is the reporter's camera.
            sides = {FrameSource.OWN: "reporter", FrameSource.PARTNER: "reported"}
            sealed["frames"] = store.seal(
                frames_json(filing.match, "reporter", filing.frames, sides)
            )

        async with store.transaction() as session:
            case = await self._cases.open_in(
                session,
                kind="report",
                severity=SEVERITY[ReportReason(filing.reason)],
                status="open",
                escalated=False,
                pool=filing.pool,
                now=now,
            )
            session.add_all(
                [
                    Report(
                        case_id=case.id,
                        reason=str(filing.reason),
                        note=filing.note,
                        match=filing.match,
                        reporter_device=filing.reporter.device,
                        reporter_network=filing.reporter.network,
                        reported_device=filing.reported.device,
                        reported_network=filing.reported.network,
                        matched_at=at(filing.matched_at),
                        reported_at=at(filing.reported_at),
                    ),
                    *evidence_rows(case.id, sealed, days=EVIDENCE_DAYS, now=now),
                ]
            )
            await session.flush()
            await self._blocks.add_in(
                session, filing.reporter.device, filing.reported.device, case.id, now
            )
            store.audit(
                session,
                at=now,
                action="report.filed",
                case_id=case.id,
                reason=str(filing.reason),
                pool=filing.pool,
            )
            number = case.number
        return number
