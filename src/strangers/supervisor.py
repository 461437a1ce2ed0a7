"""Several gateway processes on one host, sharing one port: ``strangers serve --workers N``.

One Python process uses one core. To use every core of a host (docs/deploy.md, "One
host, every core"), the supervisor starts ``N`` gateways, each a ``strangers serve`` of
its own listening on the same address with ``SO_REUSEPORT``, so the kernel spreads new
connections over them. They are nodes of one deployment on the Redis broker
(docs/design.md §5): each gets its own name (``STRANGERS_GATEWAY_ID`` = the base name,
``-1`` … ``-N``), matches through Redis, and relays to partners on the others through it,
so the pools never mix across processes any more than across hosts. Without Redis the
supervisor refuses to start: in-memory matching cannot span processes.

The supervisor holds no socket and no chat. It migrates the records once (in a child, as
``serve`` does), starts the workers, and:

- restarts a worker that exits on its own (its chatters reconnect; its partners on other
  workers see ``partner_left`` within the broker's heartbeat limit, docs/design.md §5),
  after a delay that doubles on quick repeated deaths, up to ``MAX_RESTART_DELAY``;
- on SIGINT or SIGTERM, passes the signal on to every worker and waits for them (each
  closes its chat sockets with 1012, then exits), killing one that outlives
  ``stop_timeout`` seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

log = logging.getLogger("strangers.supervisor")

#: A worker that lived shorter than this died "quickly": its restart waits longer.
QUICK_DEATH_SECONDS: Final = 10.0
MAX_RESTART_DELAY: Final = 30.0


def worker_name(base: str, index: int) -> str:
    """The gateway name of worker ``index`` (1-based): ``base-index``, within the 32
    characters ``STRANGERS_GATEWAY_ID`` allows."""
    suffix = f"-{index}"
    return base[: 32 - len(suffix)] + suffix


@dataclass
class _Worker:
    index: int
    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = 0.5
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Starts and keeps ``count`` workers running ``command`` (module docstring)."""

    command: Sequence[str]
    count: int
    base_name: str
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stop_timeout: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _workers: list[_Worker] = field(default_factory=list)
    _stopping: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("at least one worker")
        self._workers = [
            _Worker(k, worker_name(self.base_name, k)) for k in range(1, self.count + 1)
        ]

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process and w.process.poll() is None]

    def _start(self, worker: _Worker) -> None:
        env = dict(self.environment, STRANGERS_GATEWAY_ID=worker.name)
        # A session of its own: a terminal's Ctrl-C reaches the supervisor only, which
        # passes one signal on (a second would make uvicorn skip its graceful close).
        worker.process = subprocess.Popen(
            list(self.command), env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        worker.started = self.clock()
        worker.restart_at = None
        log.info("worker %s started (pid %d)", worker.name, worker.process.pid)

    def start(self) -> None:
        for worker in self._workers:
            self._start(worker)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Pass ``signum`` on to every worker, wait ``stop_timeout`` for them, then kill
        what is left."""
        self._stopping = signum
        running = [w.process for w in self._workers if w.process and w.process.poll() is None]
        for process in running:
            process.send_signal(signum)
        deadline = self.clock() + self.stop_timeout
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in time; killed", process.pid)
                process.kill()
                process.wait()

    def tend(self) -> None:
        """Restart workers that exited on their own, once their delay is over."""
        if self._stopping is not None:
            return
        now = self.clock()
        for worker in self._workers:
            process = worker.process
            if process is None or process.poll() is None:
                continue
            if worker.restart_at is None:
                quick = now - worker.started < QUICK_DEATH_SECONDS
                worker.delay = min(worker.delay * 2, MAX_RESTART_DELAY) if quick else 0.5
                worker.restart_at = now + worker.delay
                log.error(
                    "worker %s (pid %d) exited with %s; restarting in %.1f s",
                    worker.name,
                    process.pid,
                    process.returncode,
                    worker.delay,
                )
            elif now >= worker.restart_at:
                self._start(worker)

    def run(self) -> int:
        """Start the workers, keep them running until SIGINT or SIGTERM, stop them."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self._stopping = signum

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while self._stopping is None:
                time.sleep(0.2)
                self.tend()
            self.stop(self._stopping)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0


def _die_with_parent() -> None:
    """In the worker, before it runs: SIGTERM it when the supervisor dies, even by
    SIGKILL, so no worker serves on without its supervisor (Linux ``PR_SET_PDEATHSIG``)."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def worker_command(host: str, port: int) -> list[str]:
    """``strangers serve`` for one worker: the shared port, records already migrated."""
    return [
        sys.executable,
        "-m",
        "strangers",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--reuse-port",
        "--no-migrate",
    ]
