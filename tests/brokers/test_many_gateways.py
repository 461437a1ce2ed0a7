"""Several gateways on the real Redis (docs/design.md §5, issue 8): in this process, each on a
thread and loop of its own and reaching the others only through Redis, except for the
chaos test, whose gateways are processes it kills.

- two gateways: pairing, chat, typing, skip, a closed socket, a report whose block
  reaches the matchmaker on the other gateway;
- three gateways with bots of both age bands chatting, skipping and coming back: the
  same properties the core's tests check, over the whole run;
- chaos: SIGKILL the gateway that holds the matchmaker leases, then another: every
  partner hears ``partner_left``, matching resumes, and the properties still hold.

How long those took is measured on the bots' clock and printed (``-s``) for
docs/performance.md, where it is held against docs/design.md §5's 5 s; it is not asserted:
tests never assert on wall-clock time.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests import images
from tests.bench import LOAD_TEST_LIMITS
from tests.brokers.bots import Seen, make_bots, violations
from tests.brokers.gateways import (
    REDIS_URL,
    Cluster,
    ThreadCluster,
    ThreadGateway,
    cluster,
    threaded_cluster,
)
from tests.gateway.chatter import Chatter
from tests.gateway.test_frames import post

COOLDOWN = 3.0
SETTINGS = dict(
    teen_pool=True,
    skips_per_minute=600,
    repair_cooldown=COOLDOWN,
    same_device_pairs=False,
    frames_per_second=100,
    # The bots all come from 127.0.0.1: per-network limits would refuse the load.
    **LOAD_TEST_LIMITS,
)
#: The bots chat in text: the scripted frame checker, and no model to load.
TEXT_ONLY = {**SETTINGS, "frame_checker": "tests.checkers:scripted"}


def lease_holder(nodes: Cluster | ThreadCluster, namespace: str, pool: str = "adult-text") -> str:
    """The node id holding ``pool``'s matchmaker lease."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        deadline = time.monotonic() + 10
        while (value := client.get(f"{namespace}:{{{pool}}}:lease")) is None:
            assert time.monotonic() < deadline, "no gateway took the lease"
            time.sleep(0.05)
        return str(value).split(":")[0]
    finally:
        client.close()


def test_two_gateways_pair_and_relay(tmp_path: Path, namespace: str) -> None:
    with threaded_cluster(tmp_path, namespace, ["g1", "g2"], **SETTINGS) as nodes:
        holder = nodes.by_node(lease_holder(nodes, namespace))
        other = next(g for g in nodes.gateways if g is not holder)
        asyncio.run(_pair_and_relay(holder.ws, other.ws))
        asyncio.run(_video_across(holder, other))


async def _video_across(holder: ThreadGateway, other: ThreadGateway) -> None:
    """A video match across gateways: both get frame tokens, signalling crosses, and a
    frame posted to the gateway that does not hold the session (the proxy's stickiness
    moved) is forwarded, checked by the real models there, and answered; b's own
    camera, checked on b's gateway, lets a's blur lift on the other one."""
    a, b = await Chatter.join(holder.ws), await Chatter.join(other.ws)
    for chatter in (a, b):
        await chatter.send(type="find", mode="video", interests=[])
        await chatter.expect("waiting")
    matched_a, matched_b = await a.expect("matched"), await b.expect("matched")
    assert matched_a["frame_token"] and matched_b["frame_token"]
    await a.send(type="signal", kind="offer", sdp="v=0\r\n")
    assert (await b.expect("signal"))["kind"] == "offer"
    async with httpx.AsyncClient(base_url=other.http) as client:
        cat = await post(client, matched_a["frame_token"], images.cat())
        assert cat.status_code == 200, cat.text
        assert await a.quiet(0.5)  # no face: still blurred
        own = await post(client, matched_b["frame_token"], images.portrait(), source="own")
        assert own.status_code == 200, own.text
        face = await post(client, matched_a["frame_token"], images.portrait())
        assert face.status_code == 200, face.text
        blur = await a.expect("blur")
        assert blur["on"] is False and blur["reason"] == "clear"
        # A refusal made on the holding gateway comes back as this request's answer.
        await b.send(type="stop")
        await b.expect("ended")
        await a.expect("partner_left")
        over = await post(client, matched_a["frame_token"], images.portrait())
        assert over.status_code == 410 and over.json()["code"] == "match_over"
    await a.close()
    await b.close()


async def _pair_and_relay(holder: str, other: str) -> None:
    a = await Chatter.join(holder)
    b = await Chatter.join(other)
    await a.find()
    await b.find()
    matched_a, matched_b = await a.expect("matched"), await b.expect("matched")
    assert matched_a["match"] == matched_b["match"]
    await a.send(type="message", text="hello from the first gateway")
    assert (await b.expect("message"))["text"] == "hello from the first gateway"
    await b.send(type="typing", active=True)
    assert (await a.expect("typing"))["active"] is True
    await b.send(type="message", text="and back from the second")
    assert (await a.expect("message"))["text"] == "and back from the second"
    # A skip on one gateway: the partner on the other hears it.
    await b.send(type="skip")
    assert (await b.expect("ended"))["reason"] == "skip"
    await b.expect("waiting")
    assert (await a.expect("partner_left"))["match"] == matched_a["match"]
    # A socket closed on one gateway: the partner on the other hears it.
    c = await Chatter.join(holder)
    await c.find()
    assert (await c.expect("matched"))["match"] == (await b.expect("matched"))["match"]
    await c.close()
    await b.expect("partner_left")
    # A report filed on the gateway without the matchmaker blocks the pair there too.
    d = await Chatter.join(holder)
    await d.find()
    await b.find()
    await d.expect("matched")
    await b.expect("matched")
    await b.send(type="report", reason="harassment", note="")
    assert (await b.expect("ended"))["reason"] == "report"
    await b.expect("reported", timeout=10)
    await d.expect("partner_left")
    await asyncio.sleep(COOLDOWN + 0.5)  # past the re-pair cooldown: only the block is left
    await d.find()
    await b.find()
    assert await b.quiet(1.5), "a reported pair met again across gateways"
    e = await Chatter.join(other)
    await e.find()
    await e.expect("matched")
    for chatter in (a, b, d, e):
        await chatter.close()


def _run_bots(urls: list[str], seconds: float, count: int, seed: int, events=()):
    """Bots for ``seconds``; ``events`` are (at, callable) run in a thread from those
    offsets (kills): each is given the bots' live log and returns when it acted.
    Returns the bots, their log and the times the events acted."""
    bots, log = make_bots(urls, count, teen_share=0.35, seed=seed)

    async def main() -> list[float]:
        start = time.monotonic()
        until = start + seconds
        tasks = [asyncio.create_task(bot.run(until)) for bot in bots]
        happened = []
        for at, action in events:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            happened.append(await asyncio.to_thread(action, log))
        await asyncio.gather(*tasks)
        return happened

    happened = asyncio.run(main())
    return bots, log, happened


def test_three_gateways_keep_the_matching_rules(tmp_path: Path, namespace: str) -> None:
    with threaded_cluster(tmp_path, namespace, ["g1", "g2", "g3"], **TEXT_ONLY) as nodes:
        _bots, log, _ = _run_bots([g.ws for g in nodes.gateways], seconds=12, count=36, seed=8)
    matches = {s.match for s in log if s.kind == "matched"}
    teen = {s.match for s in log if s.kind == "matched" and s.band == "teen"}
    across = _across_gateways(log)
    assert violations(log, COOLDOWN) == []
    # The run did what it claims: many matches, in both bands, across gateways, and churn.
    assert len(matches) >= 60 and len(teen) >= 10 and across >= 20
    assert sum(1 for s in log if s.kind == "leaves") >= 5
    assert sum(1 for s in log if s.kind == "partner_left") >= 5


def _across_gateways(log: list[Seen]) -> int:
    gateways: dict[str, set[int | None]] = {}
    for seen in log:
        if seen.kind == "matched" and seen.match is not None:
            gateways.setdefault(seen.match, set()).add(seen.gateway)
    return sum(1 for g in gateways.values() if len(g) == 2)


def _chats_open_at(log: list[Seen], moment: float) -> dict[str, list[Seen]]:
    """Matches both of whose sides were matched, and neither had left, at ``moment``."""
    open_: dict[str, list[Seen]] = {}
    closed: set[str] = set()
    for seen in log:
        if seen.at > moment or seen.match is None:
            continue
        if seen.kind == "matched":
            open_.setdefault(seen.match, []).append(seen)
        elif seen.kind in ("ended", "partner_left", "skip", "leaves", "disconnected"):
            closed.add(seen.match)
    return {m: sides for m, sides in open_.items() if len(sides) == 2 and m not in closed}


def _open_across(log: list[Seen], moment: float, gateway: int) -> int:
    """How many chats are open at ``moment`` between a chatter on ``gateway`` and one on
    another gateway."""
    return sum(
        1
        for sides in _chats_open_at(log, moment).values()
        if [s.gateway for s in sides].count(gateway) == 1
    )


def _told_within(log: list[Seen], kill: float, dead: str, gateways: dict[str, int]) -> list[float]:
    """For each chat open at ``kill`` between a chatter on the dead gateway and one on
    another: how long until the survivor heard its match was over."""
    dead_index = gateways[dead]
    delays = []
    for match, sides in _chats_open_at(log, kill).items():
        on_dead = [s for s in sides if s.gateway == dead_index]
        survivors = [s for s in sides if s.gateway != dead_index]
        if len(on_dead) != 1 or len(survivors) != 1:
            continue
        survivor = survivors[0]
        after = [s for s in log if s.bot == survivor.bot and s.match == match and s.at >= kill]
        first = min(after, key=lambda s: s.at, default=None)
        if first is not None and first.kind not in ("partner_left", "ended"):
            continue  # the survivor ended it itself first: nothing to measure
        delays.append(first.at - kill if first is not None else float("inf"))
    return delays


def _resumed_after(log: list[Seen], kill: float) -> float:
    """Seconds from ``kill`` to the first adult pair made after it (the killed gateway
    held the adult pool's matchmaker; a pair in flight at the kill may still land in
    the first 0.1 s)."""
    later = [s.at for s in log if s.kind == "matched" and s.band == "adult" and s.at > kill + 0.1]
    return min(later) - kill if later else float("inf")


@pytest.mark.process
@pytest.mark.serial
def test_killing_the_matchmakers_gateway_then_another(tmp_path: Path, namespace: str) -> None:
    """Separate processes: a gateway is killed with SIGKILL, as when a host dies (no
    goodbye to Redis, its sockets cut by the kernel), which a thread cannot undergo."""
    with cluster(tmp_path, namespace, ["g1", "g2", "g3"], **TEXT_ONLY) as nodes:
        index = {g.name: i for i, g in enumerate(nodes.gateways)}
        killed: list[str] = []

        def kill_when_chatting_across(gateway, log: list[Seen]) -> float:
            # The measure needs a chat open between this gateway and another at the
            # kill, whose survivor does not end it on its own first; with the bots'
            # random churn there may be none at a given instant, so wait (a few seconds
            # at most) for two, so that one at least is still measurable, then for one.
            start = time.monotonic()
            while (now := time.monotonic()) < start + 6:
                want = 2 if now < start + 3 else 1
                if _open_across(list(log), now, index[gateway.name]) >= want:
                    break
                time.sleep(0.02)
            killed.append(gateway.name)
            moment = time.monotonic()
            gateway.kill()
            return moment

        def kill_holder(log: list[Seen]) -> float:
            return kill_when_chatting_across(nodes.by_node(lease_holder(nodes, namespace)), log)

        def kill_next_holder(log: list[Seen]) -> float:
            # The lease moved to a survivor; wait for it, then kill that one too.
            deadline = time.monotonic() + 6
            while True:
                gateway = nodes.by_node(lease_holder(nodes, namespace))
                if gateway.name not in killed or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            return kill_when_chatting_across(gateway, log)

        _bots, log, kills = _run_bots(
            [g.ws for g in nodes.gateways],
            seconds=26,
            count=30,
            seed=11,
            events=((6.0, kill_holder), (15.0, kill_next_holder)),
        )
        logs = {g.name: g.log() for g in nodes.gateways}
    assert len(set(killed)) == 2, killed
    report = []
    for moment, name in zip(kills, killed, strict=True):
        told = _told_within(log, moment, name, index)
        resumed = _resumed_after(log, moment)
        report.append((name, told, resumed))
        assert told, f"no chat was open across {name} when it was killed"
        # Every survivor is told and matching comes back within the run; how many
        # seconds each took (docs/design.md §5 asks 5 s) is printed and kept in
        # docs/performance.md, not asserted: tests never assert on wall-clock time.
        assert all(math.isfinite(t) for t in told), f"partners of {name} never heard: {told}"
        assert math.isfinite(resumed), f"matching never resumed after {name} was killed"
    assert violations(log, COOLDOWN) == [], report
    print({name: text.count("matchmaker of adult-text runs here") for name, text in logs.items()})
    print(
        "chaos:",
        [(n, f"told max {max(t):.2f} s of {len(t)}", f"resumed {r:.2f} s") for n, t, r in report],
    )
