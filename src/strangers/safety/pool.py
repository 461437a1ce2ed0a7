"""Frame checks off the event loop, most urgent first, shedding under load (docs/design.md §6).

:class:`CheckPool` runs frame checks on ``workers`` workers, fed by as many asyncio
worker tasks from a bounded priority queue. Where a check runs is its
:class:`CheckBackend`: for a :class:`~strangers.safety.checker.FrameChecker` object,
:class:`ThreadBackend`, ``workers`` threads of this process; the gateway's default is
:class:`~strangers.safety.workers.ProcessBackend`, one check-worker process per worker
task (``safety/workers.py``), so that the models never load into the chat process and
a flood of video cannot hold its GIL. Everything below is the same for both: only the
hand-off of one frame to a worker and the wait for its result differ. A lower
``priority`` number is checked first; among equals, the older frame. docs/design.md §6: "under
load, first-frame checks and the teen pool come first; what is shed is counted and
shown in metrics". The gateway passes 0 for a match's first frames in the teen pool,
1 for other first frames, 2 for later teen-pool frames, 3 for the rest.

When ``capacity`` frames are already waiting, the least urgent of them and the new one
(the highest number, then the newest) is shed: the new frame's :meth:`CheckPool.check`
raises :class:`Shed` ``queue_full``, or a waiting frame's raises ``displaced`` and the
new one takes its place. A caller that is cancelled while its frame waits takes the
frame out of the queue, so no worker checks a frame nobody waits for; a frame already
being checked runs to the end and its result is dropped. :meth:`CheckPool.close`
sheds what waits (``closed``) and lets running checks finish. A frame whose check has not
come back within ``max_wait`` seconds is shed as ``stale`` (under sustained overload the
least urgent frames would otherwise wait without end, holding their requests open; the
page samples again soon anyway).

**Fair shares** (issue 15, attack 2; OWASP ASVS 5.0 V2.4.1 anti-automation): a frame
names the keys it counts against (``shares``: the sampling session, its device, its
network hash), and ``share_limits`` caps, per kind of key, the frames one key may have
waiting or being checked at once. A frame over any of its caps is shed at once as
``over_share``: a page posts one frame per video at a time, so an honest session never
holds more than two; an abuser only ever sheds its own frames. When the queue is full
the frame shed is the one whose busiest key is the most over its share (then the least
urgent, then the newest): a flood from a few keys displaces its own frames before an
honest one, whatever their priority.

**Age estimates** (docs/safety.md, "Age from the camera"): ``check(..., estimate_age=True)``
asks the checker for a facial age estimate (the gateway asks on own-camera frames
only). Only a checker whose class says ``estimates_age = True`` gets the keyword; an
operator's checker without it is called as before and its verdicts carry no age.

What the checker raises reaches the caller as is: ``FrameRejected`` for bad bytes,
anything else for a fault of the checker (the worker goes on with the next frame; a
check-worker process that died or hung is a
:class:`~strangers.safety.workers.CheckerFault`, and is replaced). The caller treats a
fault as a frame not checked (fail closed: docs/safety.md). Every outcome is counted in
:mod:`strangers.safety.metrics`.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import heapq
import itertools
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, Literal

from .checker import CheckResult, FrameChecker, run_check
from .errors import SafetyError
from .hashes import PDQ_MIN_QUALITY
from .jpeg import FrameRejected
from .metrics import (
    FRAME_CHECK_SECONDS,
    FRAME_HASH_SKIPPED,
    FRAME_QUEUE_DEPTH,
    FRAMES_CHECKED,
    FRAMES_SHED,
    STAGES,
    verdict_label,
)

ShedReason = Literal["queue_full", "displaced", "closed", "stale", "over_share"]

#: Frames one key may have waiting or in a check at once, by kind of key: a session
#: posts its partner's and its own video one at a time (two), a device may have a
#: second tab, a network hash is shared by a household, a school or a carrier's NAT.
DEFAULT_SHARE_LIMITS: Final[Mapping[str, int]] = {"session": 2, "device": 4, "network": 12}

#: Stages a checker may report that become metric labels; others are not recorded, so
#: an operator's checker cannot grow the metric's label set without bound.
_CHECKER_STAGES: Final = frozenset(STAGES) - {"queue", "total"}


class Shed(SafetyError):
    """A frame dropped unchecked; ``reason`` is ``queue_full``, ``displaced``, ``closed``,
    ``stale`` or ``over_share``."""

    code: str = "shed"

    def __init__(self, reason: ShedReason) -> None:
        super().__init__(f"frame check shed: {reason}")
        self.reason: ShedReason = reason


@dataclass(eq=False)
class _Job:
    priority: int
    seq: int
    jpeg: bytes
    future: asyncio.Future[CheckResult]
    enqueued: float
    #: ``(kind, key)`` pairs this frame counts against while it is held.
    shares: tuple[tuple[str, str], ...] = ()
    taken: bool = False  # a worker has it: its share is released when the check ends
    released: bool = field(default=False)
    estimate_age: bool = False

    @property
    def order(self) -> tuple[int, int]:
        return self.priority, self.seq


def _shed(job: _Job, reason: ShedReason) -> None:
    FRAMES_SHED.labels(reason=reason).inc()
    if not job.future.done():
        job.future.set_exception(Shed(reason))


class CheckBackend(abc.ABC):
    """Where a :class:`CheckPool`'s checks run. The pool's worker task number ``slot``
    (0 to ``slots - 1``) hands its frames, one at a time, to :meth:`run` with its
    ``slot``; a backend may keep one worker per slot."""

    def start(self, slots: int) -> None:  # noqa: B027 - a backend may need no start
        """Called once by :meth:`CheckPool.start`, in the running loop."""

    @property
    def ready(self) -> bool:
        """Whether the workers can check frames now (``/readyz``'s ``models``)."""
        return True

    async def ready_for(self, slot: int) -> bool:
        """Wait until ``slot`` can take a frame; ``False`` once the backend is draining
        (the pool is closing). Called before the slot takes a frame from the queue, so a
        worker that is still loading holds no frame another could check."""
        return True

    @abc.abstractmethod
    async def run(self, slot: int, jpeg: bytes, estimate_age: bool) -> CheckResult:
        """Check one frame on ``slot``'s worker, without blocking the loop; raises what
        the checker raised (``FrameRejected`` for bad bytes), or a fault."""

    def draining(self) -> None:  # noqa: B027 - a backend may have nothing to wake
        """The pool is closing: wake :meth:`ready_for` waiters (checks running go on)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop the workers; called after the pool's last check ended."""


class ThreadBackend(CheckBackend):
    """``checker`` on the threads of this process: the pool for a checker object it is
    handed (tests' scripted checkers, ``frame_check_mode = thread``). The checker must
    be thread-safe (``safety/checker.py``)."""

    def __init__(self, checker: FrameChecker, workers: int) -> None:
        self.checker = checker
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="frame-check")

    async def run(self, slot: int, jpeg: bytes, estimate_age: bool) -> CheckResult:
        call = functools.partial(run_check, self.checker, jpeg, estimate_age=estimate_age)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        # Nothing runs in the threads any more; don't block the loop on their exit.
        self._executor.shutdown(wait=False)


class CheckPool:
    """A bounded priority queue of frames in front of ``workers`` check workers: threads
    running ``checker`` when it is a :class:`FrameChecker`, or the workers of a
    :class:`CheckBackend` (check-worker processes: ``safety/workers.py``)."""

    def __init__(
        self,
        checker: FrameChecker | CheckBackend,
        *,
        workers: int = 2,
        capacity: int = 32,
        max_wait: float = 5.0,
        share_limits: Mapping[str, int] = DEFAULT_SHARE_LIMITS,
    ) -> None:
        if any(limit < 1 for limit in share_limits.values()):
            raise ValueError("a share limit must allow at least one frame")
        if max_wait <= 0:
            raise ValueError("max_wait must be positive")
        if workers < 1:
            raise ValueError("a check pool needs at least one worker")
        if capacity < 1:
            raise ValueError("a check pool's queue must hold at least one frame")
        self.backend = (
            checker if isinstance(checker, CheckBackend) else ThreadBackend(checker, workers)
        )
        #: The checker the threads run; ``None`` when a backend runs it elsewhere.
        self.checker = None if isinstance(checker, CheckBackend) else checker
        self.workers = workers
        self.capacity = capacity
        self.max_wait = max_wait
        self.share_limits = dict(share_limits)
        self._held: Counter[tuple[str, str]] = Counter()
        self._queue: list[tuple[int, int, _Job]] = []
        self._seq = itertools.count()
        self._ready: asyncio.Condition | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def pending(self) -> int:
        """Frames waiting for a worker (not those being checked)."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def ready(self) -> bool:
        """Open, started, and its workers can check frames (check-worker processes: all
        of them loaded the checker once, and one at least is loaded now)."""
        return not self._closed and bool(self._tasks) and self.backend.ready

    def start(self) -> None:
        """Start the worker tasks in the running loop (:meth:`check` does it if needed)."""
        if self._tasks:
            return
        if self._closed:
            raise Shed("closed")
        loop = asyncio.get_running_loop()
        self._ready = asyncio.Condition()
        self.backend.start(self.workers)
        self._tasks = [
            loop.create_task(self._work(n), name=f"frame-check-{n}") for n in range(self.workers)
        ]

    def held(self, kind: str, key: str) -> int:
        """Frames of ``key`` (a ``kind`` of share) waiting or being checked."""
        return self._held[(kind, key)]

    def _load(self, job: _Job, extra: int = 0) -> float:
        """How far the busiest of ``job``'s keys is into its share (1.0: all of it)."""
        return max(
            ((self._held[share] + extra) / self.share_limits[share[0]] for share in job.shares),
            default=0.0,
        )

    def _release(self, job: _Job) -> None:
        if job.released:
            return
        job.released = True
        for share in job.shares:
            self._held[share] -= 1
            if self._held[share] <= 0:
                del self._held[share]

    async def check(
        self,
        jpeg: bytes,
        *,
        priority: int,
        shares: Mapping[str, str] | None = None,
        estimate_age: bool = False,
    ) -> CheckResult:
        """Check one frame when a worker is free; see the module docstring for order,
        shares, shedding, age estimates and errors. ``shares`` maps a kind of key
        (``session``, ``device``, ``network``: the kinds of ``share_limits``) to this
        frame's key of that kind; kinds without a limit are not counted."""
        if self._closed:
            FRAMES_SHED.labels(reason="closed").inc()
            raise Shed("closed")
        self.start()
        assert self._ready is not None
        job = _Job(
            priority,
            next(self._seq),
            jpeg,
            asyncio.get_running_loop().create_future(),
            time.perf_counter(),
            tuple((kind, key) for kind, key in (shares or {}).items() if kind in self.share_limits),
            estimate_age=estimate_age,
        )
        if any(self._held[share] >= self.share_limits[share[0]] for share in job.shares):
            FRAMES_SHED.labels(reason="over_share").inc()
            raise Shed("over_share")
        if len(self._queue) >= self.capacity:
            worst = max(self._queue, key=lambda entry: (self._load(entry[2]), entry[0], entry[1]))[
                2
            ]
            if (self._load(job, extra=1), *job.order) > (self._load(worst), *worst.order):
                FRAMES_SHED.labels(reason="queue_full").inc()
                raise Shed("queue_full")
            self._take_out(worst)
            self._release(worst)
            _shed(worst, "displaced")
        for share in job.shares:
            self._held[share] += 1
        heapq.heappush(self._queue, (job.priority, job.seq, job))
        FRAME_QUEUE_DEPTH.inc()
        try:
            async with self._ready:
                self._ready.notify()
            async with asyncio.timeout(self.max_wait):
                return await job.future
        except TimeoutError:
            self._take_out(job)
            job.future.cancel()
            FRAMES_SHED.labels(reason="stale").inc()
            raise Shed("stale") from None
        except asyncio.CancelledError:
            # Still waiting: nobody wants its check any more. Already running: the
            # result is dropped when it comes.
            self._take_out(job)
            job.future.cancel()
            raise
        finally:
            # A frame in a worker's hands keeps its share until the check ends, so a
            # key whose checks overrun cannot start more of them than its share.
            if not job.taken:
                self._release(job)

    def _take_out(self, job: _Job) -> None:
        for index, (_, _, queued) in enumerate(self._queue):
            if queued is job:
                self._queue[index] = self._queue[-1]
                self._queue.pop()
                heapq.heapify(self._queue)
                FRAME_QUEUE_DEPTH.dec()
                return

    async def _work(self, slot: int) -> None:
        assert self._ready is not None
        while True:
            if not await self.backend.ready_for(slot):
                return
            async with self._ready:
                while not self._queue and not self._closed:
                    await self._ready.wait()
                if not self._queue:
                    return
                _, _, job = heapq.heappop(self._queue)
                FRAME_QUEUE_DEPTH.dec()
            if job.future.done():
                self._release(job)
                continue
            job.taken = True
            taken = time.perf_counter()
            FRAME_CHECK_SECONDS.labels(stage="queue").observe(taken - job.enqueued)
            try:
                result = await self.backend.run(slot, job.jpeg, job.estimate_age)
            except FrameRejected as exc:
                self._finish(job, "rejected", exc)
            except Exception as exc:
                # A fault of the checker, not of the frame: the caller logs it; this
                # worker goes on.
                self._finish(job, "failed", exc)
            else:
                for stage, seconds in result.stages.items():
                    if stage in _CHECKER_STAGES:
                        FRAME_CHECK_SECONDS.labels(stage=stage).observe(seconds)
                if result.hash_quality is not None and result.hash_quality < PDQ_MIN_QUALITY:
                    FRAME_HASH_SKIPPED.inc()
                self._finish(job, verdict_label(result.verdict), result)

    def _finish(self, job: _Job, label: str, outcome: CheckResult | Exception) -> None:
        self._release(job)
        FRAMES_CHECKED.labels(verdict=label).inc()
        FRAME_CHECK_SECONDS.labels(stage="total").observe(time.perf_counter() - job.enqueued)
        if job.future.done():
            return
        if isinstance(outcome, Exception):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    async def close(self) -> None:
        """Shed every waiting frame (``closed``), let running checks finish, stop the
        workers (check-worker processes exit: none outlives the pool)."""
        if self._closed:
            return
        self._closed = True
        waiting = [job for _, _, job in self._queue]
        self._queue.clear()
        FRAME_QUEUE_DEPTH.dec(len(waiting))
        for job in waiting:
            _shed(job, "closed")
        self.backend.draining()
        if self._ready is not None:
            async with self._ready:
                self._ready.notify_all()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.backend.close()
