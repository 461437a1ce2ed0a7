"""Process-wide tuning shared by the server and the benchmarks that stand for it."""

from __future__ import annotations

import contextlib
import gc
import resource
from typing import Final

#: Allocations between collections of the youngest generation (CPython's default is 700).
GC_YOUNG_THRESHOLD: Final = 20_000


def settle_garbage_collector() -> None:
    """Keep collector pauses out of chat latency: objects made at start-up (modules,
    the app, the models' validators) are frozen out of every collection, and the
    generations are collected less often, in exchange for a little memory.
    Measured in ``docs/performance.md``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def raise_open_files_limit() -> int:
    """Allow as many sockets as the hard limit lets this process hold; returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
