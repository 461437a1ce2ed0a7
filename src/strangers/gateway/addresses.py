"""The raw network addresses of this node's live sessions, in memory only.

docs/design.md §6 keeps no raw address: the records hold a keyed hash. One exception, issue 7:
a report to the CyberTipline needs the address the reported person used at the time
(18 U.S.C. 2258A(b)(1)). So the gateway remembers each live session's address here,
forgets it when the session closes, and hands it to the records only when a case is
critical or escalated, to be sealed into that case's evidence. It is never logged,
never in a metric, never written anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..moderation.records import AddressCapture


@dataclass(slots=True)
class Addresses:
    """Session id → (device, capture), bounded by the node's live sessions."""

    _by_session: dict[str, tuple[str, AddressCapture]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._by_session)

    def remember(self, session: str, device: str, capture: AddressCapture) -> None:
        self._by_session[session] = (device, capture)

    def forget(self, session: str) -> None:
        self._by_session.pop(session, None)

    def of_session(self, session: str) -> AddressCapture | None:
        found = self._by_session.get(session)
        return None if found is None else found[1]

    def of_device(self, device: str) -> AddressCapture | None:
        """The latest capture of any live session of ``device`` on this node."""
        captures = [c for d, c in self._by_session.values() if d == device]
        return max(captures, key=lambda c: c.at) if captures else None
