"""Age statements: the age a sender states about themselves (docs/design.md §6, text and age).

In the teen pool an adult age statement ends the match and opens a case; in the adult pool
a minor's ends the match and sends the device back to the age question. So the rule must
catch the forms people use ("im 14", "i am fourteen", "14 f", "15yo", "16 years old",
"age 16", "m 19", "asl? 15 f uk", "j'ai 13 ans", "jai 13ans") and must not take for a
statement someone else's age ("my brother is 14"), a past one ("i was 14 when …"), or a
number that is not an age ("14 minutes", "it's 14:30", "room 14", "i have 14 cats").

It reads the *numeric* view (numbers in words already digits) around each number from 5 to
99: the glued or following words (an age suffix "yo"/"years old"/"ans", a sex marker
"f"/"m", a reply "wbu", a unit "minutes", a plural noun "cats") and, walking back through the
clause, the first word that says whose number it is (``[age_self]``, ``[age_other]``,
``[age_past]`` in the language files; ``[age_fillers]`` such as "only" or "just" are
skipped, and any other word binds the number to itself: "grade 9", "level 14"). The word
lists are data; this module holds only the reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .lexicon import Lexicon

_CANDIDATE = re.compile(r"(?<![0-9])([1-9][0-9]?)(?![0-9])")
_CLAUSE_END = re.compile(r"[.!?;,()\n]|\b(?:and|but|et|mais|or|ou|so|then|puis)\b")
_BEFORE_WORD = re.compile(r"[a-z0-9]+")
_GLUED_BEFORE = re.compile(r"([a-z]+)$")
_GLUED_AFTER = re.compile(r"[a-z](?:[a-z]|[/.](?=[a-z]))*\.?")
_AFTER_TOKEN = re.compile(r"[a-z](?:[a-z]|[/.](?=[a-z]))*\.?|\d+|\S")
# "17 turning 18 in june", "15 bientot 16" (issue 20): the age now, then the next one
_NEXT_AGE_WORDS: tuple[str, ...] = ("turning", "turn", "going on", "soon", "almost", "nearly")
_NEXT_AGE_WORDS += ("bientot", "presque", "et bientot")


def _next_age_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """The age-now-then-the-next pattern, with a language's own words (``[age_next]``:
    Spanish "casi", "pronto") after the English and French ones."""
    extra = sorted(set(words) - set(_NEXT_AGE_WORDS), key=len, reverse=True)
    alternatives = "|".join(map(re.escape, (*_NEXT_AGE_WORDS, *extra)))
    return re.compile(rf"[\s,-]*(?:{alternatives})\s+([1-9][0-9]?)(?![0-9])")


_NEXT_AGE = _next_age_pattern(())
# "im 15, 16 in august", "17 but 18 in june" (issue 20): the age now, then the next
# one and when it comes
_NEXT_AGE_WHEN = re.compile(
    r"(?:\s*,\s+|\s+-\s+|\s+(?:but|mais|and|et)\s+)([1-9][0-9]?)\s+"
    r"(?:in|en|next|this|on|le|dans|au|by|after|apres|cette|ce|a|à)\b"
)
# After the number: a decimal, a time, a score, a fraction, a height, a percentage.
_NOT_AN_AGE_AFTER = re.compile(r"\s*(?:[:.,/h-]\s*\d|[%'\"°x*^]|\d)")
_NOT_AN_AGE_BEFORE = re.compile(r"(?:\d\s*[:.,/'-]|[$£€#@+*^&])\s*$")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LONE_WORD_BEFORE = re.compile(
    r"(?:^|[.!?;]\s*)(?:(?:hi|hey|hello|asl|salut|coucou)\W+)?([a-z]+)\s*[?:,/|-]+\s*$"
)
_ARTICLE_SELF = re.compile(
    r"(?:\bi ?m|\bi am|\bje suis|\bjsuis|\bchuis|\bchui|\bjsui)\s+(?:a|an|un|une)\s+"
    r"(?:[a-z]+\s+)?(?:de\s+)?$"
)
_AGE_WORD = re.compile(
    r"(?:^|(?<=\s)|(?<=[^a-z]))(?:(\w+)\s+)?(?:my\s+age\s+is|my\s+age|mon\s+age\s+(?:est|cest)|"
    r"mon\s+age|age|aged|ages)\s*(?:is|est|cest)?\s*[:=-]?\s*$"
)


def _not_an_age_before(before: str) -> bool:
    """``_NOT_AN_AGE_BEFORE.search(before)``, read from the end rather than searched for
    from every position (issue 18): the match ends the text but for white space (``\\s``
    is ``str.isspace``, ``\\d`` ``str.isdecimal``, as ``re`` reads them on ``str``)."""
    stripped = before.rstrip()
    if not stripped:
        return False
    last = stripped[-1]
    if last in "$£€#@+*^&":
        return True
    if last in ":.,/'-":
        rest = stripped[:-1].rstrip()
        return bool(rest) and rest[-1].isdecimal()
    return False


def _glued_before(before: str) -> tuple[str, int] | None:
    """``_GLUED_BEFORE.search(before)`` as (the letters, where they start): the run of
    letters that ends the text, found by a strip rather than a search from every
    position (issue 18). "$" also matches before a final line break: the search then."""
    if before.endswith("\n"):
        glued = _GLUED_BEFORE.search(before)
        return None if glued is None else (glued[1], glued.start())
    head = len(before.rstrip(_LETTERS))
    return (before[head:], head) if head < len(before) else None


def _ends_with(words: list[str], phrases: Iterable[list[str]]) -> list[str] | None:
    """The words before the phrase of ``phrases`` that ends ``words``, if one does."""
    for phrase in phrases:
        if words[-len(phrase) :] == phrase:
            return words[: -len(phrase)]
    return None


def _first_word(after: str) -> str:
    """The first word after the number ("" for none)."""
    found = _BEFORE_WORD.search(after)
    return found[0] if found else ""


@dataclass(frozen=True, slots=True)
class AgeStatement:
    age: int
    score: float


def _phrases(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(entry.replace("/", "").replace(".", "") for entry in entries)


class AgeReader:
    def __init__(self, lexicon: Lexicon) -> None:
        words = lexicon.words
        self._self = frozenset(words("age_self"))
        self._past = frozenset(words("age_past"))
        self._other = frozenset(words("age_other")) - self._self
        fillers: set[str] = set()
        for entry in words("age_fillers"):
            fillers.update(entry.split())
        self._fillers = frozenset(fillers)
        self._units = _phrases(words("age_units"))
        self._plural_ok = frozenset(words("age_s_ok"))
        self._suffix = _phrases(words("age_suffix"))
        self._sex = frozenset(words("age_sex"))
        self._reply = _phrases(words("age_reply"))
        self._lead = _phrases(words("age_lead")) | {"asl", "asv"}
        self._age_word_blockers = frozenset(words("age_word_blockers"))
        self._duration_after = frozenset(words("age_duration"))
        self._french_have = frozenset({"jai", "g"})  # "j'ai 13 ans", SMS "g 13 ans"
        # Spanish (issue 20): "tengo 14" is an age unless a word of [age_have_not]
        # follows ("tengo 14 en mates"); "cumplo 15 en marzo" is 14 ([age_turning]),
        # "ya cumpli 15" is 15 ([age_turned]), as "soy chica de 15" is
        # ([age_self_phrases]); "17 casi 18" is 17 ([age_next]).
        self._have = frozenset(words("age_have"))
        self._have_not = frozenset(words("age_have_not"))
        self._turning = tuple(entry.split() for entry in words("age_turning"))
        self._turned = tuple(entry.split() for entry in words("age_turned"))
        self._self_phrases = tuple(entry.split() for entry in words("age_self_phrases"))
        self._next_age = _next_age_pattern(words("age_next")) if words("age_next") else _NEXT_AGE
        said = {phrase[-1] for phrase in (*self._turning, *self._turned)}
        # With a plain word or nothing after the number, a statement needs one of these
        # among the words before it, or "age" (see _statement); "m" for "i m" → "im".
        self._stating_words = self._self | self._sex | {"turned", "turning", "m"} | said

    def __call__(self, numeric: str) -> AgeStatement | None:
        for match in _CANDIDATE.finditer(numeric):
            age = int(match[1])
            if not 5 <= age <= 99:
                continue
            found = self._statement(numeric, match.start(), match.end(), age)
            if found is not None:
                return found
        return None

    def _goes_on_with_next_age(self, after: str, age: int) -> bool:
        """Whether ``after`` goes on with the next age: "turning 18", "bientot 18", "casi
        18", ", 16 in august" (issue 20)."""
        following = self._next_age.match(after) or _NEXT_AGE_WHEN.match(after)
        return following is not None and int(following[1]) == age + 1

    def _statement(self, text: str, start: int, end: int, age: int) -> AgeStatement | None:
        before = text[max(0, start - 80) : start]
        after = text[end : end + 60]
        next_age = self._goes_on_with_next_age(after, age)
        if (not next_age and _NOT_AN_AGE_AFTER.match(after)) or _not_an_age_before(before):
            return None
        # the age now, then the next: read like a reply ("14 wbu")
        follows = "reply" if next_age else self._follows(after)
        if follows is None:
            return None
        if follows == "word":
            following = self._next_age.match(after)
            if following and int(following[1]) == age + 1 and self._at_clause_start(before):
                return AgeStatement(age, 0.8)
        glued = _glued_before(before)
        if glued is not None:  # "f19" and "m19" are ages; "covid19", "ps5", "mp3" are not
            word, glued_at = glued
            if word not in self._sex:
                return None
            if glued_at and before[glued_at - 1] in "._":
                return None  # "lucia.m11", "kai_f15": a user name, not "m 11" (issue 20)
            return AgeStatement(age, 0.8) if self._at_clause_start(before[:glued_at]) else None
        if follows == "unit":
            # "5 min", "14 cats": every rule below states an age only when no unit
            # follows, so the clause is not read (issue 18: most numbers are not ages)
            return None
        if (
            follows in ("word", "end")
            and "age" not in before
            and self._stating_words.isdisjoint(_BEFORE_WORD.findall(before))
        ):
            # Followed by a plain word or nothing, a number is an age only by a word
            # before it: the lone word ("me? 15"), "age", the owner, "f"/"m", "turned",
            # each a whole word of ``before`` (the clause is the end of it, cut after a
            # punctuation mark or a conjunction). None here: not an age (issue 18).
            return None
        clause = _CLAUSE_END.split(before)[-1]
        if not _BEFORE_WORD.search(clause):
            # "me? 15", "F, 16": a lone word, then a comma or a question mark
            previous = _LONE_WORD_BEFORE.search(before)
            if previous and previous[1] in self._sex and follows != "unit":
                return AgeStatement(age, 0.8)
            if previous and previous[1] in self._self and follows != "unit":
                return AgeStatement(age, 0.8)
        if _ARTICLE_SELF.search(clause):  # "i'm a 14 year old", "je suis une fille de 12 ans"
            return AgeStatement(age, 0.9) if follows in ("suffix", "sex") else None
        age_word = _AGE_WORD.search(clause) if "age" in clause else None  # in each of its forms
        if age_word:  # "age 16", "my age is 16", "aged 16", but not "at age 6"
            if age_word[1] in self._age_word_blockers:
                return None
            return AgeStatement(age, 0.9) if follows != "unit" else None
        words = _BEFORE_WORD.findall(clause)
        if len(words) >= 2 and words[-1] == "m" and words[-2] in ("i", "1", "l"):
            words[-2:] = ["im"]  # "i m 14", "1'm 14"
        for phrases, now in (
            (self._turning, age - 1),
            (self._turned, age),
            (self._self_phrases, age),
        ):
            found = _ends_with(words, phrases)
            if found is not None:  # "cumplo 15 en marzo", but not "cuando cumplo 18"
                if follows == "unit" or self._owner(found)[0] in ("past", "other", "unknown"):
                    return None
                return AgeStatement(now, 0.8)
        owner, marker, rest = self._owner(words)
        if owner == "self":
            if any(word in self._past and word not in self._fillers for word in rest):
                return None  # "when i'm 18", "if i was 14"
            if marker in self._french_have and follows != "suffix":
                # "j'ai 14 chats", "j'ai 14 de moyenne", "j'ai eu 14": French needs "ans",
                # or (issue 20) the end of the line ("jai 14"), a reply ("jai 14 et toi")
                # or the next age, with no past between ("j'ai eu 14" is a mark)
                if follows not in ("end", "reply", "sex"):
                    return None
                if any(word in self._past for word in words[len(rest) + 1 :]):
                    return None
            if marker in self._have and follows == "word":
                following = self._next_age.match(after)
                if following is None and _first_word(after) in self._have_not:
                    return None  # "tengo 14 en mates", "tengo 8 de bateria"
            return AgeStatement(age, 0.9) if follows != "unit" else None
        if owner == "unknown" and words[-1] in self._sex:
            if all(word in self._lead for word in words[:-1]) and follows != "unit":
                return AgeStatement(age, 0.8)  # "m 19", "asl f 16"
            return None
        if owner is not None:
            return None
        if any(word in ("turned", "turning") for word in words) and follows != "unit":
            return AgeStatement(age, 0.8)  # "just turned 13 today"
        # Nothing before the number but greetings: "15 f uk", "14 wbu", "16 years old"
        if follows in ("suffix", "sex", "reply"):
            return AgeStatement(age, 0.8)
        return None

    def _owner(self, words: list[str]) -> tuple[str | None, str, list[str]]:
        """Whose number: the first telling word walking back ("self", "other", "past") with
        that word and the words before it, or ``None`` when the clause holds only greetings
        (a bare "15 f"); any other word ties the number to itself ("unknown": "grade 9")."""
        for index in range(len(words) - 1, -1, -1):
            word = words[index]
            if word in self._fillers:
                continue
            if word in self._self:
                return "self", word, words[:index]
            if word in self._past:
                return "past", word, []
            if word in self._other:
                return "other", word, []
            if word in self._lead:
                continue
            return "unknown", word, []
        return None, "", []

    def _at_clause_start(self, before: str) -> bool:
        clause = _CLAUSE_END.split(before)[-1]
        return all(word in self._lead for word in _BEFORE_WORD.findall(clause))

    def _follows(self, after: str) -> str | None:
        """What comes after the number: "suffix" (an age suffix: "yo", "years old", "ans"),
        "sex" ("f", "m"), "reply" ("wbu"), "end", "word" (anything else), "unit" for a unit
        after a self marker; ``None`` when the number is surely not an age."""
        glued = _GLUED_AFTER.match(after)
        rest = after
        if glued:
            word = glued[0].replace("/", "").replace(".", "")
            rest = after[glued.end() :]
            if word in self._suffix:
                return self._after_suffix(rest)
            if word in self._sex:
                return "sex"
            return None  # "14th", "5pm", "10k", "12a"
        tokens = [t.replace("/", "").replace(".", "") or t for t in _AFTER_TOKEN.findall(rest)]
        index = 0
        while index < len(tokens) and tokens[index] in ("/", "|"):
            index += 1  # "14/f", "16 / m"
        if index > 0 and (index >= len(tokens) or not tokens[index].isalpha()):
            return None
        while index < len(tokens) and tokens[index] in (
            ",",
            "-",
            "+",
            "(",
            ")",
            ":",
            ".",
            "!",
            "?",
        ):
            index += 1
        if index >= len(tokens):
            return "end"
        first = tokens[index]
        pair = " ".join(tokens[index : index + 2])
        triple = " ".join(tokens[index : index + 3])
        for phrase, width in ((triple, 3), (pair, 2), (first, 1)):
            if phrase in self._suffix:
                return self._after_suffix(" ".join(tokens[index + width :]))
        if first in self._sex:
            return "sex"
        if pair in self._reply or first in self._reply:
            return "reply"
        if not first.isalpha():
            return "end" if not first.isdigit() else None
        if first in self._units or pair in self._units:
            return "unit"
        if len(first) >= 4 and first.endswith("s") and first not in self._plural_ok:
            return "unit"  # a plural noun: "14 cats", "3 episodes"
        return "word"

    def _after_suffix(self, rest: str) -> str | None:
        """ "suffix", or ``None`` when the suffix makes a duration ("16 years ago")."""
        following = _AFTER_TOKEN.findall(rest)
        if following[:2] == ["of", "age"]:
            return "suffix"  # "15 years of age"
        if following and following[0] in self._duration_after:
            return None  # "16 years ago", "13 ans de mariage"
        return "suffix"
