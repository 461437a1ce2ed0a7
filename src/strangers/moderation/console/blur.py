"""Blurred copies of evidence frames, made on the server (docs/design.md §1: "the sampled frames
... blurred until clicked").

The blur is done here, not with CSS, so the clear picture never reaches the browser
until the moderator asks for it, and that request is what the audit log records. The
picture is shrunk to a few pixels across and blown back up, then smoothed: what is left
is colour, no shape.
"""

from __future__ import annotations

from typing import Final

from ...safety.jpeg import FrameRejected, decode_jpeg

#: Pixels across the shrunk picture: 6 keeps the colours and loses every shape.
BLOCKS_ACROSS: Final = 6
JPEG_QUALITY: Final = 70
PLACEHOLDER_SIZE: Final = (240, 320)  # height, width: a frame the decoder refused


def blurred_jpeg(jpeg: bytes) -> bytes:
    """A heavily blurred JPEG of ``jpeg``, the same size; a grey placeholder when the
    bytes do not decode. Blocking (OpenCV): call it from a worker thread."""
    # Imported here: the console's routes import this module with the gateway, which
    # loads OpenCV only when a frame is first decoded.
    import cv2  # type: ignore[import-untyped,unused-ignore]
    import numpy as np

    try:
        image = decode_jpeg(jpeg)
    except FrameRejected:
        image = np.full((*PLACEHOLDER_SIZE, 3), 128, dtype=np.uint8)
    height, width = image.shape[:2]
    across = max(1, min(BLOCKS_ACROSS, width))
    down = max(1, round(height * across / width))
    small = cv2.resize(image, (across, down), interpolation=cv2.INTER_AREA)
    large = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    sigma = max(width, height) / 12
    smooth = cv2.GaussianBlur(large, (0, 0), sigmaX=sigma, sigmaY=sigma)
    ok, encoded = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR array
        raise RuntimeError("could not encode the blurred frame")
    return bytes(encoded.tobytes())
