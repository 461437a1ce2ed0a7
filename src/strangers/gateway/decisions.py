"""Moderators' decisions waiting for their device's next visit (docs/design.md §1: "outcome
sent to the chatter on their next visit"; DSA arts. 17 and 20(4)).

The index is in memory, loaded from the records at start and at every ban refresh, and
added to at once when the console decides on this node. A visit takes the device's
decisions out of the index before they are sent, so two sockets of one device do not
both get them; the records are then told they were delivered.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.messages import Decision
from ..moderation.records import PendingNotice


class DecisionNotices:
    def __init__(self) -> None:
        self._by_device: dict[str, dict[int, PendingNotice]] = {}
        # Sent, not yet marked delivered in the records: a refresh in between must not
        # bring them back for a second showing.
        self._sent: set[int] = set()

    def __len__(self) -> int:
        return sum(len(notices) for notices in self._by_device.values())

    def replace(self, pending: Iterable[PendingNotice]) -> None:
        by_device: dict[str, dict[int, PendingNotice]] = {}
        for notice in pending:
            if notice.id not in self._sent:
                by_device.setdefault(notice.device, {})[notice.id] = notice
        self._by_device = by_device

    def add(self, notice: PendingNotice) -> None:
        self._by_device.setdefault(notice.device, {})[notice.id] = notice

    def take(self, device: str) -> list[PendingNotice]:
        """The device's decisions, oldest first, removed from the index."""
        notices = self._by_device.pop(device, {})
        self._sent.update(notices)
        return [notices[key] for key in sorted(notices)]

    def settled(self, ids: Iterable[int]) -> None:
        """The records were told the notices were delivered, or could not be told: then
        the next refresh brings them back, to be shown on a later visit, not lost."""
        self._sent.difference_update(ids)


def as_message(notice: PendingNotice) -> Decision:
    return Decision(kind=notice.kind, case=notice.case, text=notice.text)  # type: ignore[arg-type]
