"""What a peer may learn of the other's network: the relay's address only (docs/design.md §6;
docs/security.md, "IP grabbers").

With TURN configured the page asks for ``iceTransportPolicy: "relay"``, but neither
browser is trusted to keep its addresses out of what it sends: a modified client may
send host or server-reflexive candidates, and a browser other than Chromium may put a
relay candidate's related address (its own public address) in ``raddr``, or its
default candidate in ``c=``. The server therefore rebuilds every signal before relay,
and anything it cannot parse is dropped rather than passed on:

- A trickled candidate (RFC 8839 §5.1 ``candidate-attribute``, with or without
  ``a=``) passes only when it is a well-formed ``relay`` candidate whose
  connection-address is an IP literal; it is rewritten field by field with
  ``raddr 0.0.0.0 rport 0`` (``::`` for an IPv6 relay), as Chromium does, and keeps
  only the extensions known to carry no address (``generation``, ``ufrag``,
  ``network-id``, ``network-cost``, ``tcptype``).
- An offer or answer (RFC 8866) is read line by line, ends of line CRLF, LF or CR,
  whitespace around a line ignored, type letters and attribute names compared without
  regard to case. ``a=candidate`` lines get the rule above; ``c=`` (RFC 8866 §5.7)
  becomes ``IN IP4 0.0.0.0`` (``IN IP6 ::``), ``o=`` (§5.2) keeps its numeric session
  id and version with user ``-`` and address ``0.0.0.0``, ``a=rtcp`` (RFC 3605) keeps
  its port and loses its address, ``a=remote-candidates`` (RFC 8839 §5.2) is dropped,
  ``a=fingerprint`` (RFC 8122 §5) is rebuilt from its hash name and hex pairs.
  ``s=`` becomes ``-``; lines of a type browsers never send (``i= u= e= p= k= r= z=``)
  are dropped, as are empty lines and lines with a character outside printable ASCII and tab.
- Last, any line that still holds something shaped like an IP literal (a dotted
  quad, or two colons within one run of hex digits, dots and colons) is dropped
  whatever its attribute: an unknown extension cannot carry an address through.

What reaches the partner therefore holds no IP literal but the connection-address of
relay candidates, which is the TURN server's (``tests/core/test_ice_and_turn.py``
proves it with generated SDP).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_PRINTABLE: Final = re.compile(r"[\t\x20-\x7e]+")
#: Anything an IPv4 or IPv6 literal (v4-mapped too) must contain: a dotted quad, or two
#: colons with only hex digits and dots between them (which is what two colons within
#: one run of hex digits, dots and colons comes to). Deliberately loose: a false alarm
#: costs one line of an attribute no browser needs; a miss costs an address.
_DOTTED_QUAD: Final = re.compile(r"[0-9]\.[0-9]+\.[0-9]+\.[0-9]")
_COLON_RUN: Final = re.compile(r":[0-9A-Fa-f.]*:")
_ICE_CHARS: Final = re.compile(r"[A-Za-z0-9+/]+")
_DIGITS: Final = re.compile(r"[0-9]+")
_TRANSPORT: Final = re.compile(r"[A-Za-z]{1,16}")
_TCP_TYPES: Final = frozenset({"active", "passive", "so"})
_FINGERPRINT: Final = re.compile(
    r"([A-Za-z0-9-]{1,32})\s+([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63})"
)
_RTCP: Final = re.compile(r"([0-9]{1,5})(?:\s+IN\s+(IP[46])\s+\S+)?", re.IGNORECASE)
_CONNECTION: Final = re.compile(r"IN\s+(IP[46])\s+\S+", re.IGNORECASE)
_ORIGIN: Final = re.compile(
    r"\S+\s+([0-9]{1,32})\s+([0-9]{1,32})\s+IN\s+IP[46]\s+\S+", re.IGNORECASE
)
#: SDP line types browsers send (RFC 8829 §5.2.1); the others are dropped.
_KEPT_TYPES: Final = frozenset("vostcmab")
_UNSPECIFIED: Final = {"IP4": "0.0.0.0", "IP6": "::"}


def _number(text: str, most: int) -> str | None:
    """``text`` as a decimal at most ``most``, without leading zeros, or None."""
    if not _DIGITS.fullmatch(text) or len(text) > len(str(most)) or int(text) > most:
        return None
    return str(int(text))


def _ip_literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address without a zone, or None (a host name is not one)."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def relay_candidate(candidate: str) -> str | None:
    """``candidate`` rebuilt as a relay candidate that names no address but the relay's,
    or None when it is not a well-formed relay candidate (RFC 8839 §5.1).

    Accepts the attribute value with or without ``a=``, in any case, with any
    whitespace; returns ``candidate:…`` with single spaces, ``raddr`` and ``rport``
    zeroed, and only the extensions known to be free of addresses."""
    text = candidate.strip()
    lowered = text[:12].lower()
    if lowered.startswith("a="):
        text, lowered = text[2:], lowered[2:]
    if not lowered.startswith("candidate:"):
        return None
    fields = text[10:].split()
    if len(fields) < 8 or len(fields) % 2:
        return None
    foundation, component, transport, priority, address, port, typ, kind = fields[:8]
    component = _number(component, 256) or ""
    priority = _number(priority, 2**32 - 1) or ""
    port = _number(port, 65535) or ""
    relay = _ip_literal(address)
    if (
        not (len(foundation) <= 32 and _ICE_CHARS.fullmatch(foundation))
        or not component
        or not _TRANSPORT.fullmatch(transport)
        or not priority
        or relay is None
        or not port
        or typ.lower() != "typ"
        or kind.lower() != "relay"
    ):
        return None
    unspecified = "0.0.0.0" if relay.version == 4 else "::"
    rebuilt = [
        f"candidate:{foundation} {component} {transport} {priority} {relay} {port}",
        f"typ relay raddr {unspecified} rport 0",
    ]
    pairs = fields[8:]
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = name.lower()
        if name in ("generation", "network-id", "network-cost"):
            number = _number(value, 2**32 - 1)
            if number is not None:
                rebuilt.append(f"{name} {number}")
        elif name == "ufrag":
            if len(value) <= 256 and _ICE_CHARS.fullmatch(value):
                rebuilt.append(f"ufrag {value}")
        elif name == "tcptype" and value.lower() in _TCP_TYPES:
            rebuilt.append(f"tcptype {value.lower()}")
        # raddr and rport were replaced above; any other extension is dropped unread.
    return " ".join(rebuilt)


def candidate_type(candidate: str) -> str | None:
    """The ``typ`` of a candidate attribute value (``candidate:…`` with or without
    ``a=``), lower case, or None when it has none."""
    fields = candidate.split()
    for at, field in enumerate(fields[:-1]):
        if field.lower() == "typ":
            return fields[at + 1].lower()
    return None


def is_relay_candidate(candidate: str) -> bool:
    """Whether ``candidate`` is a well-formed relay candidate (:func:`relay_candidate`)."""
    return relay_candidate(candidate) is not None


def _sdp_line(line: str) -> str | None:
    """One SDP line as it may reach the partner, or None to drop it."""
    kind = line[0].lower()
    if len(line) < 2 or line[1] != "=" or kind not in _KEPT_TYPES:
        return None
    value = line[2:].strip()
    if kind == "c":
        found = _CONNECTION.fullmatch(value)
        return (
            f"c=IN {found.group(1).upper()} {_UNSPECIFIED[found.group(1).upper()]}"
            if found
            else None
        )
    if kind == "o":
        found = _ORIGIN.fullmatch(value)
        return f"o=- {found.group(1)} {found.group(2)} IN IP4 0.0.0.0" if found else None
    if kind == "s":
        return "s=-"
    if kind == "a":
        name, colon, rest = value.partition(":")
        name = name.strip().lower()
        rest = rest.strip()
        if name == "candidate":
            relay = relay_candidate("candidate:" + rest) if colon else None
            return None if relay is None else "a=" + relay
        if name == "remote-candidates":
            return None
        if name == "rtcp":
            found = _RTCP.fullmatch(rest)
            port = _number(found.group(1), 65535) if found else None
            if found is None or port is None:
                return None
            family = found.group(2)
            if family is None:
                return f"a=rtcp:{port}"
            return f"a=rtcp:{port} IN {family.upper()} {_UNSPECIFIED[family.upper()]}"
        if name == "fingerprint":
            found = _FINGERPRINT.fullmatch(rest)
            return (
                f"a=fingerprint:{found.group(1).lower()} {found.group(2).upper()}"
                if found
                else None
            )
        # Attribute names are case-sensitive to the browsers (RFC 8866 §5.13): only
        # the rewritten ones above are normalised.
        line = "a=" + value
    else:
        line = f"{kind}={value}"
    return None if _address_shaped(line) else line


def _address_shaped(line: str) -> bool:
    """Whether ``line`` holds something shaped like an IP literal (the counts first:
    most lines of an offer have too few dots and colons to hold one)."""
    return bool(
        (line.count(".") >= 3 and _DOTTED_QUAD.search(line))
        or (line.count(":") >= 2 and _COLON_RUN.search(line))
    )


def relay_only_sdp(sdp: str) -> str:
    """The session description with no address but the relay candidates' (module
    docstring), each line ended by CRLF (RFC 8866 §5)."""
    kept: list[str] = []
    for raw in _LINE_END.split(sdp):
        line = raw.strip()
        if not line or not _PRINTABLE.fullmatch(line):
            continue
        cleaned = _sdp_line(line)
        if cleaned is not None:
            kept.append(cleaned)
    return "".join(line + "\r\n" for line in kept)
