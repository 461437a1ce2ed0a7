"""Attack 7 (issue 15): flash and skip. A stranger shows or says something and skips at
once, before the victim can press Report; on the code before the fix, ``report`` was
refused as soon as the stranger had gone. Now a chatter reports any of its last 3
matches of the last 10 minutes by id, with that match's evidence, and nobody can use
that to report a match that is not theirs, too old, or already reported
(docs/safety.md, "Evidence"). Against the real server, in process."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from strangers.gateway.metrics import NODES
from strangers.moderation import Records
from strangers.moderation import tables as t

from ..checkers import with_verdict
from ..gateway.chatter import Chatter
from ..images import portrait
from ..inprocess import Served, serving


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        same_device_pairs=False,
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
    ) as served:
        yield served


async def meet(url: str, victim: Chatter | None = None, mode: str = "text"):
    """A fresh stranger meets ``victim`` (a new one when ``None``)."""
    victim = victim or await Chatter.join(url)
    stranger = await Chatter.join(url)
    for chatter in (victim, stranger):
        await chatter.send(type="find", mode=mode, interests=[])
        await chatter.expect("waiting")
    matched = await victim.expect("matched")
    assert (await stranger.expect("matched"))["match"] == matched["match"]
    return victim, stranger, matched


async def leave(victim: Chatter, stranger: Chatter, match: str, how: str = "stop") -> None:
    await stranger.send(type=how)
    assert await victim.expect("partner_left") == {"type": "partner_left", "match": match}


async def evidence(srv: Served, case: str) -> list[dict]:
    records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
    try:
        return await records.cases.evidence(case)
    finally:
        await records.close()


async def cases(srv: Served) -> int:
    records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
    try:
        async with records._engine.connect() as connection:
            query = select(func.count()).select_from(t.Case)
            return int((await connection.execute(query)).scalar())
    finally:
        await records.close()


async def refused(chatter: Chatter, match: str) -> None:
    await chatter.send(type="report", reason="sexual", match=match)
    answer = await chatter.expect("error")
    assert answer["code"] == "not_recent", answer


async def test_flash_and_skip_the_victim_reports_the_stranger_who_left(srv):
    victim, stranger, matched = await meet(srv.ws)
    match = matched["match"]
    await stranger.send(type="message", text="look at this")
    await stranger.send(type="message", text="lol bye")
    await stranger.send(type="skip")
    assert (await victim.expect("message"))["text"] == "look at this"
    assert (await victim.expect("message"))["text"] == "lol bye"
    assert await victim.expect("partner_left") == {"type": "partner_left", "match": match}
    await stranger.expect("ended")
    await stranger.expect("waiting")

    await victim.send(type="report", reason="sexual", note="flashed and skipped", match=match)
    reported = await victim.expect("reported")
    assert reported["match"] == match and reported["case"].startswith("S-")
    [kept] = await evidence(srv, reported["case"])
    assert kept["match"] == match
    assert [(line["side"], line["text"]) for line in kept["lines"]] == [
        ("reported", "look at this"),
        ("reported", "lol bye"),
    ]
    # The pair is blocked: the victim looking again does not meet the stranger.
    await victim.find()
    assert await victim.quiet(0.5)


async def test_a_video_flash_and_skip_keeps_the_frames_the_victim_sampled(srv):
    victim, stranger, matched = await meet(srv.ws, mode="video")
    match, token = matched["match"], matched["frame_token"]
    async with httpx.AsyncClient(base_url=srv.base) as client:
        posted = await client.post(
            "/v1/frames?source=partner",
            content=with_verdict(portrait(), "clean"),
            headers={"content-type": "image/jpeg", "authorization": f"Bearer {token}"},
        )
        assert posted.status_code == 200, posted.text
    await stranger.send(type="skip")
    while (await victim.recv())["type"] != "partner_left":
        pass  # blur verdicts on the way
    await victim.send(type="report", reason="sexual", match=match)
    reported = await victim.expect("reported")
    [frames] = [item for item in await evidence(srv, reported["case"]) if "frames" in item]
    [frame] = frames["frames"]
    assert frame["shows"] == "reported" and frame["verdict"] is not None


async def test_a_match_of_another_session_is_refused_even_on_the_same_device(srv):
    victim, stranger, matched = await meet(srv.ws)
    await leave(victim, stranger, matched["match"])
    # A second tab of the victim's own device, and a bystander: neither was in it.
    other_tab = await Chatter.join(srv.ws, device=victim.welcome["device"])
    bystander = await Chatter.join(srv.ws)
    await refused(other_tab, matched["match"])
    await refused(bystander, matched["match"])
    await refused(bystander, "made-up-match")
    assert await cases(srv) == 0


async def test_the_fourth_most_recent_match_is_refused(srv):
    victim = None
    matches = []
    for _ in range(4):
        victim, stranger, matched = await meet(srv.ws, victim)
        matches.append(matched["match"])
        await leave(victim, stranger, matched["match"])
    await refused(victim, matches[0])
    assert await cases(srv) == 0
    await victim.send(type="report", reason="spam", match=matches[1])
    assert (await victim.expect("reported"))["match"] == matches[1]


async def test_a_match_that_ended_longer_ago_than_the_window_is_refused(srv):
    # The window is a core limit (10 minutes by default); shorten it on the live node.
    board = NODES.nodes[-1].switchboard
    board.limits = dataclasses.replace(board.limits, recent_seconds=0.3)
    victim, stranger, matched = await meet(srv.ws)
    await leave(victim, stranger, matched["match"])
    await asyncio.sleep(0.5)
    await refused(victim, matched["match"])
    assert await cases(srv) == 0


async def test_a_match_is_reported_once(srv):
    victim, stranger, matched = await meet(srv.ws)
    await leave(victim, stranger, matched["match"])
    await victim.send(type="report", reason="harassment", match=matched["match"])
    await victim.expect("reported")
    await refused(victim, matched["match"])
    assert await cases(srv) == 1


async def test_a_report_during_the_chat_cannot_be_repeated_after_it(srv):
    victim, _stranger, matched = await meet(srv.ws)
    await victim.send(type="report", reason="harassment", match=matched["match"])
    assert (await victim.expect("ended"))["reason"] == "report"
    await victim.expect("reported")
    await refused(victim, matched["match"])
    assert await cases(srv) == 1


async def test_a_stranger_on_a_gateway_that_died_can_still_be_reported(tmp_path, namespace):
    """Two gateways on Redis: the stranger's gateway goes away altogether after the
    flash; the victim's own session holds all the evidence, so the report goes through."""
    from ..brokers.gateways import REDIS_URL

    shared = {"redis_url": REDIS_URL, "redis_namespace": namespace, "same_device_pairs": False}
    async with serving(tmp_path, **shared) as home:
        async with serving(tmp_path, **shared) as away:
            victim = await Chatter.join(home.ws)
            stranger = await Chatter.join(away.ws)
            for chatter in (victim, stranger):
                await chatter.find()
            match = (await victim.expect("matched", timeout=10))["match"]
            await stranger.expect("matched")
            await stranger.send(type="message", text="across gateways")
            assert (await victim.expect("message"))["text"] == "across gateways"
        # The stranger's gateway has stopped: the victim hears the partner is gone.
        assert (await victim.expect("partner_left", timeout=10))["match"] == match
        await victim.send(type="report", reason="sexual", match=match)
        reported = await victim.expect("reported")
        [kept] = await evidence(home, reported["case"])
        assert [line["text"] for line in kept["lines"]] == ["across gateways"]
