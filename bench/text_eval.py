"""Precision and recall of the text signal engine on labelled chat lines (docs/design.md §6, text).

The file is tab-separated, one line per message: ``labels<TAB>text``. ``labels`` is
``benign`` or kinds separated by commas: ``phone``, ``email``, ``link``, ``handle``,
``age=N`` (the sender states they are N), ``asks_age``, ``asks_alone``, ``secrecy``,
``asks_pictures``, ``asks_camera``, ``body``, ``gifts``, ``meet``, ``other_app``, and
optionally ``profanity``. Lines starting with ``#`` are comments. Labels are exhaustive:
a kind the engine reports that the line does not carry counts as a false positive.

Printed, per class: true and false positives, false negatives, precision and recall.
The classes are *contact* (any of phone, email, link, handle, on either side: the teen
pool masks them alike), *age* (an AGE signal; the stated value is checked separately)
and each grooming kind; the contact kinds are also shown one by one for information.
*Benign false positives*: the share of ``benign`` lines with any signal but profanity.

Targets (the issue): contact recall ≥ 0.95 at precision ≥ 0.95, age recall ≥ 0.9,
benign false positives ≤ 2%.

Run: ``.venv/bin/python bench/text_eval.py`` (the repo's ``tests/data/text_lines.tsv``),
``--file PATH`` for another file in the same format (``tests/data/text_lines_holdout.tsv``
is held out: written before tuning, only measured), ``--errors`` to list the misses,
``--json`` for machine-readable figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strangers.core.text import CONTACT_KINDS, GROOMING_KINDS, SignalKind, TextScanner

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "data" / "text_lines.tsv"
HOLDOUT_FILE = ROOT / "tests" / "data" / "text_lines_holdout.tsv"

CONTACT = "contact"
AGE = "age"
GROOMING = tuple(kind.value for kind in GROOMING_KINDS)
CLASSES = (CONTACT, AGE, *GROOMING)
CONTACT_NAMES = frozenset(kind.value for kind in CONTACT_KINDS)
KNOWN = frozenset(kind.value for kind in SignalKind)


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    kinds: frozenset[str]  # SignalKind values; empty for a benign line
    age: int | None


def load_lines(path: Path) -> list[Line]:
    lines: list[Line] = []
    for number, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip() or row.startswith("#"):
            continue
        labels, sep, text = row.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{number}: no tab between labels and text")
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
        lines.append(Line(number, text, frozenset(kinds), age))
    return lines


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, expected: bool, found: bool) -> None:
        if expected and found:
            self.tp += 1
        elif found:
            self.fp += 1
        elif expected:
            self.fn += 1


@dataclass
class Evaluation:
    lines: int = 0
    tallies: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CLASSES})
    contact_kinds: dict[str, Tally] = field(
        default_factory=lambda: {k: Tally() for k in sorted(CONTACT_NAMES)}
    )
    benign: int = 0
    benign_flagged: int = 0
    age_values_right: int = 0
    age_values_checked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def benign_false_positive_rate(self) -> float:
        return self.benign_flagged / self.benign if self.benign else 0.0

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
        expected_classes = _classes_of(line.kinds)
        found_classes = _classes_of(reported)
        for name, tally in result.tallies.items():
            tally.add(name in expected_classes, name in found_classes)
        for name, tally in result.contact_kinds.items():
            tally.add(name in line.kinds, name in reported)
        if line.age is not None and scan.age is not None:
            result.age_values_checked += 1
            result.age_values_right += scan.age == line.age
            if scan.age != line.age:
                result.errors.append(f"{line.number}: age {scan.age} for {line.age}: {line.text!r}")
        if not line.kinds:
            result.benign += 1
            if reported - {SignalKind.PROFANITY.value}:
                result.benign_flagged += 1
        missed = expected_classes - found_classes
        extra = found_classes - expected_classes
        if missed or extra:
            parts = []
            if missed:
                parts.append("missed " + ",".join(sorted(missed)))
            if extra:
                parts.append("extra " + ",".join(sorted(extra)))
            result.errors.append(f"{line.number}: {'; '.join(parts)}: {line.text!r}")
    return result


def report(evaluation: Evaluation, path: Path) -> str:
    rows = [
        f"{path} — {evaluation.lines} lines",
        "",
        f"{'class':<16}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}",
    ]

    def row(name: str, tally: Tally) -> str:
        return (
            f"{name:<16}{tally.tp:>5}{tally.fp:>5}{tally.fn:>5}"
            f"{tally.precision:>11.3f}{tally.recall:>8.3f}"
        )

    for name, tally in evaluation.tallies.items():
        rows.append(row(name, tally))
    rows.append("")
    rows.append("contact, by kind (information: a line may show one kind as another)")
    for name, tally in evaluation.contact_kinds.items():
        rows.append(row("  " + name, tally))
    rows.append("")
    rows.append(
        f"benign false positives: {evaluation.benign_flagged} / {evaluation.benign}"
        f" = {evaluation.benign_false_positive_rate:.2%}"
    )
    rows.append(
        f"age values right: {evaluation.age_values_right} / {evaluation.age_values_checked}"
    )
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
        print(json.dumps(evaluation.as_dict(), indent=2))
    else:
        print(report(evaluation, args.file))
    if args.errors:
        print()
        print("\n".join(evaluation.errors) or "no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
