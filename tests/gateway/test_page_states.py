"""The page's states that come from the server (issue 19), over HTTP and the socket:
``GET /v1/online``, the ``queue`` wait notes, ``GET /v1/standing`` and the Terms and
Privacy texts. The rules are in docs/protocol.md; attacks on them are in
tests/adversarial/test_standing_attacks.py."""

from __future__ import annotations

import asyncio
from unittest import mock

import httpx
import pytest

from strangers.core.messages import Mode
from strangers.gateway import online as online_module
from strangers.gateway.online import rounded

from ..brokers.gateways import REDIS_URL
from ..inprocess import serving
from ..standings import ban_with_case, device_token, loopback_network, standing_once_banned
from .chatter import ADULT, TEEN, Chatter
from .conftest import NO_MODELS

#: Long enough for a refresh, a ban reload or a note to arrive on a loaded machine.
ARRIVES = 10.0


async def eventually(check, timeout: float = ARRIVES) -> None:
    """Wait until ``check()`` (a coroutine) returns true; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


# --- online counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "public"),
    [
        (0, {"below": 10}),
        (9, {"below": 10}),
        (10, {"at_least": 10}),
        (19, {"at_least": 10}),
        (999, {"at_least": 990}),
        (1000, {"at_least": 1000}),
        (1299, {"at_least": 1200}),
    ],
)
def test_a_count_is_rounded_down_and_a_small_one_never_shown(count, public):
    assert rounded(count) == public


async def test_the_count_adds_up_every_band_and_is_the_same_for_every_asker(tmp_path):
    with mock.patch.object(online_module, "REFRESH_SECONDS", 0.1):
        async with (
            serving(tmp_path, teen_pool=True, same_device_pairs=False, **NO_MODELS) as srv,
            httpx.AsyncClient(base_url=srv.base) as http,
        ):
            first = await http.get("/v1/online")
            assert first.status_code == 200
            assert first.json() == {"text": {"below": 10}, "video": {"below": 10}}
            assert first.headers["cache-control"].startswith("public, max-age=")
            # Six adults and six teens looking in text: twelve, counted together.
            chatters = [await Chatter.join(srv.ws, birth=ADULT) for _ in range(6)]
            chatters += [await Chatter.join(srv.ws, birth=TEEN) for _ in range(6)]
            for chatter in chatters:
                await chatter.client.find(Mode.TEXT, [])

            async def twelve() -> bool:
                body = (await http.get("/v1/online")).json()
                return body == {"text": {"at_least": 10}, "video": {"below": 10}}

            await eventually(twelve)
            # Nothing the asker sends changes it: no band, no query, no token.
            token = chatters[-1].welcome["device"]
            for extra in (
                {"params": {"band": "teen"}},
                {"headers": {"authorization": f"Bearer {token}"}},
            ):
                body = (await http.get("/v1/online", **extra)).json()
                assert body == {"text": {"at_least": 10}, "video": {"below": 10}}
            for chatter in chatters:
                await chatter.close()


async def test_the_count_adds_up_every_gateway(tmp_path, namespace):
    redis = {"redis_url": REDIS_URL, "redis_namespace": namespace}
    with mock.patch.object(online_module, "REFRESH_SECONDS", 0.1):
        async with (
            serving(tmp_path, gateway_id="g1", **redis, **NO_MODELS) as g1,
            serving(tmp_path, gateway_id="g2", **redis, **NO_MODELS) as g2,
        ):
            chatters = [await Chatter.join(g1.ws) for _ in range(5)]
            chatters += [await Chatter.join(g2.ws) for _ in range(5)]
            for chatter in chatters:
                await chatter.client.find(Mode.TEXT, [])
            async with httpx.AsyncClient() as http:
                for served in (g1, g2):

                    async def ten(base: str = served.base) -> bool:
                        body = (await http.get(base + "/v1/online")).json()
                        return body["text"] == {"at_least": 10}

                    await eventually(ten)
            for chatter in chatters:
                await chatter.close()


# --- why a wait goes on ------------------------------------------------------------------


async def test_a_lone_chatter_is_told_nobody_is_looking(tmp_path):
    async with serving(tmp_path, quiet_after=0.3, **NO_MODELS) as srv:
        chatter = await Chatter.join(srv.ws)
        await chatter.find()
        note = await chatter.expect("queue", ARRIVES)
        assert note == {"type": "queue", "mode": "text", "state": "nobody"}
        await chatter.close()


async def test_a_note_reaches_a_chatter_on_another_gateway_than_the_matchmakers(
    tmp_path, namespace
):
    """One pool's matchmaker runs on one gateway: two tabs of one device waiting in it,
    one on each gateway, may not meet, and both are told nobody else is looking."""
    redis = {"redis_url": REDIS_URL, "redis_namespace": namespace}
    chosen = {"quiet_after": 0.3, "same_device_pairs": False, **redis, **NO_MODELS}
    async with (
        serving(tmp_path, gateway_id="g1", **chosen) as g1,
        serving(tmp_path, gateway_id="g2", **chosen) as g2,
    ):
        first = await Chatter.join(g1.ws)
        second = await Chatter.join(g2.ws, device=first.welcome["device"])
        for chatter in (first, second):
            await chatter.find()
        for chatter in (first, second):
            note = await chatter.expect("queue", ARRIVES)
            assert note["state"] == "nobody"
            await chatter.close()


async def test_two_who_just_met_are_told_so_rather_than_left_waiting(tmp_path):
    async with serving(tmp_path, quiet_after=0.3, same_device_pairs=False, **NO_MODELS) as srv:
        a, b = await Chatter.join(srv.ws), await Chatter.join(srv.ws)
        await a.find()
        await b.find()
        await a.expect("matched", ARRIVES)
        await b.expect("matched", ARRIVES)
        await a.send(type="skip")  # a looks again at once; b is left, and looks again
        await a.expect("ended")
        await a.expect("waiting")
        await b.expect("partner_left")
        await b.find()
        for chatter in (a, b):
            note = await chatter.expect("queue", ARRIVES)
            assert note["state"] == "met_recently" and note["repair_minutes"] == 30
        # Someone new arrives: a pair forms at once, the old pair never.
        c = await Chatter.join(srv.ws)
        await c.find()
        matched = await c.expect("matched", ARRIVES)
        assert matched["type"] == "matched"
        for chatter in (a, b, c):
            await chatter.close()


# --- standing ------------------------------------------------------------------------------


async def test_an_unbanned_device_is_told_so_and_nothing_is_cached(tmp_path):
    async with serving(tmp_path, **NO_MODELS) as srv:
        token = device_token(srv.settings, "dev-clean")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            answer = await http.get("/v1/standing", headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json() == {"banned": False}
        assert answer.headers["cache-control"] == "no-store"


async def test_a_banned_device_gets_the_notice_its_end_and_no_appeal_yet(tmp_path):
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        banned = await ban_with_case(srv.settings, "dev-banned", reason="Harassment")
        token = device_token(srv.settings, "dev-banned")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            body = (await standing_once_banned(http, token)).json()
        assert banned.until is not None
        assert body == {
            "banned": True,
            "scope": "device",
            "notice": {
                "type": "banned",
                "reason": "Harassment",
                "case": banned.case,
                "until": int(banned.until.timestamp()),
                "appeal": "/v1/appeals",
            },
            "appeal": {"state": "none"},
        }


async def test_the_notice_is_the_one_the_socket_sends(tmp_path):
    """One builder for both (core.bans.banned_message): what hello answers a banned
    device is, field for field, the standing's notice."""
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        await ban_with_case(srv.settings, "dev-same", days=None)
        token = device_token(srv.settings, "dev-same")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            body = (await standing_once_banned(http, token)).json()
        at_hello = await Chatter.hello(srv.ws, device=token)
        assert at_hello == body["notice"]
        assert "until" not in at_hello  # permanent


@pytest.mark.parametrize(
    ("decided", "expected"),
    [
        (None, {"state": "pending"}),
        (("upheld", "The chat log shows the insults."), {"state": "upheld"}),
    ],
)
async def test_the_appeal_state_comes_with_the_ban(tmp_path, decided, expected):
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        await ban_with_case(srv.settings, "dev-appealed", appeal="It was not me.", decided=decided)
        token = device_token(srv.settings, "dev-appealed")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            body = (await standing_once_banned(http, token)).json()
        appeal = body["appeal"]
        assert appeal["state"] == expected["state"]
        assert isinstance(appeal["submitted_at"], int)
        if decided is None:
            assert "statement" not in appeal and "decided_at" not in appeal
        else:
            assert appeal["statement"] == decided[1]
            assert appeal["decided_at"] > appeal["submitted_at"]


async def test_a_network_ban_says_only_that_it_is_the_networks_and_until_when(tmp_path):
    async with serving(tmp_path, ban_refresh_seconds=0.1, **NO_MODELS) as srv:
        network = loopback_network(srv.settings)
        banned = await ban_with_case(srv.settings, None, network=network, reason="Nudity on camera")
        token = device_token(srv.settings, "dev-innocent-neighbour")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            answer = await standing_once_banned(http, token)
        body = answer.json()
        assert banned.until is not None
        assert body == {
            "banned": True,
            "scope": "network",
            "notice": {
                "type": "banned",
                "reason": "Abuse from this network",
                "until": int(banned.until.timestamp()),
                "appeal": "/v1/appeals",
            },
        }
        assert banned.case not in answer.text and "Nudity" not in answer.text


# --- Terms and Privacy ---------------------------------------------------------------------


async def test_terms_and_privacy_have_defaults_in_english_french_and_spanish(tmp_path):
    async with serving(tmp_path, **NO_MODELS) as srv, httpx.AsyncClient(base_url=srv.base) as http:
        for document, titles in (
            ("terms", ("# Terms of use", "# Conditions d'utilisation", "# Condiciones de uso")),
            (
                "privacy",
                ("# Privacy notice", "# Politique de confidentialité", "# Aviso de privacidad"),
            ),
        ):
            for lang, title in zip(("en", "fr", "es"), titles, strict=True):
                answer = (await http.get(f"/v1/legal/{document}?lang={lang}")).json()
                assert answer["source"] == "default" and answer["language"] == lang
                assert answer["text"].startswith(title)
            page = await http.get(f"/{document}")
            assert page.status_code == 200 and "<html" in page.text
        by_header = await http.get("/v1/legal/terms", headers={"accept-language": "fr-FR"})
        assert by_header.json()["language"] == "fr"
        by_header = await http.get("/v1/legal/terms", headers={"accept-language": "es-MX,es"})
        assert by_header.json()["language"] == "es"
        assert (await http.get("/v1/legal/cookies")).status_code == 404


async def test_an_operator_file_replaces_the_default_per_language(tmp_path):
    legal = tmp_path / "legal"
    legal.mkdir()
    (legal / "terms.en.md").write_text("# House rules\n\n<script>x</script> stays text.\n")
    (legal / "privacy.md").write_text("# Our privacy\n")
    async with (
        serving(
            tmp_path,
            terms_file=legal / "terms.{lang}.md",
            privacy_file=legal / "privacy.md",
            **NO_MODELS,
        ) as srv,
        httpx.AsyncClient(base_url=srv.base) as http,
    ):
        terms = (await http.get("/v1/legal/terms?lang=fr")).json()
        privacy = (await http.get("/v1/legal/privacy?lang=en")).json()
    # No French file: the English one stands in; the text comes as it was written.
    assert terms["source"] == "operator" and terms["text"].startswith("# House rules")
    assert "<script>x</script>" in terms["text"]
    assert privacy == {
        "document": "privacy",
        "language": "en",
        "source": "operator",
        "text": "# Our privacy\n",
    }
