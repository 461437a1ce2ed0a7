"""Normalisation: the views of a chat line that the signal engine matches (docs/design.md §6, text).

A line is never matched as typed: people who want to pass a phone number or a handle past
a filter write it in look-alike letters, leetspeak, spaced out or in words. Every view is
pure, linear in the length of the line and total on any ``str`` (lone surrogates, control
and bidirectional characters included):

``fold`` → the *base* view
    Format (Cf: zero-width spaces and joiners, U+FEFF, U+2060, bidirectional overrides such
    as U+202E), surrogate (Cs) and control (Cc) characters removed; Unicode NFKC (UAX #15:
    full-width, circled, mathematical letters to plain ones); case folding; accents dropped
    (NFD, then combining marks removed: "ñ" → "n"); look-alike letters mapped to Latin
    (Unicode TR39 confusables, ``data/confusables.tsv``: Cyrillic "ѕnар" → "snap"); every
    decimal digit to ASCII; apostrophes inside a word dropped ("i'm" → "im", "j'ai" → "jai").
``decode_leet`` → the *decoded* view
    Leetspeak decoded inside words that mix letters with digits or symbols ("5nap" →
    "snap", "p1c" → "pic", "a1one" → "alone": "1" reads "i" or "l", whichever makes a known
    word). Numbers are left alone: a token of digits only, a number with a unit ("14f",
    "13ans" → "14 f", "13 ans") and a handle's trailing digits ("samj09") keep their digits.
``WordViews`` → the *words* and *letters* views and the token set
    Punctuation to spaces (sentence ends kept as "." and "?" tokens, separators as ":"),
    letters repeated three times or more squeezed ("snaaap" → "snap"), chat slang expanded
    ("u" → "you"); the letters view also joins single letters spaced out or split by
    punctuation ("s n a p", "s.n.a.p", "d-i-s-c-o-r-d" → "snap", "discord").
``NumberReader`` → the *numeric* view
    The base view with look-alike letters inside numbers read as digits ("6l7 O12" →
    "617 012") and numbers written as words, in English and French, as digits ("six one
    seven" → "6 1 7", "zéro six douze" → "0 6 12", "soixante-dix-huit" → "78"), for the
    phone and age checks.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .lexicon import read_confusables

# Characters that look like an apostrophe: the right single quote of phones' keyboards,
# the modifier letter apostrophe, acute and grave accents, primes.
_APOSTROPHES = "'’‘ʼʻ`´′‛＇"
_DASHES = "‐‑‒–—―−﹘﹣"
# Letters that render as nothing (Hangul fillers, the Braille blank) and pass for spaces.
_INVISIBLE_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"

_ASCII_TABLE = {code: " " for code in range(32)} | {127: " "}


@functools.cache
def _drop_table() -> dict[int, str | None]:
    """Before NFKC: format and surrogate characters vanish, control characters become a
    space (a tab or a line break separates words)."""
    table: dict[int, str | None] = {}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category in ("Cf", "Cs"):
            table[code] = None
        elif category == "Cc" or category in ("Zl", "Zp"):
            table[code] = " "
    for char in _INVISIBLE_LETTERS:
        table[ord(char)] = None
    return table


@functools.cache
def _fold_table() -> dict[int, str | None]:
    """After NFKC, case folding and NFD: combining marks vanish (accents), digits of every
    script become ASCII, look-alikes become Latin, apostrophes and dashes one of each."""
    table: dict[int, str | None] = {}
    for code in range(128, sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Mn", "Me"):
            table[code] = None
        elif category == "Nd":
            table[code] = str(unicodedata.digit(char))
    for code, replacement in read_confusables().items():
        table[code] = replacement
    for char in _APOSTROPHES:
        table[ord(char)] = "'"
    for char in _DASHES:
        table[ord(char)] = "-"
    return table


_APOSTROPHE_IN_WORD = re.compile(r"(?<=[a-z])'(?=[a-z])")


def prepare() -> None:
    """Build the Unicode tables now (a walk over every code point, about a second) rather
    than on the first message that is not ASCII."""
    _drop_table()
    _fold_table()


def fold(text: str) -> str:
    """The base view: see the module docstring."""
    if text.isascii():
        folded = (text if text.isprintable() else text.translate(_ASCII_TABLE)).lower()
    else:
        folded = text.translate(_drop_table())
        folded = unicodedata.normalize("NFKC", folded).casefold()
        folded = unicodedata.normalize("NFD", folded).translate(_fold_table())
    if "'" in folded:
        folded = _APOSTROPHE_IN_WORD.sub("", folded)
    return folded


# --- leetspeak -------------------------------------------------------------------------

_LEET_SYMBOLS = "$!|+€£"
_LEET_CLASS = "a-z0-9" + re.escape(_LEET_SYMBOLS)
_LEET_ONLY = "0-9" + re.escape(_LEET_SYMBOLS)
# A token that mixes letters with digits or symbols. Anchored at the start of a token (the
# look-behind), so a long token is scanned once, not once per starting position.
_LEET_TOKEN = re.compile(
    rf"(?<![{_LEET_CLASS}])[{_LEET_CLASS}]*(?:[a-z][{_LEET_ONLY}]|[{_LEET_ONLY}][a-z])"
    rf"[{_LEET_CLASS}]*"
)
_LEET_PAIR = re.compile(rf"[a-z][{_LEET_ONLY}]|[{_LEET_ONLY}][a-z]")
_LEET_MAP = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "6": "g",
        "7": "t",
        "8": "b",
        "9": "g",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
        "£": "l",
    }
)
_NUMBER_WITH_UNIT = re.compile(r"(\d{2,})([a-z]+)$")
_TRAILING = re.compile(r"(\d{2,}|[" + re.escape(_LEET_SYMBOLS) + r"]+)$")


class LeetDecoder:
    """Decodes leetspeak inside words; ``vocabulary`` settles "1" as "i" or "l"."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self._vocabulary = frozenset(vocabulary)

    def __call__(self, base: str) -> str:
        if _LEET_PAIR.search(base) is None:  # most lines: no letter next to a digit or symbol
            return base
        return _LEET_TOKEN.sub(self._token, base)

    def _token(self, match: re.Match[str]) -> str:
        token = match[0]
        number = _NUMBER_WITH_UNIT.match(token)
        if number:  # "14f", "13ans", "100k": a number and its unit, not leetspeak
            return f"{number[1]} {number[2]}"
        trailing = _TRAILING.search(token)
        tail = ""
        if trailing and trailing.start() > 0:
            # a handle's digits ("samj09") or punctuation ("cool!") stay as typed
            token, tail = token[: trailing.start()], trailing[0]
        as_i = token.translate(_LEET_MAP)
        if "1" in token:
            as_l = token.replace("1", "l").translate(_LEET_MAP)
            if as_l in self._vocabulary and as_i not in self._vocabulary:
                return as_l + tail
        return as_i + tail


# --- words and letters ---------------------------------------------------------------

_AT_INSIDE = re.compile(r"(?<=[a-z])@(?=[a-z])")
_AT_LEADING = re.compile(r"(?<![a-z0-9_])@([a-z]+)")
# Punctuation: a dot or comma inside a word splits it ("s.n.a.p"), a separator becomes ":"
# ("sc: name", "snap = name", "sc -> name", "sc - name"), a question mark "?", any other
# sentence or clause end ".", anything else a space. Each pass runs only when its
# characters are in the line; the last is one str.translate.
_INNER_DOT = re.compile(r"(?<=[a-z0-9])[.,](?=[a-z0-9])")
_SEPARATOR = re.compile(r"[:=→>]+|(?<= )-+(?= )")
_SEPARATOR_CHARS = frozenset(":=→>")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_PUNCTUATION_TABLE = {
    code: " "
    for code in range(128)
    if not (chr(code).isascii() and (chr(code).isalnum() or chr(code) in "_@ :"))
} | {ord("?"): " ? ", ord("."): " . ", ord("!"): " . ", ord(";"): " . ", ord(","): " . "}
_PUNCTUATION_TABLE |= {ord("¿"): " ? ", ord("…"): " . "}
_SQUEEZE = re.compile(r"([a-z])\1{2,}")
_REPEATED = re.compile(r"([a-z])\1\1")
_SPACED_LETTERS = re.compile(r"(?<![^ ])(?:[a-z0-9] ){2,}[a-z0-9](?![^ ])")


@dataclass(frozen=True, slots=True)
class WordViews:
    """``raw``: tokens before slang, for the profanity model; ``words``: the view phrase
    patterns match, padded with spaces; ``letters``: ``words`` with spaced-out letters
    joined, or ``None`` when there were none; ``tokens``: every token of both."""

    raw: str
    words: str
    letters: str | None
    tokens: frozenset[str]


class WordViewer:
    def __init__(self, slang: Mapping[str, str], vocabulary: Iterable[str]) -> None:
        # identity entries ("ok = ok") only document a form: they need no expansion
        self._slang = {word: expansion for word, expansion in slang.items() if word != expansion}
        self._slang_words = frozenset(self._slang)
        self._vocabulary = frozenset(vocabulary)

    def __call__(self, decoded: str) -> WordViews:
        text = decoded
        if "@" in text:
            text = _AT_INSIDE.sub("a", text)
            text = _AT_LEADING.sub(self._leading_at, text)
        if "." in text or "," in text:
            text = _INNER_DOT.sub(" ", text)
        if not _SEPARATOR_CHARS.isdisjoint(text) or " -" in text:
            text = _SEPARATOR.sub(" : ", text)
        text = text.translate(_PUNCTUATION_TABLE)
        if not text.isascii():
            text = _NON_ASCII.sub(" ", text)
        if _REPEATED.search(text):
            text = _SQUEEZE.sub(r"\1", text)
        raw_tokens = text.split()
        raw = " ".join(raw_tokens)
        if self._slang_words.isdisjoint(raw_tokens):
            words = f" {raw} "
            tokens = set(raw_tokens)
        else:
            words = self._expand(raw_tokens)
            tokens = set(words.split())
        letters = None
        padded = f" {raw} "
        if _SPACED_LETTERS.search(padded):
            joined = _SPACED_LETTERS.sub(lambda m: m[0].replace(" ", ""), padded)
            letters = self._expand(joined.split())
            tokens.update(letters.split())
        return WordViews(raw, words, letters, frozenset(tokens))

    def _expand(self, tokens: list[str]) -> str:
        slang = self._slang
        return " " + " ".join([slang.get(token, token) for token in tokens]) + " "

    def _leading_at(self, match: re.Match[str]) -> str:
        # "@lone" is "alone" in leetspeak; "@samj" is a handle and stays one
        word = "a" + match[1]
        return word if word in self._vocabulary else match[0]


# --- numbers -------------------------------------------------------------------------

_DIGITISH = re.compile(r"(?<![a-z0-9])[0-9oilszb|]*[0-9][0-9oilszb|]*(?![a-z0-9])")
_DIGIT_LOOKALIKES = str.maketrans(
    {"o": "0", "i": "1", "l": "1", "|": "1", "s": "5", "z": "2", "b": "8"}
)
_OH_BEFORE = re.compile(r"(?<![a-z])oh?(?![a-z])(?=[\s,.-]{0,3}\d)")
_OH_AFTER = re.compile(r"(?<=\d)([\s,.-]{0,3})oh?(?![a-z])")
_ANY_DIGIT = re.compile(r"[0-9]")
_GLUED_NUMBER_WORD = re.compile(r"[a-z][0-9]|[0-9][a-z]")  # "six1seven"
_REPEAT = re.compile(r"(?<![a-z])(double|triple)[\s-]+(\d)")
_JOIN = r"[\s-]+"


class NumberReader:
    """The numeric view: digits behind look-alike letters and number words read as digits.

    Number words are read as whole numbers up to 99, with the French compounds
    ("soixante-dix-huit" 78, "quatre-vingt-douze" 92, "vingt et un" 21) and the English
    ones ("twenty-one"); a phone number read digit by digit stays digit by digit.
    """

    def __init__(self, numbers: Mapping[str, int]) -> None:
        self._values = {word.replace(" ", ""): value for word, value in numbers.items()}
        zero = [w for w, v in numbers.items() if v == 0]
        units = [w for w, v in numbers.items() if 1 <= v <= 9]
        teens = [w for w, v in numbers.items() if 10 <= v <= 19]
        tens = [w for w, v in numbers.items() if v >= 20]

        def alternation(words: list[str]) -> str:
            ordered = sorted(words, key=len, reverse=True)
            return "|".join(re.escape(w).replace(r"\ ", _JOIN) for w in ordered)

        teen = rf"(?:dix{_JOIN}(?:sept|huit|neuf)|{alternation(teens)})"
        unit = rf"(?:{alternation(units)})"
        self._pattern = re.compile(
            rf"(?<![a-z])(?:(?:{alternation(tens)})(?:{_JOIN}(?:et{_JOIN})?(?:{teen}|{unit}))?"
            rf"|{teen}|{unit}|{alternation(zero)})(?![a-z])"
        )
        self.words = frozenset(
            part for word in numbers for part in word.split() if part not in ("et",)
        )

    def __call__(self, base: str, words: bool = True) -> str:
        """``words=False`` when the caller knows the line has no number word (saves the
        pass that reads them)."""
        text = _DIGITISH.sub(_digits_of, base) if _ANY_DIGIT.search(base) else base
        if words or _GLUED_NUMBER_WORD.search(base):
            text = self._pattern.sub(self._number, text)
        if "o" in text:
            text = _OH_BEFORE.sub("0", text)
            text = _OH_AFTER.sub(r"\g<1>0", text)
        if "double" in text or "triple" in text:
            text = _REPEAT.sub(_repeat, text)
        return text

    def _number(self, match: re.Match[str]) -> str:
        if match[0] == "ten" and _FRENCH_TEN_BEFORE.search(match.string, 0, match.start()):
            return "ten"  # French "je t'en envoie", "t'en fais pas": no 10 (issue 20)
        parts = re.split(r"[\s-]+", match[0])
        total = 0
        index = 0
        while index < len(parts):
            part = parts[index]
            pair = part + parts[index + 1] if index + 1 < len(parts) else ""
            if pair in self._values and pair.startswith("quatre"):
                total += self._values[pair]  # "quatre vingt" is 80, not 4 + 20
                index += 2
                continue
            total += self._values.get(part, 0)
            index += 1
        return str(total)


#: Before "ten", the words that make it French "t'en" folded ("je t'en envoie", "tu t'en
#: fous", "ne t'en fais pas"): a pronoun or a negation, then the end (issue 20).
_FRENCH_TEN_BEFORE = re.compile(r"(?:^|\s)(?:je|j|tu|il|elle|ne|n|jvais|jte|pas|va)\s$")


def _digits_of(match: re.Match[str]) -> str:
    token = match[0]
    letters = sum(1 for char in token if not char.isdigit())
    # "6l7", "O6", "5s5" are numbers; "lol1" is a word
    return token.translate(_DIGIT_LOOKALIKES) if letters <= len(token) - letters else token


def _repeat(match: re.Match[str]) -> str:
    return match[2] * (2 if match[1] == "double" else 3)
