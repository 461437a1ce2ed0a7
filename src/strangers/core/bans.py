"""The bans in force, indexed in memory for the check at ``hello``.

Checking the database on every connection cost more CPU than the rest of a
chatter's session (see ``docs/performance.md``); the records stay authoritative
and the gateway refreshes this index from them every few seconds, so a ban
made anywhere reaches every new session within that period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final

from .messages import Banned
from .network import UNKNOWN_NETWORK

#: The longest written reason a moderator may give a ban (docs/moderation.md, "Actions").
BAN_NOTE_MAX_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class BanEntry:
    #: :data:`BAN_NOTE_MAX_CHARS`, where a ban entry is read (the brokers' wire).
    NOTE_MAX_CHARS: ClassVar[int] = BAN_NOTE_MAX_CHARS

    reason: str
    case: str | None
    until: datetime | None  # None: for good
    #: The moderator's written reason (plain text, at most 500 characters), shown with
    #: ``reason``; None for automatic bans and bans made without one (DSA art. 17(3)(d)).
    note: str | None = None

    def lasts_longer_than(self, other: BanEntry) -> bool:
        if self.until is None or other.until is None:
            return self.until is None and other.until is not None
        return self.until > other.until


def banned_message(entry: BanEntry) -> Banned:
    """The ``banned`` notice of a ban (DSA art. 17: the statement of reasons a banned
    chatter gets): the one builder of it, for the socket (at ``hello`` and mid-chat) and
    for ``GET /v1/standing``, so a field added to the notice reaches both."""
    until = None if entry.until is None else int(entry.until.timestamp())
    return Banned(reason=entry.reason, case=entry.case, until=until, note=entry.note)


#: What a network's ban reads as to a device it was not made against: its own reason,
#: case and written note may tell what another device on that network did (OWASP ASVS 5.0
#: V8.2.2, data is disclosed to its subject only).
NETWORK_BAN_REASON = "Abuse from this network"


def network_banned_message(entry: BanEntry | Banned) -> Banned:
    """The ``banned`` notice of a network's ban for a device it was not made against: that
    it is the network's, and until when; never its reason, case or note."""
    until = entry.until
    if isinstance(until, datetime):
        until = int(until.timestamp())
    return Banned(reason=NETWORK_BAN_REASON, until=until)


class BanIndex:
    def __init__(self) -> None:
        self._by_device: dict[str, BanEntry] = {}
        self._by_network: dict[str, BanEntry] = {}

    def __len__(self) -> int:
        return len(self._by_device) + len(self._by_network)

    def replace(self, bans: Iterable[tuple[str | None, str | None, BanEntry]]) -> None:
        """Take the bans in force as they are now, dropping every earlier entry."""
        fresh = BanIndex()
        for device, network, entry in bans:
            fresh.add(device, network, entry)
        self._by_device, self._by_network = fresh._by_device, fresh._by_network

    def add(self, device: str | None, network: str | None, entry: BanEntry) -> None:
        """Put a ban in force at once, before the next refresh brings it from the records."""
        for key, index in ((device, self._by_device), (network, self._by_network)):
            if key is None or key == UNKNOWN_NETWORK:
                continue
            held = index.get(key)
            if held is None or entry.lasts_longer_than(held):
                index[key] = entry

    def lookup_by_scope(
        self, device: str, network: str, now: datetime
    ) -> tuple[BanEntry | None, BanEntry | None]:
        """The ban in force on the device itself, and the one on its network, apart
        (``GET /v1/standing`` says nothing of a network's ban but that it is one: its
        reason and case may be about another device)."""
        found: list[BanEntry | None] = []
        for entry in (self._by_device.get(device), self._by_network.get(network)):
            if entry is not None and entry.until is not None and entry.until <= now:
                entry = None
            found.append(entry)
        return found[0], found[1]

    def notice_for(self, device: str, network: str, now: datetime) -> Banned | None:
        """The ``banned`` notice for a device arriving from ``network``: the longest ban in
        force, told in full when it is the device's own, as a network's ban
        (:func:`network_banned_message`) when it is only its network's."""
        own, shared = self.lookup_by_scope(device, network, now)
        if own is not None and (shared is None or not shared.lasts_longer_than(own)):
            return banned_message(own)
        return None if shared is None else network_banned_message(shared)

    def lookup(self, device: str, network: str, now: datetime) -> BanEntry | None:
        """The longest-lasting ban in force on this device or network."""
        found: BanEntry | None = None
        for entry in (self._by_device.get(device), self._by_network.get(network)):
            if entry is None or (entry.until is not None and entry.until <= now):
                continue
            if found is None or entry.lasts_longer_than(found):
                found = entry
        return found
