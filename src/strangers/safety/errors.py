"""The errors the safety checks raise on purpose, in one tree.

Every one is a :class:`SafetyError` with a stable, machine-readable ``code``: the
gateway turns a refused frame into the peer's error by it, and counts shed work by it.
A class that lists finer ``codes`` refines its code per instance (``exc.code`` is then
one of those); the class's own code names the family.

Hierarchy, with each class's code and the finer codes its instances carry::

    SafetyError        safety
    ├── FrameRejected  frame_rejected: a frame refused before any check ran (``jpeg.py``)
    │                    not_jpeg   the bytes are not a JPEG this server decodes
    │                    too_large  the JPEG is larger than a frame may be
    │                    bad_size   its width or height is out of bounds
    ├── Shed           shed: a frame dropped unchecked by the check pool (``pool.py``);
    │                    why is its ``reason``: queue_full, displaced, closed, stale,
    │                    over_share
    ├── CheckerFault   checker_fault: a frame a check-worker process gave no verdict on,
    │                    so not checked (``workers.py``)
    │                    worker_died     the worker exited during the check
    │                    worker_hung     no verdict within the check timeout (killed)
    │                    bad_answer      its answer was not a verdict (killed)
    │                    checker_raised  the checker raised (the worker goes on)
    │                    not_loaded      a worker could not load the checker
    ├── NotProven      not_proven: a check service or a gateway did not prove the shared
    │                    secret in the check service's handshake (``remote.py``)
    └── LearnedModelError  learned_model: the text engine's learned model file is missing,
                         truncated, corrupt or of another layout (``text/learned.py``);
                         raised at start, never per line
"""

from __future__ import annotations

from typing import ClassVar


class SafetyError(Exception):
    """Base of every error the safety checks raise on purpose.

    ``code`` is stable: the class's own, or, for a class that lists finer ``codes``,
    the one this instance carries."""

    code: str = "safety"
    #: The finer codes an instance may carry instead of the class's own (none here).
    codes: ClassVar[frozenset[str]] = frozenset()
