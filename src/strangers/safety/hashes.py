"""PDQ hashes of frames and the operator's known-abuse hash lists (docs/design.md §6, video).

Hash matching of known CSAM is Ofcom's Illegal Content Codes measure ICU C5; PDQ is
Meta's open perceptual hash, the format hash-sharing bodies exchange. A hash is 256
bits, written as 64 lowercase hex digits in the reference implementation's order
(``Hash256::format``: the most significant bit first), which is what
``numpy.packbits`` makes of the bit vector ``pdqhash.compute`` returns. Two hashes
match at a Hamming distance of at most :data:`PDQ_MATCH_DISTANCE` (31) bits.

PDQ reports a quality from 0 to 100; under :data:`PDQ_MIN_QUALITY` (flat or nearly
uniform pictures) the hash says little about the picture and matches by chance, so
the checker does not match such frames (Meta's PDQ notes recommend 50).

:class:`HashList` is read by many worker threads while an operator's reload replaces
it: :meth:`HashList.replace` builds the new state first and swaps one reference, so
a reader sees the old list or the new one, never a mix. It holds the hashes as bytes
and builds the numpy matrix only when :meth:`HashList.match` first needs it: the
gateway's chat process keeps the list and hands it to its check-worker processes
(:meth:`HashList.packed`, :meth:`HashList.load_packed`; ``safety/workers.py``), which
match, so the chat process never loads numpy. Each change of content gets a new
``version`` (a reload of the same list keeps it), so a worker is sent the list again
only when it changed.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from strangers.core.frames import PDQ_MATCH_DISTANCE, HashHit

from .jpeg import decode_jpeg

# numpy, OpenCV and pdqhash are imported where they are used, not here: the gateway
# imports this module, and should not load them before a hash list or a frame needs them.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

HASH_BYTES: Final = 32
PDQ_MIN_QUALITY: Final = 50

_HEX = re.compile(r"[0-9a-f]{64}")


@functools.cache
def _popcount_table() -> npt.NDArray[np.uint8]:
    """Bits set in each byte value: popcount over XOR without a loop per entry."""
    import numpy as np

    return np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def distances_by_table(matrix: npt.NDArray[np.uint8], probe: npt.NDArray[np.uint8]) -> Any:
    """Hamming distances of each row of ``matrix`` (N, 32) to ``probe`` (32,): XOR, the
    bits of each byte from a 256-entry table, then the 32 counts added as 8-byte lanes
    (each lane sums 4 counts of at most 8, so no lane overflows)."""
    import numpy as np

    per_byte = np.take(_popcount_table(), np.bitwise_xor(matrix, probe))
    lanes = per_byte.view(np.uint64).sum(axis=1, dtype=np.uint64)
    return (lanes * np.uint64(0x0101010101010101)) >> np.uint64(56)


def distances_by_popcount(matrix: npt.NDArray[np.uint8], probe: npt.NDArray[np.uint8]) -> Any:
    """The same with numpy 2's ``bitwise_count`` (a popcount per 64 bits): 10,000 entries
    in 0.2 ms instead of 0.57 ms, a million in 27 ms instead of 132 ms, on one core of
    the benchmark machine."""
    import numpy as np

    xor = np.bitwise_xor(matrix.view(np.uint64), probe.view(np.uint64))
    return np.bitwise_count(xor).sum(axis=1, dtype=np.uint16)


def _distances(matrix: npt.NDArray[np.uint8], probe: npt.NDArray[np.uint8]) -> Any:
    import numpy as np

    if hasattr(np, "bitwise_count"):
        return distances_by_popcount(matrix, probe)
    return distances_by_table(matrix, probe)


def pdq_hash(image_bgr: npt.NDArray[np.uint8]) -> tuple[bytes, int]:
    """The 32-byte PDQ hash of a BGR ``uint8`` picture, and its quality (0–100)."""
    import cv2  # type: ignore[import-untyped,unused-ignore]
    import numpy as np
    import pdqhash  # type: ignore[import-untyped,unused-ignore]

    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    bits, quality = pdqhash.compute(rgb)
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes(), int(quality)


def pdq_hex(picture: bytes | npt.NDArray[np.uint8]) -> str:
    """The PDQ hash as 64 hex digits, of JPEG bytes or of a BGR array.

    For tools and tests (building a hash list from pictures); JPEG bytes go through
    :func:`~strangers.safety.jpeg.decode_jpeg` with no size limits of its own.
    """
    if isinstance(picture, bytes):
        picture = decode_jpeg(
            picture, max_bytes=len(picture), max_side=1 << 16, max_pixels=1 << 32, max_scans=64
        )
    return pdq_hash(picture)[0].hex()


def parse_hex(text: str) -> bytes:
    """32 bytes from 64 hex digits (either case, surrounding blanks ignored)."""
    cleaned = text.strip().lower()
    if not _HEX.fullmatch(cleaned):
        raise ValueError("a PDQ hash is 64 hex digits")
    return bytes.fromhex(cleaned)


class _Packed:
    """One state of a list: the hashes end to end, their labels, its version, and the
    matrix :meth:`HashList.match` scans, built on first use (two threads racing to build
    it build the same one)."""

    __slots__ = ("_matrix", "blob", "labels", "version")

    def __init__(self, version: int, blob: bytes, labels: tuple[str, ...]) -> None:
        self.version = version
        self.blob = blob
        self.labels = labels
        self._matrix: npt.NDArray[np.uint8] | None = None

    def matrix(self) -> npt.NDArray[np.uint8]:
        matrix = self._matrix
        if matrix is None:
            import numpy as np

            # A copy of its own: aligned, so that the 64-bit view above costs nothing.
            matrix = np.frombuffer(self.blob, dtype=np.uint8).reshape(-1, HASH_BYTES).copy()
            self._matrix = matrix
        return matrix


class HashList:
    """Known-abuse PDQ hashes with their labels; :meth:`match` finds the nearest.

    Matching scans the whole list: 0.2 ms a frame for 10,000 entries, 27 ms for a
    million. Lists of millions want an index (multi-index hashing) before they meet
    60 frames a second.
    """

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        # Unique versions, even for two reloads racing: a worker compares for equality.
        self._versions = itertools.count(1)
        self._state = _Packed(0, b"", ())
        self.replace(entries)

    def replace(self, entries: Iterable[tuple[str, str]]) -> None:
        """Swap the whole list for ``entries`` of (hex hash, label), all or nothing."""
        hashes: list[bytes] = []
        labels: list[str] = []
        for index, (hex_hash, label) in enumerate(entries):
            try:
                hashes.append(parse_hex(hex_hash))
            except (ValueError, AttributeError):
                raise ValueError(
                    f"hash list entry {index} ({label!r}): {hex_hash!r} is not 64 hex digits"
                ) from None
            labels.append(str(label))
        self._swap(b"".join(hashes), tuple(labels))

    def load_packed(self, blob: bytes, labels: Sequence[str]) -> None:
        """Swap the whole list for one :meth:`packed` gave: ``blob`` holds the 32-byte
        hashes end to end, in the order of ``labels``."""
        if len(blob) != HASH_BYTES * len(labels):
            raise ValueError("a packed hash list holds 32 bytes per label")
        self._swap(bytes(blob), tuple(str(label) for label in labels))

    def packed(self) -> tuple[int, bytes, tuple[str, ...]]:
        """The list as it is now: its version, the hashes end to end, their labels."""
        state = self._state
        return state.version, state.blob, state.labels

    @property
    def version(self) -> int:
        """Changes whenever the content does (and only then)."""
        return self._state.version

    def _swap(self, blob: bytes, labels: tuple[str, ...]) -> None:
        current = self._state
        if current.blob == blob and current.labels == labels:
            return  # the same list reloaded: the workers need not be sent it again
        # One assignment: readers in other threads see the old state or the new one.
        self._state = _Packed(next(self._versions), blob, labels)

    def __len__(self) -> int:
        return len(self._state.labels)

    def match(self, hash32: bytes) -> HashHit | None:
        """The nearest entry within :data:`PDQ_MATCH_DISTANCE` bits, or ``None``.

        Ties go to the entry listed first.
        """
        if len(hash32) != HASH_BYTES:
            raise ValueError("a PDQ hash is 32 bytes")
        state = self._state
        labels = state.labels
        if not labels:
            return None
        import numpy as np

        probe = np.frombuffer(hash32, dtype=np.uint8).copy()
        distances = _distances(state.matrix(), probe)
        nearest = int(np.argmin(distances))
        distance = int(distances[nearest])
        if distance > PDQ_MATCH_DISTANCE:
            return None
        return HashHit(labels[nearest], distance)
