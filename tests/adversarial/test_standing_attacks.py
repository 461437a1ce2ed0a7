"""Attacks on ``GET /v1/standing`` (issue 19): learning another device's standing, and
flooding. The rules are in ``gateway/standing.py`` and docs/protocol.md ("Standing"):
the device is the one its signed token names, never one the asker picks; a token that
does not verify is no device; a network's ban says nothing of the device it was for;
the asks are limited per device and per network, forged tokens included."""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest

from strangers.core.device import DeviceClaims, DeviceTokens

from ..gateway.conftest import NO_MODELS
from ..inprocess import serving
from ..standings import ban_with_case, device_token, loopback_network, standing_once_banned


@pytest.fixture
async def victim(tmp_path):
    """A server with one banned device (case, appeal): its base URL, settings and case."""
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        banned = await ban_with_case(
            srv.settings, "dev-victim", reason="Spam", appeal="Please lift it."
        )
        async with httpx.AsyncClient(base_url=srv.base) as http:
            await standing_once_banned(http, device_token(srv.settings, "dev-victim"))
            yield srv, banned.case, http


async def test_a_forged_token_naming_another_device_learns_nothing(victim):
    _srv, case, http = victim
    # The victim's id in a token signed with a key that is not the server's.
    forged = DeviceTokens(secrets.token_bytes(32)).issue(DeviceClaims("dev-victim"))
    payload = base64.urlsafe_b64encode(json.dumps({"d": "dev-victim"}).encode()).decode()
    for token in (forged, f"{payload.rstrip('=')}.AAAAAAAAAAAAAAAAAAAAAA", "x.y", "garbage"):
        answer = await http.get("/v1/standing", headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json() == {"banned": False}, token
        assert case not in answer.text


async def test_a_token_of_an_earlier_server_secret_is_no_device(victim):
    """A device token does not expire by itself; one signed before the secret was
    rotated (or by another server) no longer verifies, and is answered as no device."""
    _srv, _case, http = victim
    stale = DeviceTokens(b"an-older-secret-of-32-bytes-at-least").issue(DeviceClaims("dev-victim"))
    answer = await http.get("/v1/standing", headers={"authorization": f"Bearer {stale}"})
    assert answer.json() == {"banned": False}


async def test_another_devices_id_in_the_query_or_a_header_is_ignored(victim):
    srv, case, http = victim
    mine = device_token(srv.settings, "dev-attacker")
    for extra in (
        {"params": {"device": "dev-victim"}},
        {"params": {"case": case}},
        {"headers": {"x-device": "dev-victim"}},
    ):
        headers = {"authorization": f"Bearer {mine}", **extra.get("headers", {})}
        answer = await http.get("/v1/standing", params=extra.get("params"), headers=headers)
        assert answer.json() == {"banned": False}
    # Without any token: nothing at all.
    bare = await http.get("/v1/standing", params={"device": "dev-victim"})
    assert bare.status_code == 401 and bare.json()["code"] == "bad_token"
    assert case not in bare.text


async def test_a_network_ban_does_not_tell_a_neighbour_whose_it_was(tmp_path):
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        network = loopback_network(srv.settings)
        banned = await ban_with_case(
            srv.settings, "dev-culprit", network=network, reason="Spam", appeal="Not me."
        )
        async with httpx.AsyncClient(base_url=srv.base) as http:
            neighbour = device_token(srv.settings, "dev-neighbour")
            await standing_once_banned(http, neighbour)
            answer = await http.get(
                "/v1/standing", headers={"authorization": f"Bearer {neighbour}"}
            )
        body = answer.json()
        assert body["scope"] == "network" and "appeal" not in body
        assert "case" not in body["notice"]
        for secret in (banned.case, "dev-culprit", "Spam", "Not me"):
            assert secret not in answer.text


async def test_flooding_is_refused_forged_tokens_included(tmp_path):
    async with (
        serving(
            tmp_path,
            limit_standing_device="3/minute",
            limit_standing_network="6/minute",
            **NO_MODELS,
        ) as srv,
        httpx.AsyncClient(base_url=srv.base) as http,
    ):
        token = device_token(srv.settings, "dev-flooder")
        statuses = [
            (await http.get("/v1/standing", headers={"authorization": f"Bearer {token}"}))
            for _ in range(4)
        ]
        assert [answer.status_code for answer in statuses] == [200, 200, 200, 429]
        refused = statuses[-1]
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        # Fresh forged tokens every time: the network's limit still holds them back.
        forged = [
            await http.get(
                "/v1/standing",
                headers={"authorization": f"Bearer {secrets.token_urlsafe(20)}.x"},
            )
            for _ in range(4)
        ]
        assert forged[-1].status_code == 429
        # Each endpoint has its own limit: the online counts still answer.
        assert (await http.get("/v1/online")).status_code == 200
