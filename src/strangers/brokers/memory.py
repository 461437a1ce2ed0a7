"""The one-process broker: the matchmaker runs here, relays never leave.

Pairs that form on a join are returned at once (no hop, no task switch);
pairs that form when a timeout opens a level are found by a timer that calls
:meth:`Matchmaker.tick` every ``tick_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from ..core.errors import MatchOver
from ..core.frames import FrameSource
from ..core.matching import Matchmaker, Pair, Ticket
from ..core.switchboard import PeerEvent
from .base import FrameHandler, PairSink
from .wire import Fact


class MemoryBroker:
    node_id = ""
    frame_handler: FrameHandler | None = None

    def __init__(
        self,
        matchmaker: Matchmaker,
        *,
        tick_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.matchmaker = matchmaker
        self.tick_seconds = tick_seconds
        self._clock = clock
        self._sink: PairSink | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self, sink: PairSink) -> None:
        self._sink = sink
        self._ticker = asyncio.create_task(self._tick_forever(), name="matchmaker-tick")

    async def ping(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    def enqueue(self, ticket: Ticket, now: float) -> list[Pair]:
        return self.matchmaker.join(ticket, now)

    def dequeue(self, session: str) -> None:
        self.matchmaker.leave(session)

    def relay(self, to: str, event: PeerEvent) -> None:
        # One process: a session that is not on this node no longer exists.
        return None

    def share(self, fact: Fact) -> None:
        # One process: there is no other node to tell.
        return None

    async def online(self, local: dict[str, int]) -> dict[str, int]:
        # One process: its own counts are everyone's.
        return dict(local)

    async def forward_frame(
        self, session: str, match: str, source: FrameSource, jpeg: bytes
    ) -> None:
        # One process: a session that is not here is gone, and so is its match.
        raise MatchOver()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            now = self._clock()
            pairs = self.matchmaker.tick(now)
            if self._sink is None:
                continue
            if pairs:
                self._sink.on_pairs(pairs)
            notes = self.matchmaker.wait_notes(now)
            if notes:
                self._sink.on_wait_notes(notes)
