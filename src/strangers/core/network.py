"""Keyed network hashes: the only trace of a peer's address (docs/design.md §6).

A raw IP address is never stored or logged. What is kept is an HMAC-SHA256 of
the address under a server secret (RFC 2104), so equal addresses can be
matched (a ban on a network) without the address being recoverable from the
records. IPv6 addresses are cut to their /64 first: one subscriber usually
holds a whole /64 (RFC 6177), so hashing full addresses would let a banned
device escape by changing its interface identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Final

#: The hash of every peer whose address could not be read; never a ban target.
UNKNOWN_NETWORK: Final = "n:unknown"


def network_hash(secret: bytes, address: str | None) -> str:
    """``n:`` and 32 hex digits; :data:`UNKNOWN_NETWORK` when there is no usable address."""
    if not address:
        return UNKNOWN_NETWORK
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return UNKNOWN_NETWORK
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        key = ipaddress.IPv6Network((ip, 64), strict=False).network_address.packed
    else:
        key = ip.packed
    digest = hmac.new(secret, b"network:" + key, hashlib.sha256).hexdigest()
    return "n:" + digest[:32]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a host name or address, as written in a URL or a listen setting)
    names this machine only: ``localhost``, or a loopback address (127.0.0.0/8, ``::1``).
    Any other name is not, whatever it begins with: ``127.example.org`` is a domain."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
