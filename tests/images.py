"""Benign test pictures as the page would send them: 320 px wide JPEGs made from the
images that ship inside scikit-image (a portrait, a cat). Never anything else."""

from __future__ import annotations

import functools
import struct

import cv2
import numpy as np
from skimage import data


def jpeg(rgb: np.ndarray, width: int = 320, quality: int = 80) -> bytes:
    height = round(rgb.shape[0] * width / rgb.shape[1])
    bgr = cv2.cvtColor(
        cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR
    )
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


@functools.cache
def portrait(width: int = 320, quality: int = 80) -> bytes:
    """skimage's astronaut: a face, big enough to be found."""
    return jpeg(data.astronaut(), width, quality)


@functools.cache
def cat(width: int = 320, quality: int = 80) -> bytes:
    """skimage's chelsea: an unrelated picture with no human face."""
    return jpeg(data.chelsea(), width, quality)


def claiming_size(frame: bytes, width: int, height: int) -> bytes:
    """``frame`` with its SOF header claiming another size (a decompression bomb's
    shape, without the bomb)."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = frame.find(marker)
        if at >= 0:
            # SOF: marker, length (2), precision (1), height (2), width (2)
            return frame[: at + 5] + struct.pack(">HH", height, width) + frame[at + 9 :]
    raise AssertionError("no SOF segment")
