"""The chatters waiting on this gateway: their joins and leaves go to their pool's
stream, and they are announced again whenever the matchmaker's view of them may have
been lost (a new lease holder, a subscription or writes lost, this gateway held dead).
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.matching import Pair, Ticket
from ...core.pools import Pool
from ..keys import Keys
from ..wire import dumps, ticket_to_wire
from .link import Link


class Waiting:
    """The tickets this gateway queued and has not seen paired or withdrawn."""

    def __init__(self, link: Link, keys: Keys, clock: Callable[[], float]) -> None:
        self._link = link
        self._keys = keys
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}

    def join(self, ticket: Ticket, now: float) -> None:
        """Queue ``ticket`` here and announce it to its pool's matchmaker."""
        self._tickets[ticket.session] = ticket
        self._announce(ticket, now)

    def leave(self, session: str) -> None:
        """Withdraw ``session``'s ticket, if it still waits."""
        ticket = self._tickets.pop(session, None)
        if ticket is not None:
            fields = {"k": "leave", "s": session}
            self._link.push("xadd", self._keys.pool(ticket.pool).joins, fields)

    def reannounce(self, pool: Pool | None) -> None:
        """Queue a join for every chatter waiting here (in ``pool``, or all)."""
        now = self._clock()
        for ticket in self._tickets.values():
            if pool is None or ticket.pool == pool:
                self._announce(ticket, now)

    def claim(self, pair: Pair) -> Pair:
        """The pair with this node's sides as it queued them (its clock, its tickets);
        a side still waiting for that very ticket is no longer waiting here."""
        sides = []
        for ticket in (pair.a, pair.b):
            mine = self._tickets.get(ticket.session)
            if mine is not None and mine.serial == ticket.serial:
                del self._tickets[ticket.session]
                ticket = mine
            sides.append(ticket)
        return Pair(pair.match, sides[0], sides[1], pair.common)

    def _announce(self, ticket: Ticket, now: float) -> None:
        fields = {"k": "join", "v": dumps(ticket_to_wire(ticket, now))}
        self._link.push("xadd", self._keys.pool(ticket.pool).joins, fields)
