"""Video signalling through the real server (in process): only the current partner
receives it, and with TURN configured a modified client cannot leak an address."""

import pytest

from ..inprocess import serving
from .chatter import Chatter
from .conftest import NO_MODELS

HOST = "candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host generation 0"
SRFLX = "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 54321"
RELAY = "candidate:3 1 udp 41885439 127.0.0.1 3478 typ relay raddr 0.0.0.0 rport 0"
SDP = "\r\n".join(["v=0", "o=- 1 2 IN IP4 192.0.2.10", "c=IN IP4 192.0.2.10", "a=" + HOST])


@pytest.fixture
async def turn_server(tmp_path):
    async with serving(
        tmp_path,
        turn_urls=["turn:127.0.0.1:3478?transport=udp"],
        turn_secret="s" * 32,
        turn_ttl=600,
        **NO_MODELS,
    ) as srv:
        yield srv.ws


async def video_pair(url):
    a, b = await Chatter.join(url), await Chatter.join(url)
    for chatter in (a, b):
        await chatter.send(type="find", mode="video", interests=[])
        await chatter.expect("waiting")
    match = (await a.expect("matched"))["match"]
    assert (await b.expect("matched"))["match"] == match
    return a, b


async def test_welcome_carries_short_lived_turn_credentials(turn_server):
    chatter = await Chatter.join(turn_server)
    [ice] = chatter.welcome["ice_servers"]
    assert ice["urls"] == ["turn:127.0.0.1:3478?transport=udp"]
    expiry, session = ice["username"].split(":")
    assert session == chatter.welcome["session"] and int(expiry) > 0
    assert chatter.welcome["relay_only"] is True and chatter.welcome["video"] is True


async def test_host_and_srflx_candidates_never_reach_the_partner(turn_server):
    a, b = await video_pair(turn_server)
    for candidate in (HOST, SRFLX, RELAY):
        await a.send(type="signal", kind="candidate", candidate=candidate, sdp_mid="0")
    await a.send(type="signal", kind="offer", sdp=SDP)
    first, second = await b.recv(), await b.recv()
    assert first == {"type": "signal", "kind": "candidate", "candidate": RELAY, "sdp_mid": "0"}
    assert second["kind"] == "offer"
    assert "192.0.2.10" not in second["sdp"] and "198.51.100.7" not in second["sdp"]
    assert await b.quiet(0.3)


async def test_signals_are_refused_in_text_chats(turn_server):
    a = await Chatter.join(turn_server)
    b = await Chatter.join(turn_server)
    await a.find()
    await b.find()
    await a.expect("matched")
    await a.send(type="signal", kind="offer", sdp="v=0")
    assert (await a.expect("error"))["code"] == "not_allowed"


async def test_without_turn_the_laptop_default_says_peers_are_not_relayed(tmp_path):
    async with serving(tmp_path, **NO_MODELS) as srv:
        chatter = await Chatter.join(srv.ws)
        assert chatter.welcome["relay_only"] is False and chatter.welcome["ice_servers"] == []
        assert chatter.welcome["video"] is True


async def test_production_without_turn_offers_no_video(tmp_path):
    async with serving(
        tmp_path,
        env="production",
        secret_key="k" * 40,
        evidence_key="Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw=",
        **NO_MODELS,
    ) as srv:
        chatter = await Chatter.join(srv.ws)
        assert chatter.welcome["video"] is False
        await chatter.send(type="find", mode="video", interests=[])
        assert (await chatter.expect("error"))["code"] == "not_allowed"
