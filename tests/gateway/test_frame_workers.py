"""The gateway's frame checks in check-worker processes (issue 18, ``safety/workers.py``):
they load while the server starts, ``/readyz`` says ``models: unavailable`` until every
worker has loaded, and none outlives the app; or in a check service the gateway reaches
over TCP (``frame_check_mode = remote``, ``safety/remote.py``). Against the real server,
in process."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from strangers.safety.check_service import CheckService
from strangers.safety.workers import WorkerSpec

from ..frame_posts import post, video_pair
from ..images import portrait
from ..inprocess import serving
from ..servers import free_port

WORKER_MODULE = "strangers.safety.check_worker"


def check_workers() -> set[int]:
    """The check-worker processes this (test) process started and that still run."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        state, parent = fields[0], int(fields[1])
        if parent == os.getpid() and state != "Z" and WORKER_MODULE.encode() in command:
            found.add(int(entry.name))
    return found


async def test_readyz_waits_for_every_check_worker_to_load(tmp_path):
    # A checker that takes 2 s to load, as the models do on a busy machine.
    async with (
        serving(
            tmp_path, models_ready=False, frame_checker="tests.safety.stubs:slow_to_load"
        ) as srv,
        httpx.AsyncClient(base_url=srv.base) as client,
    ):
        first = await client.get("/readyz")
        assert first.status_code == 503
        assert first.json()["checks"] == {"database": "ok", "redis": "off", "models": "unavailable"}
        deadline = time.monotonic() + 30
        while (answer := await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, answer.json()
            await asyncio.sleep(0.1)
        assert answer.json()["checks"]["models"] == "ok"


async def test_no_check_worker_outlives_the_app(tmp_path):
    before = check_workers()
    async with serving(
        tmp_path,
        models_ready=False,  # frames posted while the workers load wait for them
        frame_checker="tests.checkers:scripted",
        frame_workers=2,
        same_device_pairs=False,
    ) as srv:
        a, b, ours, theirs = await video_pair(srv.ws)
        async with httpx.AsyncClient(base_url=srv.base, timeout=30) as client:
            # Frames are checked in the workers (posted while they load, they wait).
            own = await post(client, theirs["frame_token"], portrait(), source="own")
            assert own.status_code == 200, own.text
            assert (await post(client, ours["frame_token"], portrait())).status_code == 200
        assert (await a.expect("blur"))["on"] is False
        workers = check_workers() - before
        assert len(workers) == 2
        await a.close()
        await b.close()
    assert not check_workers() & workers


async def test_a_gateway_in_remote_mode_checks_frames_in_the_check_service(tmp_path):
    secret = "a check service secret for this test, 40+ chars"
    port = free_port()
    # The service's checker, not the gateway's, checks the frames.
    service = CheckService(
        WorkerSpec(frame_checker="tests.checkers:scripted"), secret.encode(), workers=2
    )
    before = check_workers()
    async with (
        serving(
            tmp_path,
            frame_check_mode="remote",
            frame_check_service=f"tcp://127.0.0.1:{port}",
            check_service_secret=secret,
            frame_checker="tests.safety.stubs:NoSuchThing",
            same_device_pairs=False,
        ) as srv,
        httpx.AsyncClient(base_url=srv.base, timeout=30) as client,
    ):
        # No service yet: not ready, and the gateway started no worker of its own.
        answer = await client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["checks"]["models"] == "unavailable"
        await service.start("127.0.0.1", port)
        try:
            deadline = time.monotonic() + 30
            while (answer := await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, answer.json()
                await asyncio.sleep(0.1)
            a, b, ours, theirs = await video_pair(srv.ws)
            own = await post(client, theirs["frame_token"], portrait(), source="own")
            assert own.status_code == 200, own.text
            seen = await post(client, ours["frame_token"], portrait())
            assert seen.status_code == 200 and seen.json() == {"status": "checked"}
            assert (await a.expect("blur"))["on"] is False
            # The only check workers are the service's (here, in this test's process).
            assert len(service.pids()) == 2 and check_workers() - before == set(service.pids())
            await a.close()
            await b.close()
        finally:
            await service.close()
