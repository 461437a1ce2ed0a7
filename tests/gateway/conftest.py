from collections.abc import AsyncIterator

import pytest

from ..inprocess import serving

#: The chat socket's tests send no frames: the scripted checker, and no models to load.
#: Where frames are not the point: the scripted checker, in threads (no check-worker
#: processes to start and stop with every in-process server; the process pool has its
#: own tests, tests/safety/test_workers.py and tests/gateway/test_frame_workers.py).
NO_MODELS = {"frame_checker": "tests.checkers:scripted", "frame_check_mode": "thread"}


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[str]:
    """A fresh server (in process) with short matching timeouts and the teen pool open,
    keeping two tabs of one device apart as production does; its chat socket's URL."""
    async with serving(
        tmp_path,
        interest_timeout=1.0,
        language_timeout=0.5,
        teen_pool=True,
        frames_per_second=50,
        same_device_pairs=False,
        **NO_MODELS,
    ) as srv:
        yield srv.ws


@pytest.fixture
async def adults_only(tmp_path) -> AsyncIterator[str]:
    """A fresh server (in process) with the defaults of `make run` but for the frame
    checker; its chat socket's URL."""
    async with serving(tmp_path, **NO_MODELS) as srv:
        yield srv.ws
