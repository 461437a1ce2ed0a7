"""The learned layer of the text signal engine: a linear model per grooming kind over
the character and word n-grams of a line's words view (issue 20; docs/safety.md,
"The learned layer").

Rules trail new phrasings; this layer generalises from the phrasings the project wrote
(the labelled lines of ``tests/data/text_lines.tsv``, the paraphrase templates of
``data/train_{en,fr,es}.txt`` and the tricky benign chat of
``data/train_benign_{en,fr,es}.txt``, varied with typos, slang,
spacing, leetspeak, emoji and casing). :mod:`.train_learned` fits it at build time with
scikit-learn (L1-regularised logistic regression, one model per kind) and writes the
weights it keeps to ``data/learned.json.gz``; this module reads them once and scores a
line with a look-up per word and per pair of words and a sum per kind, without
scikit-learn (the chat process stays small: ``tests/safety/test_light_imports.py``) and
without any download.

Contract:

- :func:`features` is the one definition of the n-grams, used by the training script and
  here, so both see the same features;
- :meth:`LearnedScorer.scores` gives, for each kind whose probability reaches the kind's
  threshold (chosen on the repository file's benign lines out of fold and on a benign
  validation file never trained on, stored in the model file), the probability; it never
  gives a contact detail, an age statement or a stated age (the rules' parsers own
  those: docs/safety.md, "The learned layer");
- :meth:`LearnedScorer.load` refuses a file that is missing, truncated, corrupt (its
  SHA-256 is stored beside the payload) or of another layout, with
  :class:`LearnedModelError`: the engine is built at start, so a bad file stops the
  service at start rather than silently scoring nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import math
import zlib
from array import array
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from strangers.core.text import SignalKind

from ..errors import SafetyError

#: The model's file in ``data/`` and the layout version it must declare.
DATA_FILE = "learned.json.gz"
FORMAT = "strangers-learned 1"
#: Character n-gram sizes within each token; word unigrams and bigrams besides.
CHAR_SIZES = (3, 4, 5)
#: Word features start with this character, which no words view holds, so they never
#: collide with a character n-gram.
WORD_MARK = "\x01"
#: Tokens whose weighted n-grams are kept between lines (a bound on memory).
TOKEN_CACHE = 20_000


#: A token with no weighted feature: skipped in the sum.
_ZERO: tuple[float, ...] = ()


class LearnedModelError(SafetyError, ValueError):
    """The model file is missing, truncated, corrupt or of another layout: raised when
    the engine is built, so a server with a bad file stops at start."""

    code = "learned_model"


def token_grams(token: str) -> frozenset[str]:
    """The character 3- to 5-grams of one token with a space on each side (" you "):
    word edges count, and a typo changes a few n-grams, not the whole word."""
    padded = f" {token} "
    size = len(padded)
    return frozenset(padded[start : start + n] for n in CHAR_SIZES for start in range(size - n + 1))


def features(view: str) -> list[str]:
    """The features of a words view (``" how old are you "``: single spaces, padded), as
    counts: for each token, its character n-grams (:func:`token_grams`, each once) and
    the token itself marked with :data:`WORD_MARK`; then each pair of neighbouring
    tokens, marked. A feature met in two tokens counts twice, so a line's score is the
    sum of its tokens' scores plus its pairs': what lets :class:`LearnedScorer` keep one
    vector per token it has seen."""
    tokens = view.split()
    grams: list[str] = []
    for token in tokens:
        grams.extend(token_grams(token))
        grams.append(WORD_MARK + token)
    grams.extend(f"{WORD_MARK}{a} {b}" for a, b in itertools.pairwise(tokens))
    return grams


class LearnedScorer:
    """Per-kind probabilities of a words view, from the weights of ``data/learned.json.gz``."""

    def __init__(
        self,
        kinds: Sequence[SignalKind],
        bias: Sequence[float],
        thresholds: Sequence[float],
        weights: Mapping[str, Sequence[tuple[int, float]]],
    ) -> None:
        if not (len(kinds) == len(bias) == len(thresholds)) or not kinds:
            raise LearnedModelError("one bias and one threshold per kind")
        for threshold in thresholds:
            if not 0.5 <= threshold < 1.0:
                raise LearnedModelError(f"threshold {threshold} outside [0.5, 1)")
        self.kinds = tuple(kinds)
        self.bias = tuple(bias)
        self.thresholds = tuple(thresholds)
        # a line is scored only if some kind can reach its threshold: compare logits
        self._logit_thresholds = tuple(math.log(t / (1.0 - t)) for t in thresholds)
        count = self._count = len(self.kinds)
        # every weighted feature as a dense row over the kinds, all rows in one array of
        # doubles and each feature's row found by its offset (a tuple of float objects a
        # feature held three times the memory, and the chat process holds one copy:
        # issue 18, 120 MB at start); each token's share is kept once it is seen; plain
        # dict operations, safe across threads
        self._offsets: dict[str, int] = {}
        rows = array("d")
        for gram, pairs in weights.items():
            vector = [0.0] * count
            for index, weight in pairs:
                if not 0 <= index < count or not math.isfinite(weight):
                    raise LearnedModelError(f"feature {gram!r}: bad kind index or weight")
                vector[index] += weight
            self._offsets[gram] = len(rows)
            rows.extend(vector)
        self._rows = rows
        self._token_vectors: dict[str, Sequence[float]] = {}

    @property
    def size(self) -> int:
        """The number of n-grams with a weight."""
        return len(self._offsets)

    @classmethod
    def load(cls) -> LearnedScorer:
        """The shipped model (``data/learned.json.gz``); :class:`LearnedModelError` if it
        is missing, truncated, corrupt or of another layout."""
        try:
            packed = resources.files(__package__).joinpath("data", DATA_FILE).read_bytes()
        except OSError as exc:
            raise LearnedModelError(f"cannot read the learned model: {exc}") from None
        return cls.decode(packed)

    @classmethod
    def decode(cls, packed: bytes) -> LearnedScorer:
        """A model from the bytes of a ``learned.json.gz`` (see :func:`encode`)."""
        try:
            document = json.loads(gzip.decompress(packed).decode("utf-8"))
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise LearnedModelError(
                f"the learned model is not a whole gzipped JSON file ({type(exc).__name__})"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise LearnedModelError(f"not a learned model of layout {FORMAT!r}")
        model = document.get("model")
        digest = document.get("sha256")
        if not isinstance(model, dict) or digest != _digest(model):
            raise LearnedModelError("the learned model's checksum does not match its weights")
        try:
            kinds = [SignalKind(kind) for kind in model["kinds"]]
            weights = {
                str(gram): [(int(index), float(weight)) for index, weight in pairs]
                for gram, pairs in model["weights"].items()
            }
            return cls(
                kinds,
                [float(b) for b in model["bias"]],
                [float(t) for t in model["thresholds"]],
                weights,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LearnedModelError):
                raise
            raise LearnedModelError(
                f"malformed learned model ({type(exc).__name__}: {exc})"
            ) from None

    def logits(self, view: str) -> list[float]:
        """Each kind's decision ``w·x + b`` for a words view: the sum of the weights of
        :func:`features`, counted.

        Each token's share (its n-grams' and its own weights) is added up once and kept
        (:data:`TOKEN_CACHE` tokens at most; chat repeats its words), so a line costs a
        look-up per token and per pair of tokens and one column sum in C: a few
        microseconds (issue 20: the engine's budget per line)."""
        tokens = view.split()
        cache = self._token_vectors
        vectors: list[Sequence[float]] = [self.bias]
        for token in tokens:
            vector = cache.get(token)
            if vector is None:
                vector = self._token_vector(token)
                if len(cache) >= TOKEN_CACHE:
                    cache.clear()  # rare; a bound on memory, not a policy
                cache[token] = vector
            if vector is not _ZERO:
                vectors.append(vector)
        if len(tokens) > 1:
            get = self._offsets.get
            rows, count = self._rows, self._count
            for a, b in itertools.pairwise(tokens):
                at = get(f"{WORD_MARK}{a} {b}")
                if at is not None:
                    vectors.append(rows[at : at + count])
        return list(map(sum, zip(*vectors, strict=True)))

    def _token_vector(self, token: str) -> tuple[float, ...]:
        get = self._offsets.get
        rows, count = self._rows, self._count
        total = [0.0] * count
        found = False
        for gram in (*token_grams(token), WORD_MARK + token):
            at = get(gram)
            if at is not None:
                found = True
                for index, weight in enumerate(rows[at : at + count]):
                    total[index] += weight
        return tuple(total) if found else _ZERO

    def probabilities(self, view: str) -> dict[SignalKind, float]:
        """Every kind's probability for a words view (for tests and the evaluation)."""
        return {
            kind: _sigmoid(total) for kind, total in zip(self.kinds, self.logits(view), strict=True)
        }

    def scores(self, view: str) -> list[tuple[SignalKind, float]]:
        """The kinds whose probability reaches their threshold, with it (rounded to three
        decimals, like the rules' scores), in the model's kind order."""
        totals = self.logits(view)
        return [
            (self.kinds[index], round(_sigmoid(total), 3))
            for index, (total, limit) in enumerate(zip(totals, self._logit_thresholds, strict=True))
            if total >= limit
        ]


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def _digest(model: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(model)).hexdigest()


def encode(model: Mapping[str, Any]) -> bytes:
    """The bytes of ``learned.json.gz`` for ``model`` (``kinds``, ``bias``,
    ``thresholds``, ``weights``: n-gram → ``[[kind index, weight], ...]``, and any
    ``training`` notes): canonical JSON with its SHA-256, gzipped with no time or name in
    the header, so the same model always gives the same bytes."""
    document = {"format": FORMAT, "model": model, "sha256": _digest(model)}
    return gzip.compress(_canonical(document), compresslevel=9, mtime=0)
