"""A check-worker process: ``python -m strangers.safety.check_worker --parent PID``
(started by :class:`~strangers.safety.workers.WorkerProcess`; issue 18, docs/design.md §6).

It reads messages (``safety/workers.py``: two lengths, a JSON head, a raw body) on its
stdin and answers on its stdout: first ``load`` (build the checker of a
:class:`~strangers.safety.workers.WorkerSpec`; answer ``ready`` or ``failed``), then any
number of ``hashes`` (replace its copy of the hash list; no answer) and ``check`` (one
JPEG; answer ``result``, ``rejected`` with the ``FrameRejected`` code, or ``error`` when
the checker raised anything else: the worker goes on). One frame at a time: the pool
gives each worker its own task.

Its stdout is the channel to the chat process, so file descriptor 1 is pointed at
stderr as soon as the channel is taken: a library that prints (a model's banner, a
warning) cannot garble an answer. It exits when its stdin ends (the pool closed it, or
the chat process died and the kernel closed it), and, from a watchdog thread, as soon as
its parent is no longer the process that started it, even in the middle of a check that
hangs, so no worker outlives its gateway. SIGINT is ignored: a Ctrl-C at the terminal
reaches the whole process group, and the gateway stops its workers itself, after
their last frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from strangers.logs import configure as configure_logging

from .checker import FrameChecker, run_check
from .hashes import HashList
from .jpeg import FrameRejected
from .workers import LENGTHS, MAX_DETAIL, MAX_NAME, WorkerSpec, pack, result_to_wire

log = logging.getLogger("strangers.safety.check_worker")

#: How often the watchdog looks for its parent, in seconds.
PARENT_POLL_SECONDS = 0.5


def _read(channel: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next message, or ``None`` at the end of the input."""
    lengths = channel.read(LENGTHS.size)
    if len(lengths) < LENGTHS.size:
        return None
    head_bytes, body_bytes = LENGTHS.unpack(lengths)
    head, body = channel.read(head_bytes), channel.read(body_bytes)
    if len(head) < head_bytes or len(body) < body_bytes:
        return None
    message = json.loads(head)
    if not isinstance(message, dict):
        raise ValueError("a message head is a JSON object")
    return message, body


def _send(channel: IO[bytes], message: bytes) -> None:
    channel.write(message)
    channel.flush()


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            # The gateway is gone (killed, crashed): nobody wants this worker's answers.
            os._exit(0)
        time.sleep(PARENT_POLL_SECONDS)


def _take_channel() -> tuple[IO[bytes], IO[bytes]]:
    """The pipes to the chat process, as files of their own; fd 0 becomes /dev/null and
    fd 1 stderr, so nothing else in this process reads or writes the channel."""
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel_in, channel_out


def _answer(checker: FrameChecker, jpeg: bytes, estimate_age: bool) -> bytes:
    try:
        result = run_check(checker, jpeg, estimate_age=estimate_age)
        return pack({"op": "result", "result": result_to_wire(result)})
    except FrameRejected as exc:
        return pack({"op": "rejected", "code": exc.code, "detail": exc.detail[:MAX_DETAIL]})
    except Exception as exc:
        # A fault of the checker, not of the frame: logged here, answered, and the
        # worker goes on, as a pool thread does.
        log.exception("the frame checker failed on a frame")
        return pack(
            {"op": "error", "type": type(exc).__name__[:MAX_NAME], "detail": str(exc)[:MAX_DETAIL]}
        )


def serve(channel_in: IO[bytes], channel_out: IO[bytes]) -> int:
    """Load, then check frames until the input ends; the exit status."""
    first = _read(channel_in)
    if first is None or first[0].get("op") != "load":
        return 2
    head, _ = first
    parent_path = [str(entry) for entry in head.get("sys_path", [])]
    # The parent's import path first: an operator's checker (or a test's) named
    # ``package.module:factory`` resolves here as it would in the gateway.
    sys.path[:] = parent_path + [entry for entry in sys.path if entry not in parent_path]
    hashes = HashList()
    started = time.perf_counter()
    try:
        spec = WorkerSpec.from_wire(head.get("spec"))
        configure_logging(spec.log_level, spec.log_format)
        checker = spec.build(hashes, instances=1)
    except Exception as exc:
        log.exception("the frame checker did not load")
        _send(channel_out, pack({"op": "failed", "detail": f"{type(exc).__name__}: {exc}"}))
        return 1
    _send(channel_out, pack({"op": "ready", "seconds": time.perf_counter() - started}))
    while (message := _read(channel_in)) is not None:
        head, body = message
        if head.get("op") == "hashes":
            hashes.load_packed(body, head["labels"])
        elif head.get("op") == "check":
            _send(channel_out, _answer(checker, body, head.get("estimate_age") is True))
        else:
            return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A strangers check-worker process.")
    parser.add_argument("--parent", type=int, required=True, help="the chat process's pid")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_watch_parent, args=(args.parent,), name="parent-watch", daemon=True
    ).start()
    channel_in, channel_out = _take_channel()
    try:
        return serve(channel_in, channel_out)
    except BrokenPipeError:
        return 0  # the chat process went away mid-answer


if __name__ == "__main__":
    sys.exit(main())
