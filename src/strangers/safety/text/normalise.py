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
    "617 012") and numbers written as words, in the languages loaded, as digits ("six one
    seven" → "6 1 7", "zéro six douze" → "0 6 12", "soixante-dix-huit" → "78"; Spanish
    since issue 20: "treinta y cinco" → "35"), for the phone and age checks.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
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


# ``str.translate`` looks every character of a line up in its table, a dict look-up each:
# most lines that are not ASCII are ASCII with an emoji or an accent, which the tables
# leave alone or only delete, and the searches below say so several times faster than a
# translation (issue 18).


def _char_class(codes: Iterable[int], negated: bool = False) -> str:
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    body = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)
    return f"[^{body}]" if negated else f"[{body}]"


@functools.cache
def _drop_keys() -> re.Pattern[str]:
    """A character the drop table changes (few ranges: a quick search)."""
    return re.compile(_char_class(_drop_table()))


#: Combining marks for accents (U+0300-U+036F, what NFD leaves of "é", "ç"), and what
#: most lines hold besides: ASCII, arrows, symbols, dingbats, emoji.
_ACCENTS = range(0x300, 0x370)
_COMMON = (range(0x80), range(0x2190, 0x2C00), range(0x1F000, 0x1FB00))
_ACCENT_MARKS = re.compile("[\u0300-\u036f]+")


@functools.cache
def _fold_plan() -> re.Pattern[str]:
    """A character of the line for which the fold table must be used. Without one, every
    character is one of ``_COMMON`` the table leaves alone or an accent it deletes, and
    deleting the accents is the whole translation."""
    table = _fold_table()
    if any(table.get(code, "") is not None for code in _ACCENTS):
        raise RuntimeError("the fold table no longer deletes every accent: update _ACCENTS")
    plain = {code for block in _COMMON for code in block if code not in table}
    return re.compile(_char_class(plain.union(_ACCENTS), negated=True))


_APOSTROPHE_IN_WORD = re.compile(r"(?<=[a-z])'(?=[a-z])")


def prepare() -> None:
    """Build the Unicode tables now (a walk over every code point, about a second) rather
    than on the first message that is not ASCII."""
    _drop_keys()
    _fold_plan()


def fold(text: str) -> str:
    """The base view: see the module docstring."""
    if text.isascii():
        folded = (text if text.isprintable() else text.translate(_ASCII_TABLE)).lower()
    else:
        folded = text.translate(_drop_table()) if _drop_keys().search(text) else text
        folded = unicodedata.normalize("NFKC", folded).casefold()
        folded = unicodedata.normalize("NFD", folded)
        if _fold_plan().search(folded):
            folded = folded.translate(_fold_table())
        else:
            folded = _ACCENT_MARKS.sub("", folded)
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
# A letter next to a digit or symbol: the gate of the pass above. Written to start with the
# symbol's class, which the regular expression engine scans for quickly, rather than as
# "[a-z][0-9…]|[0-9…][a-z]", which tries both branches at every position: it matches the
# same lines, the same letter on either side of the same symbol.
_LEET_PAIR = re.compile(rf"[{_LEET_ONLY}](?:(?<=[a-z][{_LEET_ONLY}])|(?=[a-z]))")
# A pair that is not a word and the symbols that end its token ("nice!!", "what?!" hold
# "e!" but read as typed): a digit next to a letter, a symbol before a letter, or symbols
# after a letter followed by a letter or digit. Without one, every token the pass finds
# is letters then symbols, which ``_token`` gives back as it is, and the pass is skipped.
_LEET_SYMBOL = f"[{re.escape(_LEET_SYMBOLS)}]"
_LEET_CHANGE = re.compile(
    rf"[{_LEET_ONLY}](?:(?=[a-z])|(?<=[a-z][0-9])|(?<=[a-z]{_LEET_SYMBOL}){_LEET_SYMBOL}*[a-z0-9])"
)
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
        if _LEET_CHANGE.search(base) is None:
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


def _punctuation_bytes() -> bytes:
    """``_PUNCTUATION_TABLE`` on ASCII as a ``bytes.translate`` table, one byte for one:
    the sentence ends map to a bare "." or "?", which the caller then pads with spaces.
    ``str.translate`` with strings for values looks each character up in a dict, about
    six times slower on a chat line (issue 18)."""
    table = bytearray(range(256))
    for code, replacement in _PUNCTUATION_TABLE.items():
        if code < 128:
            if replacement.strip() not in ("", ".", "?"):
                raise RuntimeError("the punctuation table changed shape: update this copy")
            table[code] = ord(replacement.strip() or " ")
    return bytes(table)


_PUNCTUATION_BYTES = _punctuation_bytes()
_SQUEEZE = re.compile(r"([a-z])\1{2,}")
_REPEATED = re.compile(r"([a-z])\1\1")
_SPACED_LETTERS = re.compile(r"(?<![^ ])(?:[a-z0-9] ){2,}[a-z0-9](?![^ ])")
# What any match of _SPACED_LETTERS holds (its first two letters, between spaces), as a
# search that starts on a literal space: three times cheaper, and most lines fail it.
_TWO_SINGLES = re.compile(r" [a-z0-9] [a-z0-9] ")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building the views a tenth of the cost of a benign line (issue 18). Read-only by use.
@dataclass(slots=True)
class WordViews:
    """``raw``: tokens before slang, for the profanity model (ASCII: letters, digits,
    "_", "@", ":", and "?" and "." as tokens of their own, single spaces between);
    ``words``: the view phrase patterns match, padded with spaces; ``letters``:
    ``words`` with spaced-out letters joined, or ``None`` when there were none;
    ``tokens``: every token of both; ``raw_tokens``: the tokens of ``raw``, in order."""

    raw: str
    words: str
    letters: str | None
    tokens: frozenset[str]
    raw_tokens: Sequence[str] = ()


class WordViewer:
    def __init__(
        self,
        slang: Mapping[str, str],
        vocabulary: Iterable[str],
        letter_words: Iterable[str] = (),
    ) -> None:
        # identity entries ("ok = ok") only document a form: they need no expansion
        self._slang = {word: expansion for word, expansion in slang.items() if word != expansion}
        self._slang_words = frozenset(self._slang)
        self._vocabulary = frozenset(vocabulary)
        # words of one letter ("a", "y": ``[letter_words]``, Spanish) kept apart from
        # spaced-out letters after them: "pasate a t e l e g r a m" is "a telegram"
        self._letter_words = frozenset(letter_words)

    def __call__(self, decoded: str) -> WordViews:
        text = decoded
        # Most lines are ASCII letters, digits and spaces: no "@", dot, comma or separator
        # for the passes below, and the table keeps every one of their characters, so
        # the passes are skipped (issue 18).
        if not (text.isascii() and text.replace(" ", "").isalnum()):
            text = self._punctuation(text)
        if _REPEATED.search(text):
            text = _SQUEEZE.sub(r"\1", text)
        raw_tokens = text.split()
        raw = " ".join(raw_tokens)
        padded = f" {raw} "
        if self._slang_words.isdisjoint(raw_tokens):
            words = padded
            tokens = frozenset(raw_tokens)
        else:
            words = self._expand(raw_tokens)
            tokens = frozenset(words.split())
        letters = None
        if _TWO_SINGLES.search(padded) and _SPACED_LETTERS.search(padded):
            joined = _SPACED_LETTERS.sub(self._join, padded)
            letters = self._expand(joined.split())
            tokens = tokens.union(letters.split())
        return WordViews(raw, words, letters, tokens, raw_tokens)

    def _punctuation(self, text: str) -> str:
        """Reads "@" inside words, dots and commas inside words, separators, then the table."""
        if "@" in text:
            text = _AT_INSIDE.sub("a", text)
            text = _AT_LEADING.sub(self._leading_at, text)
        if "." in text or "," in text:
            text = _INNER_DOT.sub(" ", text)
        if not _SEPARATOR_CHARS.isdisjoint(text) or " -" in text:
            text = _SEPARATOR.sub(" : ", text)
        if not text.isascii():
            if "¿" in text or "…" in text:
                text = text.translate(_PUNCTUATION_TABLE)
                return text if text.isascii() else _NON_ASCII.sub(" ", text)
            # The table keeps every other character that is not ASCII, and each run of
            # them then becomes a space: the same done first, so the rest is ASCII.
            text = _NON_ASCII.sub(" ", text)
        text = text.encode("ascii").translate(_PUNCTUATION_BYTES).decode("ascii")
        if "." in text:
            text = text.replace(".", " . ")
        if "?" in text:
            text = text.replace("?", " ? ")
        return text

    def _expand(self, tokens: list[str]) -> str:
        slang = self._slang
        return " " + " ".join([slang.get(token, token) for token in tokens]) + " "

    def _join(self, match: re.Match[str]) -> str:
        joined = match[0].replace(" ", "")
        if (
            joined[0] in self._letter_words
            and joined not in self._vocabulary
            and joined[1:] in self._vocabulary
        ):
            return f"{joined[0]} {joined[1:]}"
        return joined

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
# An "o" or "oh" standing alone: every match of the two above holds one (the "o" after a
# digit or one of [\s,.-] is after a non-letter), so without it both are skipped. Starts
# on the literal "o", which the regular expression engine scans for quickly.
_OH_ALONE = re.compile(r"o(?<![a-z]o)h?(?![a-z])")
_LETTER_RUN = re.compile(r"[a-z]+")
# A digit next to a look-alike letter. A number of digits only reads as itself, and one
# that holds a look-alike holds one next to a digit: without such a pair the pass that
# reads them is skipped (issue 18).
_LOOKALIKE_BY_DIGIT = re.compile(r"[0-9](?:(?<=[oilszb|][0-9])|(?=[oilszb|]))")
_GLUED_NUMBER_WORD = re.compile(r"[a-z][0-9]|[0-9][a-z]")  # "six1seven"
_REPEAT = re.compile(r"(?<![a-z])(double|triple)[\s-]+(\d)")
_JOIN = r"[\s-]+"


class NumberReader:
    """The numeric view: digits behind look-alike letters and number words read as digits.

    Number words are read as whole numbers up to 99, with the French compounds
    ("soixante-dix-huit" 78, "quatre-vingt-douze" 92, "vingt et un" 21), the English
    ones ("twenty-one") and the Spanish ones ("treinta y cinco" 35, "veintitrés" 23);
    a phone number read digit by digit stays digit by digit. ``joiners`` are the words
    between a ten and a unit besides French "et" (Spanish "y", ``[number_joiners]``).
    """

    def __init__(self, numbers: Mapping[str, int], joiners: Iterable[str] = ()) -> None:
        self._values = {word.replace(" ", ""): value for word, value in numbers.items()}
        zero = [w for w, v in numbers.items() if v == 0]
        units = [w for w, v in numbers.items() if 1 <= v <= 9]
        # a word of 21 to 29 ("veintitres") takes no unit after it, as a teen does
        teens = [w for w, v in numbers.items() if 10 <= v <= 19 or (v > 20 and v % 10)]
        tens = [w for w, v in numbers.items() if v >= 20 and not v % 10]
        joiner = "|".join(re.escape(word) for word in ("et", *sorted(set(joiners) - {"et"})))

        def alternation(words: list[str]) -> str:
            ordered = sorted(words, key=len, reverse=True)
            return "|".join(re.escape(w).replace(r"\ ", _JOIN) for w in ordered)

        teen = rf"(?:dix{_JOIN}(?:sept|huit|neuf)|{alternation(teens)})"
        unit = rf"(?:{alternation(units)})"
        self._pattern = re.compile(
            rf"(?<![a-z])(?:(?:{alternation(tens)})(?:{_JOIN}(?:(?:{joiner}){_JOIN})?(?:{teen}|{unit}))?"
            rf"|{teen}|{unit}|{alternation(zero)})(?![a-z])"
        )
        self.words = frozenset(
            part for word in numbers for part in word.split() if part not in ("et",)
        )
        # Every match of the pattern starts, after a non-letter, with one of these and a
        # non-letter right after it (a joiner, a non-letter of the word, or the end with
        # (?![a-z])): a whole run of letters of the text. No such run, no match, and the
        # pass is skipped (issue 18). ``None`` (always run) if a word does not start
        # with a letter, which that reasoning needs.
        starts = [_LETTER_RUN.match(word) for word in [*numbers, "dix"]]
        self._first_words: frozenset[str] | None = (
            frozenset(start[0] for start in starts if start is not None) if all(starts) else None
        )

    def __call__(self, base: str, words: bool = True) -> str:
        """``words=False`` when the caller knows the line has no number word (saves the
        pass that reads them)."""
        text = _DIGITISH.sub(_digits_of, base) if _LOOKALIKE_BY_DIGIT.search(base) else base
        if words or (_GLUED_NUMBER_WORD.search(base) and self._may_hold_words(text)):
            text = self._pattern.sub(self._number, text)
        if "o" in text and _OH_ALONE.search(text):
            text = _OH_BEFORE.sub("0", text)
            text = _OH_AFTER.sub(r"\g<1>0", text)
        if "double" in text or "triple" in text:
            text = _REPEAT.sub(_repeat, text)
        return text

    def _may_hold_words(self, text: str) -> bool:
        """Whether the pattern of number words can match ``text`` (see ``_first_words``)."""
        first = self._first_words
        return first is None or not first.isdisjoint(_LETTER_RUN.findall(text))

    def _number(self, match: re.Match[str]) -> str:
        if match[0] == "ten" and _FRENCH_TEN_BEFORE.search(match.string, 0, match.start()):
            return "ten"  # French "je t'en envoie", "t'en fais pas": no 10 (issue 20)
        parts = re.split(r"[\s-]+", match[0])
        total = 0
        index = 0
        while index < len(parts):
            part = parts[index]
            pair = part + parts[index + 1] if index + 1 < len(parts) else ""
            if pair in self._values and (pair.startswith("quatre") or part not in self._values):
                total += self._values[pair]  # "quatre vingt" is 80, not 4 + 20; "once anos" 11
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
