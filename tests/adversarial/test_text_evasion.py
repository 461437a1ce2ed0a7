"""A sender who knows there is a filter disguises a grooming line: letters spaced out,
leetspeak, emoji between letters, French and English mixed, look-alike letters, no
punctuation. Issue 20 (docs/safety.md, "The learned layer"): the learned layer reads
the engine's normalised words view, so each disguise must still get a signal of its
kind, from the rules or from the layer.

Each line below was written for this test (none comes from the labelled files), short
and non-graphic. The plain form of each is checked first: a disguise that "passes"
because the plain line was never caught would prove nothing.
"""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine


@pytest.fixture(scope="module")
def engine() -> SignalEngine:
    return SignalEngine(languages=("en", "fr"))


# plain line, its kind, and the disguises a modified client would send instead
CASES: list[tuple[str, SignalKind, list[str]]] = [
    (
        "who else is at your place tonight",
        SignalKind.ASKS_ALONE,
        [
            "wh0 3lse is at y0ur place t0night",
            "who else is at your p l a c e tonight",
            "who e😏lse is at your place tonight",
            "WHO ELSE IS AT YOUR PLACE TONIGHT",
        ],
    ),
    (
        "what happens here stays here",
        SignalKind.SECRECY,
        [
            "wh4t h4ppens h3re st4ys h3re",
            "what happens here s t a y s here",
            "what happ🙈ens here stays here",
        ],
    ),
    (
        "slide into my dms on the gram",
        SignalKind.OTHER_APP,
        [
            "sl1de into my dms on the gr4m",
            "slide into my d m s on the gram",
            "slide into my dms on the gr🔥am",
        ],
    ),
    (
        "on se capte ce week-end ?",
        SignalKind.MEET,
        [
            "on se c4pt3 ce week-end ?",
            "on se c a p t e ce week-end",
            "on se cap😉te ce week end",
        ],
    ),
    (
        "i bet u look amazing in a dress",
        SignalKind.BODY,
        [
            "i b3t u l00k amazing in a dress",
            "i bet u look a m a z i n g in a dress",
            "i bet u look amaz✨ing in a dress",
        ],
    ),
    (
        "tu fais combien en taille ?",
        SignalKind.BODY,
        [
            "tu f4is combi3n en t4ille",
            "tu fais c o m b i e n en taille",
            "tu fais comb🙈ien en taille",
        ],
    ),
]

# French and English mixed in one line, as bilingual teenagers write
MIXED: list[tuple[str, SignalKind]] = [
    ("t'es seule at home rn ?", SignalKind.ASKS_ALONE),
    ("envoie moi une pic stp", SignalKind.ASKS_PICTURES),
    ("allume ta cam please", SignalKind.ASKS_CAMERA),
    ("on move sur snap ?", SignalKind.OTHER_APP),
    ("dis rien to your parents ok", SignalKind.SECRECY),
]


@pytest.mark.parametrize(("plain", "kind", "disguises"), CASES, ids=[c[0] for c in CASES])
def test_disguised_lines_still_get_their_signal(
    engine: SignalEngine, plain: str, kind: SignalKind, disguises: list[str]
) -> None:
    assert kind in engine.scan(plain).kinds(), plain
    missed = [text for text in disguises if kind not in engine.scan(text).kinds()]
    assert not missed


@pytest.mark.parametrize(("text", "kind"), MIXED, ids=[m[0] for m in MIXED])
def test_mixed_french_and_english_lines_get_their_signal(
    engine: SignalEngine, text: str, kind: SignalKind
) -> None:
    assert kind in engine.scan(text).kinds()
