"""Automatic flags end to end (docs/design.md §6, video): frames posted to the live server,
verdicts applied to the match, cases with their evidence, strikes and bans in the
records, on SQLite and on PostgreSQL. The sanctions here come from the sender's own
camera; what a viewer's sampling alone does is in
``tests/adversarial/test_forged_frames.py``. Nudity verdicts are injected
(``tests.checkers``); the hash-list match runs the real PDQ check on benign images."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from strangers.moderation import Records
from strangers.moderation import tables as t
from strangers.safety.hashes import pdq_hex

from ..checkers import with_verdict
from ..gateway.chatter import Chatter
from ..images import cat, portrait
from .test_report_flow import device_of, server, ws

# Distinct addresses, so a network ban of one side does not reach the other.
SUBJECT, VIEWER, THIRD = "127.0.0.3", "127.0.0.4", "127.0.0.5"


async def video_chatter(url: str, address: str, device: str | None = None) -> Chatter:
    chatter = await Chatter.join(url, device=device, local_addr=(address, 0))
    await chatter.send(type="find", mode="video", interests=[])
    await chatter.expect("waiting")
    return chatter


async def post(base: str, token: str, body: bytes, source: str = "partner") -> httpx.Response:
    async with httpx.AsyncClient(base_url=base) as client:
        return await client.post(
            f"/v1/frames?source={source}",
            content=body,
            headers={"authorization": f"Bearer {token}", "content-type": "image/jpeg"},
        )


async def flagged_cases(records: Records) -> list[tuple[str, str, int, str, bool]]:
    async with records._engine.connect() as connection:
        rows = await connection.execute(
            select(t.Case.number, t.Flag.kind, t.Case.severity, t.Case.status, t.Case.escalated)
            .join(t.Flag, t.Flag.case_id == t.Case.id)
            .order_by(t.Case.id)
        )
        return [tuple(row) for row in rows]


async def plain_text_holding(records: Records, needle: str) -> list[str]:
    """Every table.column whose stored value holds ``needle`` in the clear (the
    evidence is sealed, so an address inside it does not show here)."""
    found = []
    async with records._engine.connect() as connection:
        for table in t.Base.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                for column, value in zip(table.columns, row, strict=True):
                    if needle in str(value):
                        found.append(f"{table.name}.{column.name}")
    return found


async def closed_with(chatter: Chatter) -> int:
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(chatter.ws.recv(), 5)
    await asyncio.wait_for(chatter.ws.wait_closed(), 5)
    assert chatter.ws.close_code is not None
    return chatter.ws.close_code


async def test_nudity_on_the_senders_own_camera_blurs_ends_strikes_and_a_second_bans(
    tmp_path, db_url, evidence_key
):
    async with server(
        tmp_path,
        db_url,
        evidence_key=evidence_key.decode(),
        frame_checker="tests.checkers:scripted",
    ) as base:
        url = ws(base)
        subject = await video_chatter(url, SUBJECT)
        viewer = await video_chatter(url, VIEWER)
        matched = await viewer.expect("matched")
        own = await subject.expect("matched")
        match = own["match"]
        await subject.send(type="message", text="hi")
        await viewer.expect("message")
        assert (await post(base, own["frame_token"], portrait(), "own")).status_code == 200
        assert (await post(base, matched["frame_token"], portrait())).status_code == 200
        assert (await viewer.expect("blur"))["on"] is False
        nude = with_verdict(portrait(), "nudity")
        assert (await post(base, own["frame_token"], nude, "own")).status_code == 200
        assert await viewer.expect("blur") == {
            "type": "blur",
            "on": True,
            "reason": "nudity",
            "match": match,
        }
        assert await viewer.expect("ended") == {"type": "ended", "reason": "safety", "match": match}
        assert await subject.expect("ended") == {
            "type": "ended",
            "reason": "safety",
            "match": match,
        }
        # One strike is not a ban: the subject may look again, and meets a third.
        await subject.send(type="find", mode="video", interests=[])
        await subject.expect("waiting")
        third = await video_chatter(url, THIRD)
        await third.expect("matched")
        token = (await subject.expect("matched"))["frame_token"]
        assert (await post(base, token, nude, "own")).status_code == 200
        await subject.expect("ended")
        banned = await subject.expect("banned")
        assert banned["reason"] and banned["case"].startswith("S-")
        hours = (banned["until"] - datetime.now(UTC).timestamp()) / 3600
        assert 23.5 < hours <= 24.01
        assert await closed_with(subject) == 1008
        again = await Chatter.hello(url, device=subject.welcome["device"])
        assert again["type"] == "banned"
    records = await Records.open(db_url, evidence_key)
    try:
        flagged = await flagged_cases(records)
        assert [(kind, status) for _, kind, _, status, _ in flagged] == [
            ("nudity", "actioned"),
            ("nudity", "actioned"),
        ]
        evidence = await records.cases.evidence(flagged[0][0])
        frames = next(item for item in evidence if "frames" in item)
        assert frames["sampled_by"] == "subject"  # the subject's own page
        assert [frame["verdict"]["nudity"] for frame in frames["frames"]] == [
            [],
            ["FEMALE_BREAST_EXPOSED"],
        ]
        bans = await records.bans.active(now=datetime.now(UTC))
        assert [device for device, _, _ in bans] == [device_of(subject.welcome["device"])]
        # Nudity in the adult pool is not critical: the raw address is not kept.
        for case, *_ in flagged:
            identifiers = next(i for i in await records.cases.evidence(case) if "subject" in i)
            assert "captures" not in identifiers
        assert await plain_text_holding(records, SUBJECT) == []
    finally:
        await records.close()


async def test_a_hash_list_match_on_the_senders_own_camera_bans_for_good_and_escalates(
    tmp_path, db_url, evidence_key
):
    records = await Records.open(db_url, evidence_key)
    try:
        listed = pdq_hex(portrait(width=512, quality=95))
        await records.hash_lists.add(
            [(listed, "benign test picture")], list_name="test", now=datetime.now(UTC)
        )
    finally:
        await records.close()
    # The bundled checker: the PDQ hash of what is posted is really computed and matched.
    async with server(
        tmp_path, db_url, evidence_key=evidence_key.decode(), frame_checker="builtin"
    ) as base:
        url = ws(base)
        subject = await video_chatter(url, SUBJECT)
        viewer = await video_chatter(url, VIEWER)
        await viewer.expect("matched")
        own = await subject.expect("matched")
        token, match = own["frame_token"], own["match"]
        # An unrelated picture does not match.
        assert (await post(base, token, cat(), "own")).status_code == 200
        assert await viewer.quiet(0.3)
        # The listed picture, re-encoded smaller and at another quality, does.
        relisted = portrait(width=288, quality=60)
        assert (await post(base, token, relisted, "own")).status_code == 200
        blur = await viewer.expect("blur")
        assert (blur["on"], blur["reason"]) == (True, "known_abuse")
        assert (await viewer.expect("ended"))["reason"] == "safety"
        assert (await subject.expect("ended"))["match"] == match
        banned = await subject.expect("banned")
        assert "until" not in banned  # for good
        assert await closed_with(subject) == 1008
        # The viewer, on another network, chats on.
        await viewer.send(type="find", mode="video", interests=[])
        assert (await viewer.expect("waiting"))["type"] == "waiting"
    records = await Records.open(db_url, evidence_key)
    try:
        ((case, kind, severity, status, escalated),) = await flagged_cases(records)
        assert (kind, status, escalated) == ("known_abuse", "escalated", True)
        assert severity == 100
        evidence = await records.cases.evidence(case)
        frames = next(item for item in evidence if "frames" in item)["frames"]
        assert frames[-1]["verdict"]["hash_hit"]["label"] == "benign test picture"
        assert frames[-1]["verdict"]["hash_hit"]["distance"] <= 31
        identifiers = next(item for item in evidence if "subject" in item)
        assert identifiers["subject"]["device"] == device_of(subject.welcome["device"])
        # Critical: the subject's raw address at the time, for the CyberTipline report,
        # sealed in the evidence (18 U.S.C. 2258A(b)(1)) and nowhere else.
        ((capture),) = identifiers["captures"]
        assert (capture["address"], capture["event"]) == (SUBJECT, "connect")
        assert datetime.fromisoformat(capture["at"]) <= datetime.now(UTC)
        assert VIEWER not in str(evidence)
        assert await plain_text_holding(records, SUBJECT) == []
        bans = await records.bans.active(now=datetime.now(UTC))
        assert {(d is None, n is None, notice.until) for d, n, notice in bans} >= {
            (False, True, None)
        }
    finally:
        await records.close()
