"""Text safety end to end (docs/design.md §6, text): two real websocket clients on the live
server with the real signal engine; nudges, hidden lines, ended matches, the cases and
their transcripts in the records (SQLite and PostgreSQL), and the age question again."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from strangers.moderation import Records
from strangers.moderation import tables as t

from ..gateway.chatter import TEEN, Chatter
from .test_report_flow import server, ws


async def text_pair(url: str, birth=None) -> tuple[Chatter, Chatter, str]:
    kwargs = {"birth": birth} if birth else {}
    a, b = await Chatter.join(url, **kwargs), await Chatter.join(url, **kwargs)
    await a.find()
    await b.find()
    match = (await a.expect("matched"))["match"]
    await b.expect("matched")
    return a, b, match


async def text_cases(db_url: str, evidence_key: bytes) -> list[tuple[str, str, list]]:
    records = await Records.open(db_url, evidence_key)
    try:
        async with records._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(t.Case.number, t.Flag.kind)
                    .join(t.Flag, t.Flag.case_id == t.Case.id)
                    .order_by(t.Case.id)
                )
            ).all()
        return [(number, kind, await records.cases.evidence(number)) for number, kind in rows]
    finally:
        await records.close()


def lines_of(evidence: list[dict]) -> list[tuple[str, str]]:
    transcript = next(item for item in evidence if "lines" in item)
    return [(line["side"], line["text"]) for line in transcript["lines"]]


async def test_nudges_and_hidden_lines_and_a_case_when_risk_adds_up(tmp_path, db_url, evidence_key):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a, b, match = await text_pair(ws(base))
        await a.send(type="message", text="hey, what's up")
        assert await b.expect("message") == {"type": "message", "text": "hey, what's up"}
        # Contact details in the adult pool: relayed, with a calm notice to b.
        await a.send(type="message", text="add me on snap: coolkid_22")
        assert (await b.expect("message"))["text"] == "add me on snap: coolkid_22"
        # A handle and an invitation to another app: one act, one weight, two notices.
        for kind in ("contact", "other_app"):
            assert await b.expect("notice") == {
                "type": "notice",
                "kind": kind,
                "active": True,
                "match": match,
            }
        # Secrecy on top: from now on b gets a's risky lines hidden.
        await a.send(type="message", text="don't tell your parents about me ok?")
        assert await b.expect("message") == {"type": "message", "text": "", "hidden": "risk"}
        assert (await b.expect("notice"))["kind"] == "secrecy"
        # More in one line: the match ends and a case opens with the transcript.
        await a.send(type="message", text="send me a pic of you and let's meet up tomorrow")
        ended = {"type": "ended", "reason": "safety", "match": match}
        received = [await b.recv()]
        while received[-1]["type"] != "ended":
            received.append(await b.recv())
        assert received[0] == {"type": "message", "text": "", "hidden": "risk"}
        assert {m["kind"] for m in received[1:-1]} == {"asks_pictures", "meet"}
        assert received[-1] == ended
        assert await a.expect("ended") == ended
    ((_, kind, evidence),) = await text_cases(db_url, evidence_key)
    assert kind == "text_risk"
    assert lines_of(evidence) == [
        ("subject", "hey, what's up"),
        ("subject", "add me on snap: coolkid_22"),
        ("subject", "don't tell your parents about me ok?"),
        ("subject", "send me a pic of you and let's meet up tomorrow"),
    ]
    signals = next(item for item in evidence if "subject" in item)["signals"]
    assert {name for name, _ in signals} >= {"handle", "secrecy", "asks_pictures", "meet"}


async def test_the_teen_pool_hides_contact_details_and_ends_on_an_adult_age(
    tmp_path, db_url, evidence_key
):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode(), teen_pool=True) as base:
        a, b, match = await text_pair(ws(base), birth=TEEN)
        await a.send(type="message", text="my number is 06 12 34 56 78")
        assert await b.expect("message") == {"type": "message", "text": "", "hidden": "contact"}
        assert (await b.expect("notice"))["kind"] == "contact"
        await a.send(type="message", text="lol btw im 32")
        ended = {"type": "ended", "reason": "safety", "match": match}
        assert await b.expect("ended") == ended  # the line itself is withheld
        assert await a.expect("ended") == ended
    ((_, kind, evidence),) = await text_cases(db_url, evidence_key)
    assert kind == "adult_in_teen"
    assert lines_of(evidence)[-1] == ("subject", "lol btw im 32")


async def test_a_minor_in_the_adult_pool_goes_back_to_the_age_question(
    tmp_path, db_url, evidence_key
):
    async with server(
        tmp_path,
        db_url,
        evidence_key=evidence_key.decode(),
        teen_pool=True,
        age_recheck_minutes=0.05,
    ) as base:
        url = ws(base)
        a, b, match = await text_pair(url)
        await a.send(type="message", text="hi im 14 f")
        ended = {"type": "ended", "reason": "safety", "match": match}
        assert await b.expect("ended") == ended
        assert await a.expect("ended") == ended
        refused = await a.expect("refused")
        assert refused["reason"] == "age_check" and refused["until"] > 0
        await a.ws.wait_closed()
        assert a.ws.close_code == 1000
        # During the cooldown the device is refused, whatever it answers.
        again = await Chatter.hello(url, device=refused["device"])
        assert again["type"] == "refused" and again["reason"] == "age_check"
        # Then the question again: the age it stated holds, whatever the answer says.
        await asyncio.sleep(max(0.0, refused["until"] - time.time()) + 0.2)
        after = await Chatter.hello(url, device=refused["device"])
        assert after["type"] == "welcome" and after["band"] == "teen"
    assert await text_cases(db_url, evidence_key) == []  # no case: a child is not a suspect
