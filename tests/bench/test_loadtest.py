"""The load generator (``bench/loadtest.py``) at tiny scale against the real server on
loopback.

Serves the app in this process (``tests/inprocess.serving_in_thread``: the real app
under the real uvicorn configuration, on a loop of its own) on a free 127.0.0.1 port,
with the limits a load test needs (``LOAD_TEST_LIMITS``), runs scenario C
with 20 chatters and scenario F (skip churn) with 20 chatters, and checks the
invariants: everyone paired, no double or repeated pair, no lost round, round
trips measured. Nothing here asserts on time.

Several targets: a second server, and the first one spelled two ways
(``127.0.0.1`` and ``localhost``). Two in-memory servers cannot pair across
each other, so these tests check the round-robin spread and the per-URL figures;
partners on different URLs are two spellings of one server.

Targets (issue 10): loopback, or the operator's own ``STRANGERS_PUBLIC_ORIGIN``
(``https`` → ``wss``, ``http`` → ``ws``, same host and port); anything else is
refused before any connection, ``bench/loadtest.py`` exiting 2. Those tests check
the rule and the refusal only: nothing is ever sent to a host off loopback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..gateway.conftest import NO_MODELS
from ..inprocess import serving_in_thread
from . import BENCH, chatters, loadtest, targets


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("strangers-data")
    with serving_in_thread(data, **loadtest.LOAD_TEST_LIMITS, **NO_MODELS) as served:
        yield served.ws


@pytest.fixture(scope="module")
def other_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("strangers-data-other")
    with serving_in_thread(data, **loadtest.LOAD_TEST_LIMITS, **NO_MODELS) as served:
        yield served.ws


def _by_name(url: str) -> str:
    """The same chat socket, reached through the name ``localhost``."""
    return url.replace("127.0.0.1", "localhost")


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
def test_refuses_anything_but_loopback(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRANGERS_PUBLIC_ORIGIN", raising=False)
    with pytest.raises(loadtest.NotLoopback):
        loadtest.check_loopback(url)
    with pytest.raises(loadtest.TargetRefused):
        loadtest.check_target(url, None)
    assert loadtest.main(url, "C", scale=0.01) == 2
    out = capsys.readouterr().out
    assert "loopback" in out or url.startswith("http:")
    assert url in out  # brackets of an IPv6 URL are not eaten as markup


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8000/v1/ws", "ws://127.5.6.7/v1/ws", "ws://[::1]:9/v1/ws"]
)
def test_accepts_loopback(url: str) -> None:
    loadtest.check_loopback(url)
    # Loopback stays allowed whatever the operator's origin is.
    assert loadtest.check_target(url, None) == loadtest.check_target(
        url, "https://chat.example.org"
    )


# --- the operator's own origin (issue 10) ----------------------------------------------
# Only the check and the refusal path: no traffic ever goes to these hosts.


@pytest.mark.parametrize(
    ("origin", "url"),
    [
        ("https://chat.example.org", "wss://chat.example.org/v1/ws"),
        ("https://chat.example.org", "wss://chat.example.org:443/v1/ws"),
        ("https://chat.example.org:443", "wss://chat.example.org/v1/ws"),
        ("https://Chat.Example.org", "wss://chat.example.ORG/v1/ws"),
        ("http://chat.example.org", "ws://chat.example.org/v1/ws"),
        ("http://chat.example.org", "ws://chat.example.org:80/v1/ws"),
        ("https://chat.example.org:8443", "wss://chat.example.org:8443/v1/ws"),
        ("http://203.0.113.7:8000", "ws://203.0.113.7:8000/v1/ws"),
        ("https://[2001:db8::1]", "wss://[2001:db8::1]/v1/ws"),
    ],
)
def test_accepts_the_operators_public_origin(origin: str, url: str) -> None:
    assert loadtest.check_target(url, origin) == urlsplit(url).hostname
    assert loadtest.target_urls(f"ws://127.0.0.1:8000/v1/ws,{url}", origin)[1] == url


@pytest.mark.parametrize(
    "url",
    [
        "ws://chat.example.org/v1/ws",  # https's socket is wss, not ws
        "wss://chat.example.org:8443/v1/ws",  # another port
        "wss://chat.example.org:80/v1/ws",
        "wss://other.example.org/v1/ws",  # another host
        "wss://example.org/v1/ws",  # the parent domain
        "wss://chat.example.org.evil.test/v1/ws",
        "wss://evil.test/chat.example.org",
        "wss://user:secret@chat.example.org/v1/ws",  # credentials: not an origin's URL
        "https://chat.example.org/v1/ws",  # not a socket URL
    ],
)
def test_refuses_anything_else_when_an_origin_is_configured(url: str) -> None:
    with pytest.raises(loadtest.TargetRefused) as refused:
        loadtest.check_target(url, "https://chat.example.org")
    assert "secret" not in str(refused.value)


def test_the_refusal_names_how_to_allow_the_target() -> None:
    with pytest.raises(loadtest.TargetRefused) as refused:
        loadtest.check_target("wss://other.example.org:8443/v1/ws", None)
    message = str(refused.value)
    assert "STRANGERS_PUBLIC_ORIGIN is not set" in message
    assert "STRANGERS_PUBLIC_ORIGIN=https://other.example.org:8443" in message
    with pytest.raises(loadtest.TargetRefused) as refused:
        loadtest.check_target("ws://chat.example.org/v1/ws", "https://chat.example.org")
    message = str(refused.value)
    assert "STRANGERS_PUBLIC_ORIGIN is https://chat.example.org" in message
    assert "wss://chat.example.org/v1/ws" in message


def test_allowed_origins_do_not_widen_the_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGERS_PUBLIC_ORIGIN", raising=False)
    monkeypatch.setenv("STRANGERS_ALLOWED_ORIGINS", '["https://www.example.org"]')
    with pytest.raises(loadtest.TargetRefused):
        loadtest.operator_targets("wss://www.example.org/v1/ws")


def test_operator_targets_read_the_public_origin_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "wss://chat.example.org/v1/ws"
    monkeypatch.delenv("STRANGERS_PUBLIC_ORIGIN", raising=False)
    with pytest.raises(loadtest.TargetRefused):
        loadtest.operator_targets(url)
    monkeypatch.setenv("STRANGERS_PUBLIC_ORIGIN", "https://chat.example.org")
    assert loadtest.operator_targets(url) == (url,)
    # A setting that is not an origin stops a run elsewhere, but not one on loopback.
    monkeypatch.setenv("STRANGERS_PUBLIC_ORIGIN", "chat.example.org")
    assert loadtest.operator_targets("ws://127.0.0.1:8000/v1/ws") == ("ws://127.0.0.1:8000/v1/ws",)
    with pytest.raises(ValueError):
        loadtest.operator_targets(url)


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve a name, open a socket or start a run fails the test: a
    refused target is refused before anything goes on the network."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use for a refused target: {args!r}")

    monkeypatch.setattr(targets.socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(targets.socket, "create_connection", forbidden)
    monkeypatch.setattr(loadtest, "run", forbidden)
    monkeypatch.setattr(loadtest, "run_slice", forbidden)
    monkeypatch.setattr(loadtest, "run_processes", forbidden)


@pytest.mark.parametrize(
    ("origin", "url"),
    [
        (None, "wss://chat.example.org/v1/ws"),
        ("https://chat.example.org", "ws://chat.example.org/v1/ws"),
        ("https://chat.example.org", "wss://chat.example.org:8443/v1/ws"),
        ("https://chat.example.org", "wss://other.example.org/v1/ws"),
        ("https://chat.example.org", "ws://127.0.0.1:8000/v1/ws,wss://other.example.org/v1/ws"),
    ],
)
def test_the_command_exits_2_for_a_refused_target(
    origin: str | None,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_connections: None,
) -> None:
    if origin is None:
        monkeypatch.delenv("STRANGERS_PUBLIC_ORIGIN", raising=False)
    else:
        monkeypatch.setenv("STRANGERS_PUBLIC_ORIGIN", origin)
    exit_code = loadtest.cli(["--url", url, "--scenario", "C"])
    output = capsys.readouterr().out
    assert exit_code == 2, output
    assert "refusing" in output
    assert "STRANGERS_PUBLIC_ORIGIN=" in output


def test_the_command_exits_2_for_a_public_origin_setting_that_is_not_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_connections: None
) -> None:
    monkeypatch.setenv("STRANGERS_PUBLIC_ORIGIN", "chat.example.org/v1")
    url = "wss://chat.example.org/v1/ws"
    exit_code = loadtest.cli(["--url", url])
    output = capsys.readouterr().out
    assert exit_code == 2, output
    assert "public_origin" in output


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
    """`bench/loadtest.py` as an operator runs it: its own process, on uvloop."""
    out = tmp_path / "report.json"
    command = [sys.executable, str(BENCH / "loadtest.py"), "--url", server_url]
    command += ["--scenario", "F", "--scale", "0.01", "--json-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["clean"] and report["lost_rounds"] == 0 and report["double_pairs"] == 0
    assert report["extra"]["client_loop"] == "uvloop"


def test_target_urls_split_commas_and_check_every_one() -> None:
    one = "ws://127.0.0.1:8000/v1/ws"
    two = "ws://127.0.0.1:8001/v1/ws"
    assert loadtest.target_urls(one) == (one,)
    assert loadtest.target_urls(f" {one} , {two},") == (one, two)
    assert loadtest.target_urls([two, one]) == (two, one)
    with pytest.raises(loadtest.TargetRefused):
        loadtest.target_urls(f"{one},ws://10.0.0.1:8000/v1/ws")
    with pytest.raises(ValueError):
        loadtest.target_urls(" , ")


def test_refuses_a_list_with_one_url_off_loopback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRANGERS_PUBLIC_ORIGIN", raising=False)
    urls = "ws://127.0.0.1:8000/v1/ws,ws://192.168.1.2:8000/v1/ws"
    assert loadtest.main(urls, "C", scale=0.01) == 2
    assert "loopback" in capsys.readouterr().out


async def test_chatter_i_connects_to_url_i_mod_n(server_url: str, other_server_url: str) -> None:
    urls = (server_url, other_server_url, _by_name(server_url))
    scenario = loadtest.scenario("C", 0.024, deadline=15.0)  # 24 chatters, 8 per URL
    records = await chatters.run_slice(  # the records themselves, to see who went where
        urls, scenario, range(scenario.chatters), time.monotonic() + 0.05, None
    )
    assert [rec.url for rec in records] == [urls[i % 3] for i in range(24)]
    assert [rec.index for rec in records] == list(range(24))
    report = loadtest.analyse(scenario, records, 1.0)
    assert report.chatters_per_url == {urls[0]: 8, urls[1]: 8, urls[2]: 8}
    assert list(report.chatters_per_url) == list(urls)
    # The first server has 16 chatters over two spellings, the second 8: all pair.
    _assert_clean(report, rounds=1)


async def test_report_counts_chatters_per_url_and_pairs_across(
    server_url: str, other_server_url: str
) -> None:
    """Two separate servers: each pairs its own half; the report says so."""
    urls = f"{server_url},{other_server_url}"
    scenario = loadtest.scenario("C", 0.02, deadline=15.0)  # 20 chatters, 10 per server
    report = await loadtest.run(urls, scenario)
    _assert_clean(report, rounds=1)
    assert report.chatters_per_url == {server_url: 10, other_server_url: 10}
    assert report.cross_url_pairs == 0  # two in-memory servers never pair across
    figures = report.throughput
    assert figures["offered_arrivals_per_s"] == 200.0
    assert figures["pairs_per_s"] is not None and figures["pairs_per_s"] > 0
    assert figures["arrivals_per_s"] is not None and figures["arrivals_per_s"] > 0
    json.dumps(report.to_dict())


async def test_partners_on_different_urls_keep_skip_churn_clean(server_url: str) -> None:
    """F with partners reached through different URLs (one server, two names):
    the client learns a partner by match id only, never by its URL."""
    urls = [server_url, _by_name(server_url)]
    scenario = loadtest.scenario("F", 0.01, deadline=15.0)  # 20 chatters, 3 rounds each
    # Who meets whom follows arrival order, and ``localhost`` may cost a failed ::1
    # attempt first: a run can pair each name's chatters among themselves. Every run
    # must be clean; up to three runs for one that pairs across the names.
    for _ in range(3):
        report = await loadtest.run(urls, scenario)
        _assert_clean(report, rounds=3)
        assert report.chatters_per_url == {urls[0]: 10, urls[1]: 10}
        if report.cross_url_pairs > 0:
            break
    assert report.cross_url_pairs > 0
    assert report.throughput["rounds_per_s"] is not None


def test_client_processes_spread_by_global_index(server_url: str, other_server_url: str) -> None:
    """Two client processes over two servers: process k runs chatters k, k+2, …,
    and chatter i still goes to URL i mod 2 (all of process 0's to the first)."""
    scenario = loadtest.scenario("C", 0.02, deadline=15.0, processes=2)
    report = asyncio.run(loadtest.run([server_url, other_server_url], scenario))
    _assert_clean(report, rounds=1)
    assert report.chatters_per_url == {server_url: 10, other_server_url: 10}
