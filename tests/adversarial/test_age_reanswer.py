"""A modified client that skips the page's age confirmation, or answers again after a
refusal (issue 19, attack on the age gate): the confirmation is the page's courtesy to
an honest chatter; the rules are the server's (docs/safety.md, "Age"). Answering again,
with any other age, with the token the refusal gave or without it, changes nothing until
the lock ends."""

from __future__ import annotations

import datetime

from ..gateway.chatter import ADULT, Chatter
from ..gateway.conftest import NO_MODELS
from ..inprocess import serving

CHILD = {"birth_year": datetime.date.today().year - 10, "birth_month": 1}
OLDER = {"birth_year": 1970, "birth_month": 1}


async def test_answering_again_after_a_refusal_with_another_age_still_meets_the_lock(tmp_path):
    async with serving(tmp_path, **NO_MODELS) as srv:
        refused = await Chatter.hello(srv.ws, birth=CHILD)
        assert refused["type"] == "refused" and refused["reason"] == "too_young"
        until = refused["until"]
        # The same device (the token the refusal carried), now claiming adult ages.
        for birth in (ADULT, OLDER):
            again = await Chatter.hello(srv.ws, birth=birth, device=refused["device"])
            assert again["type"] == "refused", again
            assert again["reason"] == "too_young" and again["until"] >= until
        # Dropping the token (a fresh device) from the same network does not escape it.
        fresh = await Chatter.hello(srv.ws, birth=ADULT)
        assert fresh["type"] == "refused", fresh
