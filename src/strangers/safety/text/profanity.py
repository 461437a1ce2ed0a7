"""Profanity: a weak signal, scored like ``alt-profanity-check`` without its per-call cost.

``profanity_check.predict_prob`` runs a scikit-learn pipeline: a ``TfidfVectorizer`` (word
tokens ``\\b\\w\\w+\\b`` of the lowercased text, English stop words out, raw counts times
idf, L2-normalised) into a ``CalibratedClassifierCV`` of five ``LinearSVC`` folds, each
with a sigmoid calibration ``p = 1 / (1 + exp(a·f + b))`` of its decision ``f = w·x + c``,
the five probabilities averaged. Called on one message it costs about 3.6 ms (the
scikit-learn overhead, not the arithmetic), far over the engine's 1 ms budget (docs/design.md §6).

:class:`ProfanityScorer` reads the vocabulary, the idf weights, the five weight vectors,
intercepts and calibrations once, from the package's own fitted objects, and computes the
same probability with a dictionary look-up per token and five dot products over the few
tokens of a line. The test suite checks it agrees with ``predict_prob``.

:meth:`ProfanityScorer.at_least` answers the engine's question — is the probability at
least the threshold? — and skips the arithmetic for most lines: each fold's decision is
at most ``‖w⁺‖`` over the line's tokens (Cauchy–Schwarz, the tf-idf vector being
non-negative with norm 1), and the calibration is increasing, so a line whose tokens'
positive weights are small cannot reach the threshold. The answer is exact either way.

The model knows English profanity only ("what's your snapchat?" scores 0.04): it is not a
grooming detector, and the policy treats it as a weak signal.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# scikit-learn's default token pattern, as the package's vectorizer uses it
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True, slots=True)
class _Fold:
    intercept: float
    calibration_a: float
    calibration_b: float


class ProfanityScorer:
    """``probability(text)`` equals ``profanity_check.predict_prob([text])[0]``."""

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        idf: Sequence[float],
        weights: Sequence[Sequence[float]],
        folds: Sequence[_Fold],
    ) -> None:
        if len(weights) != len(folds) or not folds:
            raise ValueError("one weight vector per calibrated fold")
        # token → (idf, idf·w₁, …, idf·wₖ): one look-up per token at scan time
        self._token_weights: dict[str, tuple[float, tuple[float, ...]]] = {
            token: (idf[index], tuple(idf[index] * fold[index] for fold in weights))
            for token, index in vocabulary.items()
        }
        self._folds = tuple(folds)
        # token → the largest squared positive weight over the folds, for the bound
        self._bound_weights: dict[str, float] = {
            token: max(max(fold[index], 0.0) for fold in weights) ** 2
            for token, index in vocabulary.items()
        }
        self._bound_cache: dict[float, float] = {}

    @classmethod
    def from_package(cls) -> ProfanityScorer:
        """Read the fitted model that ``alt-profanity-check`` ships (imports scikit-learn,
        about a second, once)."""
        from profanity_check import profanity_check as package  # type: ignore[import-untyped]

        vectorizer = package.vectorizer
        model = package.model
        if vectorizer.get_params()["ngram_range"] != (1, 1) or not vectorizer.use_idf:
            raise RuntimeError("alt-profanity-check's vectorizer changed shape: check the scorer")
        if vectorizer.norm != "l2" or vectorizer.sublinear_tf or vectorizer.binary:
            raise RuntimeError("alt-profanity-check's vectorizer changed shape: check the scorer")
        weights: list[list[float]] = []
        folds: list[_Fold] = []
        for calibrated in model.calibrated_classifiers_:
            if calibrated.method != "sigmoid" or len(calibrated.calibrators) != 1:
                raise RuntimeError("alt-profanity-check's calibration changed: check the scorer")
            estimator = calibrated.estimator
            calibrator = calibrated.calibrators[0]
            weights.append([float(w) for w in estimator.coef_[0]])
            folds.append(
                _Fold(
                    float(estimator.intercept_[0]),
                    float(calibrator.a_),
                    float(calibrator.b_),
                )
            )
        vocabulary = {str(token): int(index) for token, index in vectorizer.vocabulary_.items()}
        return cls(vocabulary, [float(v) for v in vectorizer.idf_], weights, folds)

    def at_least(self, text: str, threshold: float) -> float | None:
        """The probability if it is at least ``threshold``, else ``None``."""
        tokens = _TOKEN.findall(text.lower())
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
        return self._probability(_TOKEN.findall(text.lower()))

    def _probability(self, tokens: list[str]) -> float:
        counts: dict[str, int] = {}
        token_weights = self._token_weights
        for token in tokens:
            if token in token_weights:
                counts[token] = counts.get(token, 0) + 1
        sums: list[float] = [0.0] * len(self._folds)
        norm_squared = 0.0
        for token, count in counts.items():
            idf, weighted = token_weights[token]
            norm_squared += (count * idf) ** 2
            if count != 1:
                weighted = tuple(map(operator.mul, weighted, itertools.repeat(count)))
            sums = list(map(operator.add, sums, weighted))  # the five dot products
        scale = 1.0 / math.sqrt(norm_squared) if norm_squared else 0.0
        total = 0.0
        for fold, dot in zip(self._folds, sums, strict=True):
            total += _sigmoid_of(fold, dot * scale + fold.intercept)
        return total / len(self._folds)


def _sigmoid_of(fold: _Fold, decision: float) -> float:
    """The fold's calibrated probability, ``1 / (1 + e^(a·f + b))``, without overflow."""
    exponent = fold.calibration_a * decision + fold.calibration_b
    if exponent >= 0:
        shrink = math.exp(-exponent)
        return shrink / (1.0 + shrink)
    return 1.0 / (1.0 + math.exp(exponent))
