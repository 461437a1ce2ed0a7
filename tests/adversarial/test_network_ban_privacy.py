"""A network's ban tells a neighbour nothing of the device it was made against (OWASP
ASVS 5.0 V8.2.2; docs/security.md, "Ban evaders"). A school or a family shares one
address: a device banned for what it did must not have its reason, case or the
moderator's written note read out to every other device behind that address, at
``hello``, when the ban lands mid-chat, or at ``GET /v1/standing`` (covered in
``test_standing_attacks.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from strangers.client import Client, NotAdmitted
from strangers.core.bans import (
    NETWORK_BAN_REASON,
    BanEntry,
    BanIndex,
    banned_message,
)
from strangers.core.limits import Limits
from strangers.core.messages import AgeBand, Banned, Find, Mode
from strangers.core.switchboard import Kick, Send, Switchboard

from ..gateway.conftest import NO_MODELS
from ..inprocess import serving
from ..standings import ban_with_case, device_token, loopback_network, standing_once_banned

NETWORK = "net-" + "c" * 60
NOTE = "Shared a stranger's photo after being asked not to."


def culprits_ban(days: float | None = 3) -> BanEntry:
    until = None if days is None else datetime.now(UTC) + timedelta(days=days)
    return BanEntry("Harassment", "S-000042", until, NOTE)


def assert_tells_nothing_of_the_culprit(notice: Banned) -> None:
    assert notice.reason == NETWORK_BAN_REASON
    assert notice.case is None and notice.note is None
    assert "S-000042" not in notice.model_dump_json() and NOTE not in notice.model_dump_json()


def test_a_neighbour_arriving_is_told_only_that_the_network_is_banned() -> None:
    index = BanIndex()
    ban = culprits_ban()
    index.add("dev-culprit", NETWORK, ban)
    now = datetime.now(UTC)
    own = index.notice_for("dev-culprit", NETWORK, now)
    assert own == banned_message(ban) and own is not None and own.note == NOTE
    neighbour = index.notice_for("dev-neighbour", NETWORK, now)
    assert neighbour is not None
    assert_tells_nothing_of_the_culprit(neighbour)
    assert neighbour.until == own.until


def test_a_ban_landing_mid_chat_tells_the_neighbour_only_that_it_is_the_networks() -> None:
    board = Switchboard(Limits())
    board.open("s-culprit", "dev-culprit", AgeBand.ADULT, "en", 0.0, network=NETWORK)
    board.open("s-neighbour", "dev-neighbour", AgeBand.ADULT, "en", 0.0, network=NETWORK)
    board.receive("s-culprit", Find(mode=Mode.TEXT), 1.0)
    board.receive("s-neighbour", Find(mode=Mode.TEXT), 1.0)
    effects = board.ban("dev-culprit", NETWORK, banned_message(culprits_ban()))
    told = {e.session: e.message for e in effects if isinstance(e, Send)}
    assert isinstance(told["s-culprit"], Banned) and told["s-culprit"].note == NOTE
    assert isinstance(told["s-neighbour"], Banned)
    assert_tells_nothing_of_the_culprit(told["s-neighbour"])
    assert {e.session for e in effects if isinstance(e, Kick)} == {"s-culprit", "s-neighbour"}


@pytest.mark.parametrize("days", [3, None], ids=["for-days", "for-good"])
async def test_a_neighbours_hello_is_answered_without_the_culprits_case(tmp_path, days) -> None:
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        network = loopback_network(srv.settings)
        banned = await ban_with_case(
            srv.settings, "dev-culprit", network=network, reason="Spam", days=days
        )
        neighbour = device_token(srv.settings, "dev-neighbour")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            await standing_once_banned(http, neighbour)  # the ban is in the index
        client = await Client.connect(srv.base.replace("http", "ws", 1) + "/v1/ws")
        try:
            await client.hello(device=neighbour)
            with pytest.raises(NotAdmitted) as refused:
                await client.admitted()
        finally:
            await client.close()
        answer = refused.value.answer
        assert isinstance(answer, Banned)
        assert answer.reason == NETWORK_BAN_REASON
        assert answer.case is None and answer.note is None
        assert banned.case not in answer.model_dump_json()
