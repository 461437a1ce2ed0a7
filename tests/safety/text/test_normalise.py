"""Normalisation (docs/design.md §6, text): NFKC (UAX #15), look-alike letters (Unicode TR39),
leetspeak, spaced-out letters, invisible and bidirectional characters, numbers in words."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine
from strangers.safety.text.lexicon import Lexicon
from strangers.safety.text.normalise import LeetDecoder, NumberReader, WordViewer, fold

LEXICON = Lexicon.load(("en", "fr"))
VOCABULARY = LEXICON.vocabulary()
decode = LeetDecoder(VOCABULARY)
word_views = WordViewer(LEXICON.slang, VOCABULARY)
read_numbers = NumberReader(LEXICON.numbers)


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("ＳＮＡＰ", "snap"),  # full-width (NFKC)
        ("𝐬𝐧𝐚𝐩", "snap"),  # mathematical bold (NFKC)
        ("ⓢⓝⓐⓟ", "snap"),  # circled (NFKC)
        ("ﬁne", "fine"),  # ligature (NFKC)
        ("ѕnар", "snap"),  # Cyrillic dze, a, er (TR39)
        ("ꜱɴᴀᴘ", "snap"),  # Latin small capitals (TR39)
        ("ΑΓΕ", "aye"),  # Greek capitals, case folded then mapped
        ("5ñap", "5nap"),  # accents off; the digit waits for the leet step
        ("âge", "age"),
        ("cœur", "coeur"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case folding, not lowering
        ("sn\u200bap", "snap"),  # zero-width space
        ("sn\u200dap", "snap"),  # zero-width joiner
        ("sn\ufeffap", "snap"),  # byte order mark
        ("sn\u2060ap", "snap"),  # word joiner
        ("sn\u00adap", "snap"),  # soft hyphen
        ("\u202epans", "pans"),  # right-to-left override removed (the text stays as sent)
        ("sn\u0301ap", "snap"),  # a lone combining mark
        ("i'm", "im"),
        ("I’m", "im"),
        ("Iʼm", "im"),
        ("j'ai", "jai"),
        ("6'2", "6'2"),  # an apostrophe between digits is a height, kept
        ("a\tb\nc\x00d", "a b c d"),  # control characters separate words
        ("٠٦١٢", "0612"),  # Arabic-Indic digits
        ("\ud800x", "x"),  # a lone surrogate vanishes
    ],
)
def test_fold(typed: str, folded: str) -> None:
    assert fold(typed) == folded


@pytest.mark.parametrize(
    ("typed", "decoded"),
    [
        ("5nap", "snap"),
        ("$nap", "snap"),
        ("sn4pch4t", "snapchat"),
        ("h0w 0ld r u", "how old r u"),
        ("s3nd p1c", "send pic"),
        ("a1one", "alone"),  # "1" read as "l": "alone" is a known word, "aione" is not
        ("1nsta", "insta"),
        ("ins+a", "insta"),
        ("14f", "14 f"),  # a number and its unit stay a number
        ("13ans", "13 ans"),
        ("samj09", "samj09"),  # a handle's digits stay
        ("14", "14"),  # plain numbers untouched
        ("3.30", "3.30"),
        ("cool!", "cool!"),  # trailing punctuation is punctuation
    ],
)
def test_leetspeak_is_decoded_inside_words_only(typed: str, decoded: str) -> None:
    assert decode(fold(typed)) == decoded


@pytest.mark.parametrize(
    ("typed", "letters"),
    [
        ("add me on s n a p", " add me on snap "),
        ("add me on s.n.a.p", " add me on snap "),
        ("add me on d-i-s-c-o-r-d", " add me on discord "),
        ("s_n_a_p", None),  # underscores stay inside a token: a handle, not spacing
    ],
)
def test_spaced_out_letters_are_joined_in_the_letters_view(typed: str, letters: str | None) -> None:
    assert word_views(decode(fold(typed))).letters == letters


def test_the_words_view_expands_slang_and_squeezes_repeats() -> None:
    views = word_views(decode(fold("r u aloneee? pleeease")))
    assert views.words == " are you alone ? please "
    assert {"are", "you", "alone"} <= views.tokens


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("six one seven five five five", "6 1 7 5 5 5"),
        ("six-one-seven", "6-1-7"),
        ("six1seven", "617"),
        ("twenty-one", "21"),
        ("i am fourteen", "i am 14"),
        ("zéro six douze trente-quatre", "0 6 12 34"),
        ("soixante-dix-huit", "78"),
        ("quatre-vingt-douze", "92"),
        ("soixante et onze", "71"),
        ("dix-neuf", "19"),
        ("jai treize ans", "jai 13 ans"),
        ("oh seven double oh nine", "0 7 00 9"),
        ("6l7 555 Ol23", "617 555 0123"),
        ("O6 l2 34", "06 12 34"),
        ("lol 1", "lol 1"),  # a word with a digit nearby stays a word
    ],
)
def test_numbers_in_words_and_look_alikes_become_digits(typed: str, digits: str) -> None:
    assert read_numbers(fold(typed)) == digits


@pytest.mark.parametrize(
    "typed",
    [
        "add me on snap",
        "add me on ＳＮＡＰ",
        "add me on ѕnар",
        "add me on sn\u200bap",
        "add me on s\u200dn\u200da\u200dp",
        "add me on 5nap",
        "add me on sn@p",
        "add me on s n a p",
        "add me on s.n.a.p",
        "add me on snäp",
        "add me on snaaaap",
        "\u202eadd me on snap",
    ],
)
def test_every_disguise_of_an_app_name_reads_the_same(engine: SignalEngine, typed: str) -> None:
    assert SignalKind.HANDLE in engine.scan(typed).kinds()
