"""Sampled frames arrive as JPEG bytes from a page; nothing about them is trusted.

:func:`sniff_jpeg` is the gate on the event loop, before a frame is queued for checks
(docs/design.md §6, video; OWASP ASVS 5.0 V5.2.1 file size and V5.2.2 content checks): it walks
the JPEG's marker segments, skipping entropy-coded data with one C-speed search per
scan, and touches no decoder. What a decode costs is bounded by the header alone
(docs/performance.md, "Frame checks under attack"): libjpeg's work is about
``scans × pixels``, so both are capped before a frame can reach a worker. It refuses:

- a frame over ``max_bytes`` (``too_large``);
- anything that does not start as a JPEG (SOI then a marker), that does not end with
  EOI right after its last scan (a truncated upload, which libjpeg would otherwise
  "decode" into grey padding, or bytes smuggled after the image), or whose structure
  is damaged (``not_jpeg``);
- JPEG kinds no browser sends and whose decode costs more (ITU T.81 B.1.1.3): lossless,
  arithmetic coded (and its DAC tables), hierarchical (DHP, EXP), a DNL height, a second
  frame header, a precision other than 8 bits, other than 1 or 3 components
  (``not_jpeg``);
- a width or height of 0 or over ``max_side``, or more than ``max_pixels`` pixels, so
  a 60000×60000 header, a decompression bomb, never reaches OpenCV's allocator
  (``bad_size``);
- more scans than a browser's encoder or a normal progressive file makes: at most one
  per component for a sequential frame, ``max_scans`` for a progressive one. A
  progressive JPEG under 64 KB whose last scan is repeated 4,500 times takes libjpeg
  8 s (issue 15, attack 2); here it is refused in microseconds (``not_jpeg``);
- more than ``MAX_SEGMENTS`` marker segments, or restart intervals shorter than
  ``MIN_RESTART_INTERVAL`` MCUs (``not_jpeg``).

:func:`decode_jpeg` runs the same gate, then decodes to a BGR ``uint8`` array in a
worker thread. Both raise :class:`FrameRejected` and nothing else, on any bytes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Final, Literal, get_args

from .errors import SafetyError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MAX_FRAME_BYTES: Final = 65536
MAX_FRAME_SIDE: Final = 1280
#: A page samples 320 px wide (docs/design.md §6), so even a 9:21 portrait camera is under
#: 320×750; this leaves room for 640×640 and stops a 1280×1280 frame, which costs a
#: decoder sixteen times what a sampled frame does.
MAX_FRAME_PIXELS: Final = 640 * 640
#: libjpeg's default progressive script makes 10 scans of a colour picture, 6 of a
#: grey one; browsers' canvas encoders make baseline JPEGs of one scan.
MAX_PROGRESSIVE_SCANS: Final = 12
#: SOI, APPn, DQT, SOF, DHT, SOS, COM: a browser's frame has about 10; a progressive
#: one with tables per scan about 25.
MAX_SEGMENTS: Final = 64
#: A restart marker every MCU makes libjpeg reset its decoder at every block row's
#: cell; no encoder a page uses writes restart markers at all.
MIN_RESTART_INTERVAL: Final = 8

RejectCode = Literal["not_jpeg", "too_large", "bad_size"]

_SOI: Final = b"\xff\xd8\xff"
_EOI: Final = b"\xff\xd9"
#: Baseline and extended sequential Huffman frames, and progressive Huffman frames:
#: what libjpeg decodes and browsers encode.
_SOF_SEQUENTIAL: Final = frozenset({0xC0, 0xC1})
_SOF_PROGRESSIVE: Final = 0xC2
#: The other start-of-frame markers (lossless, hierarchical, arithmetic coded), DAC
#: (arithmetic conditioning), DNL (a height given after the scan), DHP and EXP
#: (hierarchical): refused outright. C4 is DHT, C8 is reserved (JPG).
_REFUSED: Final = frozenset(
    {0xC3, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xDC, 0xDE, 0xDF}
)
#: Markers that stand alone, with no length field: TEM and RST0–7.
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS: Final = 0xDA
_DRI: Final = 0xDD
#: Where entropy-coded data ends: an 0xFF that is not a stuffed zero, a restart marker
#: or a fill byte (T.81 B.1.1.5, F.1.2.3).
_SCAN_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class FrameRejected(SafetyError):
    """A frame refused before any check ran. ``code`` is stable (``not_jpeg``,
    ``too_large``, ``bad_size``); ``detail`` is a short sentence safe to show."""

    code: str = "frame_rejected"
    codes: ClassVar[frozenset[str]] = frozenset(get_args(RejectCode))

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _not_jpeg(detail: str = "The frame is not a JPEG image.") -> FrameRejected:
    return FrameRejected("not_jpeg", detail)


_DAMAGED: Final = "The frame's JPEG structure is damaged."
_COSTLY: Final = "The frame's JPEG is built in a way that is not accepted."


def sniff_jpeg(
    data: bytes,
    *,
    max_bytes: int = MAX_FRAME_BYTES,
    max_side: int = MAX_FRAME_SIDE,
    max_pixels: int = MAX_FRAME_PIXELS,
    max_scans: int = MAX_PROGRESSIVE_SCANS,
) -> tuple[int, int]:
    """The ``(width, height)`` a JPEG's frame header declares, or :class:`FrameRejected`
    (see the module docstring for what is refused and why)."""
    if len(data) > max_bytes:
        raise FrameRejected("too_large", f"The frame is over {max_bytes} bytes.")
    if not data.startswith(_SOI):
        raise _not_jpeg()
    if not data.endswith(_EOI):
        raise _not_jpeg("The frame is incomplete.")
    size: tuple[int, int] | None = None
    progressive = False
    components = 0
    scans = 0
    segments = 0
    at = 2
    end = len(data)
    while at < end:
        if data[at] != 0xFF:
            raise _not_jpeg(_DAMAGED)
        # Any number of 0xFF fill bytes may precede a marker code (ITU T.81 B.1.1.2).
        while at < end and data[at] == 0xFF:
            at += 1
        if at >= end:
            break
        marker = data[at]
        at += 1
        if marker == 0xD9:
            if at != end or size is None or scans == 0:
                break  # an early EOI, or an image with no frame or no scan
            return size
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0x00):
            break  # a second SOI, or a stuffed byte outside entropy-coded data
        if marker in _REFUSED:
            raise _not_jpeg("The frame uses a JPEG kind that is not supported.")
        if at + 2 > end:
            break
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2 or at + length > end:
            break
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _not_jpeg(_COSTLY)
        if marker in _SOF_SEQUENTIAL or marker == _SOF_PROGRESSIVE:
            # Segment: length(2) precision(1) height(2) width(2) components(1) ...
            if size is not None or length < 8:
                break
            height = int.from_bytes(data[at + 3 : at + 5], "big")
            width = int.from_bytes(data[at + 5 : at + 7], "big")
            components = data[at + 7]
            if data[at + 2] != 8 or components not in (1, 3) or length != 8 + 3 * components:
                raise _not_jpeg("The frame uses a JPEG kind that is not supported.")
            if not (0 < width <= max_side and 0 < height <= max_side):
                raise FrameRejected(
                    "bad_size", f"The frame's width and height must be 1 to {max_side} pixels."
                )
            if width * height > max_pixels:
                raise FrameRejected("bad_size", f"The frame is over {max_pixels} pixels.")
            size = (width, height)
            progressive = marker == _SOF_PROGRESSIVE
        elif marker == _DRI:
            if length != 4:
                break
            interval = int.from_bytes(data[at + 2 : at + 4], "big")
            if 0 < interval < MIN_RESTART_INTERVAL:
                raise _not_jpeg(_COSTLY)
        elif marker == _SOS:
            if size is None:
                break  # scan data before any frame header
            scans += 1
            if scans > (max_scans if progressive else components):
                raise _not_jpeg("The frame has too many scans.")
            scan_end = _SCAN_END.search(data, at + length)
            if scan_end is None:
                break
            at = scan_end.start()
            continue
        at += length
    raise _not_jpeg(_DAMAGED if size is not None else "The frame has no JPEG frame header.")


def decode_jpeg(
    data: bytes,
    *,
    max_bytes: int = MAX_FRAME_BYTES,
    max_side: int = MAX_FRAME_SIDE,
    max_pixels: int = MAX_FRAME_PIXELS,
    max_scans: int = MAX_PROGRESSIVE_SCANS,
) -> npt.NDArray[np.uint8]:
    """The frame as a BGR ``uint8`` array of shape (height, width, 3).

    Blocking (libjpeg releases the GIL while it works): call it from a worker thread.
    EXIF orientation is ignored, so the array has the size the header declared. The
    gate runs first, so the decode's cost is bounded by ``max_pixels`` × ``max_scans``.
    """
    # Imported here: the gate above runs on the event loop and needs neither.
    import cv2  # type: ignore[import-untyped,unused-ignore]
    import numpy as np

    width, height = sniff_jpeg(
        data, max_bytes=max_bytes, max_side=max_side, max_pixels=max_pixels, max_scans=max_scans
    )
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        raise _not_jpeg("The frame could not be decoded.") from None
    if image is None or image.shape != (height, width, 3):
        raise _not_jpeg("The frame could not be decoded.")
    return np.asarray(image, dtype=np.uint8)
