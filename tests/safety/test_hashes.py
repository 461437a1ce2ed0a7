"""PDQ hashes and hash lists: a re-encoded, resized copy of a listed picture matches,
an unrelated picture does not, and a reload never shows readers half a list."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import skimage.data
from hypothesis import given
from hypothesis import strategies as st

from strangers.core.frames import PDQ_MATCH_DISTANCE, HashHit
from strangers.safety.hashes import (
    HashList,
    distances_by_popcount,
    distances_by_table,
    parse_hex,
    pdq_hash,
    pdq_hex,
)
from strangers.safety.jpeg import decode_jpeg

from .pictures import ASTRONAUT, jpeg, rgb

#: The listed picture, as an operator's hash list would hold it: from the original.
ORIGINAL = jpeg(skimage.data.coffee(), width=600, quality=95)


def flip(hash32: bytes, bits: int) -> bytes:
    """``hash32`` with its first ``bits`` bits inverted."""
    return with_bits_flipped(hash32, set(range(bits)))


def test_a_hash_is_64_lowercase_hex_digits_with_a_quality():
    digest, quality = pdq_hash(decode_jpeg(ORIGINAL, max_bytes=1 << 20))
    assert len(digest) == 32 and 0 <= quality <= 100 and quality >= 50
    text = pdq_hex(ORIGINAL)
    assert text == digest.hex() and len(text) == 64 and text == text.lower()
    assert pdq_hex(decode_jpeg(ORIGINAL, max_bytes=1 << 20)) == text


def test_a_reencoded_resized_copy_matches_and_an_unrelated_picture_does_not():
    listed = HashList([(pdq_hex(ORIGINAL), "case-17")])
    copy = jpeg(skimage.data.coffee(), width=320, quality=60)
    hit = listed.match(pdq_hash(decode_jpeg(copy))[0])
    assert hit is not None and hit.label == "case-17" and hit.distance <= 10
    for unrelated in (ASTRONAUT, skimage.data.rocket(), skimage.data.chelsea()):
        digest, _ = pdq_hash(decode_jpeg(jpeg(unrelated, quality=60)))
        assert listed.match(digest) is None


def test_the_nearest_entry_within_31_bits_is_the_match():
    probe = pdq_hash(decode_jpeg(jpeg(rgb(skimage.data.camera()))))[0]
    listed = HashList(
        [
            (flip(probe, 40).hex(), "far"),
            (flip(probe, 12).hex(), "near"),
            (flip(probe, 5).hex(), "nearest"),
        ]
    )
    assert listed.match(probe) == HashHit("nearest", 5)
    assert HashList([(flip(probe, PDQ_MATCH_DISTANCE).hex(), "edge")]).match(probe) == HashHit(
        "edge", PDQ_MATCH_DISTANCE
    )
    assert HashList([(flip(probe, PDQ_MATCH_DISTANCE + 1).hex(), "out")]).match(probe) is None
    assert HashList().match(probe) is None
    # Ties go to the entry listed first.
    assert HashList([(probe.hex(), "a"), (probe.hex(), "b")]).match(probe) == HashHit("a", 0)


def hamming(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def with_bits_flipped(hash32: bytes, positions: set[int]) -> bytes:
    vector = np.unpackbits(np.frombuffer(hash32, dtype=np.uint8))
    vector[list(positions)] ^= 1
    return np.packbits(vector).tobytes()


@given(
    st.binary(min_size=32, max_size=32),
    st.lists(st.sets(st.integers(0, 255), max_size=48), min_size=1, max_size=12),
)
def test_the_match_is_the_nearest_by_hamming_distance(probe, flips):
    entries = [with_bits_flipped(probe, positions) for positions in flips]
    listed = HashList((h.hex(), str(i)) for i, h in enumerate(entries))
    distances = [hamming(h, probe) for h in entries]
    best = min(distances)
    expected = None if best > PDQ_MATCH_DISTANCE else HashHit(str(distances.index(best)), best)
    assert listed.match(probe) == expected


@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20),
    st.binary(min_size=32, max_size=32),
)
def test_both_distance_routines_count_bits_exactly(entries, probe):
    matrix = np.frombuffer(b"".join(entries), dtype=np.uint8).reshape(-1, 32).copy()
    vector = np.frombuffer(probe, dtype=np.uint8).copy()
    expected = [hamming(h, probe) for h in entries]
    assert distances_by_table(matrix, vector).tolist() == expected
    assert distances_by_popcount(matrix, vector).tolist() == expected


def test_bad_hex_is_refused_naming_the_entry_and_the_list_is_left_as_it_was():
    good = "ab" * 32
    listed = HashList([(good, "kept")])
    for bad in ("ab" * 31, "zz" * 32, "", "ab" * 33):
        with pytest.raises(ValueError, match=r"entry 1 \('second'\)"):
            listed.replace([(good, "first"), (bad, "second")])
    assert len(listed) == 1 and listed.match(bytes.fromhex(good)) == HashHit("kept", 0)
    assert parse_hex(" " + good.upper() + "\n") == bytes.fromhex(good)
    with pytest.raises(ValueError):
        listed.match(b"short")


def test_readers_see_the_old_list_or_the_new_one_never_a_mix():
    probe = bytes(range(32))
    rng = np.random.default_rng(3)
    small = [(probe.hex(), "small")]
    # The probe is the last of 2000 entries: labels of one list with the other's
    # matrix would name another entry or fall off the end.
    large = [(rng.bytes(32).hex(), f"large-{n}") for n in range(1999)] + [(probe.hex(), "large")]
    listed = HashList(small)
    stop = threading.Event()
    seen: set[object] = set()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                seen.add(listed.match(probe))
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for _ in range(200):
        listed.replace(large)
        listed.replace(small)
    stop.set()
    for reader in readers:
        reader.join()
    assert not errors
    assert seen <= {HashHit("small", 0), HashHit("large", 0)}
