"""Benign test pictures, all made here or shipped inside scikit-image (no download), as
the JPEG frames a page sends: 320 px wide, quality 0.8."""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data

WIDTH = 320


def rgb(image: np.ndarray) -> np.ndarray:
    """Any scikit-image picture as RGB ``uint8``."""
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    return np.ascontiguousarray(image[:, :, :3])


def jpeg(image: np.ndarray, *, width: int = WIDTH, quality: int = 80) -> bytes:
    """An RGB picture scaled to ``width`` (keeping its shape), as JPEG bytes."""
    image = rgb(image)
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    scaled = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(scaled, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return data.tobytes()


def webcam(image: np.ndarray, top: int = 0, left: int = 0, width: int | None = None) -> bytes:
    """A 4:3 window of a picture (``width`` wide, from its top left corner) as a
    320×240 frame, the shape a page samples from a camera."""
    image = rgb(image)
    width = width or min(image.shape[1] - left, (image.shape[0] - top) * 4 // 3)
    return jpeg(image[top : top + width * 3 // 4, left : left + width])


def gradient(width: int = WIDTH, height: int = 240) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    return rgb(np.tile(ramp, (height, 1)).astype(np.uint8))


#: A portrait: the astronaut Eileen Collins, her face in the upper third.
ASTRONAUT = skimage.data.astronaut()
#: The same picture under her chin: shoulders, suit and flag, no head.
ASTRONAUT_SHOULDERS = ASTRONAUT[320:, :]

FACE_FRAMES = {
    "astronaut": jpeg(ASTRONAUT),
    "astronaut 4:3": webcam(ASTRONAUT),
    "cameraman": webcam(skimage.data.camera()),
}
FACELESS_FRAMES = {
    "astronaut's shoulders": jpeg(ASTRONAUT_SHOULDERS),
    "rocket on its pad": webcam(skimage.data.rocket()),
    "coffee cup": webcam(skimage.data.coffee()),
    "motorcycle": webcam(skimage.data.stereo_motorcycle()[0]),
    "brick wall": webcam(skimage.data.brick()),
    "hubble deep field": webcam(skimage.data.hubble_deep_field()),
    "grey gradient": jpeg(gradient()),
}
#: Benign, but NudeNet sees a face on the cat (FACE_FEMALE about 0.45 in a 4:3 frame).
OTHER_FRAMES = {
    "cat": jpeg(skimage.data.chelsea()),
    "cat 4:3": webcam(skimage.data.chelsea()),
    "coins": webcam(skimage.data.coins()),
}
BENIGN_FRAMES = {**FACE_FRAMES, **FACELESS_FRAMES, **OTHER_FRAMES}
