"""The gate on frame bytes: real JPEGs pass with their size, anything else is refused
with a stable code, and no bytes at all make it raise anything but FrameRejected."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strangers.safety.jpeg import FrameRejected, decode_jpeg, sniff_jpeg

from .pictures import ASTRONAUT, gradient, jpeg, webcam

FRAME = webcam(ASTRONAUT)  # 320×240


def _sof_offset(data: bytes) -> int:
    """Where the first SOF0/SOF2 segment's length field starts."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            return at + 2
    raise AssertionError("no SOF")


def with_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming another size."""
    at = _sof_offset(data)
    return data[: at + 3] + struct.pack(">HH", height, width) + data[at + 7 :]


def rejected(data: bytes, **limits) -> str:
    with pytest.raises(FrameRejected) as caught:
        sniff_jpeg(data, **limits)
    assert caught.value.detail and caught.value.detail.endswith(".")
    return caught.value.code


def test_a_frame_passes_with_its_size_and_decodes_to_bgr():
    assert sniff_jpeg(FRAME) == (320, 240)
    image = decode_jpeg(FRAME)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8


def test_progressive_and_greyscale_jpegs_pass():
    bgr = cv2.cvtColor(gradient(200, 100), cv2.COLOR_RGB2BGR)
    progressive = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert b"\xff\xc2" in progressive
    assert sniff_jpeg(progressive) == (200, 100)
    grey = cv2.imencode(".jpg", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[1].tobytes()
    assert decode_jpeg(grey).shape == (100, 200, 3)


def test_segments_before_the_frame_header_are_skipped_by_their_length():
    # An EXIF block holding a thumbnail's frame header must not be read as the frame's.
    fake_sof = b"\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03" + bytes(9)
    body = b"Exif\x00\x00" + fake_sof
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    data = FRAME[:2] + app1 + FRAME[2:]
    assert sniff_jpeg(data) == (320, 240)
    # Fill bytes before a marker are allowed (T.81 B.1.1.2).
    assert sniff_jpeg(FRAME[:2] + b"\xff\xff" + FRAME[2:]) == (320, 240)


def test_png_empty_and_random_bytes_are_not_jpeg():
    png = cv2.imencode(".png", cv2.cvtColor(gradient(), cv2.COLOR_RGB2BGR))[1].tobytes()
    assert rejected(png) == "not_jpeg"
    assert rejected(b"") == "not_jpeg"
    assert rejected(np.random.default_rng(1).bytes(5000)) == "not_jpeg"
    assert rejected(b"\xff\xd8\xff\xd9") == "not_jpeg"


@pytest.mark.parametrize("keep", [3, 20, 100, 400, 1000, 5000])
def test_a_truncated_jpeg_is_not_jpeg(keep):
    assert len(FRAME) > keep + 2
    assert rejected(FRAME[:keep]) == "not_jpeg"
    with pytest.raises(FrameRejected):
        decode_jpeg(FRAME[:keep])


def test_over_64_kb_is_too_large_before_anything_else():
    noise = np.random.default_rng(2).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    big = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert len(big) > 65536
    assert rejected(big) == "too_large"
    assert rejected(b"x" * 65537) == "too_large"
    assert sniff_jpeg(big, max_bytes=len(big)) == (640, 480)


def test_a_header_claiming_60000_by_60000_is_refused_before_decoding():
    bomb = with_size(FRAME, 60000, 60000)
    assert rejected(bomb) == "bad_size"
    with pytest.raises(FrameRejected) as caught:
        decode_jpeg(bomb)
    assert caught.value.code == "bad_size"


@pytest.mark.parametrize(("width", "height"), [(0, 240), (320, 0), (1281, 240), (320, 1281)])
def test_sides_must_be_1_to_1280(width, height):
    assert rejected(with_size(FRAME, width, height)) == "bad_size"


def test_the_side_limit_is_a_parameter():
    assert rejected(FRAME, max_side=300) == "bad_size"
    assert sniff_jpeg(jpeg(ASTRONAUT, width=1280), max_bytes=1 << 20) == (1280, 1280)


def test_other_jpeg_kinds_are_refused():
    at = _sof_offset(FRAME)
    lossless = FRAME[: at - 1] + b"\xc3" + FRAME[at:]
    assert rejected(lossless) == "not_jpeg"


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_rejections(call, data: bytes) -> None:
    """``call`` either accepts ``data`` (with a plausible size) or refuses it with a
    known code; any other exception fails the test."""
    try:
        width, height = call(data)
    except FrameRejected as exc:
        assert exc.code in ("not_jpeg", "too_large", "bad_size")
    else:
        assert 0 < width <= 1280 and 0 < height <= 1280


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_raise_nothing_but_frame_rejected(data):
    _only_rejections(sniff_jpeg, data)
    _only_rejections(sniff_jpeg, b"\xff\xd8\xff" + data)
    _only_rejections(sniff_jpeg, b"\xff\xd8\xff" + data + b"\xff\xd9")


SMALL = jpeg(ASTRONAUT, width=48, quality=50)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255)), max_size=8),
    st.integers(2, len(SMALL)),
)
def test_damaged_jpegs_decode_or_are_rejected(edits, keep):
    data = bytearray(SMALL[:keep])
    for at, value in edits:
        if at < len(data):
            data[at] = value
    try:
        image = decode_jpeg(bytes(data))
    except FrameRejected:
        return
    width, height = sniff_jpeg(bytes(data))
    assert image.shape == (height, width, 3)
