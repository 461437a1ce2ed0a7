import pytest

from ..servers import running_server


@pytest.fixture
def server(tmp_path):
    """A fresh server with short matching timeouts and the teen pool open, keeping
    two tabs of one device apart as production does."""
    with running_server(
        tmp_path,
        interest_timeout=1.0,
        language_timeout=0.5,
        teen_pool=True,
        frames_per_second=50,
        same_device_pairs=False,
    ) as base:
        yield base.replace("http://", "ws://") + "/v1/ws"


@pytest.fixture
def adults_only(tmp_path):
    """A server with the defaults of `make run`."""
    with running_server(tmp_path) as base:
        yield base.replace("http://", "ws://") + "/v1/ws"
