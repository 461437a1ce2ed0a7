"""Video frame safety (docs/design.md §6, video): the checks on sampled frames, run off the
event loop.

- :mod:`.jpeg`: the cheap gate on the event loop (:func:`sniff_jpeg`) and decoding;
- :mod:`.checker`: :class:`FrameChecker`, the built-in :class:`ModelFrameChecker`
  (NudeNet nudity, face presence, PDQ matching) and :func:`load_checker`;
- :mod:`.hashes`: PDQ hashes and the operator's known-abuse :class:`HashList`;
- :mod:`.pool`: :class:`CheckPool`, check workers behind a bounded priority queue
  that sheds the least urgent frames under load;
- :mod:`.workers`: those workers as check-worker processes (the gateway's default), so
  the chat process never loads the models (:mod:`.check_worker` is their main);
- :mod:`.remote` and :mod:`.check_service`: the same checks in a check service on
  another host, over TCP, both sides proving a shared secret;
- :mod:`.metrics`: the Prometheus metrics of all that.

The names above are importable from this package; each submodule is imported on first
use, and the heavy libraries (OpenCV, numpy, onnxruntime, PDQ, the models) only when a
checker or a decode needs them, so the text engine (:mod:`.text`) and the gateway's
module imports stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name from the submodule that defines it, imported when first asked for: importing
# this package, or the text engine below it, loads no OpenCV, onnxruntime or PDQ.
_SOURCES: dict[str, str] = {
    "CheckResult": "checker",
    "FrameChecker": "checker",
    "ModelFrameChecker": "checker",
    "NudityThresholds": "checker",
    "load_checker": "checker",
    "HashList": "hashes",
    "pdq_hash": "hashes",
    "pdq_hex": "hashes",
    "FrameRejected": "jpeg",
    "decode_jpeg": "jpeg",
    "sniff_jpeg": "jpeg",
    "CheckPool": "pool",
    "Shed": "pool",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{source}", __name__), name)
    globals()[name] = value  # found directly from now on
    return value


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
