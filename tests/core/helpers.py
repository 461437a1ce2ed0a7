"""Small builders shared by the core tests."""

from strangers.core.matching import Ticket
from strangers.core.messages import AgeBand, Mode
from strangers.core.pools import pool_for

ADULT_TEXT = pool_for(AgeBand.ADULT, Mode.TEXT)


def ticket(
    session,
    *,
    at=0.0,
    device=None,
    band=AgeBand.ADULT,
    mode=Mode.TEXT,
    language="en",
    interests=(),
    serial=0,
):
    return Ticket(
        session=session,
        device=device or f"dev-{session}",
        pool=pool_for(band, mode),
        language=language,
        interests=frozenset(interests),
        joined_at=at,
        serial=serial,
    )
