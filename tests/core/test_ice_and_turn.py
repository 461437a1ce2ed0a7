"""Relay-only signalling and TURN REST credentials."""

import base64
import hashlib
import hmac
import ipaddress
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strangers.core.ice import candidate_type, is_relay_candidate, relay_candidate, relay_only_sdp
from strangers.core.turn import check_credentials, rest_credentials

HOST = "candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host generation 0"
SRFLX = "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 54321"
RELAY = "candidate:3 1 udp 41885439 203.0.113.5 3478 typ relay raddr 198.51.100.7 rport 40000"
RELAY_CLEAN = "candidate:3 1 udp 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0 rport 0"
#: The TURN server's relay addresses: the only ones that may reach a partner.
RELAY_IPS = ("203.0.113.5", "2001:db8:5::5")

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
    assert "192.0.2.10" not in cleaned and "198.51.100.7" not in cleaned
    assert "typ host" not in cleaned and "typ srflx" not in cleaned
    assert "a=" + RELAY_CLEAN + "\r\n" in cleaned
    assert "c=IN IP4 0.0.0.0" in cleaned and "o=- 4611731400430051336 2 IN IP4 0.0.0.0" in cleaned
    assert "a=mid:0" in cleaned and cleaned.count("\r\n") == SDP.count("\r\n") + 1 - 2
    assert cleaned.endswith("\r\n")


# Attack 8 of issue 15, one leak at a time


def test_a_relay_candidate_goes_out_with_its_related_address_zeroed():
    assert relay_candidate(RELAY) == RELAY_CLEAN
    six = "candidate:9 1 udp 41885439 2001:DB8:5::5 3478 typ relay raddr 2001:db8::7 rport 4"
    assert relay_candidate(six) == (
        "candidate:9 1 udp 41885439 2001:db8:5::5 3478 typ relay raddr :: rport 0"
    )


def test_a_chromium_relay_candidate_keeps_its_extensions():
    chromium = (
        "candidate:1467250027 1 udp 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0 rport 0 "
        "generation 0 ufrag Hn7b network-id 1 network-cost 10"
    )
    assert relay_candidate(chromium) == chromium
    assert relay_candidate("a=" + chromium) == chromium


def test_unknown_candidate_extensions_are_dropped():
    sneaky = RELAY + " x-where 192.0.2.10 ufrag abc"
    assert relay_candidate(sneaky) == RELAY_CLEAN + " ufrag abc"


@pytest.mark.parametrize(
    "candidate",
    [
        HOST,
        SRFLX,
        "candidate:3 1 udp 41885439 relay.example 3478 typ relay",  # not an IP literal
        "candidate:3 1 udp 41885439 fe80::1%eth0 3478 typ relay",  # a zone: a local address
        "candidate:3 1 udp 41885439 203.0.113.5 99999 typ relay",  # no such port
        "candidate:3 1 udp 41885439 203.0.113.5 3478 typ relay raddr",  # a name without value
        "candidate:3 1 udp 41885439 203.0.113.5 3478 relay typ",
        "candidate:3 1 udp 41885439 203.0.113.5 typ relay",
        "candidate:3.1 1 udp 41885439 203.0.113.5 3478 typ relay",  # foundation: ice-chars
        "candidate:3 1 192.0.2.1 41885439 203.0.113.5 3478 typ relay",  # transport
        "3 1 udp 41885439 203.0.113.5 3478 typ relay",
        "",
    ],
)
def test_a_candidate_that_is_not_a_well_formed_relay_is_dropped(candidate):
    assert relay_candidate(candidate) is None


def test_the_rtcp_attribute_loses_its_address():
    cleaned = relay_only_sdp("a=rtcp:53412 IN IP4 192.0.2.10\r\na=rtcp:9 in ip6 2001:db8::9\r\n")
    assert cleaned == "a=rtcp:53412 IN IP4 0.0.0.0\r\na=rtcp:9 IN IP6 ::\r\n"


def test_upper_case_and_indented_lines_are_filtered_too():
    cleaned = relay_only_sdp(
        "  A=CANDIDATE:1 1 UDP 2122260223 192.0.2.10 54321 TYP HOST\r\n"
        "\tC=in ip4 192.0.2.10  \r\n"
        "A=Candidate:3 1 UDP 41885439 203.0.113.5 3478 Typ Relay RADDR 192.0.2.10 RPORT 1\r\n"
    )
    assert "192.0.2.10" not in cleaned
    assert cleaned == (
        "c=IN IP4 0.0.0.0\r\n"
        "a=candidate:3 1 UDP 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0 rport 0\r\n"
    )


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"])
def test_every_line_end_is_a_line_end(end):
    sdp = end.join(["v=0", "a=" + HOST, "c=IN IP4 192.0.2.10", "a=mid:0", ""])
    assert relay_only_sdp(sdp) == "v=0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"


@pytest.mark.parametrize(
    "line",
    [
        "a=remote-candidates:1 192.0.2.10 54321",
        "a=x-where:192.0.2.10",
        "a=ssrc:1 cname:2001:db8::10",
        "a=x-mapped:[::ffff:192.0.2.10]:9",
        "u=http://192.0.2.10/",
        "i=ask 198.51.100.7",
        "m=video 9 UDP/TLS/RTP/SAVPF 192.0.2.10",
        "a=candidate:4 1 udp 1 192.0.2.10 9 typ relay raddr",  # cannot be parsed
        "a=caf\u00e9:192.0.2.10",  # not ASCII
    ],
)
def test_any_other_line_with_an_address_is_dropped(line):
    assert relay_only_sdp(f"v=0\r\n{line}\r\na=mid:0\r\n") == "v=0\r\na=mid:0\r\n"


def test_an_origin_keeps_its_session_id_and_version_only():
    cleaned = relay_only_sdp("o=198.51.100.7 4611731400430051336 2 IN IP6 2001:db8::1\r\n")
    assert cleaned == "o=- 4611731400430051336 2 IN IP4 0.0.0.0\r\n"


def test_a_chromium_offer_passes_unchanged_but_for_its_default_addresses():
    fingerprint = (
        "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:"
        "1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"
    )
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=msid-semantic: WMS 3f1c8e2a",
        "m=video 3478 UDP/TLS/RTP/SAVPF 96 97",
        "c=IN IP4 203.0.113.5",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=candidate:1467250027 1 udp 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0 "
        "rport 0 generation 0 ufrag Hn7b network-id 1 network-cost 10",
        "a=ice-ufrag:Hn7b",
        "a=ice-pwd:Zq4yWvT1n2Q3e5r6t7y8u9i0",
        "a=ice-options:trickle",
        fingerprint,
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:13 urn:3gpp:video-orientation",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=ssrc-group:FID 2982172221 1526395233",
        "a=ssrc:2982172221 cname:4TOk42mSjXCkVIa6",
        "a=end-of-candidates",
    ]
    expected = list(lines)
    expected[1] = "o=- 4611731400430051336 2 IN IP4 0.0.0.0"
    expected[7] = "c=IN IP4 0.0.0.0"
    offer = "\r\n".join(lines) + "\r\n"
    assert relay_only_sdp(offer) == "\r\n".join(expected) + "\r\n"


# The property: whatever a sender writes, no address but the relay's reaches the partner

_SEPARATORS = re.compile(r"[:.]")
_HEXISH = re.compile(r"[0-9A-Fa-f:.]+")


def _addresses_in(text: str) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every IP address any substring of ``text`` spells (cut at ``:`` and ``.``), with a
    v4-mapped IPv6 address counted as its IPv4 address too."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for run in _HEXISH.finditer(text):
        word = run.group()
        cuts = {0, len(word)}
        for sep in _SEPARATORS.finditer(word):
            cuts |= {sep.start(), sep.end()}
        ordered = sorted(cuts)
        for i, start in enumerate(ordered):
            for end in ordered[i + 1 :]:
                try:
                    address = ipaddress.ip_address(word[start:end])
                except ValueError:
                    continue
                found.add(address)
                if address.version == 6 and address.ipv4_mapped is not None:
                    found.add(address.ipv4_mapped)
    return found


_RELAYS = {ipaddress.ip_address(ip) for ip in RELAY_IPS}
_secrets = st.ip_addresses().filter(lambda ip: not ip.is_unspecified and ip not in _RELAYS)


@st.composite
def _spelled(draw: st.DrawFn, address) -> str:
    """``address`` as a sender might write it: any case, exploded, v4-mapped, zoned."""
    if address.version == 4:
        forms = [str(address), f"::ffff:{address}", f"::FFFF:{address}"]
    else:
        forms = [address.compressed, address.exploded, address.compressed.upper()]
        forms += [address.compressed + "%eth0", address.compressed + "%25en0"]
    return draw(st.sampled_from(forms))


def _family(spelled: str) -> str:
    return "IP6" if ":" in spelled else "IP4"


@st.composite
def _hostile_line(draw: st.DrawFn, spelled: str) -> str:
    family = _family(spelled)
    relay = draw(st.sampled_from(RELAY_IPS))
    local = draw(st.sampled_from(["host", "srflx", "prflx", "HOST", "Srflx"]))
    kind = draw(st.sampled_from([local, "relay", "Relay", "RELAY"]))
    templates = [
        f"o=- 123 2 IN {family} {spelled}",
        f"o={spelled} 123 2 IN {family} 0.0.0.0",
        f"c=IN {family} {spelled}",
        f"c=in {family.lower()} {spelled}/127",
        f"a=rtcp:9 IN {family} {spelled}",
        f"A=RTCP:9 in {family.lower()} {spelled}",
        # A relay candidate's own connection-address is the relay's by definition.
        f"a=candidate:1 1 udp 2122260223 {spelled} 54321 typ {local} generation 0",
        f"A=CANDIDATE:1 1 UDP 1 {relay} 3478 TYP {kind} RADDR {spelled} RPORT 9",
        f"a=candidate:1 1 udp 1 {relay} 3478 typ relay raddr 0.0.0.0 rport 0 x {spelled}",
        f"a=candidate:1 1 udp 1 {relay} 3478 typ relay ufrag {spelled}",
        f"a=remote-candidates:1 {spelled} 54321",
        f"a=x-anything:{spelled}",
        f"a=ssrc:1 cname:{spelled}",
        f"a=fingerprint:sha-256 {spelled}",
        f"s={spelled}",
        f"i={spelled}",
        f"u=http://[{spelled}]/",
        f"e=me@{spelled}",
        f"m=video 9 UDP/TLS/RTP/SAVPF {spelled}",
        f"b=AS:{spelled}",
        f"a=mid:{spelled}",
    ]
    return draw(st.sampled_from(templates))


_PADDING = st.sampled_from(["", " ", "  ", "\t", " \t "])
_ENDS = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def _hostile_sdp(draw: st.DrawFn) -> tuple[str, set]:
    secrets = draw(st.lists(_secrets, min_size=1, max_size=4))
    lines = ["v=0", "o=- 1 2 IN IP4 0.0.0.0", "s=-", "t=0 0", "m=video 9 UDP/TLS/RTP/SAVPF 96"]
    for secret in secrets:
        spelled = draw(_spelled(secret))
        lines.insert(draw(st.integers(1, len(lines))), draw(_hostile_line(spelled)))
    text = ""
    for line in lines:
        text += draw(_PADDING) + line + draw(_PADDING) + draw(_ENDS)
    return text, set(secrets)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_hostile_sdp())
def test_no_address_but_the_relays_ever_leaves_an_sdp(case):
    sdp, secrets = case
    cleaned = relay_only_sdp(sdp)
    assert not _addresses_in(cleaned) & secrets, cleaned
    for line in cleaned.split("\r\n")[:-1]:
        assert line == line.strip() and line and "\r" not in line and "\n" not in line


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_no_address_but_the_relays_ever_leaves_a_trickled_candidate(data):
    secret = data.draw(_secrets)
    spelled = data.draw(_spelled(secret))
    line = data.draw(_hostile_line(spelled))
    _, _, value = line.partition("=")
    candidate = data.draw(st.sampled_from(["", "a="])) + value if "andidate" in line else line
    candidate = data.draw(_PADDING) + candidate + data.draw(_PADDING)
    relayed = relay_candidate(candidate)
    if relayed is not None:
        assert secret not in _addresses_in(relayed), relayed
        fields = relayed.split()
        assert ipaddress.ip_address(fields[4]) in _RELAYS and fields[9] in ("0.0.0.0", "::")
        assert re.search(r" typ relay raddr (0\.0\.0\.0|::) rport 0( |$)", relayed)


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
