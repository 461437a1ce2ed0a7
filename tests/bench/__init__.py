"""Tests of the benchmarks' own code (``bench/``), and its modules for other tests.

``bench/``'s scripts import their parts from ``bench/`` itself (``import loadtest``,
``from load.scenarios import ...``): a script's directory is its first import path.
This package puts ``bench/`` first on ``sys.path`` the same way and imports them here,
so every test loads one copy of each module, under the names the scripts use:
``from tests.bench import loadtest``."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import loadtest  # noqa: E402
from load import chatters, targets  # noqa: E402
from load.scenarios import LOAD_TEST_LIMITS  # noqa: E402

__all__ = ["BENCH", "LOAD_TEST_LIMITS", "chatters", "loadtest", "targets"]
