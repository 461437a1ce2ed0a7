"""Relay-only signalling and TURN REST credentials."""

import base64
import hashlib
import hmac

import pytest

from strangers.core.ice import candidate_type, is_relay_candidate, relay_only_sdp
from strangers.core.turn import check_credentials, rest_credentials

HOST = "candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host generation 0"
SRFLX = "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 54321"
RELAY = "candidate:3 1 udp 41885439 203.0.113.5 3478 typ relay raddr 198.51.100.7 rport 40000"

SDP = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 192.0.2.10",
        "s=-",
        "t=0 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 198.51.100.7",
        "a=" + HOST,
        "a=" + SRFLX,
        "a=" + RELAY,
        "a=mid:0",
    ]
)


@pytest.mark.parametrize(
    ("candidate", "kind"), [(HOST, "host"), (SRFLX, "srflx"), (RELAY, "relay")]
)
def test_the_candidate_type_is_read(candidate, kind):
    assert candidate_type(candidate) == kind
    assert candidate_type("a=" + candidate) == kind


def test_only_relay_candidates_pass():
    assert is_relay_candidate(RELAY)
    assert not is_relay_candidate(HOST) and not is_relay_candidate(SRFLX)
    assert not is_relay_candidate("candidate:garbage") and not is_relay_candidate("")


def test_an_sdp_keeps_no_address_but_the_relays():
    cleaned = relay_only_sdp(SDP)
    assert "192.0.2.10" not in cleaned and "198.51.100.7 40000 typ srflx" not in cleaned
    assert "typ host" not in cleaned and "typ srflx" not in cleaned
    assert "a=" + RELAY in cleaned  # the relay's own raddr is the TURN server's view
    assert "c=IN IP4 0.0.0.0" in cleaned and "o=- 4611731400430051336 2 IN IP4 0.0.0.0" in cleaned
    assert "a=mid:0" in cleaned and cleaned.count("\r\n") == SDP.count("\r\n") - 2


def test_credentials_follow_the_turn_rest_scheme():
    creds = rest_credentials(b"shared", "sess-1", now=1_000, ttl=600)
    assert creds.username == "1600:sess-1" and creds.expires == 1600
    expected = base64.b64encode(hmac.new(b"shared", b"1600:sess-1", hashlib.sha1).digest())
    assert creds.credential == expected.decode()


def test_credentials_expire_and_need_the_secret():
    creds = rest_credentials(b"shared", "sess-1", now=1_000, ttl=600)
    assert check_credentials(b"shared", creds.username, creds.credential, now=1_599)
    assert not check_credentials(b"shared", creds.username, creds.credential, now=1_600)
    assert not check_credentials(b"other", creds.username, creds.credential, now=1_000)
    with pytest.raises(ValueError):
        rest_credentials(b"shared", "sess-1", now=1_000, ttl=0)
