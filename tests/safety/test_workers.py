"""Frame checks in check-worker processes (``safety/workers.py``, issue 18): real worker
processes, the real built-in checker on benign pictures (``pictures.py``), and the
misbehaving checker of ``stubs.py`` for what a worker may do wrong — die, hang, raise,
answer garbage. A frame a worker fails on is never a verdict (fail closed), the worker
is replaced and the next frame is checked; no worker outlives its pool or its parent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from strangers.core.frames import HashHit
from strangers.safety.checker import ModelFrameChecker
from strangers.safety.hashes import HashList, pdq_hex
from strangers.safety.jpeg import FrameRejected
from strangers.safety.pool import CheckPool, Shed
from strangers.safety.workers import (
    CheckerFault,
    ProcessBackend,
    WorkerSpec,
    result_from_wire,
    result_to_wire,
)

from .pictures import BENIGN_FRAMES, FACE_FRAMES, FACELESS_FRAMES

ROOT = Path(__file__).resolve().parents[2]
MISBEHAVING = WorkerSpec(frame_checker="tests.safety.stubs:misbehaving")


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie not yet reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped, or being reaped
        return True


async def until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def started(backend: ProcessBackend, workers: int = 1, **kw: object) -> CheckPool:
    pool = CheckPool(backend, workers=workers, **kw)  # type: ignore[arg-type]
    pool.start()
    await until(lambda: pool.ready, 60)
    return pool


@contextlib.asynccontextmanager
async def pool_of(
    spec: WorkerSpec, workers: int = 1, max_wait: float = 5.0, **kw: object
) -> AsyncIterator[CheckPool]:
    backend = ProcessBackend(spec, **kw)  # type: ignore[arg-type]
    pool = await started(backend, workers, max_wait=max_wait)
    try:
        yield pool
    finally:
        await pool.close()


def pid_of(result) -> int:
    (stage,) = result.stages
    return int(stage.removeprefix("pid:"))


@pytest.fixture(scope="module")
def in_process() -> ModelFrameChecker:
    return ModelFrameChecker()


async def test_the_builtin_checker_in_workers_gives_the_verdicts_it_gives_here(in_process):
    hashes = HashList()
    async with pool_of(WorkerSpec(age_estimator="off"), workers=2, hashes=hashes) as pool:
        backend = pool.backend
        assert isinstance(backend, ProcessBackend) and len(set(backend.pids())) == 2
        frames = list(BENIGN_FRAMES.values())
        results = await asyncio.gather(*(pool.check(frame, priority=3) for frame in frames))
    for frame, result in zip(frames, results, strict=True):
        here = in_process.check(frame)
        assert result.verdict == here.verdict
        assert result.face_source == here.face_source
        assert set(result.stages) == set(here.stages)
    by_name = dict(zip(BENIGN_FRAMES, results, strict=True))
    assert all(by_name[name].verdict.face for name in FACE_FRAMES)
    assert not any(by_name[name].verdict.face for name in FACELESS_FRAMES)
    assert all(r.verdict.nudity == () for r in results)


async def test_own_camera_frames_get_an_age_estimate_from_a_worker():
    async with pool_of(WorkerSpec(age_estimator="builtin")) as pool:
        own = await pool.check(FACE_FRAMES["astronaut"], priority=1, estimate_age=True)
        partner = await pool.check(FACE_FRAMES["astronaut"], priority=1)
    assert own.verdict.age is not None and 10 < own.verdict.age.years < 80
    assert "age" in own.stages
    assert partner.verdict.age is None


async def test_a_listed_frame_is_a_hash_hit_and_list_changes_reach_the_workers():
    hashes = HashList()
    frame = FACE_FRAMES["astronaut"]
    async with pool_of(WorkerSpec(age_estimator="off"), workers=2, hashes=hashes) as pool:
        first = await pool.check(frame, priority=3)
        assert first.verdict.hash_hit is None and "hash" not in first.stages
        hashes.replace([(pdq_hex(frame), "benign test picture")])
        # Both workers, each before its next frame.
        hits = await asyncio.gather(*(pool.check(frame, priority=3) for _ in range(6)))
        assert {r.verdict.hash_hit for r in hits} == {HashHit("benign test picture", 0)}
        assert all(r.hash_quality is not None and "hash" in r.stages for r in hits)
        # The same list reloaded is not a change; another list is.
        version = hashes.version
        hashes.replace([(pdq_hex(frame), "benign test picture")])
        assert hashes.version == version
        hashes.replace([])
        cleared = await asyncio.gather(*(pool.check(frame, priority=3) for _ in range(4)))
        assert all(r.verdict.hash_hit is None for r in cleared)


async def test_bad_bytes_are_rejected_in_the_worker_as_here():
    async with pool_of(WorkerSpec(age_estimator="off")) as pool:
        with pytest.raises(FrameRejected) as refused:
            await pool.check(b"GIF89a" + bytes(100), priority=3)
        assert refused.value.code == "not_jpeg"
        # The worker goes on.
        assert (await pool.check(FACE_FRAMES["astronaut"], priority=3)).verdict.face


async def test_a_killed_worker_is_replaced_and_the_next_frame_is_checked():
    async with pool_of(WorkerSpec(age_estimator="off"), workers=2) as pool:
        backend = pool.backend
        assert isinstance(backend, ProcessBackend)
        before = backend.pids()
        os.kill(before[0], signal.SIGKILL)
        # Once it is gone (all its threads: its pipe is closed), as the pool sees it.
        await until(lambda: before[0] not in backend.pids())
        # Both workers take a frame: the dead one's slot starts another worker first.
        results = await asyncio.gather(
            *(pool.check(FACE_FRAMES["astronaut"], priority=3) for _ in range(4))
        )
        assert all(r.verdict.face for r in results)
        after = backend.pids()
        assert len(after) == 2 and before[0] not in after and before[1] in after


async def test_a_worker_killed_during_a_check_fails_that_frame_as_a_fault():
    async with pool_of(MISBEHAVING) as pool:
        backend = pool.backend
        assert isinstance(backend, ProcessBackend)
        (pid,) = backend.pids()
        check = asyncio.create_task(pool.check(b"sleep:30", priority=3))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(CheckerFault) as fault:
            await check
        assert fault.value.code == "worker_died"
        result = await pool.check(b"clean", priority=3)
        assert result.verdict.clean and pid_of(result) != pid


async def test_a_frame_that_crashes_its_worker_is_a_fault_never_a_verdict():
    async with pool_of(MISBEHAVING) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"crash", priority=3)
        assert fault.value.code == "worker_died"
        await until(lambda: gone(first))
        assert pid_of(await pool.check(b"clean", priority=3)) != first


async def test_a_hung_worker_is_killed_after_the_check_timeout_and_replaced():
    async with pool_of(MISBEHAVING, check_timeout=0.5) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        began = time.monotonic()
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"sleep:60", priority=3)
        assert fault.value.code == "worker_hung" and time.monotonic() - began < 5
        await until(lambda: gone(first))
        assert pid_of(await pool.check(b"clean", priority=3)) != first


async def test_what_the_checker_raises_is_a_fault_and_the_worker_goes_on():
    async with pool_of(MISBEHAVING) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        for frame in (b"boom", b"nan"):
            with pytest.raises(CheckerFault) as fault:
                await pool.check(frame, priority=3)
            assert fault.value.code == "checker_raised"
        with pytest.raises(FrameRejected):
            await pool.check(b"reject", priority=3)
        assert pid_of(await pool.check(b"clean", priority=3)) == first


async def test_an_answer_that_is_not_a_verdict_costs_the_worker_its_place():
    async with pool_of(MISBEHAVING) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"odd", priority=3)
        assert fault.value.code == "bad_answer"
        await until(lambda: gone(first))
        assert pid_of(await pool.check(b"clean", priority=3)) != first


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        [],
        {"face": 1},
        {"face": True, "nudity": "X", "scores": [], "stages": {}},
        {"face": True, "nudity": ["X" * 65], "scores": [], "stages": {}},
        {"face": True, "nudity": [], "scores": [["A", "0.5"]], "stages": {}},
        {"face": True, "nudity": [], "scores": [["A", 0.5, 1]], "stages": {}},
        {"face": True, "nudity": [], "scores": [], "stages": {"decode": True}},
        {"face": True, "nudity": [], "scores": [], "stages": {str(n): 0.1 for n in range(17)}},
        {"face": True, "nudity": [], "scores": [], "stages": {}, "hash_hit": ["x", 257]},
        {"face": True, "nudity": [], "scores": [], "stages": {}, "hash_quality": 101},
        {"face": True, "nudity": [], "scores": [], "stages": {}, "age": [1e400, 0.5]},
        {"face": True, "nudity": [], "scores": [], "stages": {}, "face_source": "x"},
    ],
)
def test_the_chat_process_reads_nothing_but_a_verdict_from_a_worker(garbage):
    with pytest.raises(ValueError):
        result_from_wire(garbage)


def test_a_verdict_survives_the_wire():
    hashes = HashList([(pdq_hex(FACE_FRAMES["astronaut"]), "a label")])
    checker = ModelFrameChecker(hashes=hashes)
    for frame in BENIGN_FRAMES.values():
        result = checker.check(frame)
        assert result_from_wire(result_to_wire(result)) == result


async def test_a_checker_that_does_not_load_leaves_the_pool_not_ready_and_closes_at_once(caplog):
    backend = ProcessBackend(WorkerSpec(frame_checker="tests.safety.stubs:NoSuchThing"))
    pool = CheckPool(backend, workers=1)
    pool.start()
    await until(lambda: "did not load the frame checker" in caplog.text)
    assert "has no 'NoSuchThing'" in caplog.text
    assert not pool.ready
    began = time.monotonic()
    await pool.close()
    assert time.monotonic() - began < 2 and backend.pids() == []


async def test_frames_posted_while_the_workers_load_wait_for_them():
    backend = ProcessBackend(WorkerSpec(frame_checker="tests.safety.stubs:slow_to_load"))
    pool = CheckPool(backend, workers=1, max_wait=30)
    pool.start()
    try:
        assert not pool.ready
        result = await pool.check(b"anything", priority=1)
        assert result.verdict.clean and pool.ready
    finally:
        await pool.close()


async def test_frames_not_checked_within_max_wait_are_shed_as_stale_with_workers():
    async with pool_of(MISBEHAVING, max_wait=1.0) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        busy = asyncio.create_task(pool.check(b"sleep:1.5", priority=3))
        await asyncio.sleep(0.2)
        with pytest.raises(Shed) as stale:
            await pool.check(b"clean", priority=0)
        assert stale.value.reason == "stale"
        with pytest.raises(Shed):
            await busy  # its check runs on; the answer is dropped
        await asyncio.sleep(0.5)
        assert pid_of(await pool.check(b"clean", priority=3)) == first


async def test_a_cancelled_callers_frame_never_reaches_a_worker():
    async with pool_of(MISBEHAVING) as pool:
        busy = asyncio.create_task(pool.check(b"sleep:0.5", priority=3))
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(pool.check(b"crash", priority=3))
        await asyncio.sleep(0.1)
        assert pool.pending == 1
        waiting.cancel()
        first = pid_of(await busy)
        assert pool.pending == 0
        assert pid_of(await pool.check(b"clean", priority=3)) == first


async def test_closing_the_pool_stops_every_worker():
    backend = ProcessBackend(MISBEHAVING)
    pool = await started(backend, workers=2)
    pids = backend.pids()
    assert len(pids) == 2 and not any(gone(pid) for pid in pids)
    await pool.close()
    assert all(gone(pid) for pid in pids) and not pool.ready


PARENT = """
import asyncio, sys
from strangers.safety.pool import CheckPool
from strangers.safety.workers import ProcessBackend, WorkerSpec

async def main():
    backend = ProcessBackend(WorkerSpec(frame_checker="tests.safety.stubs:misbehaving"))
    pool = CheckPool(backend, workers=2)
    pool.start()
    while not pool.ready:
        await asyncio.sleep(0.02)
    # One worker in a check that hangs, one idle: both must go with their parent.
    hung = asyncio.create_task(pool.check(b"sleep:600", priority=3))
    await asyncio.sleep(0.3)
    print(*backend.pids(), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_workers_exit_when_their_parent_is_killed(parent):
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2 and not any(gone(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, "a check worker outlived its parent"
        time.sleep(0.05)
