"""Building the report package of an escalated case from the records: the case's
report or flag, its sealed evidence (frames checked against the digests recorded when
they were kept, the transcript) and the raw addresses sealed in its "identifiers".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.moderation.cybertip import documents
from strangers.moderation.cybertip.model import (
    INCIDENT_TYPES,
    IP_EVENT_NAMES,
    REPORTED,
    SUPPLEMENTAL,
    AddressSeen,
    CaseFacts,
    EvidenceFile,
    ReportedPerson,
    ReporterInfo,
    incident_type_for,
)
from strangers.moderation.cybertip.package import ReportPackage
from strangers.moderation.errors import RecordError
from strangers.moderation.records import Records
from strangers.moderation.records.checks import check_time
from strangers.moderation.tables import Action, Case, Evidence, Report
from strangers.moderation.tables import Flag as FlagRow


async def build_package(
    records: Records,
    case: str,
    *,
    reporter: ReporterInfo,
    now: datetime,
    incident_type: str | None = None,
) -> ReportPackage:
    """The CyberTipline report package of ``case``, read from the records.

    Only an escalated case is reported: any other is ``not_allowed`` (18 U.S.C. 2258A
    concerns apparent child sexual exploitation, which is what escalation marks). The
    incident type is ``incident_type`` when given (a moderator's choice, one of
    :data:`INCIDENT_TYPES`), else the one chosen at escalation (``Case.incident_type``),
    else the case kind's default (:func:`incident_type_for`); ``invalid`` when there is
    none (a kind with no default, escalated without a choice). The
    reported person is the flag's subject or the report's reported side, with the raw
    addresses sealed in the case's "identifiers" evidence. The files are the kept frames
    (``frame-NN.jpg``, each checked against the SHA-256 recorded when it was kept) and the
    transcript (``transcript.txt``). ``unknown_case``, ``invalid`` (evidence that does
    not match its digest, a malformed capture), ``undecryptable``.
    """
    check_time(now)
    if incident_type is not None and incident_type not in INCIDENT_TYPES:
        raise RecordError("invalid", "not an incident type of the CyberTipline")
    async with records.transaction() as session:
        row = await escalated_case(session, case)
        flag = await session.scalar(
            select(FlagRow).where(FlagRow.case_id == row.id).order_by(FlagRow.id).limit(1)
        )
        report = await session.scalar(
            select(Report).where(Report.case_id == row.id).order_by(Report.id).limit(1)
        )
        sealed = (
            await session.execute(
                select(Evidence.kind, Evidence.ciphertext)
                .where(Evidence.case_id == row.id)
                .order_by(Evidence.id)
            )
        ).all()
        escalation = await session.scalar(
            select(Action.detail)
            .where(Action.case_id == row.id, Action.kind == "escalate")
            .order_by(Action.id.desc())
            .limit(1)
        )
        stored_type = _chosen_type(escalation)
        number, pool = row.number, row.pool
    evidence = [(kind, records.unseal(bytes(blob))) for kind, blob in sealed]
    identifiers = [item for kind, item in evidence if kind == "identifiers"]
    if flag is not None:
        facts = CaseFacts(
            number=number,
            pool=pool,
            kind=flag.kind,
            automatic=True,
            match=flag.match,
            device=flag.subject_device,
            network=flag.subject_network,
            incident_at=flag.flagged_at,
            matched_at=_first_time(identifiers, "matched_at"),
            note="",
        )
    elif report is not None:
        facts = CaseFacts(
            number=number,
            pool=pool,
            kind=report.reason,
            automatic=False,
            match=report.match,
            device=report.reported_device,
            network=report.reported_network,
            incident_at=report.reported_at,
            matched_at=report.matched_at,
            note=report.note,
        )
    else:  # pragma: no cover - every case is opened with its report or flag
        raise RecordError("invalid", "the case has neither a report nor a flag")
    reported = ReportedPerson(
        device=facts.device, network=facts.network, seen=_addresses_seen(identifiers, facts.device)
    )
    files = _evidence_files(evidence, facts)
    chosen = incident_type or stored_type or incident_type_for(facts.kind, facts.pool)
    if chosen is None:
        raise RecordError("invalid", "choose the CyberTipline incident type of this case")
    report_xml = documents.report_xml(facts, chosen, reporter, reported, files)
    return ReportPackage(
        case=number,
        incident_type=chosen,
        incident_at=facts.incident_at,
        reporter=reporter,
        reported=reported,
        files=files,
        report_xml=report_xml,
        built_at=now,
    )


def _chosen_type(detail: str | None) -> str | None:
    """The incident type an escalation's action detail (JSON) names, if it is one."""
    try:
        chosen = json.loads(detail or "{}").get("incident_type")
    except (ValueError, AttributeError):
        return None
    return chosen if chosen in INCIDENT_TYPES else None


async def escalated_case(session: AsyncSession, case: str) -> Case:
    """The case numbered ``case``, which must be escalated: only an escalated case is
    reported to law enforcement (``not_allowed`` otherwise; ``unknown_case`` when there
    is no such case)."""
    row = await session.scalar(select(Case).where(Case.number == case))
    if row is None:
        raise RecordError("unknown_case", "there is no such case")
    if not row.escalated:
        raise RecordError("not_allowed", "only an escalated case is reported to law enforcement")
    return row


def _first_time(items: Sequence[Mapping[str, Any]], key: str) -> datetime | None:
    for item in items:
        value = item.get(key)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
    return None


def _addresses_seen(
    identifiers: Sequence[Mapping[str, Any]], device: str
) -> tuple[AddressSeen, ...]:
    """The subject's captures from every "identifiers" item: a flag's (the subject's by
    construction) and an escalation's (``device`` names whose address it is)."""
    seen: dict[tuple[str, datetime, str], AddressSeen] = {}
    for item in identifiers:
        owner = item.get("device") or (item.get("subject") or {}).get("device")
        if owner not in (None, device):
            continue
        for capture in item.get("captures") or ():
            try:
                address = str(ipaddress.ip_address(str(capture["address"]).split("%", 1)[0]))
                at = datetime.fromisoformat(str(capture["at"])).astimezone(UTC)
                event = IP_EVENT_NAMES.get(str(capture.get("event", "")), "Other")
            except (KeyError, TypeError, ValueError):
                raise RecordError("invalid", "a sealed address capture is malformed") from None
            key = (address, at, event)
            seen.setdefault(key, AddressSeen(address=address, at=at, event=event))
    return tuple(sorted(seen.values(), key=lambda capture: capture.at))


def _evidence_files(
    evidence: Sequence[tuple[str, Any]], facts: CaseFacts
) -> tuple[EvidenceFile, ...]:
    files: list[EvidenceFile] = []
    frames = [
        frame for kind, item in evidence if kind == "frames" for frame in item.get("frames", ())
    ]
    # The side the case is about, as the evidence names it (moderation/records: a
    # report's evidence says "reported", a flag's "subject").
    about = "subject" if facts.automatic else "reported"
    for index, frame in enumerate(frames, start=1):
        try:
            jpeg = base64.b64decode(frame["jpeg"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise RecordError("invalid", f"kept frame {index} is unreadable") from None
        recorded = frame.get("sha256")
        if recorded is not None and hashlib.sha256(jpeg).hexdigest() != recorded:
            raise RecordError("invalid", f"kept frame {index} does not match its recorded digest")
        shows_subject = frame.get("shows") == about
        whose = "the reported chatter's camera" if shows_subject else "the other chatter's camera"
        files.append(
            EvidenceFile(
                name=f"frame-{index:02d}.jpg",
                data=jpeg,
                media_type="image/jpeg",
                relevance=REPORTED if shows_subject else SUPPLEMENTAL,
                description=(
                    f"Video frame kept by the service's frame checks, showing {whose}, "
                    f"{_offset(frame.get('at'))} after the match began."
                ),
                original=True,
            )
        )
    transcripts = [item for kind, item in evidence if kind == "transcript"]
    if transcripts:
        files.append(
            EvidenceFile(
                name="transcript.txt",
                data=_transcript_text(transcripts, facts, about),
                media_type="text/plain; charset=utf-8",
                relevance=SUPPLEMENTAL,
                description="Transcript of the match, both sides, as relayed by the service.",
                original=False,
            )
        )
    return tuple(files)


def _offset(seconds: Any) -> str:
    return f"{float(seconds):.1f} s" if isinstance(seconds, int | float) else "an unknown time"


def _transcript_text(
    transcripts: Sequence[Mapping[str, Any]], facts: CaseFacts, about: str
) -> bytes:
    lines = [
        f"Case {facts.number}, match {facts.match}, pool {facts.pool}.",
        "Times are seconds since the match began; "
        "'reported' is the reported chatter, 'other' the chatter it was talking to.",
        "",
    ]
    for transcript in transcripts:
        for line in transcript.get("lines", ()):
            side = "reported" if line.get("side") == about else "other"
            text = str(line.get("text", "")).replace("\r", " ").replace("\n", "\n    ")
            lines.append(f"[{_offset(line.get('at'))}] {side}: {text}")
    return ("\n".join(lines) + "\n").encode()
