"""Build-time: write ``data/profanity.bin.gz``, the numbers of alt-profanity-check's
fitted model that :class:`~.profanity.ProfanityScorer` reads.

alt-profanity-check ships its model as scikit-learn objects in joblib (pickle) files;
reading them imports scikit-learn, SciPy and joblib, about 70 MB that would stay in the
chat process for its whole life (issue 18; docs/deploy.md, "peak resident memory of a
gateway"). The scorer needs only numbers, so this script reads the objects once, checks
they still have the shape the scorer computes (docs/design.md §6, text: the profanity
model), and writes them, gzipped:

1. the line ``strangers-profanity 1`` (the layout's version: :mod:`.profanity` refuses
   any other);
2. one line of JSON: ``vocabulary``, the tokens in the order of the model's columns;
   ``folds``, each fold's ``intercept`` and sigmoid ``calibration`` ``[a, b]``; and
   ``source``, the package and version they came from with its MIT licence text, which
   must travel with a substantial portion of it (README, "Licence");
3. the doubles, little-endian, column by column within each vector: the vectorizer's
   idf, then each fold's ``LinearSVC`` weights.

Doubles as they are, not decimal text, so reading them back gives the very same numbers
with no float object made per number (the scorer keeps them in arrays); keys are sorted
and the gzip header carries no time or name, so the same model always gives the same
bytes (``tests/safety/text/test_profanity.py`` checks the shipped file against this
script's output).

Run after upgrading alt-profanity-check, from the source tree::

    .venv/bin/python -m strangers.safety.text.export_profanity          # rewrite it
    .venv/bin/python -m strangers.safety.text.export_profanity --check  # exit 1 if stale

Never imported by the service: only this script needs alt-profanity-check.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zlib
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any

from . import profanity

#: The shipped file, in the package's data directory.
DATA_FILE = Path(profanity.__file__).resolve().parent / "data" / profanity.DATA_FILE
#: The distribution the model comes from.
DISTRIBUTION = "alt-profanity-check"


def export_model() -> dict[str, Any]:
    """The model's numbers, read from the installed alt-profanity-check (imports
    scikit-learn); :class:`RuntimeError` if its objects changed shape."""
    from profanity_check import profanity_check as package  # type: ignore[import-untyped]

    vectorizer = package.vectorizer
    model = package.model
    params = vectorizer.get_params()
    if params["ngram_range"] != (1, 1) or not vectorizer.use_idf or params["analyzer"] != "word":
        raise RuntimeError("alt-profanity-check's vectorizer changed shape: check the scorer")
    if vectorizer.norm != "l2" or vectorizer.sublinear_tf or vectorizer.binary:
        raise RuntimeError("alt-profanity-check's vectorizer changed shape: check the scorer")
    if not params["lowercase"] or params["token_pattern"] != r"(?u)\b\w\w+\b":
        raise RuntimeError("alt-profanity-check's tokens changed: check the scorer")
    if params["strip_accents"] is not None or params["preprocessor"] is not None:
        raise RuntimeError("alt-profanity-check's tokens changed: check the scorer")
    if params["tokenizer"] is not None:
        raise RuntimeError("alt-profanity-check's tokens changed: check the scorer")
    if list(model.classes_) != [0, 1]:
        raise RuntimeError("alt-profanity-check's classes changed: check the scorer")
    columns = len(vectorizer.idf_)
    vocabulary = [""] * columns
    for token, index in vectorizer.vocabulary_.items():
        vocabulary[int(index)] = str(token)
    if "" in vocabulary or len(vectorizer.vocabulary_) != columns:
        raise RuntimeError("alt-profanity-check's vocabulary does not match its columns")
    folds: list[dict[str, Any]] = []
    for calibrated in model.calibrated_classifiers_:
        if calibrated.method != "sigmoid" or len(calibrated.calibrators) != 1:
            raise RuntimeError("alt-profanity-check's calibration changed: check the scorer")
        estimator = calibrated.estimator
        calibrator = calibrated.calibrators[0]
        if estimator.coef_.shape != (1, columns):
            raise RuntimeError("alt-profanity-check's weights do not match its columns")
        folds.append(
            {
                "weights": [float(w) for w in estimator.coef_[0]],
                "intercept": float(estimator.intercept_[0]),
                "calibration": [float(calibrator.a_), float(calibrator.b_)],
            }
        )
    if not folds:
        raise RuntimeError("alt-profanity-check's model has no calibrated fold")
    return {
        "source": _source(),
        "vocabulary": vocabulary,
        "idf": [float(v) for v in vectorizer.idf_],
        "folds": folds,
    }


def _source() -> dict[str, str]:
    """Where the numbers come from, with the licence text the MIT licence asks to keep."""
    distribution = metadata.distribution(DISTRIBUTION)
    licences = [
        str(path)
        for path in distribution.files or ()
        if path.name.upper().startswith("LICEN") and ".dist-info" in str(path)
    ]
    if len(licences) != 1:
        raise RuntimeError(f"{DISTRIBUTION}: expected one licence file, found {licences}")
    text = distribution.read_text(licences[0].partition("/")[2])
    if not text or "MIT License" not in text:
        raise RuntimeError(f"{DISTRIBUTION}'s licence changed: check README, Licence")
    return {
        "distribution": DISTRIBUTION,
        "version": distribution.version,
        "licence": "MIT",
        "licence_text": text,
    }


def encode(model: dict[str, Any]) -> bytes:
    """The layout above, of ``model`` as :func:`export_model` gives it; the same every
    time for the same model."""
    header = {
        "vocabulary": model["vocabulary"],
        "folds": [
            {"intercept": fold["intercept"], "calibration": fold["calibration"]}
            for fold in model["folds"]
        ],
        "source": model["source"],
    }
    line = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    numbers = array("d", model["idf"])
    for fold in model["folds"]:
        numbers.extend(fold["weights"])
    if sys.byteorder != "little":
        numbers.byteswap()
    return profanity.MAGIC + b"\n" + line.encode() + b"\n" + numbers.tobytes()


def compress(text: bytes) -> bytes:
    """gzip without a time stamp or a file name, so the bytes depend on ``text`` only."""
    return gzip.compress(text, compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m strangers.safety.text.export_profanity",
        description="Write the profanity model's numbers from alt-profanity-check.",
    )
    parser.add_argument("--out", type=Path, default=DATA_FILE, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is stale"
    )
    args = parser.parse_args(argv)
    text = encode(export_model())
    if args.check:
        try:
            current = gzip.decompress(args.out.read_bytes())
        except (OSError, EOFError, zlib.error) as exc:
            print(f"{args.out}: unreadable ({type(exc).__name__})", file=sys.stderr)
            return 1
        if current != text:
            print(f"{args.out}: stale, run without --check to rewrite it", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    args.out.write_bytes(compress(text))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
