"""Profanity: a weak signal, scored like ``alt-profanity-check`` without its per-call cost.

``profanity_check.predict_prob`` runs a scikit-learn pipeline: a ``TfidfVectorizer`` (word
tokens ``\\b\\w\\w+\\b`` of the lowercased text, English stop words out, raw counts times
idf, L2-normalised) into a ``CalibratedClassifierCV`` of five ``LinearSVC`` folds, each
with a sigmoid calibration ``p = 1 / (1 + exp(a·f + b))`` of its decision ``f = w·x + c``,
the five probabilities averaged. Called on one message it costs about 3.6 ms (the
scikit-learn overhead, not the arithmetic), far over the engine's 1 ms budget (docs/design.md §6).

:class:`ProfanityScorer` reads the vocabulary, the idf weights, the five weight vectors,
intercepts and calibrations once, from ``data/profanity.bin.gz`` — those numbers, which
:mod:`.export_profanity` takes from the package's fitted objects at build time (the
layout is described there) — and computes the same probability with a dictionary
look-up per token and five dot products over the few tokens of a line. The test suite
checks it agrees with ``predict_prob`` and that the shipped file is what the exporter
writes. Reading numbers, not the pickled objects, keeps scikit-learn, SciPy and joblib
(about 70 MB) out of the chat process (issue 18), and keeping them in flat arrays of
doubles, not a float object each, keeps the scorer itself near 3 MB.

:meth:`ProfanityScorer.at_least` answers the engine's question — is the probability at
least the threshold? — and skips the arithmetic for most lines: each fold's decision is
at most ``‖w⁺‖`` over the line's tokens (Cauchy–Schwarz, the tf-idf vector being
non-negative with norm 1), and the calibration is increasing, so a line whose tokens'
positive weights are small cannot reach the threshold. The answer is exact either way.

The model knows English profanity only ("what's your snapchat?" scores 0.04): it is not a
grooming detector, and the policy treats it as a weak signal.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import operator
import re
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

# scikit-learn's default token pattern, as the package's vectorizer uses it
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: The numbers' file in ``data/``, and the first line it must start with.
DATA_FILE = "profanity.bin.gz"
MAGIC = b"strangers-profanity 1"


@dataclass(frozen=True, slots=True)
class _Fold:
    intercept: float
    calibration_a: float
    calibration_b: float


class ProfanityScorer:
    """``probability(text)`` equals ``profanity_check.predict_prob([text])[0]``."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: Sequence[float],
        weights: Sequence[Sequence[float]],
        folds: Sequence[_Fold],
    ) -> None:
        """``vocabulary[i]`` is the token of column ``i``, ``idf[i]`` its weight and
        ``weights[k][i]`` its weight in fold ``k``; :class:`ValueError` if they disagree."""
        if len(weights) != len(folds) or not folds:
            raise ValueError("one weight vector per calibrated fold")
        if any(len(vector) != len(vocabulary) for vector in (idf, *weights)):
            raise ValueError("one idf and one weight per fold for each token")
        self._folds = tuple(folds)
        self._width = len(folds) + 1
        # token → its column; column i of the table is idf, idf·w₁, …, idf·wₖ, so a
        # token costs one look-up at scan time and 8 bytes a number at rest
        self._columns: dict[str, int] = {}
        self._table = array("d")
        # token → the largest squared positive weight over the folds, for the bound;
        # tokens with none (nearly half) are left out: they add nothing to it
        self._bound_weights: dict[str, float] = {}
        for column, token in enumerate(vocabulary):
            if not isinstance(token, str) or token in self._columns:
                raise ValueError(f"vocabulary column {column}: not a new token")
            self._columns[token] = column
            self._table.append(idf[column])
            self._table.extend(idf[column] * fold[column] for fold in weights)
            bound = max(max(fold[column], 0.0) for fold in weights) ** 2
            if bound > 0.0:
                self._bound_weights[token] = bound
        self._bound_cache: dict[float, float] = {}

    @classmethod
    def load(cls) -> ProfanityScorer:
        """The scorer of the shipped model, ``data/profanity.bin.gz`` (about 0.1 s)."""
        packed = resources.files(__package__).joinpath("data", DATA_FILE).read_bytes()
        return cls.decode(gzip.decompress(packed))

    @classmethod
    def decode(cls, data: bytes) -> ProfanityScorer:
        """The scorer of ``data``, laid out as :func:`.export_profanity.encode` writes
        it; :class:`ValueError` if it is not."""
        first = data.find(b"\n")
        second = data.find(b"\n", first + 1)
        if data[:first] != MAGIC or second < 0:
            raise ValueError("not a profanity model of this format")
        numbers = memoryview(data)[second + 1 :]  # no copy of the bulk of it
        try:
            header = json.loads(data[first + 1 : second])
            vocabulary = header["vocabulary"]
            folds = [
                _Fold(float(fold["intercept"]), *map(float, fold["calibration"]))
                for fold in header["folds"]
            ]
            columns = len(vocabulary)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed profanity model header ({type(exc).__name__})") from None
        if not isinstance(vocabulary, list) or not columns or not folds:
            raise ValueError("malformed profanity model: no token or no fold")
        values = array("d")
        if len(numbers) != values.itemsize * columns * (len(folds) + 1):
            raise ValueError("malformed profanity model: one idf and one weight a fold a token")
        values.frombytes(numbers)
        if sys.byteorder != "little":
            values.byteswap()  # written little-endian
        if not all(map(math.isfinite, values)):
            raise ValueError("malformed profanity model: a number is not finite")
        idf = values[:columns]
        weights = [
            values[start : start + columns] for start in range(columns, len(values), columns)
        ]
        return cls(vocabulary, idf, weights, folds)

    def at_least(self, text: str, threshold: float) -> float | None:
        """The probability if it is at least ``threshold``, else ``None``."""
        return self.at_least_tokens(tokens_of(text), threshold)

    def at_least_tokens(self, tokens: list[str], threshold: float) -> float | None:
        """:meth:`at_least` of a text whose :func:`tokens_of` are ``tokens``, for a caller
        that has them at hand (the engine, issue 18)."""
        squared = sum(map(self._bound_weights.get, set(tokens), itertools.repeat(0.0)))
        if squared < self._least_squared_bound(threshold):
            return None
        probability = self._probability(tokens)
        return probability if probability >= threshold else None

    def _least_squared_bound(self, threshold: float) -> float:
        """The smallest ``‖w⁺‖²`` whose bound on every fold reaches ``threshold`` on
        average (bisection, once per threshold)."""
        cached = self._bound_cache.get(threshold)
        if cached is not None:
            return cached
        low, high = 0.0, 1000.0
        for _ in range(80):
            middle = (low + high) / 2
            average = sum(_sigmoid_of(fold, middle + fold.intercept) for fold in self._folds) / len(
                self._folds
            )
            if average >= threshold:
                high = middle
            else:
                low = middle
        least = low * low * (1 - 1e-9)  # on the safe side of rounding
        self._bound_cache[threshold] = least
        return least

    def probability(self, text: str) -> float:
        return self._probability(tokens_of(text))

    def _probability(self, tokens: list[str]) -> float:
        counts: dict[int, int] = {}
        columns = self._columns
        for token in tokens:
            column = columns.get(token)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        sums: list[float] = [0.0] * len(self._folds)
        norm_squared = 0.0
        table, width = self._table, self._width
        for column, count in counts.items():
            start = column * width
            idf = table[start]
            weighted: Sequence[float] = table[start + 1 : start + width]
            norm_squared += (count * idf) ** 2
            if count != 1:
                weighted = tuple(map(operator.mul, weighted, itertools.repeat(count)))
            sums = list(map(operator.add, sums, weighted))  # the five dot products
        scale = 1.0 / math.sqrt(norm_squared) if norm_squared else 0.0
        total = 0.0
        for fold, dot in zip(self._folds, sums, strict=True):
            total += _sigmoid_of(fold, dot * scale + fold.intercept)
        return total / len(self._folds)


def tokens_of(text: str) -> list[str]:
    """The tokens the model counts, in order: its vectorizer's, on the lowercased text."""
    return _TOKEN.findall(text.lower())


def _sigmoid_of(fold: _Fold, decision: float) -> float:
    """The fold's calibrated probability, ``1 / (1 + e^(a·f + b))``, without overflow."""
    exponent = fold.calibration_a * decision + fold.calibration_b
    if exponent >= 0:
        shrink = math.exp(-exponent)
        return shrink / (1.0 + shrink)
    return 1.0 / (1.0 + math.exp(exponent))
