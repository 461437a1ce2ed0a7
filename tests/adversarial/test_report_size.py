"""Attack 9c of issue 15: one report stored ~700 KB. The switchboard keeps a match's last
500 lines of up to 1000 characters and its last checked frames of up to 64 KB each; a
report sealed all of it, base64 inside Fernet's base64, so a modified client that filled
the chat with four-byte characters and posted the largest frames made each of its
reports store megabytes. Now a report keeps the newest lines and frames within
``REPORT_TRANSCRIPT_BYTES`` and ``REPORT_FRAME_BYTES`` (``moderation/records/reports.py``), and its
sealed evidence stays under ``REPORT_EVIDENCE_MAX_BYTES`` (docs/security.md, "Flooders")."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import func, select

from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict
from strangers.core.reports import MAX_NOTE_CHARS, Filing, Line, Party, ReportReason
from strangers.moderation import Records, upgrade
from strangers.moderation import tables as t
from strangers.moderation.records import REPORT_EVIDENCE_MAX_BYTES

from ..gateway.chatter import Chatter
from ..inprocess import serving

#: Four bytes of UTF-8 each, one character each for the length limits.
WIDE = "\U0001d54f"
#: Three bytes of UTF-8; six characters once JSON-escaped, so a full line fits a frame.
CJK = "\u4e00"


async def _stored_bytes(records: Records, number: str) -> int:
    """The bytes of sealed evidence kept for case ``number``."""
    async with records.transaction() as session:
        case_id = await session.scalar(select(t.Case.id).where(t.Case.number == number))
        total = await session.scalar(
            select(func.sum(func.length(t.Evidence.ciphertext))).where(
                t.Evidence.case_id == case_id
            )
        )
    return int(total or 0)


def _worst_filing() -> Filing:
    """All a modified client could put into the switchboard's evidence of one match."""
    now = datetime.now(UTC).timestamp()
    noise = os.urandom(65536)  # incompressible, as large as a frame may be
    frames = tuple(
        CheckedFrame(at=float(n), shows=side, jpeg=noise, verdict=FrameVerdict())
        for n in range(3)
        for side in (FrameSource.OWN, FrameSource.PARTNER)
    )
    lines = tuple(
        Line(at=float(n), side="reported" if n % 2 else "reporter", text=WIDE * 999 + "\x01")
        for n in range(500)
    )
    me = Party(device="dev-a", network="net-" + "a" * 60, session="s-a")
    them = Party(device="dev-b", network="net-" + "b" * 60, session="s-b")
    return Filing(
        match="m-1",
        pool="adult-video",
        reason=ReportReason.OTHER,
        note=WIDE * MAX_NOTE_CHARS,
        reporter=me,
        reported=them,
        matched_at=now - 300,
        reported_at=now,
        transcript=lines,
        frames=frames,
    )


async def test_the_largest_report_a_client_can_build_stores_no_more_than_the_bound(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
    upgrade(url)
    records = await Records.open(url, b"Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw=")
    try:
        filing = _worst_filing()
        number = await records.reports.file(filing, now=datetime.now(UTC))
        stored = await _stored_bytes(records, number)
        assert stored <= REPORT_EVIDENCE_MAX_BYTES, stored
        [transcript] = [e for e in await records.cases.evidence(number) if "lines" in e]
        assert transcript["lines"][-1]["text"] == filing.transcript[-1].text  # the newest kept
    finally:
        await records.close()


async def test_a_chat_flooded_with_wide_characters_makes_a_report_of_bounded_size(tmp_path):
    async with serving(
        tmp_path,
        messages_per_second=1000.0,
        message_burst=1000,
        frames_per_second=10000.0,
        limit_message_device="100000/minute",
        limit_message_network="100000/minute",
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
    ) as srv:
        reporter, flooder = await Chatter.join(srv.ws), await Chatter.join(srv.ws)
        await reporter.find()
        await flooder.find()
        await reporter.expect("matched")
        await flooder.expect("matched")
        for n in range(500):
            await flooder.send(type="message", text=f"{n:04d}" + CJK * 996)
        for _ in range(500):
            await reporter.expect("message", timeout=10)
        await reporter.send(type="report", reason="spam", note=CJK * MAX_NOTE_CHARS)
        answers = [await reporter.recv(timeout=10) for _ in range(2)]
        [case] = [a["case"] for a in answers if a["type"] == "reported"]
        records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
        try:
            assert await _stored_bytes(records, case) <= REPORT_EVIDENCE_MAX_BYTES
        finally:
            await records.close()
