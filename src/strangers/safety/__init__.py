"""Video frame safety (design §6, video): the checks on sampled frames, run off the
event loop.

- :mod:`.jpeg`: the cheap gate on the event loop (:func:`sniff_jpeg`) and decoding;
- :mod:`.checker`: :class:`FrameChecker`, the built-in :class:`ModelFrameChecker`
  (NudeNet nudity, face presence, PDQ matching) and :func:`load_checker`;
- :mod:`.hashes`: PDQ hashes and the operator's known-abuse :class:`HashList`;
- :mod:`.pool`: :class:`CheckPool`, worker threads behind a bounded priority queue
  that sheds the least urgent frames under load;
- :mod:`.metrics`: the Prometheus metrics of all that.
"""

from .checker import (
    CheckResult,
    FrameChecker,
    ModelFrameChecker,
    NudityThresholds,
    load_checker,
)
from .hashes import HashList, pdq_hash, pdq_hex
from .jpeg import FrameRejected, decode_jpeg, sniff_jpeg
from .pool import CheckPool, Shed

__all__ = [
    "CheckPool",
    "CheckResult",
    "FrameChecker",
    "FrameRejected",
    "HashList",
    "ModelFrameChecker",
    "NudityThresholds",
    "Shed",
    "decode_jpeg",
    "load_checker",
    "pdq_hash",
    "pdq_hex",
    "sniff_jpeg",
]
