"""Grooming and solicitation signals (docs/design.md §6, text; the kinds follow Ofcom's Illegal
Content Codes, ICU grooming measures): each kind fires on its phrasings, in English and
French, and stays quiet on the ordinary chat that shares their words."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind, TextScan
from strangers.safety.text import SignalEngine

K = SignalKind

POSITIVE = [
    (K.ASKS_AGE, "how old are you"),
    (K.ASKS_AGE, "h0w 0ld r u"),
    (K.ASKS_AGE, "asl"),
    (K.ASKS_AGE, "a/s/l?"),
    (K.ASKS_AGE, "what grade are you in"),
    (K.ASKS_AGE, "quel âge as-tu ?"),
    (K.ASKS_AGE, "t'as quel age"),
    (K.ASKS_ALONE, "are you alone?"),
    (K.ASKS_ALONE, "r u home alone"),
    (K.ASKS_ALONE, "are your parents home"),
    (K.ASKS_ALONE, "where are your parents"),
    (K.ASKS_ALONE, "tu es seule ?"),
    (K.ASKS_ALONE, "tes parents sont là ?"),
    (K.SECRECY, "don't tell anyone"),
    (K.SECRECY, "don't tell your parents"),
    (K.SECRECY, "it's our little secret"),
    (K.SECRECY, "delete this chat"),
    (K.SECRECY, "ne dis rien à personne"),
    (K.SECRECY, "ça reste entre nous"),
    (K.ASKS_PICTURES, "send me a pic"),
    (K.ASKS_PICTURES, "s3nd me a p1c"),
    (K.ASKS_PICTURES, "what do you look like"),
    (K.ASKS_PICTURES, "envoie moi une photo de toi"),
    (K.ASKS_CAMERA, "turn on your cam"),
    (K.ASKS_CAMERA, "why is your camera off"),
    (K.ASKS_CAMERA, "show me your face"),
    (K.ASKS_CAMERA, "allume ta cam"),
    (K.BODY, "you're so pretty"),
    (K.BODY, "ur so hot"),
    (K.BODY, "what are you wearing"),
    (K.BODY, "t'es trop belle"),
    (K.GIFTS, "i'll buy you a gift card"),
    (K.GIFTS, "want free robux?"),
    (K.GIFTS, "what's your paypal"),
    (K.GIFTS, "je t'achète des vbucks"),
    (K.MEET, "let's meet"),
    (K.MEET, "wanna meet irl?"),
    (K.MEET, "where do you live"),
    (K.MEET, "i can pick you up"),
    (K.MEET, "on se voit ?"),
    (K.MEET, "tu habites où ?"),
    (K.OTHER_APP, "let's talk somewhere private"),
    (K.OTHER_APP, "let's move to snap"),
    (K.OTHER_APP, "dm me"),
    (K.OTHER_APP, "on continue sur insta ?"),
    (K.OTHER_APP, "viens en mp"),
]

NEGATIVE = [
    (K.ASKS_AGE, "how old is your dog"),
    (K.ASKS_AGE, "i'm learning asl in school"),
    (K.ASKS_AGE, "mon frère a quel âge déjà"),
    (K.ASKS_ALONE, "i'm home alone and bored"),
    (K.ASKS_ALONE, "home alone is my favourite movie"),
    (K.ASKS_ALONE, "my parents are so strict"),
    (K.ASKS_ALONE, "leave me alone lol"),
    (K.SECRECY, "don't tell me the ending!"),
    (K.SECRECY, "the secret garden is a good book"),
    (K.SECRECY, "it's a secret recipe"),
    (K.ASKS_PICTURES, "i took a photo of the sunset"),
    (K.ASKS_PICTURES, "send me a pic of your dog"),
    (K.ASKS_PICTURES, "send me the homework"),
    (K.ASKS_PICTURES, "envoie moi les devoirs"),
    (K.ASKS_CAMERA, "my camera is broken"),
    (K.ASKS_CAMERA, "i bought a new camera"),
    (K.BODY, "your cat is so cute"),
    (K.BODY, "you're pretty good at this game"),
    (K.BODY, "it's so hot outside"),
    (K.BODY, "ton chat est trop mignon"),
    (K.GIFTS, "i got a gift card for my birthday"),
    (K.GIFTS, "i paid with paypal"),
    (K.GIFTS, "i'll send you the link"),
    (K.MEET, "nice to meet you"),
    (K.MEET, "we met at school"),
    (K.MEET, "where are you from"),
    (K.MEET, "j'habite à marseille"),
    (K.OTHER_APP, "i watched a tiktok video"),
    (K.OTHER_APP, "let's talk about movies"),
]


@pytest.mark.parametrize(("kind", "text"), POSITIVE)
def test_each_kind_fires_on_its_phrasings(engine: SignalEngine, kind: K, text: str) -> None:
    assert kind in engine.scan(text).kinds()


@pytest.mark.parametrize(("kind", "text"), NEGATIVE)
def test_each_kind_stays_quiet_on_ordinary_chat(engine: SignalEngine, kind: K, text: str) -> None:
    assert kind not in engine.scan(text).kinds()


def test_a_line_can_show_several_kinds(engine: SignalEngine) -> None:
    scan = engine.scan("how old are you? are you alone? send me a pic, don't tell anyone")
    assert {K.ASKS_AGE, K.ASKS_ALONE, K.ASKS_PICTURES, K.SECRECY} <= scan.kinds()


def test_scores_are_in_zero_to_one_and_kinds_are_unique(engine: SignalEngine) -> None:
    scan = engine.scan("im 14, add me on snap 617 555 0123, send pics, fuck this site")
    kinds = [signal.kind for signal in scan.signals]
    assert len(kinds) == len(set(kinds))
    assert all(0.0 < signal.score <= 1.0 for signal in scan.signals)
    assert scan.age == 14


def test_profanity_is_reported_only_above_the_threshold(engine: SignalEngine) -> None:
    assert K.PROFANITY in engine.scan("fuck you").kinds()
    assert K.PROFANITY not in engine.scan("have a nice day").kinds()
    assert K.PROFANITY not in engine.scan("what's your snapchat?").kinds()


def test_a_benign_line_gives_an_empty_scan(engine: SignalEngine) -> None:
    assert engine.scan("hey, how was school today?") == TextScan()


def test_the_engine_can_be_built_without_profanity_and_for_one_language() -> None:
    english = SignalEngine(languages=("en",), profanity=False)
    assert K.ASKS_AGE in english.scan("how old are you").kinds()
    assert K.PROFANITY not in english.scan("fuck you").kinds()
    with pytest.raises(ValueError):
        SignalEngine(languages=("xx",), profanity=False)
