"""Process-wide tuning shared by the server and the benchmarks that stand for it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource
import sys
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


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system once start-up is over (glibc's
    ``malloc_trim``; nothing elsewhere). Loading the word lists, the models and the
    records leaves freed memory (decompressed files, parsed JSON, regular expressions'
    parse trees) that the allocator would otherwise keep: 2 MiB of the chat process's
    resident memory at start (docs/performance.md, "Memory"; issue 18 holds it to
    120 MB)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)


def raise_open_files_limit() -> int:
    """Allow as many sockets as the hard limit lets this process hold; returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
