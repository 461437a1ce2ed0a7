"""Frame checks under attack (issue 15, attack 2): do honest matches' flagged frames
still blur while two attacker pairs flood the check pool with the costliest frames?

Two parts, both on loopback, bounded in count and time:

1. **The worst frame the gate accepts**: candidates from ``tests/hostile_jpegs.py`` (the
   most pixels and scans allowed, no chroma subsampling, tall and square) checked
   ``--repeats`` times each by the real checker (NudeNet and the Haar fallback; no
   hash list, whose PDQ stage costs the same on any frame of a size); the slowest is
   reported (median, max), next to what
   the gate costs to refuse the attack's JPEG (thousands of progressive scans).
2. **The flood**: the real server in its own process (``tests/servers.py``: the
   flood's clients must not share its event loop) with the real checker, in which
   only frames carrying a ``VERDICT:nudity`` comment
   (``tests.checkers.with_verdict``, a benign portrait) are given a nudity verdict,
   after the real checks ran on them. Two attacker video pairs on 127.0.0.66, their
   per-chatter rate limits raised so only the pool's fair shares stand in the way,
   post ``--loops`` requests at once per chatter, back to back, cycling through the
   attack's JPEG (refused), the same under the pixel limit (refused) and the worst
   accepted frame. Meanwhile ``--honest`` honest pairs, one after the other, each on
   its own loopback address, start a match, have two clean frames checked (the blur
   lifts), then the viewer's page posts a flagged frame (again after 1 s on ``503``,
   as the page does). Measured: from that post to the viewer's ``blur`` (nudity).

Printed: the worst accepted frame's check time, the honest blur latency p50/p99/max,
the attackers' answers by status and the frames shed by reason.

Run: ``.venv/bin/python bench/frame_flood.py`` (``--honest``, ``--loops``,
``--repeats``, ``--seconds``, ``--workers``, ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import httpx  # noqa: E402
from tests.checkers import VERDICTS, with_verdict  # noqa: E402
from tests.frame_posts import client_from, post, video_pair  # noqa: E402
from tests.gateway.chatter import Chatter  # noqa: E402
from tests.hostile_jpegs import slow_progressive, worst_accepted  # noqa: E402
from tests.images import portrait  # noqa: E402
from tests.servers import running_server  # noqa: E402

from strangers.safety.checker import CheckResult, ModelFrameChecker  # noqa: E402
from strangers.safety.jpeg import FrameRejected, sniff_jpeg  # noqa: E402
from strangers.safety.metrics import SHED_REASONS  # noqa: E402

ATTACKERS = "127.0.0.66"
ANSWERS: list[tuple[int, float]] = []  # the honest flagged posts: status, seconds
MARK = b"VERDICT:nudity"


class Marked:
    """The real checker; a frame carrying ``VERDICT:nudity`` gets a nudity verdict after
    the real checks ran on it (so it costs what any frame costs)."""

    def __init__(self, **settings: Any) -> None:
        self.real = ModelFrameChecker(**settings)

    def check(self, jpeg: bytes) -> CheckResult:
        result = self.real.check(jpeg)
        if MARK in jpeg[:64]:
            return CheckResult(VERDICTS["nudity"], result.stages)
        return result


def marked(**settings: Any) -> Marked:
    return Marked(**settings)


def candidates() -> dict[str, bytes]:
    return {
        "320x1280 progressive 4:4:4, 12 scans": worst_accepted(320, 1280),
        "400x1024 progressive 4:4:4, 12 scans": worst_accepted(400, 1024),
        "640x640 progressive 4:4:4, 12 scans": worst_accepted(640, 640),
        "320x240 baseline (a page's frame)": portrait(),
    }


def worst_frame(repeats: int) -> dict[str, Any]:
    checker = ModelFrameChecker()
    found: dict[str, Any] = {}
    for name, data in candidates().items():
        checker.check(data)  # warm
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            checker.check(data)
            times.append(time.perf_counter() - started)
        found[name] = {
            "bytes": len(data),
            "median_ms": round(statistics.median(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
        }
    attack = slow_progressive(640, 640)
    times = []
    for _ in range(200):
        started = time.perf_counter()
        with contextlib.suppress(FrameRejected):
            sniff_jpeg(attack)
        times.append(time.perf_counter() - started)
    found["gate refusing the attack JPEG (5,000 scans)"] = {
        "bytes": len(attack),
        "median_ms": round(statistics.median(times) * 1000, 3),
        "max_ms": round(max(times) * 1000, 3),
    }
    return found


async def until(chatter: Chatter, kind: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = await chatter.recv(max(0.05, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


async def flood(client: httpx.AsyncClient, token: str, statuses: Counter[int]) -> None:
    frames = [slow_progressive(1280, 1280), slow_progressive(), worst_accepted()]
    n = 0
    while True:
        n += 1
        with contextlib.suppress(httpx.HTTPError):
            # As the sender's own camera: a faceless frame of the stranger would end the
            # match after six checks (no_face), and the attacker wants it to go on.
            answer = await post(client, token, frames[n % 3], source="own")
            statuses[answer.status_code] += 1


async def honest_round(url: str, base: str, address: str) -> float | None:
    viewer, sender, seen, sent = await video_pair(url, address)
    try:
        async with client_from(base, address, timeout=60) as client:
            for _ in range(2):
                await post(client, sent["frame_token"], portrait(), source="own")
                await post(client, seen["frame_token"], portrait())
            await until(viewer, "blur", 30)
            flagged = with_verdict(portrait(), "nudity")
            started = time.perf_counter()
            while time.perf_counter() - started < 30:
                answer = await post(client, seen["frame_token"], flagged)
                ANSWERS.append((answer.status_code, round(time.perf_counter() - started, 3)))
                if answer.status_code != 503:
                    break
                await asyncio.sleep(1)
            blur = await until(viewer, "blur", 30)
            if blur["on"] and blur["reason"] == "nudity":
                return time.perf_counter() - started
            return None
    finally:
        for chatter in (viewer, sender):
            with contextlib.suppress(Exception):
                await chatter.close()


def shed_counts(base: str) -> dict[str, float]:
    """The server's ``strangers_frames_shed_total`` by reason, from ``/metrics``."""
    text = httpx.get(base + "/metrics").text
    counts = dict.fromkeys(SHED_REASONS, 0.0)
    for line in text.splitlines():
        if line.startswith("strangers_frames_shed_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


async def flood_run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
    )
    with (
        tempfile.TemporaryDirectory() as data_dir,
        running_server(
            Path(data_dir),
            same_device_pairs=False,
            frame_checker="frame_flood:marked",
            frame_workers=args.workers,
            frame_posts_per_second=50,
            frame_post_burst=50,
            limit_frame_device="1000/second",
            limit_frame_network="5000/second",
            limit_abuse_device="100000/minute",
            limit_abuse_network="100000/minute",
            limit_connect_network="10000/minute",
        ) as base,
    ):
        ws = base.replace("http://", "ws://") + "/v1/ws"
        shed0 = shed_counts(base)
        attackers = [await video_pair(ws, ATTACKERS) for _ in range(2)]
        tokens = [m["frame_token"] for pair in attackers for m in pair[2:]]
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        missed = 0
        async with client_from(base, ATTACKERS, timeout=60) as bad:
            floods = [
                asyncio.create_task(flood(bad, token, statuses))
                for token in tokens
                for _ in range(args.loops)
            ]
            try:
                while sum(statuses.values()) < 100:
                    await asyncio.sleep(0.05)
                ends = time.monotonic() + args.seconds
                for n in range(args.honest):
                    if time.monotonic() > ends:
                        break
                    took = await honest_round(ws, base, f"127.0.1.{n + 1}")
                    if took is None:
                        missed += 1
                    else:
                        latencies.append(took)
            finally:
                for task in floods:
                    task.cancel()
                await asyncio.gather(*floods, return_exceptions=True)
        shed = {k: int(v - shed0[k]) for k, v in shed_counts(base).items()}
    latencies.sort()
    return {
        "honest_rounds": len(latencies) + missed,
        "honest_missed": missed,
        "blur_ms": {
            "p50": round(statistics.median(latencies) * 1000) if latencies else None,
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000)
            if latencies
            else None,
            "max": round(latencies[-1] * 1000) if latencies else None,
        },
        "attacker_answers": dict(sorted(statuses.items())),
        "shed": shed,
        "honest_answers": ANSWERS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--honest", type=int, default=30, help="honest rounds (at most)")
    parser.add_argument("--loops", type=int, default=12, help="requests at once per attacker")
    parser.add_argument("--repeats", type=int, default=20, help="checks per candidate frame")
    parser.add_argument("--seconds", type=float, default=90, help="the flood's length at most")
    parser.add_argument("--workers", type=int, default=2, help="check threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    worst = worst_frame(args.repeats)
    flooded = asyncio.run(flood_run(args))
    if args.json:
        print(json.dumps({"worst_frame": worst, "flood": flooded}, indent=2))
        return
    print("check time of each candidate (real checker):")
    for name, row in worst.items():
        print(f"  {name}: {row['bytes']} B, median {row['median_ms']} ms, max {row['max_ms']} ms")
    print(
        f"honest flagged frames during the flood: {flooded['honest_rounds']} rounds, "
        f"{flooded['honest_missed']} without a blur"
    )
    blur = flooded["blur_ms"]
    print(f"  post to blur: p50 {blur['p50']} ms, p99 {blur['p99']} ms, max {blur['max']} ms")
    print(f"attackers' answers by status: {flooded['attacker_answers']}")
    print(f"frames shed by reason: {flooded['shed']}")


if __name__ == "__main__":
    main()
