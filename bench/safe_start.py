"""How soon the safe-start blur lifts, and how soon a flagged match ends (docs/design.md §6, video).

Runs tests/browser/video_in_namespace.py ``--runs`` times, each time in a new
loopback-only network namespace (coturn, the server with the real frame checks, a
second server whose checker flags every frame, headless Chromium with fake cameras
made from scikit-image's portrait), with only its ``relay`` and ``nudity`` scenarios,
and reads the pages' own timelines (``performance.now()`` in each page):

- ``lift``: from ``matched`` to the viewer's blur lifting (target 1.5 s), and its
  stages: ``connect`` (matched → the stranger's first decoded frame: signalling, ICE
  through the TURN relay, the first video frame), ``encode`` (that frame → its JPEG
  posted), ``verdict`` (posted → the socket's ``blur`` off: the server's check and the
  message back);
- ``nudity``: from the first frame check of a match (either page) to the viewer's
  nudity blur (target 1 s), with a checker that flags every frame.

Everything (two browsers' video encode and decode, the server, its checks, coturn)
shares the machine's cores, as it does in the test suite: on 2 cores the browsers'
video work takes most of them. The CPU other processes used is not subtracted.

Needs root (``unshare -n``), Debian's chromium and coturn.
Run: ``.venv/bin/python bench/safe_start.py`` (``--runs``, ``--json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from load.report import percentiles  # bench/load: this directory is the script's import path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "browser" / "video_in_namespace.py"


def run_once(work: Path) -> dict[str, Any]:
    inner = f"ip link set lo up && exec {sys.executable} {SCRIPT} {work} relay,nudity"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def first(page: dict[str, Any], event: str, **match: object) -> dict[str, Any] | None:
    for e in page["timeline"]:
        if e["event"] == event and all(e.get(k) == v for k, v in match.items()):
            return e
    return None


def stages(seen: dict[str, Any]) -> dict[str, list[float]]:
    """Seconds per stage, one value per page that got that far."""
    out: dict[str, list[float]] = {k: [] for k in ("lift", "connect", "encode", "verdict")}
    for page in seen["relay_pages"]:
        matched, frame = first(page, "matched"), first(page, "partner_frame")
        posted = first(page, "frame_posted", source="partner", status=200)
        lifted = first(page, "blur_off")
        if not (matched and frame and posted and lifted):
            continue
        out["lift"].append((lifted["at"] - matched["at"]) / 1000)
        out["connect"].append((frame["at"] - matched["at"]) / 1000)
        out["encode"].append((posted["sent"] - frame["at"]) / 1000)
        out["verdict"].append((lifted["at"] - posted["sent"]) / 1000)
    pages = seen["nudity_pages"]
    checks = [
        page["origin"] + e["sent"]
        for page in pages
        for e in page["timeline"]
        if e["event"] == "frame_posted"
    ]
    out["nudity"] = [
        (page["origin"] + blurred["at"] - min(checks)) / 1000
        for page in pages
        if checks and (blurred := first(page, "blur_on", reason="nudity"))
    ]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    totals: dict[str, list[float]] = {}
    retries = 0
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="safe-start-") as work:
            seen = run_once(Path(work))
        retries += len(seen.get("gathering_retries", []))
        for name, values in stages(seen).items():
            totals.setdefault(name, []).extend(values)
        if not args.json:
            lifts = ", ".join(f"{v:.2f}" for v in stages(seen)["lift"])
            print(f"run {n + 1}/{args.runs}: lift {lifts} s", file=sys.stderr)
    report = {name: percentiles(values) for name, values in totals.items()}
    met = {
        "lift_within_1_5_s": sum(v <= 1.5 for v in totals["lift"]),
        "lift_pages": len(totals["lift"]),
        "nudity_within_1_s": sum(v <= 1.0 for v in totals["nudity"]),
        "nudity_pages": len(totals["nudity"]),
        "gathering_retries": retries,
    }
    if args.json:
        print(json.dumps({"stages": report, "met": met}))
        return 0
    print(f"{'stage':<10}{'n':>4}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in report.items():
        print(
            f"{name:<10}{row['n']:>4}{row['p50_ms'] or 0:>10.0f}{row['p99_ms'] or 0:>10.0f}"
            f"{row['max_ms'] or 0:>10.0f}"
        )
    print(
        f"lift ≤ 1.5 s: {met['lift_within_1_5_s']}/{met['lift_pages']} pages; "
        f"nudity blur ≤ 1 s after the first check: {met['nudity_within_1_s']}/"
        f"{met['nudity_pages']}; runs retried for a stuck ICE gathering: {retries}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
