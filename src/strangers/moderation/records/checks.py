"""The argument checks every aggregate of the records makes before it writes: times are
timezone-aware, identifiers are opaque (an identifier that looks like an IP address is
refused), reasons are short, bans have a target and a positive length. A failed check
is a :class:`RecordError` ``invalid``.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Final

from strangers.core.flags import PERMANENT
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import Party
from strangers.moderation.errors import RecordError

MAX_REASON_CHARS: Final = 64


def at(unix: float) -> datetime:
    """``unix`` (seconds) as an aware UTC time."""
    return datetime.fromtimestamp(unix, UTC)


def check_time(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RecordError("invalid", "times must be timezone-aware")


def check_id(value: str, what: str) -> None:
    if not value or len(value) > 128:
        raise RecordError("invalid", f"{what} is empty or too long")
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return
    raise RecordError("invalid", f"{what} must be an opaque identifier, not an address")


def check_parties(*parties: tuple[Party, str]) -> None:
    for party, side in parties:
        check_id(party.device, f"{side} device")
        check_id(party.network, f"{side} network")


def check_reason(reason: str) -> None:
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise RecordError("invalid", "the reason is empty or too long")


def check_ban(device: str | None, network: str | None, reason: str, until: datetime | None) -> None:
    if until is not None:
        check_time(until)
    if device is None and network is None:
        raise RecordError("invalid", "a ban needs a device or a network")
    if device is not None:
        check_id(device, "device")
    if network is not None:
        check_id(network, "network")
        if network == UNKNOWN_NETWORK:
            # Every peer whose address could not be read shares it: banning it
            # would ban them all.
            raise RecordError("invalid", "an unknown network cannot be banned")
    check_reason(reason)


def ban_end(seconds: float, now: datetime) -> datetime | None:
    """When a ban of ``seconds`` from ``now`` ends; None: for good (:data:`PERMANENT`)."""
    if seconds == PERMANENT:
        return None
    if not seconds > 0:
        raise RecordError("invalid", "a ban lasts a positive time")
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        raise RecordError("invalid", "the ban would end past the calendar") from None
