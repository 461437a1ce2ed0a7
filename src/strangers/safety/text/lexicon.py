"""The data files of the text signal engine and the small phrase language they are written in.

Every word list the engine uses lives in ``data/`` (docs/design.md §6, text: EN and FR
lists as data, not code): ``common.txt`` (apps, top-level domains, e-mail providers), one
file per language (``en.txt``, ``fr.txt``, ``es.txt``: number words, slang, age-statement
vocabulary, and the phrase patterns of each grooming and solicitation kind, after the signs
listed in Ofcom's Illegal Content Codes, ICU grooming measures) and ``confusables.tsv``
(look-alike letters, Unicode TR39). The syntax of a phrase pattern is described at the top
of ``en.txt``. A section this module does not know is a plain list (``Lexicon.words``):
the other modules read their own (Spanish "y" between numbers is ``[number_joiners]``).

A pattern compiles to a regular expression over the *words view* of a message (see
:mod:`.normalise`): single spaces between tokens, a space before the first and after the
last. Each slot consumes ``"word "``, so no slot can match half a word and no expression
holds a nested unbounded quantifier: the only repetition is the bounded ``~`` gap, so a
search is linear in the length of the line (no catastrophic backtracking).

Each pattern also yields *gate words*: a set of which at least one must be among the
message's tokens for the pattern to match. The engine runs a kind's expressions only when
the message holds one of its gate words, which keeps most lines to a set intersection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from strangers.core.text import GROOMING_KINDS

_SECTION = re.compile(r"^\[([a-z_]+(?::not)?)\]$")
_SCORED = re.compile(r"^(0(?:\.\d+)?|1(?:\.0+)?)\s+(.+)$")

#: A skipped stretch of up to two words ("~").
_GAP = r"(?:[a-z0-9_@]+ ){0,2}"
#: A handle: "@name", or a word with a digit or an underscore and a letter ("samj09").
_NAME = r"(?:@[a-z0-9_]+|(?=[a-z0-9_]*[a-z_])(?=[a-z0-9_]*[0-9_])[a-z0-9_]+) "
_WORD = r"[a-z0-9_@]+ "
_NUMBER = r"[0-9]+ "


def read_sections(name: str) -> dict[str, list[str]]:
    """The sections of a data file: ``[name]`` headers, one entry per line, ``#`` comments."""
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        header = _SECTION.match(line)
        if header:
            current = sections.setdefault(header[1], [])
        elif current is None:
            raise ValueError(f"{name}:{number}: an entry before any [section]")
        else:
            current.append(line)
    return sections


def read_confusables() -> dict[int, str]:
    """``data/confusables.tsv``: code point → the Latin letters it passes for (TR39)."""
    text = resources.files(__package__).joinpath("data", "confusables.tsv").read_text("utf-8")
    table: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        point, replacement = line.split("\t")[:2]
        table[int(point.removeprefix("U+"), 16)] = replacement
    return table


@dataclass(frozen=True)
class Lexicon:
    """The merged word lists of ``common.txt`` and the chosen languages."""

    lists: Mapping[str, tuple[str, ...]]
    classes: Mapping[str, tuple[str, ...]]
    patterns: Mapping[str, tuple[tuple[float, str], ...]]
    vetoes: Mapping[str, tuple[str, ...]]
    numbers: Mapping[str, int]
    slang: Mapping[str, str]

    @classmethod
    def load(cls, languages: Sequence[str]) -> Lexicon:
        lists: dict[str, list[str]] = {}
        classes: dict[str, list[str]] = {}
        patterns: dict[str, list[tuple[float, str]]] = {}
        vetoes: dict[str, list[str]] = {}
        numbers: dict[str, int] = {}
        slang: dict[str, str] = {}
        common = read_sections("common.txt")
        for name, entries in common.items():
            lists.setdefault(name, []).extend(entries)
        classes["app"] = list(common["apps"])
        classes["app_weak"] = list(common["apps_weak"])
        for language in languages:
            try:
                sections = read_sections(f"{language}.txt")
            except FileNotFoundError:
                raise ValueError(f"no word lists for language {language!r}") from None
            for name, entries in sections.items():
                if name == "numbers":
                    for entry in entries:
                        word, value = (part.strip() for part in entry.split("="))
                        numbers[word] = int(value)
                elif name == "slang":
                    for entry in entries:
                        word, expansion = (part.strip() for part in entry.split("=", 1))
                        slang.setdefault(word, expansion)
                elif name == "classes":
                    for entry in entries:
                        label, members = entry.split("=", 1)
                        label = label.strip().removeprefix("@")
                        words = [m.strip() for m in members.split(",") if m.strip()]
                        classes.setdefault(label, []).extend(words)
                elif name.endswith(":not"):
                    vetoes.setdefault(name.removesuffix(":not"), []).extend(entries)
                elif name in _KIND_SECTIONS:
                    for entry in entries:
                        scored = _SCORED.match(entry)
                        if scored:
                            patterns.setdefault(name, []).append((float(scored[1]), scored[2]))
                        else:
                            patterns.setdefault(name, []).append((0.8, entry))
                else:
                    lists.setdefault(name, []).extend(entries)
        return cls(
            lists={k: tuple(dict.fromkeys(v)) for k, v in lists.items()},
            classes={k: tuple(dict.fromkeys(v)) for k, v in classes.items()},
            patterns={k: tuple(v) for k, v in patterns.items()},
            vetoes={k: tuple(v) for k, v in vetoes.items()},
            numbers=numbers,
            slang=slang,
        )

    def gate_weights(self) -> dict[str, int]:
        weights = dict.fromkeys(self.words("gate_frequent"), 1)
        weights.update(dict.fromkeys(self.words("gate_common"), 10))
        return weights

    def words(self, name: str) -> tuple[str, ...]:
        """A plain list (``[apps]``, ``[age_units]`` …); empty when no file has it."""
        return self.lists.get(name, ())

    def vocabulary(self) -> frozenset[str]:
        """Every literal word the patterns and lists know: it settles leetspeak that reads
        two ways ("a1one": "aione" or "alone"; the word that exists wins)."""
        found: set[str] = set()
        for entries in (*self.lists.values(), *self.classes.values(), tuple(self.slang)):
            for entry in entries:
                found.update(entry.replace("_", " ").split())
        for kind_patterns in self.patterns.values():
            for _, pattern in kind_patterns:
                for slot in pattern.split():
                    for alternative in slot.rstrip("?").split("|"):
                        if not alternative.startswith("@"):
                            found.update(alternative.split("_"))
        found.update(self.numbers)
        return frozenset(word for word in found if word.isalpha())


#: The sections that hold phrase patterns, by the signal kind they raise.
_KIND_SECTIONS = frozenset({*(kind.value for kind in GROOMING_KINDS), "handle"})


@dataclass(frozen=True)
class CompiledPattern:
    regex: str
    gate: frozenset[str] | None  # None: no literal slot to gate on, always tried


def compile_pattern(
    pattern: str,
    classes: Mapping[str, Sequence[str]],
    gate_weights: Mapping[str, int] | None = None,
    *,
    factored: bool = False,
) -> CompiledPattern:
    """One pattern line (without its score) → a regular expression over the words view.

    ``gate_weights`` say how poor a gate each common word is (``[gate_common]`` 10,
    ``[gate_frequent]`` 1 in ``common.txt``); the mandatory slot of least total weight
    gates the pattern. ``factored``: each slot's alternatives as a trie (:func:`_trie`),
    which matches the same lines, only for a search that asks whether it matches."""
    weights = gate_weights or {}
    tokens = pattern.split()
    anchored = bool(tokens) and tokens[0] == "^"
    if anchored:
        tokens = tokens[1:]
    parts = ["^ " if anchored else " "]
    gates: list[tuple[tuple[int, int], frozenset[str]]] = []
    for token in tokens:
        optional = len(token) > 1 and token.endswith("?")
        slot = token[:-1] if optional else token
        if slot == "~":
            parts.append(_GAP)
            continue
        if slot == "$":
            parts.append(r"(?:[.?] )*$")
            continue
        if slot in ("Q", ":", "NAME", "WORD", "NUM"):
            piece = {"Q": r"\? ", ":": ": ", "NAME": _NAME, "WORD": _WORD, "NUM": _NUMBER}[slot]
            parts.append(f"(?:{piece})?" if optional else piece)
            continue
        alternatives: list[str] = []
        for alternative in slot.split("|"):
            if alternative.startswith("@"):
                name = alternative[1:]
                if name not in classes:
                    raise ValueError(f"unknown class @{name} in {pattern!r}")
                alternatives.extend(classes[name])
            else:
                alternatives.append(alternative.replace("_", " "))
        alternatives = sorted(set(alternatives), key=lambda a: (-len(a), a))
        body = _trie(alternatives) if factored else "|".join(re.escape(a) for a in alternatives)
        piece = f"(?:{body}) "
        parts.append(f"(?:{piece})?" if optional else piece)
        if not optional:
            gate = frozenset(_gate_word(a, weights) for a in alternatives)
            commonness = sum(weights.get(word, 0) for word in gate)
            gates.append(((commonness, len(gate)), gate))
    chosen = min(gates, key=lambda item: item[0])[1] if gates else None
    return CompiledPattern("".join(parts), chosen)


_Trie = dict[str, "_Trie"]  # a letter → what may follow it; "" → a word ends here


def _trie(words: Iterable[str]) -> str:
    """An expression matching exactly ``words``, their common beginnings shared
    ("snap|snapchat|steam" → "s(?:nap(?:chat)?|team)"): the regular expression engine
    tries a long alternation word by word at each position, a trie letter by letter.
    Which word it tries first differs, not whether one matches (issue 18)."""
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def emit(node: _Trie) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def _gate_word(alternative: str, weights: Mapping[str, int]) -> str:
    """The word of a (possibly multi-word) alternative least likely to be in every line."""
    words = alternative.split()
    return min(words, key=lambda word: (weights.get(word, 0), -len(word)))


def _any_of(regexes: Sequence[str]) -> str:
    """The alternation of ``regexes``; the space all but anchored patterns start with is
    put first, once, which the regular expression engine then scans for quickly."""
    if all(regex.startswith(" ") for regex in regexes):
        return " (?:" + "|".join(f"(?:{regex[1:]})" for regex in regexes) + ")"
    return "|".join(f"(?:{regex})" for regex in regexes)


@dataclass(frozen=True)
class PhraseRules:
    """The compiled patterns of one kind: expressions by score (highest first), the gate
    words, and the vetoes that cancel a match ("send me a pic of your dog").

    ``groups`` hold the gated patterns again, grouped by their gate words, one
    expression a group. A pattern can match only a line that holds one of its gate
    words (see :func:`compile_pattern`: its gate slot consumes whole tokens), so a line
    need be searched only with the groups of the gate words it holds — a few patterns
    rather than all the kind's (issue 18)."""

    levels: tuple[tuple[float, re.Pattern[str]], ...]
    any_level: re.Pattern[str]  # every pattern at once: one search when nothing matches
    gate: frozenset[str]
    always: bool
    veto: re.Pattern[str] | None
    groups: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = ()

    @classmethod
    def build(
        cls,
        patterns: Iterable[tuple[float, str]],
        vetoes: Iterable[str],
        classes: Mapping[str, Sequence[str]],
        gate_weights: Mapping[str, int] | None = None,
    ) -> PhraseRules:
        by_score: dict[float, list[str]] = {}
        by_gate: dict[frozenset[str], list[str]] = {}
        gate: set[str] = set()
        always = False
        for score, pattern in patterns:
            compiled = compile_pattern(pattern, classes, gate_weights)
            by_score.setdefault(score, []).append(compiled.regex)
            if compiled.gate is None:
                always = True
            else:
                gate.update(compiled.gate)
                factored = compile_pattern(pattern, classes, gate_weights, factored=True)
                by_gate.setdefault(compiled.gate, []).append(factored.regex)
        levels = tuple(
            (score, re.compile("|".join(f"(?:{r})" for r in regexes)))
            for score, regexes in sorted(by_score.items(), reverse=True)
        )
        every = [regex for regexes in by_score.values() for regex in regexes]
        any_level = re.compile("|".join(f"(?:{r})" for r in every) or r"(?!)")
        veto_regexes = [compile_pattern(v, classes).regex for v in vetoes]
        veto = re.compile("|".join(f"(?:{r})" for r in veto_regexes)) if veto_regexes else None
        groups = tuple((words, re.compile(_any_of(regexes))) for words, regexes in by_gate.items())
        return cls(levels, any_level, frozenset(gate), always, veto, groups)

    def applies(self, tokens: frozenset[str] | set[str]) -> bool:
        return self.always or not self.gate.isdisjoint(tokens)

    def score(self, *views: str) -> float:
        """The score of the best pattern matching any of ``views``, 0.0 for none."""
        if not any(self.any_level.search(view) for view in views):
            return 0.0
        return self.best(*views)

    def best(self, *views: str) -> float:
        """:meth:`score` for a caller that knows a pattern matches one of ``views``
        (it skips the search of every pattern at once)."""
        for score, regex in self.levels:
            for view in views:
                if regex.search(view):
                    if self.veto is not None and self.veto.search(view):
                        continue
                    return score
        return 0.0
