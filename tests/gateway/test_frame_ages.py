"""``POST /v1/frames`` asks the check pool for a facial age estimate exactly on frames
of the poster's own camera (docs/safety.md, "Age from the camera": a viewer never gets
an estimate of the stranger it watches), on the in-process server."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from strangers.core.frames import FrameVerdict
from strangers.safety.checker import CheckResult

from ..frame_posts import post, video_pair
from ..images import portrait
from ..inprocess import serving

#: (estimate_age) of every check the recording checker was asked for, in order.
ASKED: list[bool] = []
_LOCK = threading.Lock()


class Recording:
    estimates_age = True

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        with _LOCK:
            ASKED.append(estimate_age)
        return CheckResult(FrameVerdict(face=True), {})


def recording(**_settings: Any) -> Recording:
    return Recording()


async def test_only_own_camera_frames_ask_for_an_age_estimate(tmp_path):
    ASKED.clear()
    # Threads: the recording checker records in this process's memory.
    async with serving(
        tmp_path,
        frame_checker="tests.gateway.test_frame_ages:recording",
        frame_check_mode="thread",
        same_device_pairs=False,
    ) as srv:
        a, b, matched, _ = await video_pair(srv.ws)
        token = matched["frame_token"]
        async with httpx.AsyncClient(base_url=srv.base) as client:
            partner = await post(client, token, portrait(), source="partner")
            assert partner.status_code == 200, partner.text
            own = await post(client, token, portrait(), source="own")
            assert own.status_code == 200, own.text
        await a.close()
        await b.close()
    assert ASKED == [False, True]
