"""A moderator's decision reaches its device on the next visit, once (docs/design.md §1: the
appeal's outcome "sent to the chatter on their next visit"; DSA arts. 17 and 20(4)),
even when the device is still banned; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from strangers.client import ADULT, Client
from strangers.moderation import Records
from strangers.moderation import tables as t

from ..gateway.chatter import plain
from .test_report_flow import device_of, pair, server, ws


async def notify(records: Records, case: str, device: str, kind: str, text: str) -> None:
    """What the console does on a decision: a notice row for the device."""
    async with records.transaction() as session:
        case_id = await session.scalar(select(t.Case.id).where(t.Case.number == case))
        session.add(
            t.ChatterNotice(
                device=device,
                kind=kind,
                case_id=case_id,
                text=text,
                created_at=datetime.now(UTC),
            )
        )


async def first_messages(url: str, device: str) -> list[dict]:
    """Say hello with ``device`` and collect what comes before the welcome (or ban)."""
    async with await Client.connect(url) as client:
        await client.hello(ADULT, device=device)
        seen = []
        while True:
            message = plain(await client.receive(5))
            seen.append(message)
            if message["type"] in ("welcome", "banned", "refused"):
                return seen


async def delivered(records: Records) -> list[datetime | None]:
    async with records.transaction() as session:
        return list((await session.scalars(select(t.ChatterNotice.delivered_at))).all())


async def test_a_decision_is_shown_once_on_the_next_visit_even_to_a_banned_device(
    tmp_path, db_url, evidence_key
):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        url = ws(base)
        a, b, _ = await pair(url)
        await a.send(type="report", reason="harassment", note="")
        await a.expect("ended")
        case = (await a.expect("reported"))["case"]
        token = b.welcome["device"]
        device = device_of(token)
        records = await Records.open(db_url, evidence_key)
        try:
            await notify(records, case, device, "warning", "Be kind to strangers.")
            await records.bans.add(
                device=device,
                network=None,
                reason="Harassment or hate",
                case=case,
                until=datetime.now(UTC) + timedelta(hours=1),
                now=datetime.now(UTC),
                note="Insults after a warning.",
            )
            await notify(records, case, device, "appeal_upheld", "The transcript shows it.")
            await asyncio.sleep(0.6)  # the gateway's refresh: every 0.2 s here
            first = await first_messages(url, token)
            assert [m["type"] for m in first] == ["decision", "decision", "banned"]
            # The moderator's written reason, as the records keep it (issue 19).
            assert (first[2]["reason"], first[2]["note"]) == (
                "Harassment or hate",
                "Insults after a warning.",
            )
            assert first[0] == {
                "type": "decision",
                "kind": "warning",
                "case": case,
                "text": "Be kind to strangers.",
            }
            assert (first[1]["kind"], first[1]["text"]) == (
                "appeal_upheld",
                "The transcript shows it.",
            )
            # Marked delivered in the records: a later visit, and a restart, repeat nothing.
            for _ in range(50):
                if None not in await delivered(records):
                    break
                await asyncio.sleep(0.1)
            assert None not in await delivered(records)
            await asyncio.sleep(0.5)
            assert [m["type"] for m in await first_messages(url, token)] == ["banned"]
            # Someone else's visit never shows them.
            assert [m["type"] for m in await first_messages(url, a.welcome["device"])] == [
                "welcome"
            ]
        finally:
            await records.close()
