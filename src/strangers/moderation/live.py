"""What a moderator's decision does to the chat as it runs: the one interface between
the moderation layer and the gateway.

The records say what was decided (``casework.py``); the live chat must follow at once
on this node, not at the next refresh: a ban closes the banned device's sessions, a
lifted ban lets it back in, a decision waits for the chatter's next visit. The gateway
implements :class:`LiveChat` (``gateway/enforcement.py``, ``NodeLiveChat``, where each
action has its one implementation, shared with the flags and reports of the chat
itself) and hands it to the console when it builds the app, so the moderation layer
never imports the gateway.
"""

from __future__ import annotations

from typing import Protocol

from .records import AddressCapture, BanNotice, PendingNotice


class LiveChat(Protocol):
    """The running chat, as the console acts on it. Call only after the records
    committed what the call carries out."""

    def apply_ban(self, device: str | None, network: str | None, ban: BanNotice) -> None:
        """Put a ban in force at once: on this node (its sessions told ``banned`` and
        closed) and through the broker on every other."""

    async def reload_bans(self) -> None:
        """Replace this node's bans with those in force in the records (after a ban
        was lifted)."""

    def notify(self, notice: PendingNotice) -> None:
        """Hold a decision for the chatter's next visit to this node."""

    def address_of(self, device: str) -> AddressCapture | None:
        """The address a live session of ``device`` on this node connected from, for
        the evidence of an escalated case; None when it has none here."""
