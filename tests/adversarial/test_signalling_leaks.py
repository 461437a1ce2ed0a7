"""Attack 8 of issue 15: a sender's signalling carries addresses past the filter.

Two adults matched for video on the real (in-process) server with TURN configured; the
sender plays a modified client (or a browser other than Chromium) and writes addresses
everywhere an offer or a trickled candidate can hold one. What the partner receives must
name no address but the relay's (docs/security.md, "IP grabbers"; ``core/ice.py``)."""

from __future__ import annotations

import ipaddress
import re

import pytest

from ..gateway.chatter import Chatter
from ..inprocess import serving

RELAY_IP = "203.0.113.5"
#: The sender's own addresses, which the partner must never learn.
PRIVATE = ("192.168.1.23", "fe80::1c2b:3aff:fe4d:5e6f")
PUBLIC = ("198.51.100.7", "2001:db8:77::7")
RELAY_CHROMIUM = f"candidate:3 1 udp 41885439 {RELAY_IP} 3478 typ relay raddr 0.0.0.0 rport 0"

HOSTILE_OFFER = "\r".join(  # CR only: the filter used to see one line
    [
        "v=0",
        f"o=- 4611731400430051336 2 IN IP4 {PUBLIC[0]}",
        "s=-",
        "t=0 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        f"  c=IN IP6 {PUBLIC[1]}",  # leading spaces
        f"a=rtcp:53412 IN IP4 {PUBLIC[0]}",  # RFC 3605 with an address
        f"A=CANDIDATE:1 1 UDP 2122260223 {PRIVATE[0]} 54321 TYP HOST",  # upper case
        f"a=candidate:2 1 udp 1686052607 {PUBLIC[0]} 40000 typ srflx raddr {PRIVATE[0]} rport 1",
        f"a=candidate:3 1 udp 41885439 {RELAY_IP} 3478 typ relay raddr {PUBLIC[0]} rport 40000",
        f"a=remote-candidates:1 {PRIVATE[1]} 54321",
        f"a=x-debug:{PRIVATE[1]}",
        "a=mid:0",
        "",
    ]
)

HOSTILE_CANDIDATES = [
    # Firefox-style: a relay candidate names the sender's public address as raddr.
    f"candidate:3 1 UDP 92217343 {RELAY_IP} 3478 typ relay raddr {PUBLIC[0]} rport 40000",
    f"a=candidate:4 1 udp 92217343 {RELAY_IP} 3479 typ relay raddr {PUBLIC[1]} rport 9",
    f"  CANDIDATE:5 1 UDP 2122260223 {PRIVATE[0]} 54321 TYP HOST  ",
    f"candidate:6 1 udp 1686052607 {PUBLIC[1]} 40000 typ srflx raddr {PRIVATE[1]} rport 2",
    f"candidate:7 1 udp 1 {RELAY_IP} 3478 typ relay raddr",  # cannot be parsed
    f"candidate:8 1 udp 1 {RELAY_IP} 3478 typ relay x-home {PRIVATE[0]}",
]

_SECRETS = {ipaddress.ip_address(ip) for ip in PRIVATE + PUBLIC}
_LITERAL = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*")


def _leaked(text: str) -> set[str]:
    """The sender's addresses that ``text`` still spells, in any form."""
    found = set()
    for token in _LITERAL.findall(text):
        for piece in {token, token.strip(":."), token.strip("[]")}:
            try:
                if ipaddress.ip_address(piece) in _SECRETS:
                    found.add(piece)
            except ValueError:
                continue
    return found | {ip for ip in PRIVATE + PUBLIC if ip.lower() in text.lower()}


@pytest.fixture
async def video_pair(tmp_path):
    async with serving(
        tmp_path,
        turn_urls=[f"turn:{RELAY_IP}:3478"],
        turn_secret="x" * 32,
        turn_ttl=600,
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
    ) as srv:
        sender, partner = await Chatter.join(srv.ws), await Chatter.join(srv.ws)
        assert sender.welcome["relay_only"] is True
        for chatter in (sender, partner):
            await chatter.send(type="find", mode="video", interests=[])
            await chatter.expect("waiting")
        await sender.expect("matched")
        await partner.expect("matched")
        yield sender, partner


async def test_a_hostile_offer_reaches_the_partner_without_the_senders_addresses(video_pair):
    sender, partner = video_pair
    await sender.send(type="signal", kind="offer", sdp=HOSTILE_OFFER)
    offer = await partner.expect("signal")
    assert offer["kind"] == "offer" and not _leaked(offer["sdp"]), offer["sdp"]
    assert (
        f"a=candidate:3 1 udp 41885439 {RELAY_IP} 3478 typ relay raddr 0.0.0.0 rport 0\r\n"
        in offer["sdp"]
    )
    assert "c=IN IP6 ::\r\n" in offer["sdp"] and "a=rtcp:53412 IN IP4 0.0.0.0\r\n" in offer["sdp"]


async def test_trickled_candidates_reach_the_partner_as_bare_relay_candidates(video_pair):
    sender, partner = video_pair
    for candidate in HOSTILE_CANDIDATES:
        await sender.send(type="signal", kind="candidate", candidate=candidate, sdp_mid="0")
    await sender.send(type="signal", kind="candidate", candidate=RELAY_CHROMIUM, sdp_mid="0")
    received = []
    while True:
        message = await partner.expect("signal")
        received.append(message["candidate"])
        if message["candidate"] == RELAY_CHROMIUM:
            break
    assert received == [
        f"candidate:3 1 UDP 92217343 {RELAY_IP} 3478 typ relay raddr 0.0.0.0 rport 0",
        f"candidate:4 1 udp 92217343 {RELAY_IP} 3479 typ relay raddr 0.0.0.0 rport 0",
        f"candidate:8 1 udp 1 {RELAY_IP} 3478 typ relay raddr 0.0.0.0 rport 0",
        RELAY_CHROMIUM,
    ]
    assert not _leaked(" ".join(received))
    assert await partner.quiet(0.3)
