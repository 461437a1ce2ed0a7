"""The check pool with a stand-in checker that blocks until the test lets it go: order
by priority, shedding, cancellation, errors, closing, and the metrics of each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from strangers.core.frames import FrameVerdict, HashHit
from strangers.safety.jpeg import FrameRejected
from strangers.safety.metrics import verdict_label
from strangers.safety.pool import CheckPool, Shed

from .stubs import GatedChecker


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def shed_count(reason: str) -> float:
    return sample("strangers_frames_shed_total", {"reason": reason})


def checked_count(verdict: str) -> float:
    return sample("strangers_frames_checked_total", {"verdict": verdict})


def seconds_count(stage: str) -> float:
    return sample("strangers_frame_check_seconds_count", {"stage": stage})


@pytest.fixture
def gated() -> GatedChecker:
    return GatedChecker()


@pytest.fixture
async def pool(gated: GatedChecker) -> AsyncIterator[CheckPool]:
    pool = CheckPool(gated, workers=1, capacity=3)
    yield pool
    gated.gate.set()
    await pool.close()


async def entered(gated: GatedChecker) -> None:
    """Wait until the checker has been given one more frame."""
    assert await asyncio.to_thread(gated.entered.acquire, timeout=5)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_lower_priority_numbers_go_first_then_the_older(pool, gated):
    busy = asyncio.create_task(pool.check(b"busy", priority=3))
    await entered(gated)
    queued = [(b"rest", 3), (b"teen-a", 2), (b"first", 1), (b"teen-b", 2)]
    tasks = [asyncio.create_task(pool.check(data, priority=p)) for data, p in queued[:3]]
    await settle()
    assert pool.pending == 3
    gated.gate.set()
    await asyncio.gather(busy, *tasks)
    assert gated.started == [b"busy", b"first", b"teen-a", b"rest"]
    gated.gate.clear()
    busy = asyncio.create_task(pool.check(b"busy", priority=3))
    await entered(gated)
    tasks = [asyncio.create_task(pool.check(data, priority=p)) for data, p in queued[1:]]
    await settle()
    gated.gate.set()
    await asyncio.gather(busy, *tasks)
    assert gated.started[4:] == [b"busy", b"first", b"teen-a", b"teen-b"]


async def test_a_full_queue_sheds_the_least_urgent_newest_frame(pool, gated):
    full0, displaced0 = shed_count("queue_full"), shed_count("displaced")
    busy = asyncio.create_task(pool.check(b"busy", priority=0))
    await entered(gated)
    old = asyncio.create_task(pool.check(b"old", priority=3))
    newer = asyncio.create_task(pool.check(b"newer", priority=3))
    urgent = asyncio.create_task(pool.check(b"urgent", priority=1))
    await settle()
    assert pool.pending == 3
    # Full: a new frame as unimportant as the least urgent waiting one is the newest.
    with pytest.raises(Shed) as caught:
        await pool.check(b"same", priority=3)
    assert caught.value.reason == "queue_full"
    assert shed_count("queue_full") == full0 + 1
    # A more urgent frame displaces the newest of the least urgent.
    first = asyncio.create_task(pool.check(b"first", priority=0))
    await settle()
    assert newer.done()
    with pytest.raises(Shed) as caught:
        await newer
    assert caught.value.reason == "displaced"
    assert shed_count("displaced") == displaced0 + 1
    assert pool.pending == 3
    gated.gate.set()
    await asyncio.gather(busy, old, urgent, first)
    assert gated.started == [b"busy", b"first", b"urgent", b"old"]


async def test_a_cancelled_caller_takes_its_frame_out(pool, gated):
    busy = asyncio.create_task(pool.check(b"busy", priority=0))
    await entered(gated)
    gone = asyncio.create_task(pool.check(b"gone", priority=1))
    await settle()
    assert pool.pending == 1
    depth = sample("strangers_frame_queue_depth")
    gone.cancel()
    await settle()
    assert pool.pending == 0
    assert sample("strangers_frame_queue_depth") == depth - 1
    kept = asyncio.create_task(pool.check(b"kept", priority=2))
    gated.gate.set()
    await asyncio.gather(busy, kept)
    assert gated.started == [b"busy", b"kept"]


async def test_a_caller_cancelled_during_its_check_gets_nothing_and_the_pool_goes_on(pool, gated):
    running = asyncio.create_task(pool.check(b"busy", priority=0))
    await entered(gated)
    running.cancel()
    gated.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await pool.check(b"after", priority=0)).verdict == FrameVerdict()


async def test_a_frame_starved_past_max_wait_is_shed_stale_and_leaves_the_queue(gated):
    pool = CheckPool(gated, workers=1, capacity=3, max_wait=0.3)
    try:
        busy = asyncio.create_task(pool.check(b"busy", priority=0))
        await entered(gated)
        before = shed_count("stale")
        with pytest.raises(Shed) as shed:
            await pool.check(b"starved", priority=3)
        assert shed.value.reason == "stale"
        assert pool.pending == 0
        # The running check overran too: its caller is not kept waiting either.
        with pytest.raises(Shed):
            await busy
        assert shed_count("stale") == before + 2
        gated.gate.set()
        assert (await pool.check(b"after", priority=3)).verdict == FrameVerdict()
        assert gated.started == [b"busy", b"after"]  # the starved frame was never checked
    finally:
        gated.gate.set()
        await pool.close()


async def test_rejections_and_checker_faults_reach_the_caller_and_are_counted(pool, gated):
    gated.gate.set()
    rejected0, failed0 = checked_count("rejected"), checked_count("failed")
    with pytest.raises(FrameRejected):
        await pool.check(b"reject", priority=1)
    with pytest.raises(RuntimeError, match="the checker broke"):
        await pool.check(b"boom", priority=1)
    assert checked_count("rejected") == rejected0 + 1
    assert checked_count("failed") == failed0 + 1
    # The worker is still there.
    assert (await pool.check(b"fine", priority=1)).verdict.clean


async def test_verdicts_and_stage_times_are_recorded(pool, gated):
    gated.gate.set()
    before = {v: checked_count(v) for v in ("clean", "nudity", "no_face", "known_abuse")}
    stages = {s: seconds_count(s) for s in ("decode", "nudity", "face", "hash", "queue", "total")}
    for data in (b"clean", b"nudity", b"no face", b"known"):
        await pool.check(data, priority=2)
    for verdict, count in before.items():
        assert checked_count(verdict) == count + 1, verdict
    for stage, count in stages.items():
        assert seconds_count(stage) == count + 4, stage
    # A stage name the metric does not know is not recorded.
    assert seconds_count("odd") == 0


async def test_closing_sheds_what_waits_and_lets_the_running_check_finish(gated):
    pool = CheckPool(gated, workers=1, capacity=4)
    closed0 = shed_count("closed")
    busy = asyncio.create_task(pool.check(b"busy", priority=0))
    await entered(gated)
    waiting = [asyncio.create_task(pool.check(b"w%d" % n, priority=1)) for n in range(2)]
    await settle()
    closing = asyncio.create_task(pool.close())
    await settle()
    for task in waiting:
        with pytest.raises(Shed) as caught:
            await task
        assert caught.value.reason == "closed"
    assert not closing.done()  # waits for the running check
    gated.gate.set()
    await closing
    assert (await busy).verdict.clean
    assert pool.pending == 0 and pool.closed
    with pytest.raises(Shed):
        await pool.check(b"late", priority=0)
    assert shed_count("closed") == closed0 + 3
    await pool.close()  # twice is fine


async def test_workers_run_checks_at_the_same_time(gated):
    pool = CheckPool(gated, workers=3, capacity=8)
    try:
        tasks = [asyncio.create_task(pool.check(b"%d" % n, priority=1)) for n in range(6)]
        for _ in range(3):
            await entered(gated)
        assert gated.running == 3
        gated.gate.set()
        await asyncio.gather(*tasks)
    finally:
        await pool.close()
    assert gated.most_at_once == 3


def test_sizes_are_validated(gated):
    with pytest.raises(ValueError):
        CheckPool(gated, workers=0)
    with pytest.raises(ValueError):
        CheckPool(gated, capacity=0)


def test_each_verdict_counts_under_its_gravest_label():
    assert verdict_label(FrameVerdict()) == "clean"
    assert verdict_label(FrameVerdict(face=False)) == "no_face"
    assert verdict_label(FrameVerdict(nudity=("ANUS_EXPOSED",), face=False)) == "nudity"
    hit = FrameVerdict(nudity=("ANUS_EXPOSED",), hash_hit=HashHit("x", 1))
    assert verdict_label(hit) == "known_abuse"


def shares(session: str, device: str | None = None, network: str = "net") -> dict[str, str]:
    return {"session": session, "device": device or f"dev-{session}", "network": network}


async def test_a_key_over_its_share_sheds_only_its_own_frames(gated):
    # Issue 15, attack 2: one session, device or network flooding the pool sheds its
    # own frames ("over_share"); everyone else's are still queued and checked.
    pool = CheckPool(
        gated, workers=1, capacity=16, share_limits={"session": 2, "device": 3, "network": 5}
    )
    try:
        over0 = shed_count("over_share")
        mine = [
            asyncio.create_task(pool.check(b"a%d" % n, priority=3, shares=shares("a")))
            for n in range(2)
        ]
        await entered(gated)
        with pytest.raises(Shed) as caught:
            await pool.check(b"a-more", priority=0, shares=shares("a"))
        assert caught.value.reason == "over_share"
        # The device's other tab has one more frame in its share, then no more.
        tab = asyncio.create_task(pool.check(b"tab", priority=3, shares=shares("t", "dev-a")))
        await settle()
        with pytest.raises(Shed):
            await pool.check(b"tab-more", priority=3, shares=shares("t2", "dev-a"))
        assert pool.held("device", "dev-a") == 3
        # The network has room for two more frames from other devices, then no more.
        others = [
            asyncio.create_task(pool.check(b"o%d" % n, priority=3, shares=shares(f"o{n}")))
            for n in range(2)
        ]
        await settle()
        with pytest.raises(Shed):
            await pool.check(b"o-more", priority=3, shares=shares("o9"))
        # Another network is not touched by any of it.
        honest = asyncio.create_task(
            pool.check(b"honest", priority=3, shares=shares("h", network="home"))
        )
        await settle()
        assert shed_count("over_share") == over0 + 3
        gated.gate.set()
        await asyncio.gather(*mine, tab, *others, honest)
        assert b"honest" in gated.started and b"a-more" not in gated.started
        # Every share was given back when its frame's check ended.
        assert pool.held("session", "a") == pool.held("device", "dev-a") == 0
        assert pool.held("network", "net") == 0
        assert (await pool.check(b"a-again", priority=3, shares=shares("a"))).verdict.clean
    finally:
        gated.gate.set()
        await pool.close()


async def test_a_full_queue_sheds_the_flooding_key_before_an_honest_frame(gated):
    pool = CheckPool(gated, workers=1, capacity=4, share_limits={"session": 8, "network": 8})
    try:
        busy = asyncio.create_task(
            pool.check(b"busy", priority=0, shares=shares("x", network="other"))
        )
        await entered(gated)
        # The abuser's frames are the most urgent kind (first frames in the teen pool).
        flood = [
            asyncio.create_task(
                pool.check(b"f%d" % n, priority=0, shares=shares("abuser", network="bad"))
            )
            for n in range(4)
        ]
        await settle()
        assert pool.pending == 4
        honest = asyncio.create_task(
            pool.check(b"honest", priority=3, shares=shares("h", network="home"))
        )
        await settle()
        # The newest of the abuser's frames made room; the honest frame waits its turn.
        assert flood[3].done() and pool.pending == 4
        with pytest.raises(Shed) as caught:
            await flood[3]
        assert caught.value.reason == "displaced"
        # The abuser cannot win the place back while it is the busiest key.
        with pytest.raises(Shed) as caught:
            await pool.check(b"f-more", priority=0, shares=shares("abuser", network="bad"))
        assert caught.value.reason == "queue_full"
        gated.gate.set()
        await asyncio.gather(busy, *flood[:3], honest)
        assert gated.started[-1] == b"honest"  # priorities still order the service
    finally:
        gated.gate.set()
        await pool.close()


async def test_a_running_check_keeps_its_share_after_its_caller_gave_up(gated):
    pool = CheckPool(gated, workers=2, capacity=4, max_wait=0.2, share_limits={"session": 1})
    try:
        with pytest.raises(Shed) as caught:
            await pool.check(b"slow", priority=3, shares={"session": "s"})
        assert caught.value.reason == "stale"
        # Its check still runs in a worker: the session's share is still in use.
        assert pool.held("session", "s") == 1
        with pytest.raises(Shed) as caught:
            await pool.check(b"again", priority=3, shares={"session": "s"})
        assert caught.value.reason == "over_share"
        gated.gate.set()
        for _ in range(100):
            if not pool.held("session", "s"):
                break
            await asyncio.sleep(0.01)
        assert pool.held("session", "s") == 0
        assert (await pool.check(b"after", priority=3, shares={"session": "s"})).verdict.clean
    finally:
        gated.gate.set()
        await pool.close()


def test_share_limits_are_validated(gated):
    with pytest.raises(ValueError):
        CheckPool(gated, share_limits={"session": 0})
