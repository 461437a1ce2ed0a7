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
   look-alikes and number words as digits;
4. contact details (:mod:`.contact`), the age statement (:mod:`.age`), the phrase rules of
   each grooming kind (the language files, after Ofcom's ICU grooming measures), each run
   only when its gate words or characters are in the line, so an ordinary line costs a
   few set intersections;
5. the learned layer (:mod:`.learned`, issue 20; docs/safety.md, "The learned layer"):
   a linear model per grooming kind over the words view, for the kinds the rules did not
   find; a rule's veto stands against it, and it never raises a contact detail or an age;
6. profanity, a weak signal (:mod:`.profanity`), reported at ``profanity_threshold``.

One signal per kind, with the best score found; ``TextScan.age`` is set with ``AGE``.

Cost per line (issue 18: the engine was 7-10% of the chat process's CPU). Most lines hold
no signal, so every check is gated, and a gate may skip only work that could not have
produced a signal: the phrase patterns are searched by the groups of the gate words the
line holds (:class:`~.lexicon.PhraseRules`), the numeric view's passes and the age
rules skip what their own patterns could not match, and the profanity model takes the
tokens of the words view. ``tests/safety/text/test_reference.py`` checks the rules'
answers (``learned=False``) against the engine as it was before, line for line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from strangers.core.text import GROOMING_KINDS, SignalKind, TextScan, TextSignal

from .age import AgeReader
from .contact import ContactFinder
from .learned import LearnedScorer
from .lexicon import Lexicon, PhraseRules
from .normalise import LeetDecoder, NumberReader, WordViewer, WordViews, fold, prepare
from .profanity import ProfanityScorer, tokens_of

#: The phrase sections of the language files, by the kind they raise, in reporting order.
_PHRASE_KINDS = (SignalKind.HANDLE, *GROOMING_KINDS)
#: Kinds also matched on the letters view ("add me on s n a p").
_LETTER_KINDS = frozenset({SignalKind.HANDLE, SignalKind.OTHER_APP})
_ORDER = {kind: index for index, kind in enumerate(SignalKind)}
#: The languages the engine reads by default, each a word list ``data/<code>.txt``
#: (Spanish since issue 20). Every line is read in all of them at once: a chat line
#: says nothing of its language, and the lists of one rarely match another's words.
LANGUAGES = ("en", "fr", "es")

_DIGIT = re.compile(r"[0-9]")
_NOTHING = TextScan()
#: The learned layer reads lines of at least this many words. It generalises phrasings,
#: and a line of one or two words has none: its one salient word is all the model sees
#: ("nice weather" read as a body comment, "line 12" as the LINE app), and the rules'
#: lexicon, with its vetoes, is what answers for single words ("got telegram?", "asl?").
#: A number is not a word: two words and a number add no phrasing ("naïve café #123" was
#: read as meeting up at a café at a time), while a question mark does ("got tele?").
LEARNED_MIN_WORDS = 3
_WORD = re.compile(r"\S*[^\d\s]\S*")
# a dot between word characters, or one with spaces before a word ("site . com")
_DOTTED = re.compile(r"[a-z0-9]\s*\.\s*[a-z]|[a-z0-9]\.\s*[a-z]")
_LINK_WORDS = frozenset({"dot", "point", "dt", "www", "http", "https", "hxxp", "hxxps"})
_EMAIL_WORDS = frozenset({"arobase", "arrobase", "dot", "point"})
# emoji and pictographs typed inside a word ("gr🔥am", "e😏lse"): the learned layer reads
# the word without them, an evasion its training variants teach it to expect
_INNER_SYMBOL = re.compile(
    "(?<=[a-z0-9])[\u2190-\u2bff\u2600-\u27bf\U0001f000-\U0001faff\ufe0f\u200d\u20e3]+(?=[a-z0-9])"
)


class SignalEngine:
    """The text signal engine. Build it once (it reads its data files, builds its Unicode
    tables and, unless ``profanity=False``, reads the profanity model; unless
    ``learned=False``, the learned layer's model, raising
    :class:`~.learned.LearnedModelError` if that file is missing or corrupt: one to two
    seconds) and share it: ``scan`` keeps no state between calls that changes an answer
    (the learned layer keeps each word's share of its scores, a cache) and is safe from
    many threads."""

    def __init__(
        self,
        languages: Sequence[str] = LANGUAGES,
        *,
        profanity: bool = True,
        profanity_threshold: float = 0.8,
        learned: bool = True,
    ) -> None:
        if not languages:
            raise ValueError("at least one language")
        self.languages = tuple(languages)
        self.profanity_threshold = profanity_threshold
        prepare()
        lexicon = Lexicon.load(self.languages)
        vocabulary = lexicon.vocabulary()
        self._decode = LeetDecoder(vocabulary)
        self._words = WordViewer(lexicon.slang, vocabulary, lexicon.words("letter_words"))
        self._numbers = NumberReader(lexicon.numbers, lexicon.words("number_joiners"))
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
        # Every kind's pattern groups in one index: gate word → the groups it opens, each
        # (the kind's position, its expression, whether the letters view is searched
        # too). Kinds with an ungated pattern are always scored in full instead.
        self._always = frozenset(
            index for index, (_, rules) in enumerate(self._phrases) if rules.always
        )
        self._groups: list[tuple[int, re.Pattern[str], bool]] = []
        groups_by_word: dict[str, list[int]] = {}
        for index, (kind, rules) in enumerate(self._phrases):
            if rules.always:
                continue
            for words, expression in rules.groups:
                for word in words:
                    groups_by_word.setdefault(word, []).append(len(self._groups))
                self._groups.append((index, expression, kind in _LETTER_KINDS))
        self._groups_by_word = {word: tuple(ids) for word, ids in groups_by_word.items()}
        providers = frozenset(lexicon.words("email_providers"))
        # a language's own "at" and "dot" (Spanish "arroba", "punto"): contact.py reads them
        spelled = frozenset(lexicon.words("at_words")) | frozenset(lexicon.words("dot_words"))
        self._email_gate = _EMAIL_WORDS | providers | spelled
        self._link_words = _LINK_WORDS | frozenset(lexicon.words("dot_words"))
        self._tld_words = frozenset(lexicon.words("tlds")) | frozenset(lexicon.words("tlds_weak"))
        self._profanity = ProfanityScorer.load() if profanity else None
        # the learned layer (issue 20): a bad model file raises here, at start
        self._learned = LearnedScorer.load() if learned else None
        self._vetoes = {kind: rules.veto for kind, rules in self._phrases if rules.veto}
        # Every word a token gate of ``_scan`` looks for: one intersection per line, and the
        # gates ask the (most often empty) result rather than the line's tokens.
        self._gate_words = frozenset().union(
            self._numbers.words,
            self._email_gate,
            self._link_words,
            self._tld_words,
            self._contact.app_words,
            self._groups_by_word,
        )

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
        # each token gate below is a part of _gate_words: it meets tokens iff it meets hits
        hits = self._gate_words.intersection(tokens)

        # contact details
        numeric: str | None = None
        number_words = bool(hits) and not self._numbers.words.isdisjoint(hits)
        if number_words or _DIGIT.search(base):
            numeric = self._numbers(base, words=number_words)
            if _digits_in(numeric) >= 7:
                score = self._contact.phone(numeric, tokens)
                if score:
                    found[SignalKind.PHONE] = score
        spelled: str | None = None
        if (
            "@" in decoded
            or "(" in decoded
            or "[" in decoded
            or (hits and not self._email_gate.isdisjoint(hits))
        ):
            spelled = self._spelled(decoded)
            score = self._contact.email(spelled, decoded)
            if score:
                found[SignalKind.EMAIL] = score
        link_words = bool(hits) and not self._link_words.isdisjoint(hits)
        if (
            "/" in decoded
            or ("." in decoded and _DOTTED.search(decoded))  # both branches hold a "."
            or link_words
        ):
            if spelled is None and (link_words or not self._tld_words.isdisjoint(hits)):
                spelled = self._spelled(decoded)
            score = self._contact.link(*(v for v in (decoded, spelled) if v is not None))
            if score:
                found[SignalKind.LINK] = score
        if "@" in decoded or (hits and not self._contact.app_words.isdisjoint(hits)):
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
        if hits or self._always:
            for index in sorted(self._matching_kinds(hits, views) | self._always):
                kind, rules = self._phrases[index]
                matched: tuple[str, ...]
                if views.letters is not None and kind in _LETTER_KINDS:
                    matched = (views.words, views.letters)
                else:
                    matched = (views.words,)
                # a gated kind is here only if one of its patterns matched: its best level
                score = rules.score(*matched) if index in self._always else rules.best(*matched)
                if score and score > found.get(kind, 0.0):
                    found[kind] = score

        # the learned layer: kinds the rules did not find; a kind the rules found keeps
        # the rules' score, and a rule's veto ("send me a pic of your dog") stands
        model_view = self._model_view(decoded, views) if self._learned is not None else ""
        if self._learned is not None and len(_WORD.findall(model_view)) >= LEARNED_MIN_WORDS:
            words = views.words
            for kind, score in self._learned.scores(model_view):
                if kind in found:
                    continue
                veto = self._vetoes.get(kind)
                if veto is None or not veto.search(words):
                    found[kind] = score

        if self._profanity is not None and views.raw:
            probability = self._profanity.at_least_tokens(
                _profanity_tokens(views, text.isascii()), self.profanity_threshold
            )
            if probability is not None:
                found[SignalKind.PROFANITY] = round(probability, 3)

        if not found:
            return _NOTHING
        signals = tuple(
            TextSignal(kind, score)
            for kind, score in sorted(found.items(), key=lambda item: _ORDER[item[0]])
        )
        return TextScan(signals, age)

    def model_view(self, text: str) -> str:
        """The view of ``text`` the learned layer reads (the words view, with spaced-out
        letters joined when there were any): the training script reads its lines through
        this very method, so training and scanning see the same text."""
        decoded = self._decode(fold(text))
        return self._model_view(decoded, self._words(decoded))

    def _model_view(self, decoded: str, views: WordViews) -> str:
        if not decoded.isascii() and _INNER_SYMBOL.search(decoded):
            views = self._words(_INNER_SYMBOL.sub("", decoded))
        return views.letters or views.words

    def vetoed(self, text: str) -> frozenset[SignalKind]:
        """The kinds whose rule vetoes match ``text`` ("send me a pic of your dog"): the
        learned layer never raises them (the training script reads its thresholds with
        them out, as the engine does)."""
        words = self._words(self._decode(fold(text))).words
        return frozenset(kind for kind, veto in self._vetoes.items() if veto.search(words))

    def _matching_kinds(self, hits: frozenset[str], views: WordViews) -> set[int]:
        """The positions of the gated kinds with a pattern that matches the line: only the
        groups of the gate words it holds (``hits``) are searched, each group once, and a
        kind no more once one of its groups has matched."""
        ids: set[int] = set()
        groups_by_word = self._groups_by_word
        for word in hits:
            if word in groups_by_word:
                ids.update(groups_by_word[word])
        matched: set[int] = set()
        words, letters = views.words, views.letters
        for group in ids:
            index, expression, with_letters = self._groups[group]
            if index in matched:
                continue
            if expression.search(words) or (
                with_letters and letters is not None and expression.search(letters)
            ):
                matched.add(index)
        return matched

    def _spelled(self, decoded: str) -> str:
        return self._contact.spell_out(self._contact.collapse(decoded))


def _digits_in(text: str) -> int:
    """``sum(map(str.isdigit, text))``; on ASCII, where the digits are 0-9, by deleting
    them in one ``bytes.translate`` rather than a call per character."""
    if text.isascii():
        return len(text) - len(text.encode("ascii").translate(None, b"0123456789"))
    return sum(map(str.isdigit, text))


def _profanity_tokens(views: WordViews, ascii_line: bool) -> list[str]:
    """``tokens_of(views.raw)``, cheaper than its regular expression. In the raw view a
    token is letters, digits and "_" unless it holds "@" or ":" (``WordViews``), so a
    token the model counts — a run of two word characters or more — is a whole token
    of two characters or more, in order. A line typed in ASCII stays in lower case
    through every view (``fold`` lowers it, leetspeak decodes to lower case), so its
    tokens need no lowering either."""
    raw = views.raw
    if "@" in raw or ":" in raw:
        return tokens_of(raw)
    if ascii_line:
        return [token for token in views.raw_tokens if len(token) > 1]
    return [token for token in raw.lower().split(" ") if len(token) > 1]
