"""The third text round made two exemptions to contact details (issue 20, `contact.py`):
a mention of an account someone follows is no handle ("i follow @nasa"), and a number
named as an order or a parcel is no phone ("my order number is 4471 2290"). A sender who
knows them hides their own behind one: "i follow @sky_rider22, add me", "my number is
4471 2290 order". With an invitation to be reached in the line, the mention is a handle
again; only a word naming the number, before it, makes it an order number. The teen
pool then masks them like any other. The honest lines stay quiet: the attack must not be
closed by flagging every mention and every order.

Each line was written for this test, short; the handles and numbers are made up."""

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


PHONE_DISGUISED = [
    "my number is 4471 2290 order",
    "text me 4471 2290 tracking",
    "mi numero es 4471 2290 pedido",
    "mon numero 4471 2290 commande",
]

ORDERS = [
    "my order number is 5530 1187",
    "numero de commande 8812 3345",
    "mi numero de pedido es 1187 5530",
]


@pytest.mark.parametrize("text", PHONE_DISGUISED)
def test_an_order_word_after_a_number_does_not_hide_it(engine: SignalEngine, text: str) -> None:
    assert SignalKind.PHONE in {s.kind for s in engine.scan(text).signals}, text


@pytest.mark.parametrize("text", ORDERS)
def test_a_number_named_as_an_order_stays_quiet(engine: SignalEngine, text: str) -> None:
    assert SignalKind.PHONE not in {s.kind for s in engine.scan(text).signals}, text
