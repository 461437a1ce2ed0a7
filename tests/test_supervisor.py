"""``strangers serve --workers N``: several gateways on one host, one port, one Redis.

The supervisor's own rules (restart with a growing delay, stop passes the signal on) are
tested on small stand-in commands; the real thing runs once as processes, because the
process tree is the point: the port shared by two gateways, a killed worker replaced,
no worker left behind after a stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from strangers.supervisor import Supervisor, worker_name
from tests.brokers.gateways import REDIS_URL
from tests.gateway.chatter import Chatter
from tests.servers import free_port

SERVE = [sys.executable, "-m", "strangers", "serve"]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
QUITTER = [sys.executable, "-c", "raise SystemExit(3)"]


def test_worker_names_stay_within_the_gateway_id_limit() -> None:
    assert worker_name("host-a", 2) == "host-a-2"
    assert len(worker_name("x" * 40, 12)) == 32
    assert worker_name("x" * 40, 12).endswith("-12")


def test_a_worker_that_keeps_dying_is_restarted_later_each_time() -> None:
    now = [0.0]
    supervisor = Supervisor(QUITTER, 1, "t", clock=lambda: now[0])
    supervisor.start()
    worker = supervisor._workers[0]
    assert worker.process is not None
    worker.process.wait()
    delays = []
    for _ in range(4):
        supervisor.tend()  # sees the death, sets the delay
        delays.append(worker.delay)
        now[0] = worker.restart_at or now[0]
        supervisor.tend()  # restarts
        assert worker.process is not None
        worker.process.wait()
    assert delays == [1.0, 2.0, 4.0, 8.0]


def test_stop_passes_the_signal_on_and_leaves_no_worker() -> None:
    supervisor = Supervisor(SLEEPER, 2, "t", stop_timeout=5)
    supervisor.start()
    pids = supervisor.pids
    assert len(pids) == 2
    supervisor.stop(signal.SIGTERM)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRANGERS_REDIS")}
    done = subprocess.run(
        [sys.executable, "-m", "strangers", "serve", "--workers", "2", "--port", "1"],
        env={**env, "STRANGERS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs STRANGERS_REDIS_URL" in done.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.process
def test_two_workers_share_the_port_and_a_killed_one_comes_back(
    tmp_path: Path, namespace: str
) -> None:
    """Two gateways answer on one port, chatters on both are paired (through Redis, in
    their own pools), a SIGKILLed worker is replaced, and a stop leaves none behind."""
    port = free_port()
    env = {
        **os.environ,
        "STRANGERS_DATA_DIR": str(tmp_path),
        "STRANGERS_REDIS_URL": REDIS_URL,
        "STRANGERS_REDIS_NAMESPACE": namespace,
        "STRANGERS_POW_BITS": "0",
        "STRANGERS_POW_MAX_BITS": "0",
        "STRANGERS_FRAME_CHECKER": "tests.checkers:scripted",
        "STRANGERS_AGE_ESTIMATOR": "off",
    }
    log = (tmp_path / "serve.log").open("wb")
    supervisor = subprocess.Popen(
        [*SERVE, "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait(lambda: len(_children(supervisor.pid)) == 2, 60), "two workers"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:
                    return answer.status == 200
            except OSError:
                return False

        assert _wait(ready, 60)
        workers = _children(supervisor.pid)

        async def chat() -> None:
            url = f"ws://127.0.0.1:{port}/v1/ws"
            chatters = [await Chatter.join(url) for _ in range(8)]
            for chatter in chatters:
                await chatter.find()
            partners = [await chatter.expect("matched", timeout=10) for chatter in chatters]
            assert len({p["match"] for p in partners}) == 4
            for chatter in chatters:
                await chatter.close()

        asyncio.run(chat())

        os.kill(workers[0], signal.SIGKILL)
        assert _wait(
            lambda: (
                len(_children(supervisor.pid)) == 2 and workers[0] not in _children(supervisor.pid)
            ),
            30,
        ), "the killed worker is replaced"
        assert _wait(ready, 60)
        asyncio.run(chat())
        everyone = _children(supervisor.pid)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=30)
        log.close()
    assert code == 0
    for pid in everyone:
        assert _wait(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), 10)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
