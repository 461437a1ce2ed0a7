"""Precision and recall of the text signal engine on labelled chat lines (docs/safety.md,
"Text evaluation"; docs/design.md §6, text).

The file is tab-separated, one line per message, in one of two layouts (all the lines of
a file use the same one):

- ``labels<TAB>text`` (``tests/data/text_lines_holdout.tsv``);
- ``labels<TAB>lang<TAB>text``, ``lang`` a two-letter language code (``en``, ``fr``):
  the repo's ``tests/data/text_lines.tsv`` (issue 20 added its ``lang`` column, so
  French parity is measured on it too) and ``tests/data/text_lines_independent.tsv``,
  the independent held-out file of issue 20 (docs/safety.md, "The independent held-out
  file"), written by an author who had not read the engine, before any tuning, and
  never to be trained or tuned on.

``labels`` is ``benign`` or kinds separated by commas: ``phone``, ``email``, ``link``,
``handle``, ``age=N`` (the sender states they are N), ``asks_age``, ``asks_alone``,
``secrecy``, ``asks_pictures``, ``asks_camera``, ``body``, ``gifts``, ``meet``,
``other_app``, and optionally ``profanity``. Lines starting with ``#`` are comments.
Labels are exhaustive: a kind the engine reports that the line does not carry counts as
a false positive. A *harmful* line carries a kind other than profanity; a *signal* is
any reported kind other than profanity (a weak signal the evaluation leaves out).

Printed:

- per class (the targets of the first text issue): true and false positives, false
  negatives, precision and recall; the classes are *contact* (any of phone, email, link,
  handle, on either side: the teen pool masks them alike), *age* (an AGE signal; the
  stated value is checked separately) and each grooming kind;
- per kind and per language (all lines, then each language of the ``lang`` column):
  precision, recall, the share of the kind's lines that get no signal at all (a miss
  that leaves the recipient with no notice, not one read as another kind) and the
  number of lines with the kind; then French recall against English, kind by kind;
- per language: harmful lines and the share of them with no signal at all, benign lines
  and the share of them with a signal (*benign false positives*); the stated ages read
  right.

Targets: contact recall ≥ 0.95 at precision ≥ 0.95, age recall ≥ 0.9, benign false
positives ≤ 2% (the first text issue); at least 97% of harmful lines get a signal,
benign false positives ≤ 1%, and every kind's recall in French within 5 points of
English (issue 20).

Run: ``.venv/bin/python bench/text_eval.py`` (the repo's ``tests/data/text_lines.tsv``),
``--file PATH`` for another file (``tests/data/text_lines_holdout.tsv``,
``tests/data/text_lines_independent.tsv``), ``--errors`` to list the misses,
``--json`` for the same figures, machine-readable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strangers.core.text import CONTACT_KINDS, GROOMING_KINDS, SignalKind, TextScanner

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "data" / "text_lines.tsv"
HOLDOUT_FILE = ROOT / "tests" / "data" / "text_lines_holdout.tsv"
INDEPENDENT_FILE = ROOT / "tests" / "data" / "text_lines_independent.tsv"
#: The second held-out file (issue 20): EN, FR and ES, written blind on 2026-12-07.
HELDOUT_2_FILE = ROOT / "tests" / "data" / "text_lines_heldout_2.tsv"
#: The third held-out file (issue 20): EN, FR and ES, written blind on 2026-12-07, before
#: the third round of tuning, by another author than the second's.
HELDOUT_3_FILE = ROOT / "tests" / "data" / "text_lines_heldout_3.tsv"

CONTACT = "contact"
AGE = "age"
GROOMING = tuple(kind.value for kind in GROOMING_KINDS)
CLASSES = (CONTACT, AGE, *GROOMING)
CONTACT_NAMES = frozenset(kind.value for kind in CONTACT_KINDS)
KNOWN = frozenset(kind.value for kind in SignalKind)
PROFANITY = SignalKind.PROFANITY.value
#: The kinds reported one by one, per language: each contact kind, age, each grooming kind.
KINDS = (*(k.value for k in SignalKind if k.value in CONTACT_NAMES), AGE, *GROOMING)
#: The group every line belongs to, beside its language's.
ALL = "all"
#: The language French recall is held against (issue 20: within 5 points of English).
REFERENCE_LANGUAGE = "en"
LANGUAGE_CODE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    kinds: frozenset[str]  # SignalKind values; empty for a benign line
    age: int | None
    lang: str | None = None  # the ``lang`` column, when the file has one

    @property
    def harmful(self) -> frozenset[str]:
        """The kinds that make the line harmful: all but profanity."""
        return self.kinds - {PROFANITY}


def load_lines(path: Path) -> list[Line]:
    """Every labelled line of ``path``; ``ValueError`` naming the file and line for a
    malformed one (no tab, an unknown label or language, benign with a kind, or a line
    whose number of columns differs from the file's first line)."""
    lines: list[Line] = []
    columns: int | None = None
    for number, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip() or row.startswith("#"):
            continue
        fields = row.split("\t")
        if len(fields) not in (2, 3):
            raise ValueError(
                f"{path}:{number}: {len(fields)} columns; expected labels<TAB>text"
                " or labels<TAB>lang<TAB>text"
            )
        if columns is None:
            columns = len(fields)
        elif len(fields) != columns:
            raise ValueError(
                f"{path}:{number}: {len(fields)} columns where the file's first line has {columns}"
            )
        labels, text = fields[0], fields[-1]
        lang: str | None = None
        if len(fields) == 3:
            lang = fields[1].strip()
            if not LANGUAGE_CODE.fullmatch(lang):
                raise ValueError(f"{path}:{number}: language {lang!r} is not a two-letter code")
        kinds: set[str] = set()
        age: int | None = None
        for label in labels.split(","):
            label = label.strip()
            if label == "benign":
                continue
            if label.startswith("age="):
                age = int(label.removeprefix("age="))
                kinds.add("age")
            elif label in KNOWN:
                kinds.add(label)
            else:
                raise ValueError(f"{path}:{number}: unknown label {label!r}")
        if labels.strip() == "benign" and kinds:
            raise ValueError(f"{path}:{number}: benign and a kind")
        lines.append(Line(number, text, frozenset(kinds), age, lang))
    return lines


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    silent: int = 0  # lines with the kind that got no signal at all

    @property
    def lines(self) -> int:
        """Lines that carry the kind."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def no_signal_share(self) -> float:
        return self.silent / self.lines if self.lines else 0.0

    def add(self, expected: bool, found: bool, silent: bool = False) -> None:
        if expected and found:
            self.tp += 1
        elif found:
            self.fp += 1
        elif expected:
            self.fn += 1
            self.silent += silent

    def as_dict(self) -> dict[str, object]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "lines": self.lines,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "no_signal": self.silent,
            "no_signal_share": round(self.no_signal_share, 4),
        }


@dataclass
class LanguageFigures:
    """One language's (or all lines') harmful and benign figures."""

    lines: int = 0
    harmful: int = 0
    silent: int = 0  # harmful lines with no signal at all
    benign: int = 0
    benign_flagged: int = 0

    @property
    def no_signal_share(self) -> float:
        return self.silent / self.harmful if self.harmful else 0.0

    @property
    def benign_false_positive_rate(self) -> float:
        return self.benign_flagged / self.benign if self.benign else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "harmful": self.harmful,
            "no_signal": self.silent,
            "no_signal_share": round(self.no_signal_share, 4),
            "benign": self.benign,
            "benign_flagged": self.benign_flagged,
            "benign_false_positive_rate": round(self.benign_false_positive_rate, 4),
        }


def _kind_tallies() -> dict[str, Tally]:
    return {kind: Tally() for kind in KINDS}


@dataclass
class Evaluation:
    lines: int = 0
    tallies: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CLASSES})
    #: group (``all``, then each language in the order met) → kind → tally
    kinds: dict[str, dict[str, Tally]] = field(default_factory=lambda: {ALL: _kind_tallies()})
    #: group (``all``, then each language in the order met) → figures
    languages: dict[str, LanguageFigures] = field(default_factory=lambda: {ALL: LanguageFigures()})
    age_values_right: int = 0
    age_values_checked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def benign(self) -> int:
        return self.languages[ALL].benign

    @property
    def benign_flagged(self) -> int:
        return self.languages[ALL].benign_flagged

    @property
    def benign_false_positive_rate(self) -> float:
        return self.languages[ALL].benign_false_positive_rate

    @property
    def no_signal_share(self) -> float:
        """The share of harmful lines that got no signal at all."""
        return self.languages[ALL].no_signal_share

    def recall_gaps(self) -> dict[str, dict[str, float]]:
        """Per language other than English, kind → English recall minus that language's
        (positive: the language trails), for the kinds both have lines for."""
        reference = self.kinds.get(REFERENCE_LANGUAGE)
        if reference is None:
            return {}
        return {
            lang: {
                kind: round(reference[kind].recall - tally.recall, 4)
                for kind, tally in tallies.items()
                if tally.lines and reference[kind].lines
            }
            for lang, tallies in self.kinds.items()
            if lang not in (ALL, REFERENCE_LANGUAGE)
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "classes": {
                name: {
                    "tp": t.tp,
                    "fp": t.fp,
                    "fn": t.fn,
                    "precision": round(t.precision, 4),
                    "recall": round(t.recall, 4),
                }
                for name, t in self.tallies.items()
            },
            "benign": self.benign,
            "benign_flagged": self.benign_flagged,
            "benign_false_positive_rate": round(self.benign_false_positive_rate, 4),
            "no_signal_share": round(self.no_signal_share, 4),
            "kinds": {
                group: {kind: tally.as_dict() for kind, tally in tallies.items()}
                for group, tallies in self.kinds.items()
            },
            "languages": {group: figures.as_dict() for group, figures in self.languages.items()},
            "recall_gap_from_en": self.recall_gaps(),
            "age_values_right": self.age_values_right,
            "age_values_checked": self.age_values_checked,
        }


def _classes_of(kinds: Iterable[str]) -> set[str]:
    kinds = set(kinds)
    found = {name for name in kinds if name in GROOMING or name == AGE}
    if kinds & CONTACT_NAMES:
        found.add(CONTACT)
    return found


def evaluate(scanner: TextScanner, lines: Sequence[Line]) -> Evaluation:
    result = Evaluation(lines=len(lines))
    for line in lines:
        scan = scanner.scan(line.text)
        reported = {signal.kind.value for signal in scan.signals}
        signalled = reported - {PROFANITY}
        expected_classes = _classes_of(line.kinds)
        found_classes = _classes_of(reported)
        for name, tally in result.tallies.items():
            tally.add(name in expected_classes, name in found_classes)
        groups = [ALL] if line.lang is None else [ALL, line.lang]
        for group in groups:
            kind_tallies = result.kinds.setdefault(group, _kind_tallies())
            for kind, tally in kind_tallies.items():
                tally.add(kind in line.kinds, kind in reported, silent=not signalled)
            figures = result.languages.setdefault(group, LanguageFigures())
            figures.lines += 1
            if line.harmful:
                figures.harmful += 1
                figures.silent += not signalled
            elif not line.kinds:
                figures.benign += 1
                figures.benign_flagged += bool(signalled)
        where = f"{line.number}" if line.lang is None else f"{line.number} [{line.lang}]"
        if line.age is not None and scan.age is not None:
            result.age_values_checked += 1
            result.age_values_right += scan.age == line.age
            if scan.age != line.age:
                result.errors.append(f"{where}: age {scan.age} for {line.age}: {line.text!r}")
        missed = expected_classes - found_classes
        extra = found_classes - expected_classes
        if missed or extra:
            parts = []
            if missed:
                parts.append("missed " + ",".join(sorted(missed)))
                if not signalled:
                    parts[-1] += " (no signal)"
            if extra:
                parts.append("extra " + ",".join(sorted(extra)))
            result.errors.append(f"{where}: {'; '.join(parts)}: {line.text!r}")
    return result


def report(evaluation: Evaluation, path: Path) -> str:
    groups = list(evaluation.kinds)
    per_language = ", ".join(
        f"{group} {figures.lines}"
        for group, figures in evaluation.languages.items()
        if group != ALL
    )
    rows = [
        f"{path} — {evaluation.lines} lines" + (f" ({per_language})" if per_language else ""),
        "",
        f"{'class':<16}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}",
    ]
    for name, tally in evaluation.tallies.items():
        rows.append(
            f"{name:<16}{tally.tp:>5}{tally.fp:>5}{tally.fn:>5}"
            f"{tally.precision:>11.3f}{tally.recall:>8.3f}"
        )

    rows += [
        "",
        "per kind and language: P precision, R recall, none the share of the kind's lines"
        " with no signal at all, n lines with the kind",
        f"{'':<15}" + "".join(f"{group:<27}" for group in groups).rstrip(),
        (f"{'kind':<15}" + f"{'P':>5}{'R':>7}{'none':>7}{'n':>5}   " * len(groups)).rstrip(),
    ]
    for kind in KINDS:
        cells = []
        for group in groups:
            tally = evaluation.kinds[group][kind]
            cells.append(
                f"{tally.precision:>5.3f}{tally.recall:>7.3f}{tally.no_signal_share:>7.3f}"
                f"{tally.lines:>5}   "
            )
        rows.append(f"{kind:<15}" + "".join(cells).rstrip())

    gaps = evaluation.recall_gaps()
    for lang, by_kind in gaps.items():
        rows += ["", f"recall, {REFERENCE_LANGUAGE} minus {lang} (target: every kind ≤ 0.05)"]
        rows += [f"  {kind:<15}{gap:>+7.3f}" for kind, gap in by_kind.items()]

    rows += [
        "",
        f"{'language':<10}{'lines':>6}{'harmful':>9}{'no signal':>16}"
        f"{'benign':>8}{'false positives':>20}",
    ]
    for group, figures in evaluation.languages.items():
        rows.append(
            f"{group:<10}{figures.lines:>6}{figures.harmful:>9}"
            f"{f'{figures.silent} = {figures.no_signal_share:.2%}':>16}"
            f"{figures.benign:>8}"
            f"{f'{figures.benign_flagged} = {figures.benign_false_positive_rate:.2%}':>20}"
        )
    rows += [
        "",
        f"harmful lines with no signal: {evaluation.languages[ALL].silent}"
        f" / {evaluation.languages[ALL].harmful} = {evaluation.no_signal_share:.2%}",
        f"benign false positives: {evaluation.benign_flagged} / {evaluation.benign}"
        f" = {evaluation.benign_false_positive_rate:.2%}",
        f"age values right: {evaluation.age_values_right} / {evaluation.age_values_checked}",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="labelled lines (TSV)")
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    from strangers.safety.text import SignalEngine

    evaluation = evaluate(SignalEngine(), load_lines(args.file))
    if args.json:
        figures = {"file": str(args.file), **evaluation.as_dict()}
        if args.errors:
            figures["errors"] = evaluation.errors
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        print(report(evaluation, args.file))
        if args.errors:
            print()
            print("\n".join(evaluation.errors) or "no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
