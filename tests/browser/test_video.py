"""Video through a TURN relay, in a loopback-only network namespace: two strangers
see each other's camera, only through relay candidates, and a skip tears the
connection down so the next match gets a fresh one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
HERE = Path(__file__).resolve().parent


def _missing() -> str | None:
    for tool in ("/usr/bin/chromium", "turnserver", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian: chromium, coturn, util-linux, iproute2)"
    if os.geteuid() != 0:
        return "a network namespace needs root here"
    return None


def test_video_flows_only_through_the_relay_and_a_skip_starts_afresh(tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    inner = (
        f"ip link set lo up && exec {sys.executable} {HERE / 'video_in_namespace.py'} {tmp_path}"
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner], capture_output=True, text=True, timeout=180
    )
    logs = "".join(
        f"\n--- {name}\n{(tmp_path / name).read_text()[-3000:]}"
        for name in ("server.log", "turn.log")
        if (tmp_path / name).exists()
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for stats in seen["first"] + seen["second"]:
        assert stats["frames"] > 0
        assert stats["local"] == "relay" and stats["remote"] == "relay"
    assert seen["closed_after_skip"] is True and seen["fresh"] is True
