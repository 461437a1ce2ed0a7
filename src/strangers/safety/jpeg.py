"""Sampled frames arrive as JPEG bytes from a page; nothing about them is trusted.

:func:`sniff_jpeg` is the gate on the event loop, before a frame is queued for checks
(design §6, video): it costs microseconds and touches no decoder. It refuses a frame
over ``max_bytes``, anything that does not start as a JPEG (SOI then a marker), a
JPEG that does not end with EOI (a truncated upload, which libjpeg would otherwise
"decode" into grey padding), and reads the size from the first baseline, extended or
progressive frame header (SOF0/1/2) without decompressing anything. A width or height
of 0 or over ``max_side`` is refused there, so a 60000×60000 header, a decompression
bomb, never reaches OpenCV's allocator. Other JPEG kinds (lossless, arithmetic coded,
hierarchical) are refused: no browser sends them.

:func:`decode_jpeg` runs the same gate, then decodes to a BGR ``uint8`` array in a
worker thread. Both raise :class:`FrameRejected` and nothing else, on any bytes.
"""

from __future__ import annotations

from typing import Final, Literal

import cv2  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import numpy.typing as npt

MAX_FRAME_BYTES: Final = 65536
MAX_FRAME_SIDE: Final = 1280

RejectCode = Literal["not_jpeg", "too_large", "bad_size"]

_SOI: Final = b"\xff\xd8\xff"
_EOI: Final = b"\xff\xd9"
#: Baseline, extended sequential and progressive Huffman frames: what libjpeg decodes
#: and browsers encode.
_SOF_SUPPORTED: Final = frozenset({0xC0, 0xC1, 0xC2})
#: The other start-of-frame markers (C4 is DHT, C8 is reserved, CC is DAC).
_SOF_OTHER: Final = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: Markers that stand alone, with no length field: TEM and RST0–7.
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS: Final = 0xDA


class FrameRejected(Exception):
    """A frame refused before any check ran. ``code`` is stable (``not_jpeg``,
    ``too_large``, ``bad_size``); ``detail`` is a short sentence safe to show."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(detail)
        self.code: RejectCode = code
        self.detail = detail


def _not_jpeg(detail: str = "The frame is not a JPEG image.") -> FrameRejected:
    return FrameRejected("not_jpeg", detail)


def sniff_jpeg(
    data: bytes, *, max_bytes: int = MAX_FRAME_BYTES, max_side: int = MAX_FRAME_SIDE
) -> tuple[int, int]:
    """The ``(width, height)`` a JPEG's frame header declares, or :class:`FrameRejected`."""
    if len(data) > max_bytes:
        raise FrameRejected("too_large", f"The frame is over {max_bytes} bytes.")
    if not data.startswith(_SOI):
        raise _not_jpeg()
    if not data.endswith(_EOI):
        raise _not_jpeg("The frame is incomplete.")
    at = 2
    end = len(data)
    while at < end:
        if data[at] != 0xFF:
            raise _not_jpeg("The frame's JPEG structure is damaged.")
        # Any number of 0xFF fill bytes may precede a marker code (ITU T.81 B.1.1.2).
        while at < end and data[at] == 0xFF:
            at += 1
        if at >= end:
            break
        marker = data[at]
        at += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0x00) or marker == _SOS:
            # A second SOI, an early EOI, a stuffed byte outside entropy data, or scan
            # data before any frame header: not a frame a browser made.
            break
        if at + 2 > end:
            break
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2 or at + length > end:
            break
        if marker in _SOF_OTHER:
            raise _not_jpeg("The frame uses a JPEG kind that is not supported.")
        if marker in _SOF_SUPPORTED:
            # Segment: length(2) precision(1) height(2) width(2) components(1) ...
            if length < 8:
                break
            height = int.from_bytes(data[at + 3 : at + 5], "big")
            width = int.from_bytes(data[at + 5 : at + 7], "big")
            if not (0 < width <= max_side and 0 < height <= max_side):
                raise FrameRejected(
                    "bad_size", f"The frame's width and height must be 1 to {max_side} pixels."
                )
            return width, height
        at += length
    raise _not_jpeg("The frame has no JPEG frame header.")


def decode_jpeg(
    data: bytes, *, max_bytes: int = MAX_FRAME_BYTES, max_side: int = MAX_FRAME_SIDE
) -> npt.NDArray[np.uint8]:
    """The frame as a BGR ``uint8`` array of shape (height, width, 3).

    Blocking (libjpeg releases the GIL while it works): call it from a worker thread.
    EXIF orientation is ignored, so the array has the size the header declared.
    """
    width, height = sniff_jpeg(data, max_bytes=max_bytes, max_side=max_side)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        raise _not_jpeg("The frame could not be decoded.") from None
    if image is None or image.shape != (height, width, 3):
        raise _not_jpeg("The frame could not be decoded.")
    return np.asarray(image, dtype=np.uint8)
