"""A sender who knows there is a filter disguises the third round's phrasings (issue 20;
docs/safety.md, "Issue 20: a third round on the weak kinds"): comments on a child's body
and requests for the whole body in a picture or on camera, and French and Spanish secrecy
and meeting up, in leetspeak, look-alike letters, capitals, accents dropped or added,
repeated letters and extra spaces. The engine the service builds (every language, the
learned layer on) must still see the kind.

Each line was written for this test, short and non-graphic. The plain form of each is
checked first: a disguise that "passes" because the plain line was never caught would
prove nothing.
"""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine

K = SignalKind


@pytest.fixture(scope="module")
def engine() -> SignalEngine:
    return SignalEngine()


# plain line, the kind it carries, and the disguises a modified client would send
CASES: list[tuple[str, SignalKind, list[str]]] = [
    (
        "you look so grown up for 13",
        K.BODY,
        [
            "y0u l00k s0 gr0wn up f0r 13",
            "YOU LOOK SO GROWN UP FOR 13",
            "u look sooo grown up for thirteen",
            "yоu lооk so grown up for 13",  # Cyrillic о
            "you  look  so  grown  up  for  13",
        ],
    ),
    (
        "send a full body pic",
        K.BODY,
        [
            "s3nd a full b0dy p1c",
            "SEND A FULL BODY PIC",
            "send a full bоdy pic",  # Cyrillic о
            "send a full body piccc",
        ],
    ),
    (
        "tu fais plus mature que ton age",
        K.BODY,
        [
            "tu fais plus mature que ton âge",
            "TU FAIS PLUS MATURE QUE TON ÂGE",
            "tu f4is plus m4ture que t0n 4ge",
            "tu fais pluuus mature que ton age",
        ],
    ),
    (
        "pareces mas madura para tu edad",
        K.BODY,
        [
            "pareces más madura para tu edad",
            "PARECES MÁS MADURA PARA TU EDAD",
            "p4reces m4s m4dura p4ra tu ed4d",
            "pareces mas madura para tu edad 😏",
        ],
    ),
    (
        "quiero verte entera en la cam",
        K.BODY,
        [
            "quiero v3rte 3ntera en la cam",
            "QUIERO VERTE ENTERA EN LA CAM",
            "quiero verte enteraaa en la cam",
        ],
    ),
    (
        "n'en parle pas a ta soeur",
        K.SECRECY,
        [
            "n'en parle pas à ta sœur",
            "N'EN PARLE PAS À TA SŒUR",
            "n'en p4rle p4s a ta s0eur",
            "nen parle pas a ta soeur",
        ],
    ),
    (
        "borra todo cuando termines de leer",
        K.SECRECY,
        [
            "b0rra t0d0 cuand0 termines de leer",
            "BORRA TODO CUANDO TERMINES DE LEER",
            "borra todooo cuando termines de leer",
        ],
    ),
    (
        "tu descends a quel arret",
        K.MEET,
        [
            "tu descends à quel arrêt",
            "TU DESCENDS À QUEL ARRÊT",
            "tu d3sc3nds a qu3l arr3t",
        ],
    ),
    (
        "te espero en la parada",
        K.MEET,
        [
            "t3 3sp3ro 3n la parada",
            "TE ESPERO EN LA PARADA",
            "te espero en la paradaaa",
            "te еspero en la parada",  # Cyrillic е
        ],
    ),
]


@pytest.mark.parametrize(("plain", "wanted", "disguises"), CASES, ids=[c[0] for c in CASES])
def test_disguised_weak_kinds_still_get_their_signal(
    engine: SignalEngine, plain: str, wanted: SignalKind, disguises: list[str]
) -> None:
    assert wanted in engine.scan(plain).kinds(), plain
    missed = [text for text in disguises if wanted not in engine.scan(text).kinds()]
    assert not missed
