"""A sender who knows there is a filter moves a Spanish-speaking child to another app
in disguise (issue 20; docs/safety.md, "Spanish"): the app's name spaced out, dotted,
in leetspeak, in look-alike letters or with an emoji inside, the verb without its
accent, the chat spelling of the app ("wasap", "guasap", "whats"). The engine the
service builds (every language, the learned layer on) must still see the invitation
to another app and the handle it carries.

Each line was written for this test, short and non-graphic. The plain form of each is
checked first: a disguise that "passes" because the plain line was never caught would
prove nothing.
"""

from __future__ import annotations

import re

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine

_EMOJI = re.compile("[\U0001f000-\U0001faff]")


@pytest.fixture(scope="module")
def engine() -> SignalEngine:
    return SignalEngine()


# plain line, the kinds it carries, and the disguises a modified client would send
CASES: list[tuple[str, set[SignalKind], list[str]]] = [
    (
        "agregame al whatsapp",
        {SignalKind.OTHER_APP, SignalKind.HANDLE},
        [
            "agregame al w h a t s a p p",
            "agrégame al w.h.a.t.s.a.p.p",
            "agregame al wh4tsapp",
            "agregame al wh😏atsapp",
            "agregame al wasap",
            "agregame al guasap",
            "agregame al whats",
            "AGREGAME AL W-H-A-T-S-A-P-P",
            "agregame al wh\u0430tsapp",  # Cyrillic а
        ],
    ),
    (
        "pasate a telegram",
        {SignalKind.OTHER_APP, SignalKind.HANDLE},
        [
            "pasate a t e l e g r a m",
            "pásate a teleg🔥ram",
            "pasate a t3l3gram",
            "pasate a tеlеgrаm",  # Cyrillic е and а
        ],
    ),
    (
        "hablamos por privado",
        {SignalKind.OTHER_APP},
        [
            "h4blamos por pr1vado",
            "hablamos por p r i v a d o",
            "HABLAMOS POR PRIVADO",
        ],
    ),
    (
        # a meeting at a time (2026-12-07), and the French one beside it
        "nos vemos a las 5?",
        {SignalKind.MEET},
        [
            "nos vemos a las cinco?",
            "n0s v3mos a las 5?",
            "NOS VEMOS A LAS 5 ??",
            "nos  vemos  a  las  5",
            "on se voit a 17h",
            "0n s3 v0it a 17h",
            "ON SE VOIT À 17H !!",
            "rdv à 18h devant le lycée",
        ],
    ),
]


@pytest.mark.parametrize(("plain", "wanted", "disguises"), CASES, ids=[c[0] for c in CASES])
def test_disguised_spanish_invitations_still_get_their_signals(
    engine: SignalEngine, plain: str, wanted: set[SignalKind], disguises: list[str]
) -> None:
    assert wanted <= set(engine.scan(plain).kinds()), plain
    missed = []
    for text in disguises:
        required = {SignalKind.OTHER_APP} if _EMOJI.search(text) else wanted
        if not required <= set(engine.scan(text).kinds()):
            missed.append(text)
    assert not missed
