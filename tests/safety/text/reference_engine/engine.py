"""The signal engine: one chat line in, a :class:`~strangers.core.text.TextScan` out.

docs/design.md §6 (text): before relay, every message passes the engine — normalisation, contact
details, age statements, grooming and solicitation signals, profanity — with a p99 under
1 ms. :class:`SignalEngine` implements :class:`~strangers.core.text.TextScanner`: it is
pure (no I/O, no clock: everything is loaded at construction) and total (``scan`` never
raises on any ``str``, lone surrogates, control, bidirectional and zero-width characters
and very long lines included).

How a line is read (see :mod:`.normalise` for the views):

1. *base*: format and control characters out, NFKC (UAX #15), case folded, accents off,
   look-alike letters to Latin (Unicode TR39), apostrophes inside words dropped;
2. *decoded*: leetspeak read inside words; then the *words* view (punctuation out, slang
   expanded), its token set, and the *letters* view (spaced-out letters joined);
3. *numeric* (only when the line holds a digit or a number word): digits behind
   look-alikes and number words in English and French as digits;
4. contact details (:mod:`.contact`), the age statement (:mod:`.age`), the phrase rules of
   each grooming kind (the language files, after Ofcom's ICU grooming measures), each run
   only when its gate words or characters are in the line, so an ordinary line costs a
   few set intersections;
5. profanity, a weak signal (:mod:`.profanity`), reported at ``profanity_threshold``.

One signal per kind, with the best score found; ``TextScan.age`` is set with ``AGE``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from strangers.core.text import GROOMING_KINDS, SignalKind, TextScan, TextSignal
from strangers.safety.text.profanity import ProfanityScorer

from .age import AgeReader
from .contact import ContactFinder
from .lexicon import Lexicon, PhraseRules
from .normalise import LeetDecoder, NumberReader, WordViewer, fold, prepare

#: The phrase sections of the language files, by the kind they raise, in reporting order.
_PHRASE_KINDS = (SignalKind.HANDLE, *GROOMING_KINDS)
#: Kinds also matched on the letters view ("add me on s n a p").
_LETTER_KINDS = frozenset({SignalKind.HANDLE, SignalKind.OTHER_APP})
_ORDER = {kind: index for index, kind in enumerate(SignalKind)}

_DIGIT = re.compile(r"[0-9]")
_NOTHING = TextScan()
# a dot between word characters, or one with spaces before a word ("site . com")
_DOTTED = re.compile(r"[a-z0-9]\s*\.\s*[a-z]|[a-z0-9]\.\s*[a-z]")
_LINK_WORDS = frozenset({"dot", "point", "dt", "www", "http", "https", "hxxp", "hxxps"})
_EMAIL_WORDS = frozenset({"arobase", "arrobase", "dot", "point"})


class SignalEngine:
    """The text signal engine. Build it once (it reads its data files, builds its Unicode
    tables and, unless ``profanity=False``, reads the profanity model: one to two seconds)
    and share it: ``scan`` keeps no state between calls and is safe from many threads."""

    def __init__(
        self,
        languages: Sequence[str] = ("en", "fr"),
        *,
        profanity: bool = True,
        profanity_threshold: float = 0.8,
    ) -> None:
        if not languages:
            raise ValueError("at least one language")
        self.languages = tuple(languages)
        self.profanity_threshold = profanity_threshold
        prepare()
        lexicon = Lexicon.load(self.languages)
        vocabulary = lexicon.vocabulary()
        self._decode = LeetDecoder(vocabulary)
        self._words = WordViewer(lexicon.slang, vocabulary)
        self._numbers = NumberReader(lexicon.numbers)
        self._contact = ContactFinder(lexicon)
        self._age = AgeReader(lexicon)
        gate_weights = lexicon.gate_weights()
        self._phrases = tuple(
            (
                kind,
                PhraseRules.build(
                    lexicon.patterns.get(kind.value, ()),
                    lexicon.vetoes.get(kind.value, ()),
                    lexicon.classes,
                    gate_weights,
                ),
            )
            for kind in _PHRASE_KINDS
        )
        providers = frozenset(lexicon.words("email_providers"))
        self._email_gate = _EMAIL_WORDS | providers
        self._tld_words = frozenset(lexicon.words("tlds")) | frozenset(lexicon.words("tlds_weak"))
        self._profanity = ProfanityScorer.load() if profanity else None

    def scan(self, text: str) -> TextScan:
        try:
            return self._scan(text)
        except Exception:  # the contract: never raise on a message (tests fuzz for this)
            return TextScan()

    def _scan(self, text: str) -> TextScan:
        if not isinstance(text, str):
            text = str(text)
        found: dict[SignalKind, float] = {}
        age: int | None = None

        base = fold(text)
        decoded = self._decode(base)
        views = self._words(decoded)
        tokens = views.tokens

        # contact details
        numeric: str | None = None
        number_words = not self._numbers.words.isdisjoint(tokens)
        if number_words or _DIGIT.search(base):
            numeric = self._numbers(base, words=number_words)
            if sum(map(str.isdigit, numeric)) >= 7:
                score = self._contact.phone(numeric, tokens)
                if score:
                    found[SignalKind.PHONE] = score
        spelled: str | None = None
        if (
            "@" in decoded
            or "(" in decoded
            or "[" in decoded
            or not self._email_gate.isdisjoint(tokens)
        ):
            spelled = self._spelled(decoded)
            score = self._contact.email(spelled, decoded)
            if score:
                found[SignalKind.EMAIL] = score
        if "/" in decoded or _DOTTED.search(decoded) or not _LINK_WORDS.isdisjoint(tokens):
            if spelled is None and (
                not _LINK_WORDS.isdisjoint(tokens) or not self._tld_words.isdisjoint(tokens)
            ):
                spelled = self._spelled(decoded)
            score = self._contact.link(*(v for v in (decoded, spelled) if v is not None))
            if score:
                found[SignalKind.LINK] = score
        score = self._contact.handle(decoded, tokens)
        if score:
            found[SignalKind.HANDLE] = score

        # age statement
        if numeric is not None:
            statement = self._age(numeric)
            if statement is not None:
                found[SignalKind.AGE] = statement.score
                age = statement.age

        # grooming, solicitation, handles with an app name
        for kind, rules in self._phrases:
            if not rules.always and rules.gate.isdisjoint(tokens):
                continue
            if views.letters is not None and kind in _LETTER_KINDS:
                score = rules.score(views.words, views.letters)
            else:
                score = rules.score(views.words)
            if score and score > found.get(kind, 0.0):
                found[kind] = score

        if self._profanity is not None and views.raw:
            probability = self._profanity.at_least(views.raw, self.profanity_threshold)
            if probability is not None:
                found[SignalKind.PROFANITY] = round(probability, 3)

        if not found:
            return _NOTHING
        signals = tuple(
            TextSignal(kind, score)
            for kind, score in sorted(found.items(), key=lambda item: _ORDER[item[0]])
        )
        return TextScan(signals, age)

    def _spelled(self, decoded: str) -> str:
        return self._contact.spell_out(self._contact.collapse(decoded))
