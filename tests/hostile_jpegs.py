"""JPEGs built to cost a decoder as much as possible, for the tests and the flood
benchmark (issue 15, attack 2). All are benign pictures (black, a grey ramp) whose
structure is edited byte by byte; none holds anything but those pixels.

- :func:`slow_progressive`: the attack as found: a progressive JPEG under 64 KB whose
  last scan is repeated thousands of times (libjpeg reprocesses every block per scan).
- :func:`worst_accepted`: the costliest frame :func:`~strangers.safety.jpeg.sniff_jpeg`
  still lets through: the most pixels it allows, the tallest shape (the face cascade's
  cost grows with the area after scaling to 320 px wide), no chroma subsampling and the
  most scans a progressive frame may have, the extra ones copies of a refinement scan.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import cv2
import numpy as np

from strangers.safety.jpeg import MAX_FRAME_PIXELS, MAX_PROGRESSIVE_SCANS

SOS = 0xDA


def segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each segment after SOI; a scan's ``end`` includes its
    entropy-coded data. Only for well-formed JPEGs that OpenCV wrote."""
    at = 2
    while at < len(data):
        assert data[at] == 0xFF
        while data[at] == 0xFF:
            at += 1
        marker, start = data[at], at - 1
        at += 1
        if marker == 0xD9:
            yield marker, start, at
            return
        at += int.from_bytes(data[at : at + 2], "big")
        if marker == SOS:
            while True:
                at = data.index(b"\xff", at)
                following = data[at + 1]
                if following == 0 or 0xD0 <= following <= 0xD7:
                    at += 2
                    continue
                break
        yield marker, start, at


def progressive(image: np.ndarray, *, quality: int = 50, subsample: bool = True) -> bytes:
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, quality]
    if not subsample:
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, data = cv2.imencode(".jpg", image, params)
    assert ok
    return data.tobytes()


def with_scan_repeated(data: bytes, scan: int, times: int) -> bytes:
    """``data`` with its ``scan``-th scan (0-based; -1 is the last) copied ``times``
    more times just before EOI."""
    parts = list(segments(data))
    scans = [(start, end) for marker, start, end in parts if marker == SOS]
    start, end = scans[scan]
    eoi = parts[-1][1]
    return data[:eoi] + data[start:end] * times + data[eoi:]


def scan_count(data: bytes) -> int:
    return sum(1 for marker, _, _ in segments(data) if marker == SOS)


def slow_progressive(width: int = 640, height: int = 640, limit: int = 65536) -> bytes:
    """The attack JPEG: black, progressive, its last scan repeated to just under
    ``limit`` bytes (about 5,000 scans; seconds for libjpeg at 1280×1280, as found)."""
    base = progressive(np.zeros((height, width, 3), np.uint8))
    parts = list(segments(base))
    start, end = [(s, e) for m, s, e in parts if m == SOS][-1]
    times = (limit - len(base)) // (end - start)
    return with_scan_repeated(base, -1, times)


def ramp(width: int, height: int) -> np.ndarray:
    row = np.linspace(0, 255, width, dtype=np.uint8)
    return np.ascontiguousarray(np.tile(row, (height, 1))[:, :, None].repeat(3, axis=2))


def worst_accepted(width: int = 320, height: int | None = None) -> bytes:
    """The costliest JPEG the gate accepts (see the module docstring): 320×1280 by
    default, 4:4:4, exactly ``MAX_PROGRESSIVE_SCANS`` scans."""
    height = height or MAX_FRAME_PIXELS // width
    height = min(height, 1280)
    base = progressive(ramp(width, height), subsample=False)
    extra = MAX_PROGRESSIVE_SCANS - scan_count(base)
    assert extra >= 0
    return with_scan_repeated(base, 1, extra)


def with_segment(data: bytes, marker: int, body: bytes) -> bytes:
    """``data`` with one more marker segment right after SOI."""
    return data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + data[2:]
