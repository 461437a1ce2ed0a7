"""The fast profanity scorer computes what ``profanity_check.predict_prob`` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from profanity_check import predict_prob

from strangers.safety.text import ProfanityScorer

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
                found.append(row.partition("\t")[2])
    return found + EXTRA


@pytest.fixture(scope="module")
def scorer() -> ProfanityScorer:
    return ProfanityScorer.from_package()


def test_it_agrees_with_predict_prob(scorer: ProfanityScorer) -> None:
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
