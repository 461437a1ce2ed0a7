"""Automatic video flags in the records (docs/design.md §6, video), on SQLite and PostgreSQL.

The frames are benign: a small grey gradient encoded as JPEG (``helpers.gradient_jpeg``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.flags import PERMANENT, Corroboration, Enforcement, Flag, FlagKind
from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict, HashHit
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import Line, Party
from strangers.core.video import TEEN_NUDITY_BAN_SECONDS, enforcement_for, frame_flag_enforcement
from strangers.moderation import BanNotice, RecordError, Records
from strangers.moderation.records import (
    ESCALATED_EVIDENCE_DAYS,
    EVIDENCE_DAYS,
    KNOWN_ABUSE_SEVERITY,
    SEVERITY,
    FlagOutcome,
)

from .helpers import all_rows, ban_for, counts, gradient_jpeg, sealed_evidence

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SUBJECT = Party(device="dev-sam", network="net-" + "s" * 60, session="sess-sam")
VIEWER = Party(device="dev-val", network="net-" + "v" * 60, session="sess-val")
NUDE = FrameVerdict(
    nudity=("FEMALE_BREAST_EXPOSED",), scores=(("FEMALE_BREAST_EXPOSED", 0.91), ("FACE", 0.8))
)
CLEAN = FrameVerdict(scores=(("FACE", 0.88),))
LISTED = FrameVerdict(hash_hit=HashHit(label="list-7 entry 42", distance=12))


def make_flag(
    kind: FlagKind = FlagKind.NUDITY,
    pool: str = "adult-video",
    *,
    sampler: Party = VIEWER,
    subject: Party = SUBJECT,
    at: datetime = NOW,
    enforcement: Enforcement | None = None,
    lines: tuple[Line, ...] = (),
    match: str = "m-1",
) -> Flag:
    """A flag as the switchboard hands it over: frames in the sampler's view ("own" is
    the sampler's camera), lines turned to the subject ("reported" is the subject)."""
    verdict = LISTED if kind is FlagKind.KNOWN_ABUSE else NUDE
    flagged_at = at.timestamp()
    return Flag(
        kind=kind,
        match=match,
        pool=pool,
        subject=subject,
        sampler=sampler,
        verdict=verdict,
        enforcement=enforcement or enforcement_for(kind, teen=pool.startswith("teen")),
        matched_at=flagged_at - 30,
        flagged_at=flagged_at,
        frames=(
            CheckedFrame(at=2.0, shows=FrameSource.PARTNER, jpeg=gradient_jpeg(0), verdict=CLEAN),
            CheckedFrame(at=4.0, shows=FrameSource.OWN, jpeg=gradient_jpeg(40), verdict=CLEAN),
            CheckedFrame(
                at=29.5, shows=FrameSource.PARTNER, jpeg=gradient_jpeg(80), verdict=verdict
            ),
        ),
        transcript=lines,
    )


async def case_row(engine: AsyncEngine, number: str) -> dict[str, Any]:
    (case,) = [row for row in (await all_rows(engine))["cases"] if row["number"] == number]
    return case


async def audit_actions(engine: AsyncEngine) -> list[tuple[str, str]]:
    rows = sorted((await all_rows(engine))["audit"], key=lambda row: row["id"])
    return [(row["actor"], row["action"]) for row in rows]


async def test_adult_nudity_strikes_and_the_second_strike_in_24_hours_bans_for_a_day(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    lines = (Line(at=3.0, side="reporter", text="hello"), Line(at=5.0, side="reported", text="hi"))
    first = await records.flags.file(make_flag(lines=lines), now=NOW)
    assert first.strikes == 1 and first.ban is None

    case = await case_row(engine, first.case)
    assert (case["kind"], case["status"], case["escalated"]) == ("automatic", "actioned", False)
    assert case["severity"] == 40 and case["pool"] == "adult-video"
    assert case["opened_at"] == NOW
    rows = await all_rows(engine)
    (flag,) = rows["flags"]
    assert flag["case_id"] == case["id"] and flag["kind"] == "nudity"
    assert (flag["subject_device"], flag["subject_network"]) == (SUBJECT.device, SUBJECT.network)
    assert (flag["sampler_device"], flag["sampler_network"]) == (VIEWER.device, VIEWER.network)
    assert flag["sampled_by"] == "viewer" and flag["flagged_at"] == NOW
    assert json.loads(flag["detail"]) == {
        "nudity": ["FEMALE_BREAST_EXPOSED"],
        "face": True,
        "hash_hit": None,
        "scores": [["FEMALE_BREAST_EXPOSED", 0.91], ["FACE", 0.8]],
    }
    (strike,) = rows["strikes"]
    assert (strike["device"], strike["reason"], strike["case_id"]) == (
        SUBJECT.device,
        "nudity",
        case["id"],
    )
    assert rows["bans"] == [] and rows["blocks"] == []
    assert await audit_actions(engine) == [("system", "flag.filed")]

    evidence = await sealed_evidence(engine, evidence_key, first.case)
    assert list(evidence) == ["frames", "transcript", "identifiers"]
    for _, created, retain in evidence.values():
        assert created == NOW and retain == NOW + timedelta(days=EVIDENCE_DAYS)
    frames, _, _ = evidence["frames"]
    assert frames["match"] == "m-1" and frames["sampled_by"] == "viewer"
    # The viewer's page sampled: its "partner" frames show the subject.
    assert [frame["shows"] for frame in frames["frames"]] == ["subject", "other", "subject"]
    for frame, shift in zip(frames["frames"], (0, 40, 80), strict=True):
        jpeg = base64.b64decode(frame["jpeg"])
        assert jpeg == gradient_jpeg(shift) and jpeg.startswith(b"\xff\xd8")
        assert frame["sha256"] == hashlib.sha256(jpeg).hexdigest()
    assert frames["frames"][0]["verdict"] == {
        "nudity": [],
        "face": True,
        "hash_hit": None,
        "scores": [["FACE", 0.88]],
    }
    assert frames["frames"][2]["verdict"]["nudity"] == ["FEMALE_BREAST_EXPOSED"]
    assert frames["frames"][2]["at"] == 29.5
    transcript, _, _ = evidence["transcript"]
    assert [(line["side"], line["text"]) for line in transcript["lines"]] == [
        ("other", "hello"),
        ("subject", "hi"),
    ]
    identifiers, _, _ = evidence["identifiers"]
    assert identifiers == {
        "match": "m-1",
        "pool": "adult-video",
        "matched_at": NOW.timestamp() - 30,
        "flagged_at": NOW.timestamp(),
        "subject": {"device": "dev-sam", "network": SUBJECT.network, "session": "sess-sam"},
        "sampler": {"device": "dev-val", "network": VIEWER.network, "session": "sess-val"},
        "sampled_by": "viewer",
        "hash_hit": None,
    }
    # read_evidence gives the same payloads, oldest first.
    assert await records.cases.evidence(first.case) == [
        evidence[kind][0] for kind in ("frames", "transcript", "identifiers")
    ]

    later = NOW + timedelta(hours=3)
    second = await records.flags.file(make_flag(at=later, match="m-2"), now=later)
    day = later + timedelta(hours=24)
    assert second == FlagOutcome(
        case=second.case,
        strikes=2,
        ban=BanNotice(
            reason="Nudity on camera: 2 strikes in 24 hours", case=second.case, until=day
        ),
    )
    assert second.case != first.case
    assert (
        await ban_for(records, device=SUBJECT.device, network="net-elsewhere", now=later)
        == second.ban
    )
    # A device ban only: the subject's network, shared with others, stays open.
    assert await ban_for(records, device="dev-other", network=SUBJECT.network, now=later) is None
    assert await ban_for(records, device=SUBJECT.device, network=SUBJECT.network, now=day) is None
    assert await audit_actions(engine) == [
        ("system", "flag.filed"),
        ("system", "flag.filed"),
        ("system", "ban.added"),
    ]
    # The banned device may appeal the case that banned it.
    assert await records.appeals.submit(
        case=second.case, device=SUBJECT.device, text="Not me.", now=later
    )

    # A strike older than 24 hours no longer counts: at 26 h, those of 3 h and 26 h do.
    much_later = NOW + timedelta(hours=26)
    third = await records.flags.file(make_flag(at=much_later, match="m-3"), now=much_later)
    assert third.strikes == 2
    assert third.ban is not None and third.ban.until == much_later + timedelta(hours=24)
    fourth_at = NOW + timedelta(hours=60)
    fourth = await records.flags.file(make_flag(at=fourth_at, match="m-4"), now=fourth_at)
    assert (fourth.strikes, fourth.ban) == (1, None)


async def test_teen_nudity_bans_at_once_and_opens_a_case(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    outcome = await records.flags.file(make_flag(pool="teen-video"), now=NOW)
    until = NOW + timedelta(seconds=TEEN_NUDITY_BAN_SECONDS)
    assert outcome == FlagOutcome(
        case=outcome.case,
        strikes=1,
        ban=BanNotice(reason="Nudity on camera", case=outcome.case, until=until),
    )
    case = await case_row(engine, outcome.case)
    assert (case["kind"], case["status"], case["escalated"]) == ("automatic", "open", False)
    assert case["severity"] == 80 and case["pool"] == "teen-video"
    rows = await all_rows(engine)
    (ban,) = rows["bans"]
    assert (ban["device"], ban["network"], ban["until"]) == (SUBJECT.device, None, until)
    assert ban["case_id"] == case["id"]
    assert await ban_for(records, device=SUBJECT.device, network="net-x", now=NOW) == outcome.ban
    assert await audit_actions(engine) == [("system", "flag.filed"), ("system", "ban.added")]
    evidence = await sealed_evidence(engine, evidence_key, outcome.case)
    assert list(evidence) == ["frames", "identifiers"]  # no chat lines, no transcript
    assert {retain for _, _, retain in evidence.values()} == {NOW + timedelta(days=EVIDENCE_DAYS)}

    # A second strike in the window earns 24 h: the longer teen ban stands.
    later = NOW + timedelta(hours=1)
    again = await records.flags.file(make_flag(pool="teen-video", at=later), now=later)
    assert again.strikes == 2
    assert again.ban == BanNotice(
        reason="Nudity on camera",
        case=again.case,
        until=later + timedelta(seconds=TEEN_NUDITY_BAN_SECONDS),
    )


async def test_known_abuse_bans_the_device_for_good_its_network_for_30_days_and_escalates(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    outcome = await records.flags.file(make_flag(FlagKind.KNOWN_ABUSE, "teen-video"), now=NOW)
    reason = "Illegal content on camera"
    month = NOW + timedelta(days=30)
    assert outcome == FlagOutcome(
        case=outcome.case,
        strikes=0,
        ban=BanNotice(reason=reason, case=outcome.case, until=None),
        network_ban=BanNotice(reason=reason, case=outcome.case, until=month),
    )
    case = await case_row(engine, outcome.case)
    assert (case["kind"], case["status"], case["escalated"]) == ("automatic", "escalated", True)
    assert case["severity"] == KNOWN_ABUSE_SEVERITY > max(SEVERITY.values())

    rows = await all_rows(engine)
    assert rows["strikes"] == []
    assert sorted(
        ((ban["device"], ban["network"], ban["until"], ban["reason"]) for ban in rows["bans"]),
        key=str,
    ) == sorted(
        [(SUBJECT.device, None, None, reason), (None, SUBJECT.network, month, reason)], key=str
    )
    assert {ban["case_id"] for ban in rows["bans"]} == {case["id"]}
    assert await audit_actions(engine) == [
        ("system", "flag.filed"),
        ("system", "ban.added"),
        ("system", "ban.added"),
    ]
    years = NOW + timedelta(days=3650)
    assert (
        await ban_for(records, device=SUBJECT.device, network="net-new", now=years) == outcome.ban
    )
    soon = NOW + timedelta(days=29)
    assert (
        await ban_for(records, device="dev-new", network=SUBJECT.network, now=soon)
        == outcome.network_ban
    )
    assert await ban_for(records, device="dev-new", network=SUBJECT.network, now=years) is None
    assert await ban_for(records, device=VIEWER.device, network=VIEWER.network, now=years) is None

    evidence = await sealed_evidence(engine, evidence_key, outcome.case)
    assert list(evidence) == ["frames", "identifiers"]
    year = NOW + timedelta(days=ESCALATED_EVIDENCE_DAYS)
    assert {retain for _, _, retain in evidence.values()} == {year}
    hit = {"label": "list-7 entry 42", "distance": 12}
    assert evidence["identifiers"][0]["hash_hit"] == hit
    assert evidence["frames"][0]["frames"][2]["verdict"]["hash_hit"] == hit
    assert json.loads(rows["flags"][0]["detail"])["hash_hit"] == hit

    # Kept past 90 days, gone after a year (REPORT Act).
    assert await records.cases.purge(now=NOW + timedelta(days=EVIDENCE_DAYS + 1)) == 0
    assert await records.cases.purge(now=year) == 2
    assert await records.cases.evidence(outcome.case) == []


async def test_the_unknown_network_is_not_banned(records: Records, engine: AsyncEngine) -> None:
    nowhere = Party(device="dev-sam", network=UNKNOWN_NETWORK, session="sess-sam")
    outcome = await records.flags.file(make_flag(FlagKind.KNOWN_ABUSE, subject=nowhere), now=NOW)
    assert outcome.ban is not None and outcome.ban.until is None
    ((device, network, _),) = await records.bans.active(now=NOW)
    assert (device, network) == ("dev-sam", None)


async def test_frames_the_subjects_own_page_sampled(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    lines = (Line(at=3.0, side="reporter", text="other"), Line(at=5.0, side="reported", text="x"))
    outcome = await records.flags.file(make_flag(sampler=SUBJECT, lines=lines), now=NOW)
    evidence = await sealed_evidence(engine, evidence_key, outcome.case)
    frames = evidence["frames"][0]
    assert frames["sampled_by"] == "subject"
    assert [frame["shows"] for frame in frames["frames"]] == ["other", "subject", "other"]
    # The transcript's "reported" is the subject whichever page sampled.
    assert [line["side"] for line in evidence["transcript"][0]["lines"]] == ["other", "subject"]
    assert evidence["identifiers"][0]["sampled_by"] == "subject"
    assert (await all_rows(engine))["flags"][0]["sampled_by"] == "subject"


async def test_one_device_on_both_sides_is_told_apart_by_session(
    records: Records, evidence_key: bytes, engine: AsyncEngine
) -> None:
    # The laptop default pairs a device with itself: the sessions differ.
    twin = Party(device=SUBJECT.device, network=SUBJECT.network, session="sess-twin")
    outcome = await records.flags.file(make_flag(sampler=twin), now=NOW)
    evidence = await sealed_evidence(engine, evidence_key, outcome.case)
    assert evidence["frames"][0]["sampled_by"] == "viewer"


@pytest.mark.parametrize(
    "spoil",
    [
        {"subject": Party(device="dev-sam", network="203.0.113.7", session="s")},
        {"sampler": Party(device="2001:db8::1", network="net-v", session="s")},
        {"subject": Party(device="", network="net-s", session="s")},
        {"sampler": Party(device="d" * 129, network="net-v", session="s")},
        {"enforcement": Enforcement(strike=True, ban_seconds=-5.0)},
        {"enforcement": Enforcement(ban_seconds=float("nan"))},
        {"enforcement": Enforcement(ban_seconds=1e30)},
    ],
    ids=["subject-ip", "sampler-ipv6", "empty-device", "long-device", "negative", "nan", "huge"],
)
async def test_a_refused_flag_writes_nothing(
    records: Records, engine: AsyncEngine, spoil: dict[str, Any]
) -> None:
    await records.flags.file(make_flag(match="m-0"), now=NOW)  # something already there
    before = await counts(engine)
    with pytest.raises(RecordError) as info:
        await records.flags.file(make_flag(match="m-9", **spoil), now=NOW)
    assert info.value.code == "invalid"
    assert await counts(engine) == before


async def test_a_failure_at_the_last_step_writes_nothing(
    records: Records, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await counts(engine)

    async def broken_ban(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk on fire")

    # The case, flag, evidence, strike and audit rows are flushed before the ban fails.
    monkeypatch.setattr(records.bans, "add_in", broken_ban)
    with pytest.raises(RuntimeError):
        await records.flags.file(make_flag(pool="teen-video"), now=NOW)
    assert await counts(engine) == before


async def test_naive_times_are_refused(records: Records) -> None:
    with pytest.raises(RecordError) as info:
        await records.flags.file(make_flag(), now=datetime(2025, 3, 1, 12))
    assert info.value.code == "invalid"


async def test_a_permanent_enforcement_on_nudity(records: Records) -> None:
    # Whatever the policy asks is carried out: PERMANENT means for good.
    enforcement = Enforcement(strike=True, ban_seconds=PERMANENT, review=True)
    outcome = await records.flags.file(make_flag(enforcement=enforcement), now=NOW)
    assert outcome.ban == BanNotice(reason="Nudity on camera", case=outcome.case, until=None)


# --- one viewer's word (docs/safety.md, "Whose word counts") ---------------------------


def viewer_flag(
    device: str, network: str, *, pool: str = "adult-video", at: datetime = NOW, viewers: int = 3
) -> Flag:
    """A nudity flag from a frame a viewer sampled of SUBJECT, as the switchboard makes it:
    a case for review by itself, the pool's enforcement once corroborated."""
    enforcement, corroboration = frame_flag_enforcement(
        FlagKind.NUDITY, FrameSource.PARTNER, teen=pool.startswith("teen"), viewers=viewers
    )
    flag = make_flag(
        pool=pool,
        sampler=Party(device=device, network=network, session=f"sess-{device}"),
        at=at,
        enforcement=enforcement,
        match=f"m-{device}-{network}-{at.timestamp()}",
    )
    return replace(flag, corroboration=corroboration)


async def test_one_viewers_flag_opens_a_case_and_strikes_no_one(
    records: Records, engine: AsyncEngine
) -> None:
    outcome = await records.flags.file(viewer_flag("dev-v1", "net-v1"), now=NOW)
    assert outcome == FlagOutcome(case=outcome.case, strikes=0, ban=None, corroborated_by=1)
    case = await case_row(engine, outcome.case)
    assert (case["status"], case["escalated"]) == ("open", False)
    rows = await all_rows(engine)
    assert rows["strikes"] == [] and rows["bans"] == [] and rows["actions"] == []
    (audit,) = rows["audit"]
    assert json.loads(audit["detail"])["corroborated_by"] == 1


async def test_three_viewers_on_three_networks_make_the_strike_and_a_fourth_the_ban(
    records: Records, engine: AsyncEngine
) -> None:
    first = await records.flags.file(viewer_flag("dev-v1", "net-v1"), now=NOW)
    second = await records.flags.file(viewer_flag("dev-v2", "net-v2"), now=NOW)
    assert (first.strikes, second.strikes, second.corroborated_by) == (0, 0, 2)
    third = await records.flags.file(viewer_flag("dev-v3", "net-v3"), now=NOW)
    assert (third.strikes, third.ban, third.corroborated_by) == (1, None, 3)
    assert (await case_row(engine, third.case))["status"] == "actioned"
    assert (await case_row(engine, first.case))["status"] == "open"  # still for a person
    fourth = await records.flags.file(viewer_flag("dev-v4", "net-v4"), now=NOW)
    assert fourth.strikes == 2 and fourth.ban is not None
    assert fourth.ban.until == NOW + timedelta(hours=24)


async def test_viewers_sharing_a_device_or_a_network_count_once(records: Records) -> None:
    flags = [
        viewer_flag("dev-v1", "net-v1"),
        viewer_flag("dev-v2", "net-v1"),  # another device, same network
        viewer_flag("dev-v3", "net-v1"),
        viewer_flag("dev-v1", "net-v2"),  # the same device, another network
        viewer_flag("dev-v1", "net-v3"),
        viewer_flag("dev-v9", UNKNOWN_NETWORK),  # no network to tell apart
        viewer_flag("dev-v8", SUBJECT.network),  # on the subject's own network
        viewer_flag(SUBJECT.device, "net-v7"),  # the subject's own device
    ]
    outcomes = [await records.flags.file(flag, now=NOW) for flag in flags]
    # dev-v1 on net-v2 and dev-v2 on net-v1 are two; nothing else adds a third.
    assert max(outcome.corroborated_by for outcome in outcomes) == 2
    assert all(outcome.strikes == 0 and outcome.ban is None for outcome in outcomes)


async def test_flags_older_than_the_window_do_not_corroborate(records: Records) -> None:
    old = NOW - timedelta(hours=25)
    await records.flags.file(viewer_flag("dev-v1", "net-v1", at=old), now=old)
    await records.flags.file(viewer_flag("dev-v2", "net-v2", at=old), now=old)
    outcome = await records.flags.file(viewer_flag("dev-v3", "net-v3"), now=NOW)
    assert (outcome.corroborated_by, outcome.strikes) == (1, 0)


async def test_corroborated_teen_viewers_ban_for_seven_days(records: Records) -> None:
    for n in (1, 2):
        outcome = await records.flags.file(
            viewer_flag(f"dev-v{n}", f"net-v{n}", pool="teen-video"), now=NOW
        )
        assert outcome.ban is None
    outcome = await records.flags.file(viewer_flag("dev-v3", "net-v3", pool="teen-video"), now=NOW)
    assert outcome.ban is not None
    assert outcome.ban.until == NOW + timedelta(seconds=TEEN_NUDITY_BAN_SECONDS)


async def test_a_hash_hit_a_viewer_sampled_opens_a_critical_case_without_ban_or_escalation(
    records: Records, engine: AsyncEngine, evidence_key: bytes
) -> None:
    enforcement, corroboration = frame_flag_enforcement(
        FlagKind.KNOWN_ABUSE, FrameSource.PARTNER, teen=False
    )
    assert corroboration is None
    outcome = await records.flags.file(
        make_flag(FlagKind.KNOWN_ABUSE, enforcement=enforcement), now=NOW
    )
    assert (outcome.ban, outcome.network_ban, outcome.strikes) == (None, None, 0)
    case = await case_row(engine, outcome.case)
    assert (case["status"], case["escalated"]) == ("open", False)
    assert case["severity"] == KNOWN_ABUSE_SEVERITY
    rows = await all_rows(engine)
    assert rows["bans"] == [] and rows["actions"] == []
    evidence = await sealed_evidence(engine, evidence_key, outcome.case)
    assert "frames" in evidence  # preserved for the moderator


async def test_a_corroboration_cannot_change_the_escalation(records: Records) -> None:
    flag = replace(
        make_flag(enforcement=Enforcement(review=True)),
        corroboration=Corroboration(Enforcement(escalate=True)),
    )
    with pytest.raises(RecordError):
        await records.flags.file(flag, now=NOW)
