"""The fast profanity scorer computes what ``profanity_check.predict_prob`` does, from
the numbers shipped in ``data/profanity.bin.gz``, and that file is what the exporter
writes from the installed alt-profanity-check.

alt-profanity-check (and scikit-learn with it) is needed only to compare: without it
these comparisons are skipped, and the tests of the shipped file alone still run.
"""

from __future__ import annotations

import gc
import gzip
import json
import subprocess
import sys
import tracemalloc
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from strangers.safety.text import ProfanityScorer
from strangers.safety.text import export_profanity as exporter

DATA = Path(__file__).resolve().parents[2] / "data"

EXTRA = [
    "",
    "   ",
    "!!!",
    "fuck you",
    "FUCK YOU",
    "you are a stupid idiot",
    "shit shit shit",
    "what the hell is this",
    "damn that's crazy",
    "have a nice day",
    "what's your snapchat?",
    "this is bullshit",
    "you suck",
    "élève très bête",
    "snake_case and digits 1234 x2",
    "a" * 300,
    "ass " * 50,
]


def lines() -> list[str]:
    found: list[str] = []
    for name in ("text_lines.tsv", "text_lines_holdout.tsv"):
        for row in (DATA / name).read_text(encoding="utf-8").splitlines():
            if row and not row.startswith("#"):
                found.append(row.split("\t")[-1])
    return found + EXTRA


def shipped() -> bytes:
    """The shipped model, decompressed."""
    packed = resources.files("strangers.safety.text").joinpath("data", "profanity.bin.gz")
    return gzip.decompress(packed.read_bytes())


def header_of(data: bytes) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(data.split(b"\n", 2)[1])
    return header


@pytest.fixture(scope="module")
def scorer() -> ProfanityScorer:
    return ProfanityScorer.load()


def test_the_shipped_file_is_what_the_exporter_writes() -> None:
    """Upgrading alt-profanity-check without re-exporting fails here: run
    ``python -m strangers.safety.text.export_profanity``."""
    pytest.importorskip("profanity_check")
    # Compared decompressed, not as gzip bytes, which another zlib may pack otherwise.
    assert shipped() == exporter.encode(exporter.export_model())


def test_the_exporter_checks_and_writes_the_file(tmp_path: Path) -> None:
    pytest.importorskip("profanity_check")
    command = [sys.executable, "-m", "strangers.safety.text.export_profanity"]
    checked = subprocess.run(
        [*command, "--check"], capture_output=True, text=True, timeout=120, check=False
    )
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "profanity.bin.gz"
    written = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert written.returncode == 0, written.stderr
    # Byte for byte: no time stamp nor file name in the gzip header.
    assert out.read_bytes() == exporter.compress(exporter.encode(exporter.export_model()))
    for stale in (gzip.compress(shipped()[:-8]), b"not gzip"):
        out.write_bytes(stale)
        refused = subprocess.run(
            [*command, "--check", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert refused.returncode == 1 and str(out) in refused.stderr


def test_the_shipped_file_names_its_source_and_carries_its_licence() -> None:
    source = header_of(shipped())["source"]
    assert source["distribution"] == "alt-profanity-check"
    assert source["licence"] == "MIT"
    assert "MIT License" in source["licence_text"]
    assert "Permission is hereby granted" in source["licence_text"]


def rewrite_header(data: bytes, change: Any) -> bytes:
    magic, line, numbers = data.split(b"\n", 2)
    header = json.loads(line)
    change(header)
    return b"\n".join([magic, json.dumps(header).encode(), numbers])


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data.replace(b"strangers-profanity 1", b"strangers-profanity 2", 1),
        lambda data: data[:-1],
        lambda data: data + bytes(8),
        lambda data: data[: data.index(b"\n", 30)],
        lambda data: data.replace(b'"vocabulary":[', b'"vocabulary":{', 1),
        lambda data: rewrite_header(data, lambda h: h.pop("folds")),
        lambda data: rewrite_header(data, lambda h: h.update(folds=[])),
        lambda data: rewrite_header(data, lambda h: h.update(folds=None)),
        lambda data: rewrite_header(data, lambda h: h["folds"][1].update(calibration=[1.0])),
        lambda data: rewrite_header(data, lambda h: h["folds"][0].update(intercept="x")),
        lambda data: rewrite_header(data, lambda h: h["vocabulary"].pop()),
        lambda data: rewrite_header(data, lambda h: h["vocabulary"].__setitem__(1, "aa")),
        lambda data: rewrite_header(data, lambda h: h["vocabulary"].__setitem__(1, 7)),
        lambda data: data[:-8] + b"\x00" * 6 + b"\xf8\x7f",  # a NaN
    ],
)
def test_a_malformed_model_is_refused(damage: Any) -> None:
    with pytest.raises(ValueError):
        ProfanityScorer.decode(damage(shipped()))


def test_the_scorer_is_small() -> None:
    """Flat arrays of doubles, not a float object a number (issue 18): what a scorer
    keeps, measured by ``tracemalloc``, is about 3 MB; a dictionary of tuples of floats
    kept over 6 MB."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = ProfanityScorer.load()
        gc.collect()
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept.probability("fuck you") > 0.99
    assert size < 4 * 2**20, size


def test_it_agrees_with_predict_prob(scorer: ProfanityScorer) -> None:
    predict_prob = pytest.importorskip("profanity_check").predict_prob
    texts = lines()
    assert len(texts) > 300
    expected = predict_prob(texts)
    for text, probability in zip(texts, expected, strict=True):
        assert scorer.probability(text) == pytest.approx(float(probability), abs=1e-9), text


def test_the_probability_is_in_zero_to_one(scorer: ProfanityScorer) -> None:
    for text in ("fuck " * 1000, "", "\ud800", "ok"):
        assert 0.0 <= scorer.probability(text) <= 1.0


def test_at_least_is_exact_about_the_threshold(scorer: ProfanityScorer) -> None:
    # the bound only skips lines that cannot reach the threshold: never a line that does
    for text in lines():
        probability = scorer.probability(text)
        for threshold in (0.5, 0.8, 0.95):
            found = scorer.at_least(text, threshold)
            if probability >= threshold:
                assert found == pytest.approx(probability, abs=1e-12), text
            else:
                assert found is None, text
