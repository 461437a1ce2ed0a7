"""The load generator at tiny scale against the real server on loopback.

Starts ``python -m strangers serve`` on a free 127.0.0.1 port, runs scenario C
with 20 chatters and scenario F (skip churn) with 20 chatters, and checks the
invariants: everyone paired, no double or repeated pair, no lost round, round
trips measured. Nothing here asserts on time.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangers import loadtest

READY_WITHIN = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("strangers-data")
    port = _free_port()
    log_path = Path(data_dir) / "server.log"
    env = dict(os.environ, STRANGERS_DATA_DIR=str(data_dir))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strangers",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_WITHIN
        while not _healthy(port):
            if proc.poll() is not None:
                pytest.fail(f"server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"server not healthy within {READY_WITHIN} s")
            # Wait for the port to accept rather than sleeping a fixed time.
            with socket.socket() as probe:
                probe.settimeout(0.1)
                try:
                    probe.connect(("127.0.0.1", port))
                except OSError:
                    time.sleep(0.02)
        yield f"ws://127.0.0.1:{port}/v1/ws"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _assert_clean(report: loadtest.Report, *, rounds: int) -> None:
    assert report.connect_failures == 0, report.failures
    assert report.failures == {}
    assert report.never_paired == 0
    assert report.double_pairs == 0
    assert report.repeat_pairs == 0
    assert report.lost_rounds == 0
    assert report.rounds_requested == report.chatters * rounds
    assert report.rounds_paired == report.rounds_requested
    assert report.protocol_violations == {}
    assert report.errors == {}
    assert report.clean
    assert report.time_to_pair_first["n"] == report.chatters
    assert report.pairing_latency["n"] == report.chatters


async def test_chat_scenario_pairs_everyone_and_measures_round_trips(server_url: str) -> None:
    scenario = loadtest.scenario("C", 0.02, deadline=15.0)  # 20 chatters
    assert scenario.chatters == 20
    seen: list[tuple[int, int]] = []
    report = await loadtest.run(
        server_url, scenario, lambda done, total: seen.append((done, total))
    )
    _assert_clean(report, rounds=1)
    assert report.round_trip["n"] == 20 * scenario.round_trips
    assert report.pings_unanswered == 0
    assert report.partner_left_early == 0
    assert seen[-1] == (20, 20)
    json.dumps(report.to_dict())  # the JSON report is plain data


async def test_skip_churn_loses_no_round(server_url: str) -> None:
    scenario = loadtest.scenario("F", 0.01, deadline=15.0)  # 20 chatters, 3 rounds each
    assert scenario.chatters == 20
    report = await loadtest.run(server_url, scenario)
    _assert_clean(report, rounds=3)
    assert report.time_to_pair_later["n"] == 20 * 2
    assert (report.round_trip["n"] or 0) > 0


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.0.0.1:8000/v1/ws",
        "ws://192.168.1.2/v1/ws",
        "ws://8.8.8.8/v1/ws",
        "ws://example.org/v1/ws",
        "ws://[2001:db8::1]/v1/ws",
        "http://127.0.0.1:8000/v1/ws",
    ],
)
def test_refuses_anything_but_loopback(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(loadtest.NotLoopback):
        loadtest.check_loopback(url)
    assert loadtest.main(url, "C", scale=0.01) == 2
    assert "loopback" in capsys.readouterr().out or url.startswith("http:")


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8000/v1/ws", "ws://127.5.6.7/v1/ws", "ws://[::1]:9/v1/ws"]
)
def test_accepts_loopback(url: str) -> None:
    loadtest.check_loopback(url)


def test_scenarios_are_bounded() -> None:
    for name in ("C", "E", "F"):
        scenario = loadtest.scenario(name)
        assert scenario.chatters % 2 == 0
        assert 0 < scenario.deadline <= 3600
    assert loadtest.scenario("E").arrival_rate is None
    assert loadtest.scenario("C", 0.5).chatters == 500
    with pytest.raises(ValueError):
        loadtest.scenario("C", 0)
