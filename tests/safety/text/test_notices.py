"""The real engine's scores through the policy: a line that plainly asks or shares what a
notice is for earns that notice on its own (docs/safety.md, "What the signals do")."""

from __future__ import annotations

import pytest

from strangers.core.text_policy import TextWatch, judge_line
from strangers.safety.text import SignalEngine


@pytest.mark.parametrize(
    ("line", "notice"),
    [
        ("how old are you?", "asks_age"),
        ("asl?", "asks_age"),
        ("quel âge as-tu ?", "asks_age"),
        ("are you alone right now", "asks_alone"),
        ("add me on snap: coolkid_22", "contact"),
    ],
)
def test_a_lone_line_earns_its_notice(engine: SignalEngine, line: str, notice: str) -> None:
    for teen in (False, True):
        decision = judge_line(TextWatch(), engine.scan(line), teen=teen)
        assert notice in decision.nudges, (line, teen)


@pytest.mark.parametrize(
    "line",
    [
        "hi! how's your day",
        "how old is your dog",
        "salut, ça va ?",
        # One salient word is all a model sees in two: left to the rules (engine.py,
        # LEARNED_MIN_WORDS). The learned layer read these as a body comment and the LINE app.
        "nice weather",
        "line 12",
        "good game",
    ],
)
def test_an_ordinary_line_earns_none(engine: SignalEngine, line: str) -> None:
    assert judge_line(TextWatch(), engine.scan(line), teen=False).nudges == ()
