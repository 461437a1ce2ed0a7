"""Runs inside a loopback-only network namespace (see test_video.py): coturn, the
server with TURN settings, and two (then three) Chromium contexts with a synthetic
camera. Prints one JSON line with what it saw; exits non-zero on failure."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chromium import CHROMIUM, CHROMIUM_ARGS, MEDIA_ARGS  # this script's own folder
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARGS = [*CHROMIUM_ARGS, *MEDIA_ARGS]


def write_y4m(path: Path, frames: int = 30) -> None:
    """A benign synthetic clip: a gradient sliding sideways, 640x480 4:2:0."""
    width, height = 640, 480
    chroma = bytes([128]) * (width // 2 * height // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for n in range(frames):
            row = bytes((x + 8 * n) % 256 for x in range(width))
            out.write(b"FRAME\n" + row * height + chroma + chroma)


def wait_http(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


STATS = """async () => {
  const pc = window.strangersVideo && window.strangersVideo.pc();
  if (!pc) return null;
  const report = await pc.getStats();
  let frames = 0, pairId = null;
  const byId = new Map();
  report.forEach((s) => {
    byId.set(s.id, s);
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId && byId.get(pairId);
  const local = pair && byId.get(pair.localCandidateId);
  const remote = pair && byId.get(pair.remoteCandidateId);
  return {state: pc.connectionState, frames,
          local: local ? local.candidateType : null, remote: remote ? remote.candidateType : null};
}"""


def main(work: Path) -> int:
    secret = secrets.token_hex(24)
    y4m = work / "camera.y4m"
    write_y4m(y4m)
    turn = subprocess.Popen(
        [
            "turnserver",
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            "--listening-port=3478",
            "--min-port=49160",
            "--max-port=49200",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=strangers.test",
            "--fingerprint",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--allow-loopback-peers",
            f"--log-file={work / 'turn.log'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    env = {
        **os.environ,
        "STRANGERS_DATA_DIR": str(work / "data"),
        "STRANGERS_TURN_URLS": '["turn:127.0.0.1:3478?transport=udp"]',
        "STRANGERS_TURN_SECRET": secret,
    }
    with open(work / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "strangers", "serve", "--host", "127.0.0.1", "--port", "8765"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seen: dict[str, object] = {}
    try:
        wait_http("http://127.0.0.1:8765/healthz")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=[*ARGS, f"--use-file-for-fake-video-capture={y4m}"],
            )

            def chatter():
                page = browser.new_context(locale="en-GB").new_page()
                page.goto("http://127.0.0.1:8765/")
                page.select_option("#birth-month", "6")
                page.select_option("#birth-year", "1990")
                page.click("#video-button")
                return page

            def connected(page, timeout=20.0):
                deadline = time.monotonic() + timeout
                stats = None
                while time.monotonic() < deadline:
                    stats = page.evaluate(STATS)
                    if stats and stats["state"] == "connected" and stats["frames"] > 0:
                        return stats
                    time.sleep(0.2)
                raise AssertionError(f"no video: {stats}")

            a, b = chatter(), chatter()
            seen["first"] = [connected(a), connected(b)]
            first_pc = a.evaluate("window.__firstPc = window.strangersVideo.pc(); true")
            a.keyboard.press("Escape")
            a.keyboard.press("Escape")
            b.wait_for_function(
                "() => !window.strangersVideo.pc() || "
                "window.strangersVideo.pc().connectionState === 'closed'"
            )
            seen["closed_after_skip"] = a.evaluate(
                "() => window.__firstPc.connectionState === 'closed'"
            )
            c = chatter()
            a.keyboard.press("Escape")  # New: look again; meets c (b is on cooldown)
            seen["second"] = [connected(a), connected(c)]
            seen["fresh"] = a.evaluate("() => window.strangersVideo.pc() !== window.__firstPc")
            del first_pc
            browser.close()
    finally:
        server.terminate()
        turn.terminate()
        server.wait(10)
        turn.wait(10)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
