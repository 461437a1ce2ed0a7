"""One engine for the whole package: building it reads the data files and the profanity
model (about a second), and ``scan`` keeps no state, so sharing it is what production does."""

from __future__ import annotations

import pytest

from strangers.safety.text import SignalEngine


@pytest.fixture(scope="session")
def engine() -> SignalEngine:
    return SignalEngine()  # every language, as the service builds it
