"""Fake cameras for Chromium (``--use-file-for-fake-video-capture``): y4m clips of
320x240 4:2:0 frames made from benign pictures that ship with scikit-image, so the
tests need no download and no real face.

320x240, the size the page samples at anyway: at 640x480 two pages' VP8 encoding and
decoding took most of this 2-core machine, and the server's frame checks waited on it
(a partner frame's check took 0.6-0.8 s instead of 0.1 s), so the safe-start timing
measured Chromium's load more than the service.

- :func:`face_picture`: NASA's portrait of Eileen Collins (``skimage.data.astronaut``),
  cropped so the face is big and centred and fills the frame;
- :func:`marked_face_picture`: the same portrait with a green square in a corner, which
  the age test checker (``fake_checker.age_checker``) tells apart;
- :func:`scene_picture`: a cup of coffee (``skimage.data.coffee``), no face at all;
- :func:`gradient_picture`: a plain grey gradient.

A plain module with no package-relative imports, so the script that runs inside a
network namespace can import it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 320, 240


def _fit(rgb: np.ndarray) -> np.ndarray:
    """Scale an RGB picture to exactly WIDTH x HEIGHT (the caller crops it to 4:3 first)."""
    import cv2

    return cv2.resize(rgb, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def face_picture() -> np.ndarray:
    from skimage import data

    top, left, width = 25, 91, 260  # the head, centred, with a little shoulder
    return _fit(data.astronaut()[top : top + width * 3 // 4, left : left + width])


def marked_face_picture() -> np.ndarray:
    """:func:`face_picture` with a green square in its top-left corner: the test
    checker's sign for "this is the chatter whose face gets the injected age"."""
    picture = face_picture().copy()
    picture[:24, :24] = (0, 220, 0)
    return picture


def scene_picture() -> np.ndarray:
    from skimage import data

    cup = data.coffee()  # 400x600: crop the middle to 4:3
    return _fit(cup[:, 33 : 33 + 533])


def gradient_picture() -> np.ndarray:
    ramp = np.linspace(40, 215, WIDTH, dtype=np.uint8)
    return np.repeat(np.tile(ramp, (HEIGHT, 1))[:, :, None], 3, axis=2)


def to_yuv420(rgb: np.ndarray) -> bytes:
    """Full-range BT.601 (JPEG) Y, then U and V averaged over 2x2 blocks."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def half(plane: np.ndarray) -> np.ndarray:
        h, w = plane.shape
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = (y, half(u), half(v))
    return b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 15, fps: int = 15) -> Path:
    """A clip of ``frames`` copies of one WIDTH x HEIGHT RGB picture (Chromium loops it)."""
    if rgb.shape != (HEIGHT, WIDTH, 3):
        raise ValueError(f"need {HEIGHT}x{WIDTH}x3, got {rgb.shape}")
    frame = b"FRAME\n" + to_yuv420(rgb)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        out.write(frame * frames)
    return path
