"""The chat socket's admission and abuse resistance (docs/design.md §3, issue 9), against the real
server on loopback (in process): the proof of work at hello, the cross-session rate
limits, the idle timeout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from strangers.core.admission import meets, solve
from strangers.core.messages import PROTOCOL_VERSION

from ..conftest import TEST_POW_BITS
from ..inprocess import serving, serving_in_thread
from .chatter import ADULT, Chatter, challenge, proof_for
from .conftest import NO_MODELS

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "src/strangers/web/pow-worker.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """One server for the proof and idle tests: challenges expire after 1 s, and a socket
    silent for 1 s is closed (the hello wait stays 10 s: the longer of the two)."""
    with serving_in_thread(
        tmp_path_factory.mktemp("admission"), pow_expires=1.0, idle_timeout=1.0, **NO_MODELS
    ) as srv:
        yield srv.ws


async def answer(ws: ClientConnection, **hello) -> tuple[dict, int | None]:
    """Send ``hello`` fields on ``ws``; return the server's answer and, when it is an
    error, the code of the close that must follow it (None after a welcome)."""
    frame = {"type": "hello", "version": PROTOCOL_VERSION, "device": None, **ADULT, **hello}
    await ws.send(json.dumps(frame))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    if reply["type"] != "error":
        return reply, None
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return reply, closed.value.rcvd.code


# --- proof of work --------------------------------------------------------------------------


async def test_the_server_speaks_first_with_a_fresh_challenge_per_connection(server):
    async with connect(server) as one, connect(server) as two:
        first, second = await challenge(one), await challenge(two)
    for issued in (first, second):
        assert set(issued) == {"type", "challenge", "bits", "expires_in"}
        assert issued["bits"] == int(TEST_POW_BITS) and issued["expires_in"] == 1.0
        assert len(issued["challenge"]) >= 22  # at least 16 random bytes, base64url
    assert first["challenge"] != second["challenge"]


async def test_a_valid_proof_is_admitted(server):
    chatter = await Chatter.join(server)
    assert chatter.welcome["type"] == "welcome"
    assert (await chatter.find())["type"] == "waiting"
    await chatter.close()


async def test_a_hello_without_proof_is_refused_and_closed(server):
    async with connect(server) as ws:
        await challenge(ws)
        reply, code = await answer(ws)
    assert (reply["type"], reply["code"], code) == ("error", "proof_required", 1008)


async def test_a_nonce_short_of_the_bits_is_refused(server):
    async with connect(server) as ws:
        issued = await challenge(ws)
        value, bits = issued["challenge"], issued["bits"]
        wrong = next(str(n) for n in range(10_000) if not meets(value, str(n), bits))
        reply, code = await answer(ws, proof={"challenge": value, "nonce": wrong})
    assert (reply["code"], code) == ("proof_invalid", 1008)


async def test_a_made_up_challenge_is_refused_even_if_solved(server):
    async with connect(server) as ws:
        bits = (await challenge(ws))["bits"]
        made_up = "A" * 24
        reply, code = await answer(ws, proof={"challenge": made_up, "nonce": solve(made_up, bits)})
    assert (reply["code"], code) == ("proof_invalid", 1008)


async def test_a_proof_solved_on_one_connection_is_refused_on_another(server):
    async with connect(server) as one, connect(server) as two:
        proof = proof_for(await challenge(one))  # solved for connection 1 ...
        await challenge(two)
        reply, code = await answer(two, proof=proof)  # ... replayed on connection 2
        assert (reply["code"], code) == ("proof_invalid", 1008)
        # Connection 1, whose challenge it was, is still admitted with it.
        reply, code = await answer(one, proof=proof)
        assert reply["type"] == "welcome" and code is None


async def test_an_expired_challenge_is_refused(server):
    async with connect(server) as ws:
        proof = proof_for(await challenge(ws))
        await asyncio.sleep(1.2)  # the challenge expires after 1 s
        reply, code = await answer(ws, proof=proof)
    assert (reply["code"], code) == ("proof_invalid", 1008)


async def test_without_settings_the_server_asks_the_default_16_bits(tmp_path, monkeypatch):
    """The suite runs at 8 bits (tests/conftest.py); a server whose environment has no
    ``STRANGERS_POW_*`` variables (its settings read the environment as ``strangers
    serve``'s do) asks the default."""
    for name in [k for k in os.environ if k.startswith("STRANGERS_POW_")]:
        monkeypatch.delenv(name)
    async with serving(tmp_path, **NO_MODELS) as srv, connect(srv.ws) as ws:
        issued = await challenge(ws)
        reply, _ = await answer(ws, proof=proof_for(issued))
        assert reply["type"] == "welcome"
    assert issued["bits"] == 16


def test_the_pages_worker_finds_what_the_reference_solver_finds():
    """``web/pow-worker.js`` (the page's own SHA-256) against ``admission.solve``, in
    Node when it is installed (the browser tests prove it in Chromium too)."""
    node = "/usr/bin/node"
    if not os.path.exists(node):
        pytest.skip("node is not installed")
    cases = [["c" * 24, 0], ["Zq-_09" * 4, 10], ["é" * 70, 6], ["x" * 63, 5], ["y" * 120, 7]]
    script = (
        "const src = require('fs').readFileSync(process.argv[1], 'utf8');"
        "const solve = new Function('self', src + '\\nreturn solve;')"
        "({addEventListener() {}, postMessage() {}});"
        "console.log(JSON.stringify(JSON.parse(process.argv[2]).map(([c, b]) => solve(c, b))));"
    )
    run = subprocess.run(
        [node, "-e", script, str(WORKER), json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(run.stdout) == [solve(value, bits) for value, bits in cases]


# --- idle sockets ------------------------------------------------------------------------------


async def test_a_socket_that_sends_nothing_is_closed_as_idle(server):
    chatter = await Chatter.join(server)
    with pytest.raises(ConnectionClosed) as closed:
        await chatter.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "idle")


async def test_a_socket_that_pings_stays_open_past_the_idle_timeout(server):
    chatter = await Chatter.join(server)
    for n in range(8):  # 2.4 s in all, more than twice the idle timeout
        await chatter.send(type="ping", id=n)
        assert await chatter.expect("pong") == {"type": "pong", "id": n}
        await asyncio.sleep(0.3)
    await chatter.close()


# --- the difficulty and the connection limit --------------------------------------------------


async def test_a_network_that_keeps_connecting_pays_more_then_is_refused(tmp_path):
    async with serving(
        tmp_path,
        pow_max_bits=10,
        pow_network_knee=1,
        limit_connect_network="3/minute",
        **NO_MODELS,
    ) as srv:
        url = srv.ws
        bits = []
        for _ in range(3):
            async with connect(url) as ws:
                bits.append((await challenge(ws))["bits"])
        assert bits == [8, 9, 10]  # one more bit at 1 connection, 2, then the cap
        async with connect(url) as ws:
            refused = json.loads(await ws.recv())
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    assert refused["retry_after"] > 0
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_a_device_that_keeps_reconnecting_is_refused_then_banned(tmp_path):
    async with serving(
        tmp_path,
        limit_connect_device="2/minute",
        limit_abuse_device="2/10 minutes",
        **NO_MODELS,
    ) as srv:
        url = srv.ws
        first = await Chatter.join(url)  # 1
        device = first.welcome["device"]
        await first.close()
        second = await Chatter.join(url, device=device)  # 2
        await second.close()
        answers = []
        for _ in range(3):  # 3 and 4 are refused; the third refusal is abuse
            async with connect(url) as ws:
                reply, code = await answer(ws, proof=proof_for(await challenge(ws)), device=device)
                answers.append((reply["type"], reply.get("code"), code))
        assert answers[0] == ("error", "rate_limited", 1013)
        assert answers[1] == ("error", "rate_limited", 1013)
        assert answers[2][0] == "banned"
        # Another device from the same network still gets in.
        other = await Chatter.join(url)
        assert other.welcome["type"] == "welcome"
        await other.close()


# --- limits on what a device does across its sessions -------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[str]:
    """Small per-device limits; each test's chatters are new devices of their own. Every
    refusal counts towards the abuse limit: a device refused a fourth time in 10
    minutes is banned."""
    with serving_in_thread(
        tmp_path_factory.mktemp("limited"),
        limit_find_device="2/minute",
        limit_message_device="3/minute",
        limit_report_device="1/hour",
        limit_abuse_device="3/10 minutes",
        same_device_pairs=False,
        **NO_MODELS,
    ) as srv:
        yield srv.ws


async def pair(url: str) -> tuple[Chatter, Chatter]:
    a, b = await Chatter.join(url), await Chatter.join(url)
    await a.find()
    await b.find()
    assert (await a.expect("matched"))["match"] == (await b.expect("matched"))["match"]
    return a, b


def refused_for_a_while(message: dict) -> bool:
    return (
        message["type"] == "error"
        and message["code"] == "rate_limited"
        and (message["retry_after"] > 0)
    )


async def test_finds_and_skips_of_a_device_are_limited_across_its_sessions(limited):
    first = await Chatter.join(limited)
    await first.find()  # 1
    await first.close()
    again = await Chatter.join(limited, device=first.welcome["device"])  # the same device
    await again.find()  # 2, in another session
    await again.send(type="skip")  # 3: over 2/minute
    assert refused_for_a_while(await again.recv())
    await again.close()


async def test_messages_of_a_device_are_limited(limited):
    a, b = await pair(limited)
    for n in range(3):
        await a.send(type="message", text=f"line {n}")
        assert (await b.expect("message"))["text"] == f"line {n}"
    await a.send(type="message", text="one too many")
    assert refused_for_a_while(await a.recv())
    assert await b.quiet(0.3)  # not relayed
    await a.close()
    await b.close()


async def test_reports_of_a_device_are_limited(limited):
    a, b = await pair(limited)
    await a.send(type="report", reason="spam", note="")
    while (message := await a.recv())["type"] != "reported":
        assert message["type"] in ("ended", "partner_left")
    await a.send(type="report", reason="spam", note="")
    assert refused_for_a_while(await a.recv())
    await a.close()
    await b.close()


async def test_a_device_that_keeps_going_past_a_limit_is_banned_for_a_while(limited):
    a, b = await pair(limited)
    for n in range(3):
        await a.send(type="message", text=f"line {n}")
    for _ in range(3):  # refused three times: the abuse limit's worth
        await a.send(type="message", text="flood")
        assert refused_for_a_while(await a.recv())
    await a.send(type="message", text="flood")  # the fourth refusal is abuse
    banned = await a.recv()
    assert banned["type"] == "banned" and banned["until"] > 0
    assert "too many requests" in banned["reason"].lower()
    with pytest.raises(ConnectionClosed) as closed:
        await a.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # The ban outlives the socket: the device is told so at its next hello.
    again = await Chatter.hello(limited, device=a.welcome["device"])
    assert again["type"] == "banned"
    await b.close()
