"""The evaluation targets of the issue, on the repo's labelled lines and on the held-out
ones (written before tuning): contact recall ≥ 0.95 at precision ≥ 0.95, age recall ≥
0.9, benign false positives ≤ 2%. ``bench/text_eval.py`` prints the full figures.

The held-out files of issue 20 written blind (``tests/data/text_lines_independent.tsv``,
``tests/data/text_lines_heldout_2.tsv`` and ``tests/data/text_lines_heldout_3.tsv``,
docs/safety.md "The independent held-out file", "The second held-out file" and "The third
held-out file") are only checked for their shape here: they are
held out, so the engine's scores on it are recorded in the docs, never asserted as
targets a change could be tuned to. The per-language report is checked on a tiny
synthetic file with a scanner whose answers are known."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from strangers.core.text import SignalKind, TextScan, TextSignal
from strangers.safety.text import SignalEngine

ROOT = Path(__file__).resolve().parents[3]


def load_text_eval() -> ModuleType:
    spec = importlib.util.spec_from_file_location("text_eval", ROOT / "bench" / "text_eval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["text_eval"] = module
    spec.loader.exec_module(module)
    return module


text_eval = load_text_eval()


@pytest.mark.parametrize("path", [text_eval.DEFAULT_FILE, text_eval.HOLDOUT_FILE], ids=str)
def test_targets(engine: SignalEngine, path: Path) -> None:
    lines = text_eval.load_lines(path)
    assert len(lines) >= 250
    result = text_eval.evaluate(engine, lines)
    contact = result.tallies["contact"]
    age = result.tallies["age"]
    assert contact.recall >= 0.95, result.errors
    assert contact.precision >= 0.95, result.errors
    assert age.recall >= 0.9, result.errors
    assert result.benign_false_positive_rate <= 0.02, result.errors
    assert result.age_values_right == result.age_values_checked, result.errors


def test_the_repo_file_is_large_and_covers_every_class() -> None:
    lines = text_eval.load_lines(text_eval.DEFAULT_FILE)
    assert len(lines) >= 500
    labelled = {kind for line in lines for kind in line.kinds}
    for name in ("phone", "email", "link", "handle", "age", *text_eval.GROOMING):
        assert name in labelled
    assert sum(1 for line in lines if not line.kinds) >= 200


def test_a_malformed_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("nonsense\thello\n", encoding="utf-8")
    with pytest.raises(ValueError):
        text_eval.load_lines(bad)


#: The held-out files written blind (docs/safety.md, "The independent held-out file",
#: "The second held-out file" and "The third held-out file"), with the languages each holds.
HELD_OUT = [
    pytest.param(text_eval.INDEPENDENT_FILE, ("en", "fr"), 120, id="independent"),
    pytest.param(text_eval.HELDOUT_2_FILE, ("en", "fr", "es"), 140, id="heldout_2"),
    pytest.param(text_eval.HELDOUT_3_FILE, ("en", "fr", "es"), 140, id="heldout_3"),
]


@pytest.mark.parametrize(("path", "languages", "benign"), HELD_OUT)
def test_a_held_out_file_loads_with_a_language_on_every_line(
    path: Path, languages: tuple[str, ...], benign: int
) -> None:
    lines = text_eval.load_lines(path)
    assert len(lines) >= 500
    assert {line.lang for line in lines} == set(languages)


@pytest.mark.parametrize(("path", "languages", "benign"), HELD_OUT)
def test_a_held_out_file_says_who_wrote_it_and_that_it_is_never_trained_on(
    path: Path, languages: tuple[str, ...], benign: int
) -> None:
    header = [row for row in path.read_text(encoding="utf-8").splitlines() if row.startswith("#")]
    text = " ".join(header)
    assert "NEVER use these lines to train or tune" in text
    assert "independent author" in text
    assert "did not open the engine" in text


@pytest.mark.parametrize(("path", "languages", "benign"), HELD_OUT)
def test_a_held_out_file_has_every_kind_and_tricky_benign_lines_per_language(
    path: Path, languages: tuple[str, ...], benign: int
) -> None:
    every = text_eval.load_lines(path)
    for lang in languages:
        lines = [line for line in every if line.lang == lang]
        per_kind = {kind: sum(kind in line.kinds for line in lines) for kind in text_eval.KINDS}
        assert min(per_kind.values()) >= 15, (lang, per_kind)
        assert sum(1 for line in lines if not line.kinds) >= benign, lang


# A tiny file in the three-column layout, and what a scanner answers for each line.
SYNTHETIC = """\
# labels, lang, text
phone\ten\tcall 555
asks_age\ten\thow old
benign\ten\tscore 3-1
benign\ten\thi
phone,other_app\tfr\tsnap 06
asks_age\tfr\tt'as quel age
benign\tfr\tsalut
benign\tfr\tsalle 214
"""
ANSWERS = {
    "call 555": (SignalKind.PHONE,),
    "how old": (SignalKind.ASKS_AGE,),
    "score 3-1": (SignalKind.PHONE,),  # a benign false positive in English
    "snap 06": (SignalKind.HANDLE,),  # two kinds missed, one extra, but a signal
    "t'as quel age": (),  # missed with no signal at all
    "salut": (SignalKind.PROFANITY,),  # profanity is not a signal
}


class KnownAnswers:
    def scan(self, text: str) -> TextScan:
        return TextScan(tuple(TextSignal(kind) for kind in ANSWERS.get(text, ())))


def synthetic_evaluation(tmp_path: Path) -> Any:
    path = tmp_path / "lines.tsv"
    path.write_text(SYNTHETIC, encoding="utf-8")
    return text_eval.evaluate(KnownAnswers(), text_eval.load_lines(path))


def test_the_report_counts_each_kind_per_language(tmp_path: Path) -> None:
    result = synthetic_evaluation(tmp_path)
    assert list(result.kinds) == ["all", "en", "fr"]
    en, fr, everything = result.kinds["en"], result.kinds["fr"], result.kinds["all"]
    assert (en["phone"].tp, en["phone"].fp, en["phone"].fn) == (1, 1, 0)
    assert (en["phone"].precision, en["phone"].recall) == (0.5, 1.0)
    assert (fr["phone"].tp, fr["phone"].fp, fr["phone"].fn) == (0, 0, 1)
    assert (everything["phone"].precision, everything["phone"].recall) == (0.5, 0.5)
    assert (fr["handle"].fp, fr["handle"].precision) == (1, 0.0)
    assert fr["other_app"].recall == 0.0
    assert (en["asks_age"].recall, fr["asks_age"].recall) == (1.0, 0.0)


def test_the_report_counts_lines_with_no_signal_at_all(tmp_path: Path) -> None:
    result = synthetic_evaluation(tmp_path)
    # "snap 06" missed phone and other_app but got a handle signal: a miss, not a silence.
    assert result.kinds["fr"]["phone"].no_signal_share == 0.0
    assert result.kinds["fr"]["asks_age"].no_signal_share == 1.0
    assert result.kinds["all"]["asks_age"].no_signal_share == 0.5
    en, fr, everything = (result.languages[group] for group in ("en", "fr", "all"))
    assert (en.lines, en.harmful, en.silent, en.no_signal_share) == (4, 2, 0, 0.0)
    assert (fr.lines, fr.harmful, fr.silent, fr.no_signal_share) == (4, 2, 1, 0.5)
    assert (everything.harmful, everything.silent, result.no_signal_share) == (4, 1, 0.25)
    assert any(e.startswith("7 [fr]: missed asks_age (no signal)") for e in result.errors)


def test_the_report_counts_benign_false_positives_per_language(tmp_path: Path) -> None:
    result = synthetic_evaluation(tmp_path)
    en, fr = result.languages["en"], result.languages["fr"]
    assert (en.benign, en.benign_flagged, en.benign_false_positive_rate) == (2, 1, 0.5)
    assert (fr.benign, fr.benign_flagged, fr.benign_false_positive_rate) == (2, 0, 0.0)
    assert (result.benign, result.benign_flagged) == (4, 1)


def test_the_report_holds_french_recall_against_english(tmp_path: Path) -> None:
    gaps = synthetic_evaluation(tmp_path).recall_gaps()
    # other_app has no English line here: no gap to show for it.
    assert gaps == {"fr": {"phone": 1.0, "asks_age": 1.0}}


def test_the_printed_and_json_reports_carry_the_same_figures(tmp_path: Path) -> None:
    result = synthetic_evaluation(tmp_path)
    figures = json.loads(json.dumps(result.as_dict()))
    assert figures["kinds"]["fr"]["asks_age"]["no_signal_share"] == 1.0
    assert figures["kinds"]["en"]["phone"]["precision"] == 0.5
    assert figures["languages"]["en"]["benign_false_positive_rate"] == 0.5
    assert figures["languages"]["fr"]["no_signal_share"] == 0.5
    assert figures["recall_gap_from_en"]["fr"]["phone"] == 1.0
    printed = text_eval.report(result, tmp_path / "lines.tsv")
    assert "8 lines (en 4, fr 4)" in printed
    assert "harmful lines with no signal: 1 / 4 = 25.00%" in printed
    assert "benign false positives: 1 / 4 = 25.00%" in printed


def test_the_command_prints_json_for_a_file_with_languages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lines.tsv"
    path.write_text(SYNTHETIC, encoding="utf-8")
    assert text_eval.main(["--file", str(path), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["file"] == str(path)
    assert {group: figures["languages"][group]["lines"] for group in ("all", "en", "fr")} == {
        "all": 8,
        "en": 4,
        "fr": 4,
    }
    assert set(figures["kinds"]["fr"]) == set(text_eval.KINDS)


def test_a_file_without_languages_reports_all_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "lines.tsv"
    path.write_text("phone\tcall 555\nbenign\thi\n", encoding="utf-8")
    lines = text_eval.load_lines(path)
    assert [line.lang for line in lines] == [None, None]
    result = text_eval.evaluate(KnownAnswers(), lines)
    assert list(result.kinds) == ["all"] and list(result.languages) == ["all"]
    assert result.recall_gaps() == {}


@pytest.mark.parametrize(
    "content",
    [
        "phone\ten\tcall 555\nbenign\thi\n",  # three columns, then two
        "phone\tEnglish\tcall 555\n",  # not a two-letter code
        "phone\ten\tcall\t555\n",  # four columns
    ],
    ids=["mixed-columns", "bad-language", "four-columns"],
)
def test_a_malformed_language_column_is_refused(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:"):
        text_eval.load_lines(bad)
