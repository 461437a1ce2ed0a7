"""What a peer may learn of the other's network: relay candidates only (design §6).

With TURN configured the page asks for ``iceTransportPolicy: "relay"``, but a
modified client could still send host or server-reflexive candidates, which
carry its addresses. The server therefore filters every signal before relay:

- a trickled candidate (RFC 8839 §5.1 ``candidate-attribute``) passes only
  when its type is ``relay``;
- an offer or answer loses every ``a=candidate`` line that is not ``relay``,
  and its connection (``c=``) and origin (``o=``) addresses are replaced by
  ``0.0.0.0``, as trickle ICE offers carry them anyway (RFC 8840 §4.1.1).
"""

from __future__ import annotations

import re
from typing import Final

_TYP: Final = re.compile(r"(?:^|\s)typ\s+(\S+)")
_ADDRESS_LINE: Final = re.compile(r"^(c=IN IP[46] |o=\S+ \S+ \S+ IN IP[46] )\S+$")


def candidate_type(candidate: str) -> str | None:
    """The ``typ`` of a candidate attribute value (``candidate:…`` with or without
    ``a=``), or None when it has none."""
    found = _TYP.search(candidate)
    return found.group(1).lower() if found else None


def is_relay_candidate(candidate: str) -> bool:
    return candidate_type(candidate) == "relay"


def relay_only_sdp(sdp: str) -> str:
    """The session description without any address but the relay candidates'."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if line.startswith("a=candidate:") and not is_relay_candidate(line):
            continue
        matched = _ADDRESS_LINE.match(line)
        if matched:
            line = matched.group(1) + "0.0.0.0"
        kept.append(line)
    return "\r\n".join(kept)
