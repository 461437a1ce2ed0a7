"""Attack 1 (issue 15): forged frames frame an innocent. A viewer's page posts any picture
as ``source=partner`` with its own frame token, and the verdict is charged to the
partner. On the code before the fix, a flagged picture banned a teen partner for 7 days
at once, an adult partner for 24 h after two throwaway attacker devices, and a forged
hash-list hit banned the partner for good and escalated a case, all without the
partner ever opening a camera. Now one viewer's word blurs and ends that viewer's match
and opens a case; a sanction needs the sender's own camera, independent viewers on
distinct networks, or a moderator; and a sender whose page does not have its own camera
checked is never shown (docs/safety.md, "Whose word counts"). Verdicts are injected
(``tests.checkers``) into benign pictures; against the real server, in process, with
clients on distinct loopback addresses where networks must differ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from strangers.moderation import Records
from strangers.moderation import tables as t

from ..checkers import with_verdict
from ..gateway.chatter import ADULT, TEEN, Chatter
from ..images import portrait
from ..inprocess import Served, serving

NUDE = with_verdict(portrait(), "nudity")
LISTED = with_verdict(portrait(), "known_abuse")
CLEAN = portrait()


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        teen_pool=True,
        same_device_pairs=False,
        frame_checker="tests.checkers:scripted",
        # Short enough that "never checked" shows within the test, as it would in 12 s.
        own_check_seconds=1.0,
    ) as served:
        yield served


async def video(url: str, birth=ADULT, address: str = "127.0.0.1", device=None) -> Chatter:
    chatter = await Chatter.join(url, birth=birth, device=device, local_addr=(address, 0))
    await chatter.send(type="find", mode="video", interests=[])
    await chatter.expect("waiting")
    return chatter


async def meet(url: str, victim: Chatter, birth=ADULT, address: str = "127.0.0.9"):
    """A new stranger from ``address`` meets ``victim`` (already waiting); returns the
    stranger and both ``matched`` messages."""
    stranger = await video(url, birth, address)
    theirs, ours = await stranger.expect("matched"), await victim.expect("matched")
    assert theirs["match"] == ours["match"]
    return stranger, theirs, ours


async def post(srv: Served, token: str, jpeg: bytes, source: str = "partner") -> None:
    async with httpx.AsyncClient(base_url=srv.base) as client:
        answer = await client.post(
            f"/v1/frames?source={source}",
            content=jpeg,
            headers={"authorization": f"Bearer {token}", "content-type": "image/jpeg"},
        )
    assert answer.status_code == 200, answer.text


async def until(chatter: Chatter, kind: str) -> dict:
    while (message := await chatter.recv())["type"] != kind:
        pass
    return message


async def records_of(srv: Served) -> dict[str, list]:
    records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
    try:
        async with records._engine.connect() as connection:
            return {
                "cases": [
                    tuple(row)
                    for row in await connection.execute(
                        select(t.Case.severity, t.Case.status, t.Case.escalated).order_by(t.Case.id)
                    )
                ],
                "strikes": list(await connection.scalars(select(t.Strike.device))),
                "bans": await records.bans.active(now=datetime.now(UTC)),
            }
    finally:
        await records.close()


async def still_welcome(url: str, victim: Chatter, birth) -> None:
    """The victim is not banned: a new connection of its device is welcomed, and it
    meets someone new and chats."""
    again = await Chatter.hello(url, birth=birth, device=victim.welcome["device"])
    assert again["type"] == "welcome", again
    await victim.send(type="find", mode="video", interests=[])
    await victim.expect("waiting")
    other, _, _ = await meet(url, victim, birth, address="127.0.0.20")
    await other.send(type="message", text="hello")
    assert (await victim.expect("message"))["text"] == "hello"


async def forged(srv: Served, victim: Chatter, jpeg: bytes, birth, address: str) -> Chatter:
    """An attacker from ``address`` meets ``victim`` and posts ``jpeg`` as a frame of
    the victim's video; the attacker's own match is blurred and ended; returns it."""
    attacker, theirs, ours = await meet(srv.ws, victim, birth, address)
    await post(srv, theirs["frame_token"], jpeg)
    blur = await until(attacker, "blur")
    assert blur["on"] is True and blur["reason"] in ("nudity", "known_abuse")
    assert (await attacker.expect("ended"))["reason"] == "safety"
    assert await victim.expect("ended") == {
        "type": "ended",
        "reason": "safety",
        "match": ours["match"],
    }
    return attacker


async def test_a_forged_nudity_frame_does_not_ban_a_teen_partner(srv: Served) -> None:
    victim = await video(srv.ws, TEEN)
    await forged(srv, victim, NUDE, TEEN, "127.0.0.2")
    assert await victim.quiet(0.5)  # no `banned`, no close
    await still_welcome(srv.ws, victim, TEEN)
    stored = await records_of(srv)
    assert stored["cases"] == [(80, "open", False)]  # a case for a moderator
    assert stored["strikes"] == [] and stored["bans"] == []


async def test_forged_frames_from_two_throwaway_devices_do_not_ban_an_adult(srv: Served) -> None:
    victim = await video(srv.ws)
    for _ in range(2):  # two attacker devices, as in the issue
        await forged(srv, victim, NUDE, ADULT, "127.0.0.2")
        await victim.send(type="find", mode="video", interests=[])
        await victim.expect("waiting")
    assert await victim.quiet(0.5)
    await victim.send(type="stop")
    await victim.expect("ended")
    await still_welcome(srv.ws, victim, ADULT)
    stored = await records_of(srv)
    assert stored["cases"] == [(40, "open", False), (40, "open", False)]
    assert stored["strikes"] == [] and stored["bans"] == []


async def test_a_forged_hash_hit_opens_a_critical_case_without_ban_or_escalation(
    srv: Served,
) -> None:
    victim = await video(srv.ws)
    await forged(srv, victim, LISTED, ADULT, "127.0.0.2")
    assert await victim.quiet(0.5)
    await still_welcome(srv.ws, victim, ADULT)
    stored = await records_of(srv)
    assert stored["cases"] == [(100, "open", False)]  # critical, waiting for a person
    assert stored["strikes"] == [] and stored["bans"] == []


async def test_three_viewers_on_three_networks_corroborate_a_ban(srv: Served) -> None:
    subject = await video(srv.ws, TEEN)
    for n, address in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4")):
        if n:
            await subject.send(type="find", mode="video", interests=[])
            await subject.expect("waiting")
        await forged(srv, subject, NUDE, TEEN, address)
    banned = await until(subject, "banned")
    days = (banned["until"] - datetime.now(UTC).timestamp()) / 86400
    assert 6.9 < days <= 7.01
    stored = await records_of(srv)
    assert [status for _, status, _ in stored["cases"]] == ["open", "open", "open"]
    assert len(stored["strikes"]) == 1 and len(stored["bans"]) == 1


async def test_nudity_on_the_senders_own_camera_still_bans(srv: Served) -> None:
    subject = await video(srv.ws, TEEN)
    viewer, _, own = await meet(srv.ws, subject, TEEN, "127.0.0.2")
    await post(srv, own["frame_token"], NUDE, source="own")
    assert (await until(viewer, "blur"))["reason"] == "nudity"
    assert (await subject.expect("ended"))["reason"] == "safety"
    banned = await subject.expect("banned")
    assert banned["until"] > datetime.now(UTC).timestamp() + 6.9 * 86400
    again = await Chatter.hello(srv.ws, birth=TEEN, device=subject.welcome["device"])
    assert again["type"] == "banned"


async def test_a_sender_that_never_has_its_own_camera_checked_is_never_shown(
    srv: Served,
) -> None:
    viewer = await video(srv.ws)
    sender, _, ours = await meet(srv.ws, viewer, ADULT, "127.0.0.2")
    # The sender's page posts nothing; the viewer's page samples a clean face.
    await post(srv, ours["frame_token"], CLEAN)
    assert await viewer.quiet(0.3)  # safe start holds while the sender may still post
    await asyncio.sleep(1.0)  # past own_check_seconds
    await post(srv, ours["frame_token"], CLEAN)
    assert await viewer.expect("blur") == {
        "type": "blur",
        "on": True,
        "reason": "not_checked",
        "match": ours["match"],
    }
    await post(srv, ours["frame_token"], CLEAN)
    assert await viewer.quiet(0.3)  # never lifted
    assert viewer.ws.state.name == "OPEN" and sender.ws.state.name == "OPEN"
