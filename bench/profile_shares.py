"""Where a profiled server's time goes, by concern: py-spy's raw (collapsed) stacks,
as ``bench/peers.py --profile DIR`` records them, summed into the categories of
docs/performance.md, "Where the time goes".

Each sample goes to the first category found walking its stack from the innermost frame
outwards, so time in pydantic called from the chat socket counts as decoding, and time
in a ``send`` called from the wire counts as websocket frames. A sample whose innermost
frame is the event loop's ``run`` is counted apart: it is uvloop's C code (``epoll_wait``,
the socket reads, calls back into Python), where py-spy cannot tell waiting from working.

Run: ``.venv/bin/python bench/profile_shares.py DIR/C.txt DIR/E.txt …`` (``--markdown``
for one table with a column per file).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

#: (category, the module paths or names a frame's file must contain), first match wins.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rate limits", ("safety/ratelimits", "core/limits")),
    ("text engine", ("safety/text/", "core/text", "text_policy")),
    (
        "tokens, proof of work, network hashing",
        (
            "core/admission",
            "core/network",
            "core/device",
            "core/frame_tokens",
            "core/turn",
            "hmac",
            "hashlib",
        ),
    ),
    ("metrics", ("gateway/metrics", "safety/metrics", "prometheus_client")),
    ("logging", ("strangers/logs", "logging/")),
    ("decode / encode", ("core/messages", "core/schema", "pydantic", "msgspec", "json/")),
    (
        "handshake, HTTP",
        (
            "gateway/handshake",
            "chat_opener",
            "gateway/serving",
            "gateway/headers",
            "gateway/addresses",
            "gateway/origins",
            "httptools",
            "uvicorn/protocols/http",
            "websockets/server",
            "websockets/http11",
            "h11",
        ),
    ),
    ("websocket frames", ("gateway/wire", "websockets/")),
    ("matching, sessions", ("core/switchboard", "core/matching", "core/pools", "core/session")),
    ("matching, sessions", ("brokers/",)),
    (
        "records, bans, ages",
        ("moderation/", "sqlalchemy", "core/bans", "core/age", "gateway/ages", "core/blocks"),
    ),
    ("chat socket, outbox", ("gateway/",)),
    ("event loop (Python side)", ("asyncio/", "uvloop", "selectors", "socket.py")),
)
LOOP_RUN = "Runner.run (asyncio/runners.py"
IN_UVLOOP = "in uvloop's C code"


def category(stack: str) -> str:
    """The category of one collapsed stack (``outer;…;inner``)."""
    frames = stack.split(";")
    if frames[-1].startswith(LOOP_RUN):
        return IN_UVLOOP
    for frame in reversed(frames):
        for name, parts in CATEGORIES:
            if any(part in frame for part in parts):
                return name
    return "other"


def shares(path: Path) -> Counter[str]:
    """Samples per category in one py-spy raw file (``stack count`` a line)."""
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[category(stack)] += int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--markdown", action="store_true", help="one table, a column a file")
    args = parser.parse_args(argv)
    tables = {path: shares(path) for path in args.files}
    names = [name for name, _ in CATEGORIES] + ["other"]
    names = list(dict.fromkeys(names))
    if args.markdown:
        print("| share of Python samples | " + " | ".join(p.stem for p in tables) + " |")
        print("| --- |" + " ---: |" * len(tables))
        for name in names:
            cells = []
            for counts in tables.values():
                python = sum(counts.values()) - counts[IN_UVLOOP]
                cells.append(f"{100 * counts[name] / max(python, 1):.0f}%")
            print(f"| {name} | " + " | ".join(cells) + " |")
        cells = [f"{sum(c.values()) - c[IN_UVLOOP]} / {c[IN_UVLOOP]}" for c in tables.values()]
        print(f"| Python samples / {IN_UVLOOP} | " + " | ".join(cells) + " |")
        return 0
    for path, counts in tables.items():
        python = sum(counts.values()) - counts[IN_UVLOOP]
        print(f"{path}: {python} Python samples, {counts[IN_UVLOOP]} {IN_UVLOOP}")
        for name, count in counts.most_common():
            if name != IN_UVLOOP:
                print(f"  {name:40s} {100 * count / max(python, 1):5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
