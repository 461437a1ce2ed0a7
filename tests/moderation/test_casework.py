"""Casework, the console's records side (docs/design.md §1, Moderator), on SQLite and PostgreSQL.

Cases are seeded as the gateway files them (``records.reports.file``, ``records.flags.file``);
the frames are benign pictures from ``tests/images.py`` and the lines short neutral text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.flags import PERMANENT, Enforcement, Flag, FlagKind
from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict, HashHit
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.moderation import BanNotice, RecordError, Records, casework
from strangers.moderation.cybertip import ONLINE_ENTICEMENT
from strangers.moderation.records import (
    ESCALATED_EVIDENCE_DAYS,
    EVIDENCE_DAYS,
    AddressCapture,
    PendingNotice,
)

from ..images import cat, portrait
from .helpers import all_rows, counts, sealed_evidence

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REPORTER = Party(device="dev-alice", network="net-" + "a" * 60, session="s-alice")
REPORTED = Party(device="dev-bob", network="net-" + "b" * 60, session="s-bob")
STRANGER = Party(device="dev-carol", network="net-" + "c" * 60, session="s-carol")
NUDE = FrameVerdict(nudity=("BUTTOCKS_EXPOSED",), scores=(("BUTTOCKS_EXPOSED", 0.7), ("FACE", 0.9)))


def report(
    reason: ReportReason = ReportReason.HARASSMENT,
    *,
    reported: Party = REPORTED,
    reporter: Party = REPORTER,
    at: datetime = NOW,
    note: str = "rude",
    frames: tuple[CheckedFrame, ...] = (),
    match: str = "m-1",
) -> Filing:
    t0 = at.timestamp() - 60
    return Filing(
        match=match,
        pool="adult-video",
        reason=reason,
        note=note,
        reporter=reporter,
        reported=reported,
        matched_at=t0,
        reported_at=t0 + 55,
        transcript=(
            Line(at=1.0, side="reporter", text="hello there"),
            Line(at=2.5, side="reported", text="go away"),
        ),
        frames=frames,
    )


def flag(
    kind: FlagKind = FlagKind.NUDITY,
    *,
    subject: Party = REPORTED,
    at: datetime = NOW,
    enforcement: Enforcement | None = None,
    match: str = "m-9",
) -> Flag:
    """A flag as the switchboard hands it over, sampled by the viewer's page."""
    verdicts = {
        FlagKind.NUDITY: NUDE,
        FlagKind.KNOWN_ABUSE: FrameVerdict(hash_hit=HashHit(label="list-7 entry 42", distance=12)),
    }
    verdict = verdicts.get(kind)
    frames = (
        ()
        if verdict is None
        else (CheckedFrame(at=4.0, shows=FrameSource.PARTNER, jpeg=portrait(), verdict=verdict),)
    )
    return Flag(
        kind=kind,
        match=match,
        pool="adult-video",
        subject=subject,
        sampler=STRANGER,
        verdict=verdict,
        enforcement=enforcement or Enforcement(review=True),
        matched_at=at.timestamp() - 30,
        flagged_at=at.timestamp(),
        frames=frames,
        transcript=(Line(at=3.0, side="reported", text="what is your age"),),
        signals=(("asks_age", 2.0), ("secrecy", 3.0)) if verdict is None else (),
    )


async def table(engine: AsyncEngine, name: str) -> list[dict[str, Any]]:
    return sorted((await all_rows(engine))[name], key=lambda row: int(row["id"]))


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


# The queue


async def test_the_queue_lists_open_and_escalated_cases_most_severe_first_then_oldest(
    records: Records,
) -> None:
    spam = await records.reports.file(report(ReportReason.SPAM, at=NOW), now=NOW)
    late_harm = await records.reports.file(report(at=NOW), now=NOW + timedelta(minutes=5))
    early_harm = await records.reports.file(report(at=NOW), now=NOW - timedelta(minutes=5))
    underage = await records.reports.file(report(ReportReason.UNDERAGE), now=NOW)
    nudity = (await records.flags.file(flag(), now=NOW)).case  # open for review, 40
    # Acted on automatically, nothing left to review: not queued.
    await records.flags.file(flag(enforcement=Enforcement(strike=True), match="m-8"), now=NOW)
    abuse = (
        await records.flags.file(
            flag(FlagKind.KNOWN_ABUSE, enforcement=Enforcement(escalate=True), match="m-7"),
            now=NOW + timedelta(hours=1),
        )
    ).case
    dismissed = await records.reports.file(report(ReportReason.SEXUAL), now=NOW)
    await casework.act(records, dismissed, "dismiss", actor="mod-a", now=NOW)

    items = (await casework.queue(records)).items
    assert [item.number for item in items] == [abuse, underage, early_harm, late_harm, nudity, spam]
    first = items[0]
    assert (first.kind, first.status, first.escalated, first.reason) == (
        "automatic",
        "escalated",
        True,
        "known_abuse",
    )
    assert (items[1].kind, items[1].reason, items[1].severity) == ("report", "underage", 90)
    assert items[1].opened_at == NOW and items[1].pool == "adult-video"
    assert items[4].reason == "nudity" and not items[4].escalated
    assert [item.number for item in (await casework.queue(records, limit=2)).items] == [
        abuse,
        underage,
    ]
    with pytest.raises(RecordError) as refused:
        await casework.queue(records, limit=0)
    assert refused.value.code == "invalid"


# One case


async def test_a_report_shows_both_sides_of_the_transcript_and_its_frames_as_real_jpegs(
    records: Records, engine: AsyncEngine
) -> None:
    frames = (
        CheckedFrame(at=1.5, shows=FrameSource.OWN, jpeg=cat(), verdict=FrameVerdict(face=False)),
        CheckedFrame(at=3.0, shows=FrameSource.PARTNER, jpeg=portrait(), verdict=NUDE),
    )
    number = await records.reports.file(
        report(ReportReason.SEXUAL, note="camera", frames=frames), now=NOW
    )
    audit_before = (await counts(engine))["audit"]

    view = await casework.case(records, number, now=NOW)

    assert (view.number, view.kind, view.status, view.severity) == (number, "report", "open", 70)
    assert (view.reason, view.note, view.pool) == ("sexual", "camera", "adult-video")
    assert view.reporter == (REPORTER.device, REPORTER.network)
    assert view.subject == (REPORTED.device, REPORTED.network)
    assert view.transcript == [
        casework.Line(side="reporter", text="hello there", at=1.0, hidden=None),
        casework.Line(side="reported", text="go away", at=2.5, hidden=None),
    ]
    assert [(f.index, f.shows, f.at) for f in view.frames] == [
        (0, "reporter", 1.5),
        (1, "reported", 3.0),
    ]
    assert [f.jpeg for f in view.frames] == [cat(), portrait()]
    assert decoded(view.frames[1].jpeg).shape[1] == 320
    assert view.frames[1].verdict is not None
    assert view.frames[1].verdict["nudity"] == ["BUTTOCKS_EXPOSED"]
    assert view.signals == [] and view.scores == {}  # a report has no automatic signals
    assert view.evidence_kept_until == NOW + timedelta(days=EVIDENCE_DAYS)
    assert [(entry.action, entry.case) for entry in view.audit] == [("report.filed", number)]
    assert view.bans == [] and view.actions == [] and view.appeals == [] and view.history == []
    # Reading is not audited here: the web layer does it with audit_view.
    assert (await counts(engine))["audit"] == audit_before


async def test_an_automatic_case_shows_its_signals_and_scores(records: Records) -> None:
    nudity = (await records.flags.file(flag(), now=NOW)).case
    view = await casework.case(records, nudity, now=NOW)
    assert (view.kind, view.reason, view.note, view.reporter) == ("automatic", "nudity", "", None)
    assert view.subject == (REPORTED.device, REPORTED.network)
    assert view.signals == [("BUTTOCKS_EXPOSED", 0.7)]
    assert view.scores == {"BUTTOCKS_EXPOSED": 0.7, "FACE": 0.9}
    assert [(f.shows, f.jpeg) for f in view.frames] == [("subject", portrait())]
    assert view.transcript == [
        casework.Line(side="subject", text="what is your age", at=3.0, hidden=None)
    ]

    listed = (await records.flags.file(flag(FlagKind.KNOWN_ABUSE, match="m-2"), now=NOW)).case
    view = await casework.case(records, listed, now=NOW)
    assert view.signals == [("hash list match: list-7 entry 42", 12.0)]
    assert view.scores == {"hash_distance": 12.0}

    text = (await records.flags.file(flag(FlagKind.TEXT_RISK, match="m-3"), now=NOW)).case
    view = await casework.case(records, text, now=NOW)
    assert view.signals == [("asks_age", 2.0), ("secrecy", 3.0)]
    assert view.frames == []


async def test_history_lists_other_cases_of_the_same_device_or_network_newest_first(
    records: Records,
) -> None:
    same_device = dataclasses.replace(REPORTED, network="net-" + "d" * 60)
    same_network = dataclasses.replace(STRANGER, network=REPORTED.network)
    by_device = (
        await records.flags.file(flag(subject=same_device), now=NOW - timedelta(days=3))
    ).case
    by_network = await records.reports.file(
        report(reported=same_network, match="m-2"), now=NOW - timedelta(days=2)
    )
    by_both = await records.reports.file(report(match="m-3"), now=NOW - timedelta(days=1))
    # About someone else, or only reported BY the subject: not the subject's history.
    await records.reports.file(report(reported=STRANGER, match="m-4"), now=NOW)
    await records.reports.file(report(reporter=REPORTED, reported=STRANGER, match="m-5"), now=NOW)
    number = await records.reports.file(report(ReportReason.SPAM, match="m-6"), now=NOW)

    view = await casework.case(records, number, now=NOW)
    assert [(item.number, item.same) for item in view.history] == [
        (by_both, "both"),
        (by_network, "network"),
        (by_device, "device"),
    ]
    device_item = view.history[2]
    assert (device_item.kind, device_item.reason, device_item.status) == (
        "automatic",
        "nudity",
        "open",
    )
    assert device_item.opened_at == NOW - timedelta(days=3)


async def test_the_unknown_network_links_no_history_and_no_bans(records: Records) -> None:
    nowhere = Party(device="dev-x", network=UNKNOWN_NETWORK, session="s-x")
    elsewhere = Party(device="dev-y", network=UNKNOWN_NETWORK, session="s-y")
    await records.reports.file(report(reported=elsewhere, match="m-1"), now=NOW)
    await records.bans.add(
        device="dev-y", network=None, reason="Spam", case=None, until=None, now=NOW
    )
    number = await records.reports.file(report(reported=nowhere, match="m-2"), now=NOW)
    view = await casework.case(records, number, now=NOW)
    assert view.history == [] and view.bans == []


async def test_a_case_lists_the_bans_on_its_subject_device_and_network(records: Records) -> None:
    number = await records.reports.file(report(), now=NOW)
    old = await records.bans.add(
        device=REPORTED.device,
        network=None,
        reason="Spam or a bot",
        case=None,
        until=NOW - timedelta(hours=1),
        now=NOW - timedelta(days=1),
    )
    net = await records.bans.add(
        device=None, network=REPORTED.network, reason="Harassment", case=None, until=None, now=NOW
    )
    await records.bans.add(
        device="dev-other", network=None, reason="x", case=None, until=None, now=NOW
    )
    view = await casework.case(records, number, now=NOW)
    assert [(ban.id, ban.target, ban.active) for ban in view.bans] == [
        (net, "network", True),
        (old, "device", False),
    ]
    assert view.bans[1].until == NOW - timedelta(hours=1)
    assert view.bans[1].created_at == NOW - timedelta(days=1)


async def test_an_unknown_case_is_refused(records: Records) -> None:
    for call in (
        casework.case(records, "S-999999", now=NOW),
        casework.case_subject(records, "S-999999"),
        casework.audit_view(records, "S-999999", actor="mod-a", now=NOW, what="case"),
    ):
        with pytest.raises(RecordError) as refused:
            await call
        assert refused.value.code == "unknown_case"


async def test_case_subject_is_the_reported_or_flagged_chatter(records: Records) -> None:
    number = await records.reports.file(report(), now=NOW)
    assert await casework.case_subject(records, number) == (REPORTED.device, REPORTED.network)
    flagged = (await records.flags.file(flag(subject=STRANGER), now=NOW)).case
    assert await casework.case_subject(records, flagged) == (STRANGER.device, STRANGER.network)


async def test_views_and_frame_reveals_are_audited_on_request(records: Records) -> None:
    number = await records.reports.file(report(), now=NOW)
    await casework.audit_view(records, number, actor="mod-a", now=NOW, what="case")
    await casework.audit_view(records, number, actor="mod-a", now=NOW, what="frame:2")
    entries = await casework.audit_log(records, case=number)
    assert [(e.actor, e.action, e.detail) for e in entries[:2]] == [
        ("mod-a", "frame.revealed", {"frame": 2}),
        ("mod-a", "case.viewed", {}),
    ]
    for what in ("frame", "frame:-1", "frame:x", "evidence"):
        with pytest.raises(RecordError) as refused:
            await casework.audit_view(records, number, actor="mod-a", now=NOW, what=what)
        assert refused.value.code == "invalid"


# Actions


@pytest.mark.parametrize(
    ("duration", "length"),
    [
        ("1h", timedelta(hours=1)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("permanent", None),
    ],
)
async def test_a_ban_bans_the_subject_device_for_its_duration(
    records: Records, engine: AsyncEngine, duration: str, length: timedelta | None
) -> None:
    number = await records.reports.file(report(), now=NOW)
    acted = NOW + timedelta(minutes=10)
    outcome = await casework.act(
        records, number, "ban", actor="mod-a", now=acted, duration=duration, confirm=duration
    )

    until = None if length is None else acted + length
    expected = BanNotice(reason="Harassment or hate", case=number, until=until)
    assert outcome == casework.ActionOutcome(ban=expected, device=REPORTED.device, notice=None)
    (ban,) = await table(engine, "bans")
    assert (ban["device"], ban["network"], ban["until"]) == (REPORTED.device, None, until)
    assert ban["created_at"] == acted and ban["reason"] == "Harassment or hate"
    assert (REPORTED.device, None, expected) in await records.bans.active(now=acted)

    view = await casework.case(records, number, now=acted)
    assert view.status == "actioned"
    (action,) = view.actions
    assert (action.kind, action.actor, action.automatic, action.at) == (
        "ban",
        "mod-a",
        False,
        acted,
    )
    assert action.detail["duration"] == duration
    assert action.detail["until"] == (None if until is None else until.isoformat())
    assert [(e.actor, e.action) for e in view.audit][-1] == ("mod-a", "case.banned")
    assert view.bans[0].active
    if until is not None:
        assert await records.bans.active(now=until) == []


async def test_an_automatic_case_is_banned_with_the_plain_reason_of_its_kind(
    records: Records,
) -> None:
    number = (await records.flags.file(flag(FlagKind.TEXT_RISK), now=NOW)).case
    outcome = await casework.act(records, number, "ban", actor="mod-a", now=NOW, duration="24h")
    assert outcome.ban is not None
    assert outcome.ban.reason == "Unsafe messages to other chatters"
    assert casework.ban_reason("nudity") == "Nudity on camera"
    assert all(len(reason) <= 64 for reason in casework.BAN_REASONS.values())
    assert set(ReportReason) | set(FlagKind) <= set(casework.BAN_REASONS)


async def test_a_warning_becomes_a_notice_for_the_subject_device(
    records: Records, engine: AsyncEngine
) -> None:
    number = await records.reports.file(report(), now=NOW)
    outcome = await casework.act(
        records, number, "warn", actor="mod-a", now=NOW, text="  Please be kind to strangers. "
    )
    notice = outcome.notice
    assert notice is not None and outcome.ban is None and outcome.device == REPORTED.device
    assert notice == PendingNotice(
        id=notice.id,
        device=REPORTED.device,
        kind="warning",
        case=number,
        text="Please be kind to strangers.",
    )
    assert await records.notices.pending() == [notice]
    (row,) = await table(engine, "chatter_notices")
    assert row["created_at"] == NOW and row["delivered_at"] is None
    view = await casework.case(records, number, now=NOW)
    assert view.status == "actioned"
    assert [(a.kind, a.actor) for a in view.actions] == [("warn", "mod-a")]
    assert view.audit[-1].action == "case.warned"


async def test_dismissing_closes_the_case_and_takes_it_off_the_queue(records: Records) -> None:
    number = await records.reports.file(report(), now=NOW)
    outcome = await casework.act(records, number, "dismiss", actor="mod-a", now=NOW)
    assert outcome == casework.ActionOutcome(ban=None, device=REPORTED.device, notice=None)
    view = await casework.case(records, number, now=NOW)
    assert view.status == "dismissed"
    assert [(a.kind, a.actor, a.automatic) for a in view.actions] == [("dismiss", "mod-a", False)]
    assert [(e.actor, e.action) for e in view.audit][-1] == ("mod-a", "case.dismissed")
    assert (await casework.queue(records)).items == []
    # A second look is allowed: a dismissed case can still be acted on.
    await casework.act(records, number, "warn", actor="mod-b", now=NOW, text="Be kind.")
    assert (await casework.case(records, number, now=NOW)).status == "actioned"


async def test_a_note_is_kept_without_changing_the_status(records: Records) -> None:
    number = await records.reports.file(report(), now=NOW)
    await casework.act(records, number, "note", actor="mod-a", now=NOW, text="seen before")
    view = await casework.case(records, number, now=NOW)
    assert view.status == "open"
    (action,) = view.actions
    assert (action.kind, action.detail) == ("note", {"text": "seen before"})
    entry = view.audit[-1]
    assert (entry.actor, entry.action) == ("mod-a", "case.noted")
    assert "seen before" not in json.dumps(entry.detail)


async def test_escalating_keeps_the_evidence_a_year_and_seals_the_address(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    number = await records.reports.file(report(), now=NOW)
    later = NOW + timedelta(hours=2)
    capture = AddressCapture(address="192.0.2.44", at=NOW.timestamp() - 30)
    outcome = await casework.act(
        records,
        number,
        "escalate",
        actor="mod-a",
        now=later,
        capture=capture,
        confirm="escalate",
        incident_type=ONLINE_ENTICEMENT,
    )
    assert outcome == casework.ActionOutcome(ban=None, device=REPORTED.device, notice=None)

    view = await casework.case(records, number, now=later)
    assert (view.status, view.escalated) == ("escalated", True)
    assert view.evidence_kept_until == NOW + timedelta(days=ESCALATED_EVIDENCE_DAYS)
    assert [(a.kind, a.actor, a.automatic) for a in view.actions] == [("escalate", "mod-a", False)]
    assert [(e.actor, e.action) for e in view.audit][-1] == ("mod-a", "case.escalated")
    assert [item.number for item in (await casework.queue(records)).items] == [number]
    identifiers, _, retain = (await sealed_evidence(engine, evidence_key, number))["identifiers"]
    assert identifiers["device"] == REPORTED.device
    assert identifiers["captures"][0]["address"] == "192.0.2.44"
    assert retain == later + timedelta(days=ESCALATED_EVIDENCE_DAYS)
    # The address is only in the sealed evidence, never in a column.
    assert "192.0.2.44" not in repr(
        {name: rows for name, rows in (await all_rows(engine)).items() if name != "evidence"}
    )


@pytest.mark.parametrize(
    ("number", "action", "arguments", "code"),
    [
        (None, "ban", {"duration": "2d"}, "invalid"),
        (None, "ban", {}, "invalid"),
        (None, "suspend", {}, "invalid"),
        (None, "warn", {"text": "   "}, "invalid"),
        (None, "warn", {"text": "x" * 501}, "invalid"),
        (None, "note", {}, "invalid"),
        (None, "dismiss", {"actor": "system"}, "invalid"),
        (None, "dismiss", {"actor": ""}, "invalid"),
        (None, "dismiss", {"now": datetime(2025, 3, 1, 12, 0)}, "invalid"),
        ("S-999999", "ban", {"duration": "1h"}, "unknown_case"),
        ("S-999999", "escalate", {"confirm": "escalate"}, "unknown_case"),
        # Confirmations the server requires, whatever the page did (issue 19).
        (None, "ban", {"duration": "7d"}, "invalid"),
        (None, "ban", {"duration": "permanent", "confirm": "7d"}, "invalid"),
        (None, "escalate", {}, "invalid"),
        (None, "escalate", {"confirm": "yes"}, "invalid"),
        # A harassment report has no default incident type: one must be chosen.
        (None, "escalate", {"confirm": "escalate"}, "invalid"),
        (None, "escalate", {"confirm": "escalate", "incident_type": "Spam"}, "invalid"),
        (None, "ban", {"duration": "1h", "text": "x" * 501}, "invalid"),
        ("S-999999", "warn", {"text": "Be kind."}, "unknown_case"),
    ],
)
async def test_a_refused_action_writes_nothing(
    records: Records,
    engine: AsyncEngine,
    number: str | None,
    action: str,
    arguments: dict[str, Any],
    code: str,
) -> None:
    filed = await records.reports.file(report(), now=NOW)
    before = await all_rows(engine)
    keywords: dict[str, Any] = {"actor": "mod-a", "now": NOW, **arguments}
    with pytest.raises(RecordError) as refused:
        await casework.act(records, number or filed, action, **keywords)
    assert refused.value.code == code
    assert await all_rows(engine) == before


# Appeals


async def banned_and_appealed(records: Records, *, by: str = "mod-a") -> tuple[str, int]:
    number = await records.reports.file(report(), now=NOW)
    await casework.act(records, number, "ban", actor=by, now=NOW, duration="7d", confirm="7d")
    appeal_id = await records.appeals.submit(
        case=number, device=REPORTED.device, text="I was only joking.", now=NOW + timedelta(hours=1)
    )
    return number, appeal_id


async def test_the_appeals_queue_lists_pending_appeals_oldest_first(records: Records) -> None:
    first_case, first = await banned_and_appealed(records)
    second_case = await records.reports.file(report(reported=STRANGER, match="m-2"), now=NOW)
    second = await records.appeals.submit(
        case=second_case, device=STRANGER.device, text="Not me.", now=NOW + timedelta(minutes=30)
    )
    queued = await casework.appeals_queue(records)
    assert [(a.id, a.case) for a in queued] == [(second, second_case), (first, first_case)]
    view = await casework.appeal(records, first)
    assert view == casework.AppealView(
        id=first,
        case=first_case,
        text="I was only joking.",
        submitted_at=NOW + timedelta(hours=1),
        status="pending",
        decided_by=None,
        decided_at=None,
        statement=None,
    )
    assert (await casework.case(records, first_case, now=NOW)).appeals == [view]
    await casework.decide_appeal(
        records, second, "upheld", actor="mod-b", statement="The report stands.", now=NOW
    )
    assert [a.id for a in await casework.appeals_queue(records)] == [first]
    with pytest.raises(RecordError) as refused:
        await casework.appeal(records, 9999)
    assert refused.value.code == "unknown_case"


async def test_the_moderator_who_acted_cannot_decide_the_appeal_another_can(
    records: Records, engine: AsyncEngine
) -> None:
    number, appeal_id = await banned_and_appealed(records, by="mod-a")
    decided = NOW + timedelta(hours=3)
    before = await all_rows(engine)
    with pytest.raises(RecordError) as refused:
        await casework.decide_appeal(
            records, appeal_id, "upheld", actor="mod-a", statement="Stands.", now=decided
        )
    assert refused.value.code == "not_allowed"
    assert await all_rows(engine) == before

    notice = await casework.decide_appeal(
        records, appeal_id, "upheld", actor="mod-b", statement="The ban stands.", now=decided
    )
    assert notice == PendingNotice(
        id=notice.id,
        device=REPORTED.device,
        kind="appeal_upheld",
        case=number,
        text="The ban stands.",
    )
    assert notice in await records.notices.pending()
    view = await casework.appeal(records, appeal_id)
    assert (view.status, view.decided_by, view.decided_at, view.statement) == (
        "upheld",
        "mod-b",
        decided,
        "The ban stands.",
    )
    # Upheld: the ban stays.
    assert [n.case for _, _, n in await records.bans.active(now=decided)] == [number]
    entry = (await casework.audit_log(records, case=number))[0]
    assert (entry.actor, entry.action, entry.detail["outcome"]) == (
        "mod-b",
        "appeal.decided",
        "upheld",
    )


async def test_a_decided_appeal_cannot_be_decided_again(records: Records) -> None:
    _, appeal_id = await banned_and_appealed(records)
    await casework.decide_appeal(
        records, appeal_id, "upheld", actor="mod-b", statement="Stands.", now=NOW
    )
    with pytest.raises(RecordError) as refused:
        await casework.decide_appeal(
            records, appeal_id, "overturned", actor="mod-c", statement="Reversed.", now=NOW
        )
    assert refused.value.code == "duplicate"
    assert (await casework.appeal(records, appeal_id)).status == "upheld"


async def test_two_moderators_deciding_one_appeal_at_once_make_one_decision(
    records: Records, engine: AsyncEngine
) -> None:
    _, appeal_id = await banned_and_appealed(records)
    results = await asyncio.gather(
        *(
            casework.decide_appeal(
                records, appeal_id, outcome, actor=actor, statement="Decided.", now=NOW
            )
            for outcome, actor in (("overturned", "mod-b"), ("upheld", "mod-c"))
        ),
        return_exceptions=True,
    )
    decided = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(decided) == 1 and len(refused) == 1
    # The loser is told it is decided (or, on SQLite, that the records were busy).
    assert isinstance(refused[0], RecordError) and refused[0].code in ("duplicate", "unavailable")
    (notice,) = await table(engine, "chatter_notices")
    assert notice["kind"] == decided[0].kind
    status = (await casework.appeal(records, appeal_id)).status
    assert decided[0].kind == f"appeal_{status}"
    lifted = [a for a in await table(engine, "actions") if a["kind"] == "unban"]
    assert len(lifted) == (1 if status == "overturned" else 0)


async def test_overturning_lifts_the_case_bans_and_tells_the_chatter(
    records: Records, engine: AsyncEngine
) -> None:
    number, appeal_id = await banned_and_appealed(records)
    assert len(await records.bans.active(now=NOW)) == 1
    decided = NOW + timedelta(hours=3)
    notice = await casework.decide_appeal(
        records, appeal_id, "overturned", actor="mod-b", statement="We got it wrong.", now=decided
    )
    assert (notice.kind, notice.device, notice.case) == (
        "appeal_overturned",
        REPORTED.device,
        number,
    )
    assert await records.bans.active(now=decided) == []
    (ban,) = await table(engine, "bans")
    assert ban["until"] == decided
    view = await casework.case(records, number, now=decided)
    assert [(a.kind, a.actor) for a in view.actions] == [("ban", "mod-a"), ("unban", "mod-b")]
    assert not view.bans[0].active
    assert view.appeals[0].status == "overturned"


async def test_a_note_alone_does_not_bar_a_moderator_from_the_appeal(records: Records) -> None:
    """Automatic bans (actor "system") with a moderator's note: the note is no decision."""
    listed = flag(
        FlagKind.KNOWN_ABUSE,
        enforcement=Enforcement(ban_seconds=PERMANENT, review=True),
    )
    number = (await records.flags.file(listed, now=NOW)).case
    await casework.act(records, number, "note", actor="mod-a", now=NOW, text="checked the list")
    appeal_id = await records.appeals.submit(
        case=number, device=REPORTED.device, text="A mistake.", now=NOW
    )
    notice = await casework.decide_appeal(
        records, appeal_id, "overturned", actor="mod-a", statement="Reversed.", now=NOW
    )
    assert notice.kind == "appeal_overturned"
    assert await records.bans.active(now=NOW) == []


async def test_a_moderator_who_dismissed_cannot_decide_the_appeal(records: Records) -> None:
    number = (
        await records.flags.file(flag(enforcement=Enforcement(ban_seconds=3600.0)), now=NOW)
    ).case
    await casework.act(records, number, "dismiss", actor="mod-a", now=NOW)
    appeal_id = await records.appeals.submit(
        case=number, device=REPORTED.device, text="A mistake.", now=NOW
    )
    with pytest.raises(RecordError) as refused:
        await casework.decide_appeal(
            records, appeal_id, "upheld", actor="mod-a", statement="Stands.", now=NOW
        )
    assert refused.value.code == "not_allowed"


@pytest.mark.parametrize(
    ("outcome", "statement"),
    [("granted", "Fine."), ("upheld", "  "), ("upheld", "x" * 501)],
)
async def test_a_bad_decision_is_refused(records: Records, outcome: str, statement: str) -> None:
    _, appeal_id = await banned_and_appealed(records)
    with pytest.raises(RecordError) as refused:
        await casework.decide_appeal(
            records, appeal_id, outcome, actor="mod-b", statement=statement, now=NOW
        )
    assert refused.value.code == "invalid"
    assert (await casework.appeal(records, appeal_id)).status == "pending"


async def test_deciding_an_unknown_appeal_is_refused(records: Records) -> None:
    with pytest.raises(RecordError) as refused:
        await casework.decide_appeal(
            records, 4242, "upheld", actor="mod-b", statement="Stands.", now=NOW
        )
    assert refused.value.code == "unknown_case"


# The audit log and the transparency report's view


async def test_the_audit_log_is_newest_first_pages_and_filters_by_case(records: Records) -> None:
    one = await records.reports.file(report(), now=NOW)
    two = await records.reports.file(report(reported=STRANGER, match="m-2"), now=NOW)
    await casework.act(records, one, "note", actor="mod-a", now=NOW, text="first")
    await casework.act(records, two, "dismiss", actor="mod-b", now=NOW)

    entries = await casework.audit_log(records)
    assert [(e.case, e.action) for e in entries] == [
        (two, "case.dismissed"),
        (one, "case.noted"),
        (two, "report.filed"),
        (one, "report.filed"),
    ]
    assert entries == sorted(entries, key=lambda e: e.id, reverse=True)
    assert entries[0].actor == "mod-b" and entries[0].at == NOW
    assert await casework.audit_log(records, limit=2, before=entries[1].id) == entries[2:4]
    assert [e.action for e in await casework.audit_log(records, case=one)] == [
        "case.noted",
        "report.filed",
    ]
    with pytest.raises(RecordError) as refused:
        await casework.audit_log(records, case="S-999999")
    assert refused.value.code == "unknown_case"


async def test_every_measure_is_an_action_row_counted_as_human(
    records: Records, engine: AsyncEngine
) -> None:
    number = await records.reports.file(report(), now=NOW)
    await casework.act(records, number, "warn", actor="mod-a", now=NOW, text="Be kind.")
    await casework.act(records, number, "ban", actor="mod-a", now=NOW, duration="1h")
    await casework.act(records, number, "note", actor="mod-a", now=NOW, text="done")
    await casework.act(
        records,
        number,
        "escalate",
        actor="mod-a",
        now=NOW,
        confirm="escalate",
        incident_type=ONLINE_ENTICEMENT,
    )
    await casework.act(records, number, "dismiss", actor="mod-a", now=NOW)
    rows = await table(engine, "actions")
    assert [(row["kind"], row["actor"], row["automatic"]) for row in rows] == [
        ("warn", "mod-a", False),
        ("ban", "mod-a", False),
        ("note", "mod-a", False),
        ("escalate", "mod-a", False),
        ("dismiss", "mod-a", False),
    ]
