"""Issue 16: age from the camera, against the real server (in-process) with estimates
injected by the test checker (``tests.checkers:scripted``, ``with_age``): a child who
typed an adult year is sent back by its own face, an adult in the teen pool is sent
out and barred, and nobody can use another chatter's video to do either to them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from strangers.moderation import Records
from strangers.moderation import tables as t

from ..checkers import with_age
from ..frame_posts import client_from, post
from ..gateway.chatter import ADULT, TEEN, Chatter
from ..images import portrait
from ..inprocess import Served, serving

ARRIVES = 5.0


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        teen_pool=True,
        same_device_pairs=False,
        frame_checker="tests.checkers:scripted",
        own_check_seconds=60.0,
        # The posting limits out of the way: what estimates do is the point here.
        frame_posts_per_second=50,
        frame_post_burst=50,
        limit_frame_device="1000/second",
        limit_frame_network="1000/second",
    ) as served:
        yield served


async def until(chatter: Chatter, kind: str) -> dict:
    while True:
        message = await chatter.recv(ARRIVES)
        if message["type"] == kind:
            return message


async def show_face(srv: Served, token: str, years: float, checks: int = 3) -> None:
    """The poster's own camera, ``checks`` times, estimated ``years`` old."""
    async with client_from(srv.base, "127.0.0.1") as client:
        for _ in range(checks):
            answer = await post(client, token, with_age(portrait(), years), source="own")
            if answer.status_code == 410:  # the match ended: the estimates acted
                return
            assert answer.status_code == 200, answer.text


async def pair_as(srv: Served, birth) -> tuple[Chatter, Chatter, dict, dict]:
    a = await Chatter.join(srv.ws, birth=birth)
    b = await Chatter.join(srv.ws, birth=birth, local_addr=("127.0.0.2", 0))
    for chatter in (a, b):
        await chatter.send(type="find", mode="video", interests=[])
        await chatter.expect("waiting")
    return a, b, await a.expect("matched"), await b.expect("matched")


async def test_a_child_who_typed_an_adult_year_is_sent_back_by_its_own_face(srv):
    child, stranger, mine, _theirs = await pair_as(srv, ADULT)
    device = child.welcome["device"]
    other_tab = await Chatter.join(srv.ws, device=device)
    await show_face(srv, mine["frame_token"], 11.0)
    assert (await until(stranger, "ended"))["reason"] == "safety"
    assert (await until(child, "refused"))["reason"] == "age_check"
    assert (await until(other_tab, "refused"))["reason"] == "age_check"
    again = await Chatter.hello(srv.ws, birth=ADULT, device=device)
    assert (again["type"], again["reason"]) == ("refused", "age_check")
    assert await cases(srv) == 0  # a child is not a suspect


async def test_an_adult_face_in_the_teen_pool_is_sent_out_barred_and_a_case_opens(srv):
    grown, teen, mine, _theirs = await pair_as(srv, TEEN)
    device = grown.welcome["device"]
    await show_face(srv, mine["frame_token"], 38.0)
    assert (await until(teen, "ended"))["reason"] == "safety"
    assert (await until(grown, "refused"))["reason"] == "age_check"
    again = await Chatter.hello(srv.ws, birth=TEEN, device=device)
    assert (again["type"], again["reason"]) == ("refused", "age_check")
    assert await cases(srv) == 1


async def test_an_estimate_of_the_strangers_video_sends_nobody_anywhere(srv):
    """The attacker posts its stranger's video (source=partner) marked with a child's
    and then an adult's age: estimates are asked for and counted only on a page's own
    camera, so the stranger chats on."""
    for birth, years in ((ADULT, 10.0), (TEEN, 40.0)):
        attacker, victim, mine, _ = await pair_as(srv, birth)
        async with client_from(srv.base, "127.0.0.1") as client:
            for _ in range(4):
                marked = with_age(portrait(), years)
                assert (await post(client, mine["frame_token"], marked)).status_code == 200
        await victim.send(type="message", text="still here")
        assert (await until(attacker, "message"))["text"] == "still here"
        await attacker.close()
        await victim.close()
    assert await cases(srv) == 0


async def cases(srv: Served) -> int:
    records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
    try:
        async with records.transaction() as session:
            return len((await session.scalars(select(t.Case.id))).all())
    finally:
        await records.close()
