"""A sender who knows that a mention of an account someone follows is no handle ("i
follow @nasa": issue 20, third round, `contact.py`) hides their own behind one: "i follow
@sky_rider22, add me". With an invitation to be reached anywhere in the line, the
mention is the sender's own handle again, and the teen pool masks it like any other.
The honest mention, with no invitation, stays quiet: the attack must not be closed by
flagging every mention.

Each line was written for this test, short; the handles are made up."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine


@pytest.fixture(scope="module")
def engine() -> SignalEngine:
    return SignalEngine()


DISGUISED = [
    "i follow @sky_rider22 add me",
    "add me i love @sky_rider_22",
    "dm me, i watch @sky_rider22",
    "hmu, that account @sky.rider22 is mine",
    "ajoute moi je follow @luz_22",
    "agregame, sigo a @luz_22",
    "escribeme, esa cuenta @luz.22 es mia",
]

HONEST = [
    "i follow @nasa for the rocket launches",
    "that cat account @fluffyboi99 is so funny",
    "sigo a @natgeo por las fotos",
]


@pytest.mark.parametrize("text", DISGUISED)
def test_a_handle_behind_a_mention_with_an_invitation_is_still_a_handle(
    engine: SignalEngine, text: str
) -> None:
    assert SignalKind.HANDLE in {s.kind for s in engine.scan(text).signals}, text


@pytest.mark.parametrize("text", HONEST)
def test_a_mention_with_no_invitation_stays_quiet(engine: SignalEngine, text: str) -> None:
    assert SignalKind.HANDLE not in {s.kind for s in engine.scan(text).signals}, text
