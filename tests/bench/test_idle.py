"""The idle-socket benchmark (``bench/idle.py``) at tiny scale: 50 sockets of each phase
against a fresh ``strangers serve`` subprocess, as the benchmark runs it (issue 18).

Checks that every socket was opened and still held when the memory was read (the
client's connections, the server's socket descriptors, ``strangers_chatters_online``),
and that the figures were read; nothing here asserts on a figure's size, which 50
sockets cannot show."""

from __future__ import annotations

import json
import sys

import pytest
import uvloop

import idle  # bench/, first on the path: tests/bench/__init__.py


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_fifty_idle_sockets_of_each_phase_are_held_and_measured() -> None:
    parser_args = ["--n", "50", "--warmup", "5", "--settle", "0.5", "--concurrency", "25"]
    args = idle.build_parser().parse_args(parser_args)
    results = uvloop.run(idle.bench(args))
    assert [result.phase for result in results] == ["opened", "welcomed"]
    for result in results:
        assert result.failures == {}
        assert result.held, result.line()
        assert result.opened == result.open_after_settle == 50
        assert result.rss_before_mib > 0 and result.rss_after_mib > 0
        assert result.server_cpu_s >= 0
    opened, welcomed = results
    assert opened.online_after == 0
    assert welcomed.online_after == 50
    assert welcomed.accepted >= 55  # the warm-up's sockets, then the 50


def test_the_hello_solves_its_challenge() -> None:
    from strangers.core.admission import Challenge

    text = idle._hello({"type": "challenge", "challenge": "c" * 24, "bits": 4})
    proof = json.loads(text)["proof"]
    assert proof["challenge"] == "c" * 24
    issued = Challenge(value="c" * 24, bits=4, expires_at=1e18)
    issued.check(proof["challenge"], proof["nonce"], 0.0)  # raises if it does not solve it
