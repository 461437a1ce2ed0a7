"""The gate on frame bytes: real JPEGs pass with their size, anything else is refused
with a stable code, and no bytes at all make it raise anything but FrameRejected."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strangers.safety.jpeg import MAX_PROGRESSIVE_SCANS, FrameRejected, decode_jpeg, sniff_jpeg

from ..hostile_jpegs import (
    progressive,
    ramp,
    scan_count,
    segments,
    slow_progressive,
    with_scan_repeated,
    with_segment,
    worst_accepted,
)
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
    big = jpeg(ASTRONAUT, width=1280)
    assert rejected(big, max_bytes=1 << 20) == "bad_size"  # over the pixel limit
    assert sniff_jpeg(big, max_bytes=1 << 20, max_pixels=1280 * 1280) == (1280, 1280)


def test_other_jpeg_kinds_are_refused():
    at = _sof_offset(FRAME)
    lossless = FRAME[: at - 1] + b"\xc3" + FRAME[at:]
    assert rejected(lossless) == "not_jpeg"


def test_the_slow_progressive_jpeg_of_attack_2_is_refused_before_decoding():
    # Issue 15, attack 2: under 64 KB, its last scan repeated ~5,000 times; libjpeg
    # would take seconds over it. The gate counts scans and never calls the decoder.
    slow = slow_progressive()
    assert len(slow) <= 65536 and scan_count(slow) > 4000
    assert rejected(slow) == "not_jpeg"
    assert rejected(slow_progressive(1280, 1280)) == "bad_size"  # the pixels first
    with pytest.raises(FrameRejected) as caught:
        decode_jpeg(slow, max_pixels=1280 * 1280)
    assert caught.value.code == "not_jpeg" and "scans" in caught.value.detail


def test_progressive_frames_may_have_up_to_12_scans_and_sequential_one_per_component():
    base = progressive(ramp(320, 240))
    assert scan_count(base) == 10
    twelve = with_scan_repeated(base, 1, MAX_PROGRESSIVE_SCANS - 10)
    assert sniff_jpeg(twelve) == (320, 240)
    assert rejected(with_scan_repeated(base, 1, MAX_PROGRESSIVE_SCANS - 9)) == "not_jpeg"
    # A sequential frame may have one scan per component (T.81 B.2.3), no more.
    assert scan_count(FRAME) == 1
    assert rejected(with_scan_repeated(FRAME, 0, 3)) == "not_jpeg"
    # The limit is a parameter.
    assert rejected(twelve, max_scans=10) == "not_jpeg"


def test_the_worst_accepted_frame_decodes_to_its_size():
    worst = worst_accepted()
    assert scan_count(worst) == MAX_PROGRESSIVE_SCANS and len(worst) <= 65536
    assert sniff_jpeg(worst) == (320, 1280)
    assert decode_jpeg(worst).shape == (1280, 320, 3)


def test_pixel_count_is_bounded_below_the_side_limit():
    assert rejected(with_size(FRAME, 1280, 1280)) == "bad_size"
    assert rejected(with_size(FRAME, 641, 640)) == "bad_size"
    assert sniff_jpeg(with_size(FRAME, 640, 640)) == (640, 640)  # header only
    assert rejected(FRAME, max_pixels=320 * 239) == "bad_size"


def test_segments_that_make_decoding_costly_or_exotic_are_refused():
    dac = with_segment(FRAME, 0xCC, b"\x00\x11")  # arithmetic conditioning
    dnl = with_segment(FRAME, 0xDC, b"\x00\xf0")  # height after the scan
    dhp = with_segment(FRAME, 0xDE, b"\x08\x00\xf0\x01\x40\x01\x01\x11\x00")
    for data in (dac, dnl, dhp):
        assert rejected(data) == "not_jpeg"
    # A restart marker every MCU or two; a sane interval (what encoders write) passes.
    assert rejected(with_segment(FRAME, 0xDD, b"\x00\x01")) == "not_jpeg"
    assert sniff_jpeg(with_segment(FRAME, 0xDD, b"\x00\x00")) == (320, 240)
    bgr = cv2.cvtColor(gradient(), cv2.COLOR_RGB2BGR)
    restarts = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 20])[1].tobytes()
    assert b"\xff\xdd" in restarts and b"\xff\xd0" in restarts
    assert decode_jpeg(restarts).shape == (240, 320, 3)
    # Hundreds of segments, each cheap, add up: the count is capped.
    many = FRAME
    for _ in range(80):
        many = with_segment(many, 0xFE, b"hello")
    assert rejected(many) == "not_jpeg"
    assert sniff_jpeg(with_segment(FRAME, 0xFE, b"hello")) == (320, 240)


def test_frame_headers_other_than_8_bit_grey_or_colour_are_refused():
    at = _sof_offset(FRAME)
    assert FRAME[at + 7] == 3
    twelve_bit = FRAME[: at + 2] + b"\x0c" + FRAME[at + 3 :]
    assert rejected(twelve_bit) == "not_jpeg"
    two_components = FRAME[: at + 7] + b"\x02" + FRAME[at + 8 :]
    assert rejected(two_components) == "not_jpeg"
    # A second frame header (a hierarchical or spliced file).
    sof = FRAME[at - 2 : at + 2 + int.from_bytes(FRAME[at : at + 2], "big")]
    assert rejected(FRAME[: at - 2] + sof + FRAME[at - 2 :]) == "not_jpeg"


def test_bytes_after_the_image_or_an_early_end_are_refused():
    assert rejected(FRAME + b"\xff\xd9") == "not_jpeg"
    first_scan = next(start for marker, start, _ in segments(FRAME) if marker == 0xDA)
    assert rejected(FRAME[:first_scan] + b"\xff\xd9") == "not_jpeg"


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
