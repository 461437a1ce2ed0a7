"""Contact details (docs/design.md §6, text): in the teen pool they are always masked, so every
disguise must be found, and ordinary numbers, dots and app talk must not be."""

from __future__ import annotations

import pytest

from strangers.core.text import CONTACT_KINDS, SignalKind
from strangers.safety.text import SignalEngine


def kinds(engine: SignalEngine, text: str) -> frozenset[SignalKind]:
    return engine.scan(text).kinds()


@pytest.mark.parametrize(
    "text",
    [
        "call me 617-555-0123",
        "(617) 555 0123",
        "+1 617 555 0123",
        "+44 7700 900123",
        "07700 900123",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "06.12.34.56.78",
        "6 1 7 5 5 5 0 1 2 3",
        "six one seven five five five zero one two three",
        "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit",
        "6l7 555 Ol23",
        "６１７ ５５５ ０１２３",
        "6\u200b1\u200b7\u200b5\u200b5\u200b5\u200b0\u200b1\u200b2\u200b3",
        "my number is 555 0147",
        "text me 555-0100",
        "6 12 34 56 78",  # French mobile without the trunk 0: phonenumbers says valid
    ],
)
def test_phone_numbers_in_many_disguises(engine: SignalEngine, text: str) -> None:
    assert SignalKind.PHONE in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "it's 14:30",
        "the bus comes at 3.30",
        "on 03/04/2024 i started",
        "the date is 2024-05-12",
        "from 2010-2014 we lived abroad",
        "the population is 2,500,000",
        "1 000 000 views",
        "1 2 3 4 5 6 7 8 9 10",
        "count to ten: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
        "i scored 1200 points",
        "it's 1,299 dollars",
        "version 1.2.3",
        "pi is 3.14159",
        "i have one question",
    ],
)
def test_ordinary_numbers_are_not_phone_numbers(engine: SignalEngine, text: str) -> None:
    assert SignalKind.PHONE not in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "8675309 area code 415",
        "867 53 09, area code 415",
        "5309 867 then the area code is 415",
        "86 75 30 9 area code 415",
        "eight six seven five three oh nine, area code four one five",
        "five five five zero one three four. area code: two one two",
        "12 34 56 78 avec 06 devant",
        "douze trente quatre cinquante six soixante dix huit, indicatif 06",
        "34 56 78 12 et le préfixe c'est 07",
    ],
)
def test_a_local_number_with_its_area_code_after_it_is_a_phone_number(
    engine: SignalEngine, text: str
) -> None:
    """Issue 20's cluster: a number spoken as grouped digits, the area code said after
    it; the local part alone has no phone word and no phone grouping."""
    assert SignalKind.PHONE in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "we won 2134567 to nothing lol, area 51 is next",
        "my high score is 1234567 in the code area",
        "order 4821377 arrives in the area tomorrow",
        "the answer is 1 2 3 4 5 6 7, the code is 42",
        "i scored 8675309 points, 415 more than you",
        "on a fait 1 234 567 vues, indicatif de reussite lol",
    ],
)
def test_numbers_near_area_or_code_words_are_not_phone_numbers(
    engine: SignalEngine, text: str
) -> None:
    assert SignalKind.PHONE not in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "sam.jones@gmail.com",
        "sam dot jones at gmail dot com",
        "samjones (at) gmail (dot) com",
        "samjones [at] gmail [dot] com",
        "sam @ gmail . com",
        "s a m @ g m a i l . c o m",
        "s4m@gm4il.c0m",
        "samjones＠gmail．com",
        "lea point dupont arobase orange point fr",
        "sam at gmail",
        "my hotmail is jake_2010",
        # issue 20, second round: "adresse" before the provider, SMS "c"
        "mon adresse gmail : lea.b13",
        "mon adresse hotmail c lea_b13",
    ],
)
def test_email_addresses(engine: SignalEngine, text: str) -> None:
    assert SignalKind.EMAIL in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "look at me",
        "i'm at home",
        "my email is full of spam",
        "at least it's friday",
        "mon mail c nul",
        "mon adresse gmail c la meme",
    ],
)
def test_at_and_email_talk_are_not_addresses(engine: SignalEngine, text: str) -> None:
    assert SignalKind.EMAIL not in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com",
        "www.example.com",
        "check out example.com",
        "discord.gg/abc123",
        "t.me/samjones",
        "wa.me/15551234567",
        "bit.ly/abc",
        "mysite dot com",
        "mysite (dot) net",
        "mysite . com",
        "jenstuff point fr",
        "hxxps://bad-site.ru",
        "h t t p s : / / example . com",
        "ex4mple.c0m",
    ],
)
def test_links(engine: SignalEngine, text: str) -> None:
    assert SignalKind.LINK in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "e.g. like this",
        "i.e. the first one",
        "i'm in the u.k.",
        "ok. so what now",
        "the bus comes at 3.30",
        "polka dot dress",
        "le point de vue",  # "de" is Germany's domain, and a French word
        "à ce point ça va",
        "mr. smith is my teacher",
        "node.js is fun",
    ],
)
def test_words_with_dots_are_not_links(engine: SignalEngine, text: str) -> None:
    assert SignalKind.LINK not in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "add me on snap",
        "my snap is samj2009",
        "sc: samj09",
        "add me on insta",
        "hit me up on discord",
        "my discord is samj#1234",
        "what's your snapchat?",
        "do you have insta?",
        "snap?",
        "@samj09",
        "kik me",
        "insta is jess.k",
        "jess_k on snapchat",
        "ajoute moi sur snap",
        "c'est quoi ton insta ?",
        "t'as snap ?",
        "mon snap c'est lea_2010",
        # issue 20, second round: SMS "c", the user name named
        "mon discord c kevin#1234",
        "mon snap c lea",
        "mon pseudo snap c'est nina_2010",
        "mon identifiant telegram c noah_tls",
        "mon pseudo c lea_b13",
    ],
)
def test_handles_with_add_me_phrasing(engine: SignalEngine, text: str) -> None:
    assert SignalKind.HANDLE in kinds(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "I watched a tiktok video",
        "tiktok is so addictive",
        "my mom uses facebook for recipes",
        "snapchat filters are funny",
        "oh snap",
        "that was a snap decision",
        "my snap is broken",
        "i use discord for my study group",
        "i saw it on reddit",
        "j'ai supprimé snapchat",
        "mon snap est bugué",
        "mon snap c nul",
        "mon insta c est pas ouf",
        "nice to meet you",
        "i'm @ home",
        "r u @lone",  # leetspeak for "alone", not a handle
    ],
)
def test_a_bare_app_mention_is_not_a_contact_detail(engine: SignalEngine, text: str) -> None:
    assert not kinds(engine, text) & CONTACT_KINDS
