"""The load generator at tiny scale against the real server on loopback.

Starts ``python -m strangers serve`` on a free 127.0.0.1 port, runs scenario C
with 20 chatters and scenario F (skip churn) with 20 chatters, and checks the
invariants: everyone paired, no double or repeated pair, no lost round, round
trips measured. Nothing here asserts on time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangers import loadtest

from .servers import running_server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("strangers-data")) as base:
        yield base.replace("http://", "ws://") + "/v1/ws"


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


def test_the_operator_command_runs_on_uvloop_and_exits_clean(
    server_url: str, tmp_path: Path
) -> None:
    """`strangers loadtest` as an operator runs it: its own process, on uvloop."""
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "strangers", "loadtest", "--url", server_url]
    command += ["--scenario", "F", "--scale", "0.01", "--json-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["clean"] and report["lost_rounds"] == 0 and report["double_pairs"] == 0
    assert report["extra"]["client_loop"] == "uvloop"
