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

    def lookup(self, device: str, network: str, now: datetime) -> BanEntry | None:
        """The longest-lasting ban in force on this device or network."""
        found: BanEntry | None = None
        for entry in (self._by_device.get(device), self._by_network.get(network)):
            if entry is None or (entry.until is not None and entry.until <= now):
                continue
            if found is None or entry.lasts_longer_than(found):
                found = entry
        return found
