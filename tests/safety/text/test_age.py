"""Age statements (docs/design.md §6, text and age): the age a sender states about themselves."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("im 14", 14),
        # the age now, then the next birthday (issue 20): the age now, not the next
        ("17 turning 18 in june", 17),
        ("17, turning 18 soon", 17),
        ("16 going on 17", 16),
        ("15 bientôt 16", 15),
        ("i'm 14", 14),
        ("I’m 14 btw", 14),
        ("i am fourteen", 14),
        ("i'm twenty-one", 21),
        ("14 f", 14),
        ("14m", 14),
        ("14/f", 14),
        ("15yo", 15),
        ("15 y/o", 15),
        ("15 y.o.", 15),
        ("age 16", 16),
        ("age: 16", 16),
        ("my age is 16", 16),
        ("16 years old", 16),
        ("im 16 years old", 16),
        ("I am 15 years of age", 15),
        ("j'ai 13 ans", 13),
        ("jai 13ans", 13),
        ("j'ai treize ans", 13),
        ("moi 15 ans", 15),
        ("15 ans et toi ?", 15),
        ("je suis une fille de 12 ans", 12),
        ("I'm 32", 32),
        ("m 19", 19),
        ("f19", 19),
        ("F, 16", 16),
        ("asl? 15 f uk", 15),
        ("14 wbu", 14),
        ("15 here, you?", 15),
        ("i just turned 15", 15),
        ("i'm only 13", 13),
        ("i'm a 14 year old girl", 14),
        ("i'm 14 and my brother is 16", 14),
        ("i'm 18+", 18),
        ("i m 16", 16),
        # second round on French and English (issue 20): slang for years, "j'ai N" at the
        # end of a line or before a reply, the next age and when it comes
        ("14 piges", 14),
        ("jai 17 piges", 17),
        ("15 balais", 15),
        ("jai 14", 14),
        ("j'ai 13 !", 13),
        ("jai 14 et toi", 14),
        ("jai que 14", 14),
        ("jai 17 bientot 18", 17),
        ("jai 15, 16 en mars", 15),
        ("im 15, 16 in august", 15),
        ("17 but 18 in june", 17),
    ],
)
def test_age_statements(engine: SignalEngine, text: str, age: int) -> None:
    scan = engine.scan(text)
    assert SignalKind.AGE in scan.kinds()
    assert scan.age == age


@pytest.mark.parametrize(
    "text",
    [
        "i have 14 cats",
        "14 minutes",
        "it's 14:30",
        "I was 14 when I moved here",
        "when i'm 18 i want to travel",
        "my brother is 14",
        "my brother is 14 years old",
        "she is 15 years old",
        "room 14",
        "room 17 turning 18 left",
        "bus 17 soon 18",
        "level 14",
        "i'm level 14",
        "i'm in grade 9",
        "i'm 5 minutes away",
        "i'm 6 feet tall",
        "i'm 6'2",
        "i'm 100% sure",
        "i'm 14th in the queue",
        "i started piano at age 6",
        "it's been 14 years",
        "14 year olds shouldn't be on here",
        "a 16 year old won",
        "my grandma turned 80",
        "il a 13 ans",
        "mon frère a 14 ans",
        "il y a 15 ans",
        "depuis 14 ans",
        "quand j'avais 12 ans",
        "j'ai eu 12 en français",
        "j'ai 15 de moyenne",
        "le film commence à 20h30",
        "je connais une fille de 14 ans",
        "the iphone 15 is nice",
        "covid19",
        "i have 16gb of ram",
        # issue 20, second round: a mark, a decimal, someone else's next age
        "j'ai eu 14",
        "j'ai deja eu 14",
        "jai 14 en maths",
        "jai 14 chats",
        "15,16 en moyenne",
        "pages 15, 16 in the book",
        "mon frere a 15 bientot 16",
        "il a 14 piges",
        "15",  # a bare number answers some question, not always "how old are you"
    ],
)
def test_not_age_statements(engine: SignalEngine, text: str) -> None:
    scan = engine.scan(text)
    assert SignalKind.AGE not in scan.kinds()
    assert scan.age is None


def test_ages_out_of_range_are_not_statements(engine: SignalEngine) -> None:
    assert engine.scan("im 4").age is None
    assert engine.scan("im 100").age is None
    assert engine.scan("im 5").age == 5
    assert engine.scan("im 99").age == 99
