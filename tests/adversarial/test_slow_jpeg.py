"""Attack 2 (issue 15), first half: one slow JPEG switches frame checks off. A
progressive JPEG under 64 KB whose last scan is repeated thousands of times passed the
header check and took libjpeg ~8 s to decode in a check worker; a few a second kept
every worker busy. Now the gate on the event loop counts scans and pixels and refuses it
before any decoder or worker sees it (``safety/jpeg.py``), and a normal frame of the
same match is still checked. Against the real server, in process; the checker counts
the frames it is given."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest

from strangers.safety.checker import CheckResult

from ..checkers import Scripted
from ..frame_posts import post, video_pair
from ..hostile_jpegs import scan_count, slow_progressive
from ..images import portrait
from ..inprocess import Served, serving


class Counting(Scripted):
    """The scripted checker (it decodes with the real decoder), counting its frames."""

    given: ClassVar[list[int]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        with self.lock:
            self.given.append(len(jpeg))
        return super().check(jpeg, estimate_age=estimate_age)


def counting(**_settings: Any) -> Counting:
    Counting.given.clear()
    return Counting()


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[Served]:
    async with serving(
        tmp_path,
        same_device_pairs=False,
        frame_checker="tests.adversarial.test_slow_jpeg:counting",
        frame_check_mode="thread",  # the counting checker counts in this process's memory
        own_check_seconds=60.0,
    ) as served:
        yield served


async def test_the_slow_progressive_jpeg_is_refused_before_any_decoder(srv):
    a, _b, ours, theirs = await video_pair(srv.ws)
    as_found = slow_progressive(1280, 1280)  # the issue's: ~8 s in libjpeg
    within_pixels = slow_progressive(640, 640)  # the same trick under the pixel limit
    assert len(as_found) <= 65536 and scan_count(as_found) > 4000
    async with httpx.AsyncClient(base_url=srv.base, timeout=30) as client:
        refused = await post(client, ours["frame_token"], within_pixels)
        assert refused.status_code == 415, refused.text
        assert refused.json() == {"code": "not_jpeg", "text": "The frame has too many scans."}
        too_big = await post(client, ours["frame_token"], as_found)
        assert too_big.status_code == 422 and too_big.json()["code"] == "bad_size"
        assert Counting.given == []  # no worker, no decoder ever saw them
        # The match goes on, and a normal frame of it is checked and lifts safe start.
        own = await post(client, theirs["frame_token"], portrait(), source="own")
        assert own.status_code == 200, own.text
        checked = await post(client, ours["frame_token"], portrait())
        assert checked.status_code == 200 and checked.json() == {"status": "checked"}
    blur = await a.expect("blur")
    assert blur["on"] is False and blur["reason"] == "clear"
    assert len(Counting.given) == 2
