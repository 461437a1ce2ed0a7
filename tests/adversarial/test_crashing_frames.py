"""Issue 18: a frame built to crash or hang a check worker cannot get frames through
unchecked. Frame checks run in check-worker processes (``safety/workers.py``); a worker
that dies on a frame (a segfault in a decoder) or hangs on it past
``frame_check_timeout`` gives that frame no verdict: the post is answered as a fault,
nothing is lifted or relayed on its account (fail closed, docs/safety.md), the worker is
replaced and the match's next frame is checked.

Against the real server, in process, its checks in real worker processes. The checker
is the scripted one (verdicts injected into benign pictures, ``tests.checkers``) that
also does to its worker what a frame marked ``CRASH`` or ``HANG`` asks: a SIGSEGV, or
a minute's sleep."""

from __future__ import annotations

import os
import signal
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from strangers.safety.checker import CheckResult

from ..checkers import Scripted, with_verdict
from ..frame_posts import post, video_pair
from ..images import portrait
from ..inprocess import Served, serving

#: A hung worker is killed this many seconds into a check.
CHECK_TIMEOUT = 1.0


def marked(jpeg: bytes, mark: bytes) -> bytes:
    """``jpeg`` with a COM segment holding ``mark``, right after SOI."""
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(mark) + 2) + mark + jpeg[2:]


class Crashing(Scripted):
    """The scripted checker, and a worker that dies or hangs on a marked frame."""

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        head = jpeg[:256]
        if b"CRASH" in head:
            os.kill(os.getpid(), signal.SIGSEGV)
        if b"HANG" in head:
            time.sleep(60)
        return super().check(jpeg, estimate_age=estimate_age)


def crashing(**_settings: Any) -> Crashing:
    return Crashing()


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        same_device_pairs=False,
        frame_checker="tests.adversarial.test_crashing_frames:crashing",
        frame_check_mode="process",
        frame_check_timeout=CHECK_TIMEOUT,
        own_check_seconds=60.0,
    ) as served:
        yield served


async def test_frames_that_crash_or_hang_a_worker_are_never_passed(srv):
    viewer, _sender, seen, sent = await video_pair(srv.ws)
    async with httpx.AsyncClient(base_url=srv.base, timeout=30) as client:
        # The sender's own camera is checked: a clean frame of its video would lift the
        # viewer's blur from here on.
        own = await post(client, sent["frame_token"], portrait(), source="own")
        assert own.status_code == 200, own.text
        # Clean as far as the verdict goes, flagged for nudity, or a hash-list hit: a
        # frame whose worker dies or hangs gets no verdict at all.
        for verdict in ("clean", "nudity", "known_abuse"):
            for mark in (b"CRASH", b"HANG"):
                began = time.monotonic()
                frame = marked(with_verdict(portrait(), verdict), mark)
                answer = await post(client, seen["frame_token"], frame)
                # A fault (500); or, on a machine slow to start the replacement workers,
                # shed after waiting for one (503): never checked either way.
                assert answer.status_code in (500, 503), answer.text
                assert answer.json()["code"] in ("internal", "busy")
                assert time.monotonic() - began < CHECK_TIMEOUT + 10
        # Nothing was lifted on their account: the viewer still sees the blur of the
        # match's start, and no verdict reached either side.
        assert await viewer.quiet(0.3)
        # The workers were replaced: the next frame is checked and lifts the blur (posted
        # again after a 503, as the page does).
        deadline = time.monotonic() + 20
        while (checked := await post(client, seen["frame_token"], portrait())).status_code == 503:
            assert time.monotonic() < deadline, checked.text
        assert checked.status_code == 200 and checked.json() == {"status": "checked"}
    blur = await viewer.expect("blur")
    assert blur["on"] is False and blur["reason"] == "clear"
