"""Micro-benchmark of the codec on the hot protocol messages (issue 18).

Decoding: ``Codec(fast=False).decode`` (pydantic's strict models alone, the reference)
against ``Codec().decode`` (the msgspec mirrors, then the model built unchecked; see
``core/messages.py``), for each client frame a chat sends over and over, plus ``hello``
(once per connection), a ``report`` (no mirror: the cost of trying msgspec first) and
a refused frame (msgspec refuses, pydantic says why). Encoding: pydantic's
``model_dump_json(exclude_none=True)`` against :func:`~strangers.core.messages.encode`
for each hot server message; the two write the same bytes (checked here too).

Each figure is the best of ``--repeat`` runs of ``--number`` calls, in µs of this
process's CPU time per call: on a shared machine, the best run is the one the least
disturbed by the others' work, and the runs of the two codecs alternate. The garbage
collector stays on, as in the server.

Run: ``.venv/bin/python bench/codec.py`` (``--number``, ``--repeat``, ``--json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass

from strangers.core.errors import ProtocolError
from strangers.core.messages import (
    Codec,
    Ended,
    Matched,
    Message,
    Mode,
    PartnerLeft,
    PartnerTyping,
    Pong,
    ServerMessage,
    Waiting,
    encode,
)

LINE = "hey, where are you from? I'm in Lyon, it's raining again 🌧️"
PROOF = {"challenge": "q7Bv0yJc3e1W9rX2aLmZpQ8s", "nonce": "1834201"}
CLIENT_FRAMES: dict[str, dict[str, object]] = {
    "message": {"type": "message", "text": LINE},
    "typing": {"type": "typing", "active": True},
    "ping": {"type": "ping", "id": 42},
    "find": {"type": "find", "mode": "text", "interests": ["Music", "board games"]},
    "skip": {"type": "skip"},
    "stop": {"type": "stop"},
    "signal": {
        "type": "signal",
        "kind": "candidate",
        "candidate": "candidate:3 1 udp 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0",
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    },
    "hello": {
        "type": "hello",
        "version": 2,
        "proof": PROOF,
        "device": "d" * 120,
        "birth_year": 1994,
        "birth_month": 7,
        "language": "fr",
    },
    "report": {"type": "report", "reason": "harassment", "note": "kept insulting me"},
    "refused": {"type": "typing", "active": "yes"},
}
SERVER_MESSAGES: dict[str, ServerMessage] = {
    "message": Message(text=LINE),
    "partner_typing": PartnerTyping(active=True),
    "matched": Matched(match="m" * 22, mode=Mode.VIDEO, interests=("music",), frame_token="t" * 43),
    "waiting": Waiting(mode=Mode.TEXT),
    "pong": Pong(id=42),
    "ended": Ended(reason="skip", match="m" * 22),
    "partner_left": PartnerLeft(match="m" * 22),
}


@dataclass
class Row:
    kind: str
    message: str
    pydantic_us: float
    new_us: float

    @property
    def speedup(self) -> float:
        return self.pydantic_us / self.new_us


def best_us(
    reference: Callable[[], object], new: Callable[[], object], number: int, repeat: int
) -> tuple[float, float]:
    """The best run of each, in µs per call; their runs alternate, so that a burst of
    the machine's other work falls on both alike."""
    runs: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        runs[0].append(timeit.timeit(reference, number=number, timer=time.process_time))
        runs[1].append(timeit.timeit(new, number=number, timer=time.process_time))
    return min(runs[0]) / number * 1e6, min(runs[1]) / number * 1e6


def decoding(name: str, frame: str, number: int, repeat: int) -> Row:
    def run(codec: Codec) -> Callable[[], object]:
        def call() -> object:
            try:
                return codec.decode(frame)
            except ProtocolError:  # "refused": the error is the result
                return None

        return call

    return Row("decode", name, *best_us(run(Codec(fast=False)), run(Codec()), number, repeat))


def encoding(name: str, message: ServerMessage, number: int, repeat: int) -> Row:
    if encode(message) != message.model_dump_json(exclude_none=True):
        raise SystemExit(f"encode({name}) differs from pydantic's")
    return Row(
        "encode",
        name,
        *best_us(
            lambda: message.model_dump_json(exclude_none=True),
            lambda: encode(message),
            number,
            repeat,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each; the best is kept")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)
    rows = [
        decoding(name, json.dumps(frame, ensure_ascii=False), args.number, args.repeat)
        for name, frame in CLIENT_FRAMES.items()
    ] + [
        encoding(name, message, args.number, args.repeat)
        for name, message in SERVER_MESSAGES.items()
    ]
    if args.json:
        print(json.dumps([asdict(row) | {"speedup": row.speedup} for row in rows], indent=2))
        return 0
    print(f"Python {platform.python_version()}, best of {args.repeat} × {args.number} calls")
    print(f"{'':6} {'message':14} {'pydantic µs':>12} {'new µs':>8} {'speed-up':>9}")
    for row in rows:
        print(
            f"{row.kind:6} {row.message:14} {row.pydantic_us:12.2f} {row.new_us:8.2f}"
            f" {row.speedup:8.2f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
