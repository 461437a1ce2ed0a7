"""One socket's outgoing frames: written at once, queued only while the peer is slow.

An ASGI server completes a ``websocket.send`` without suspending unless the
peer's transport is paused (it has stopped reading). :meth:`Outbox.put`
therefore starts the send in the caller's own turn of the event loop and
drives it by hand: in the common case it finishes there and then, with no
task and no extra loop iteration between a relay and its write (the hop a
writer task added was up to 0.7 ms at p99, see ``docs/performance.md``).

Only a send that does suspend is handed to a task, which finishes it and
then writes whatever was queued behind it, in order. The queue is bounded: a
reader too slow to take ``limit`` frames is dropped rather than buffered
without end (OWASP ASVS 5.0 V4.4 resource limits); ``on_overflow`` is called
once when that happens.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

Write = Callable[[str], Coroutine[Any, Any, None]]


class Outbox:
    """``write_now``, when given, writes a frame without suspending and says whether it
    did (``wire.ChatWire.write_now``: no coroutine at all on the common path); when it
    cannot (the peer is slow, or the socket closing), ``write`` takes the frame as above."""

    def __init__(
        self,
        write: Write,
        limit: int,
        on_overflow: Callable[[], None],
        write_now: Callable[[str], bool] | None = None,
    ) -> None:
        self._write = write
        self._write_now = write_now
        self.limit = limit
        self._on_overflow = on_overflow
        self._frames: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None
        self.overflowed = False
        self.broken = False

    def put(self, frame: str) -> None:
        if self.overflowed or self.broken:
            return
        if self._task is None:
            write_now = self._write_now
            if write_now is None or not write_now(frame):
                self._start(frame)
            return
        if len(self._frames) >= self.limit:
            self.overflowed = True
            self._on_overflow()
            return
        self._frames.append(frame)

    async def drain(self) -> None:
        """Wait until everything put so far is written (or the socket broke)."""
        while (task := self._task) is not None:
            await asyncio.wait({task})

    def close(self) -> None:
        """Stop writing; frames still queued are dropped with the socket."""
        self.broken = True
        self._frames.clear()
        if self._task is not None:
            self._task.cancel()

    def _start(self, frame: str) -> None:
        send = self._write(frame)
        try:
            yielded = send.send(None)
        except StopIteration:
            return
        except Exception:
            self.broken = True  # the socket is gone; its own task will see the close
            return
        task = asyncio.get_running_loop().create_task(self._finish(send, yielded))
        # A done callback, not a ``finally``: a task cancelled before its first step
        # never runs its coroutine's ``finally``.
        task.add_done_callback(self._finished)
        self._task = task

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None

    async def _finish(self, send: Coroutine[Any, Any, None], yielded: Any) -> None:
        try:
            await _resume(send, yielded)
            while self._frames and not self.broken:
                await self._write(self._frames.popleft())
        except asyncio.CancelledError:
            send.close()
            raise
        except Exception:
            self.broken = True


async def _resume(coroutine: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Finish a coroutine that suspended while driven by hand, as a task would:
    wait for what it yielded, then let it run on, until it returns."""
    while True:
        try:
            if yielded is None:  # a bare yield (asyncio.sleep(0)): one loop turn
                await asyncio.sleep(0)
            else:
                # What a task does with a future its coroutine yields: take the
                # "blocking" mark, then wait for it to be done.
                yielded._asyncio_future_blocking = False
                await yielded
        except asyncio.CancelledError:
            coroutine.close()
            raise
        except Exception:
            pass  # the future holds the outcome; the coroutine reads it when resumed
        try:
            yielded = coroutine.send(None)
        except StopIteration:
            return
