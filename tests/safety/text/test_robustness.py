"""``scan`` is total (docs/design.md §6 and the TextScanner contract): any ``str`` gives a
TextScan, never an exception — lone surrogates, control, bidirectional and zero-width
characters, very long lines. Adversarial lines must not backtrack catastrophically: they
are scanned here (the benchmark measures speed; tests never assert on time)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strangers.core.text import TextScan
from strangers.safety.text import SignalEngine

SPECIAL = [
    "\ud800",
    "\udfff",
    "\u202e",
    "\u202d",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2060",
    "\x00",
    "\x1b",
    "\n",
    "\u0301",
    "@",
    ".",
    "1",
    " ",
    "ѕ",
    "０",
    "(at)",
    " dot ",
    "snap",
    "im ",
    "14",
]

any_text = st.text(alphabet=st.characters(exclude_categories=())) | st.lists(
    st.sampled_from(SPECIAL) | st.text(max_size=5), max_size=40
).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text)
def test_scan_never_raises_and_returns_a_scan(engine: SignalEngine, text: str) -> None:
    scan = engine._scan(text)  # the unguarded path: an exception here is a bug
    assert isinstance(scan, TextScan)
    assert all(0.0 <= signal.score <= 1.0 for signal in scan.signals)
    assert scan.age is None or 5 <= scan.age <= 99


ADVERSARIAL = [
    "a" * 5000 + "@",
    "a" * 10_000,
    "1 " * 3000,
    "1" * 10_000,
    "1." * 5000,
    "a." * 5000,
    "a@" * 5000,
    "@a" * 5000,
    "a " * 5000,
    "s n a p " * 1200,
    "snap " * 2000,
    "six " * 2500,
    "zéro six " * 1000,
    "im 14 " * 1500,
    "how old are you " * 600,
    "x@y." * 2500,
    "-" * 10_000,
    "www." * 2500,
    "a.b" * 3000,
    "\u202e" * 10_000,
    "\ud800" * 10_000,
    "ѕnар" * 2500,
    "(at) " * 2000,
    " dot " * 2000,
    "5nap1" * 2000,
    "@" * 10_000,
    "." * 10_000,
    "😀" * 10_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: f"{t[:6]!r}x{len(t)}")
def test_adversarial_long_lines_are_scanned(engine: SignalEngine, text: str) -> None:
    assert isinstance(engine._scan(text), TextScan)


def test_a_non_string_is_not_an_error(engine: SignalEngine) -> None:
    assert isinstance(engine.scan(None), TextScan)  # type: ignore[arg-type]
