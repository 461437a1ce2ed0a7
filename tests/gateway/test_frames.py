"""``POST /v1/frames`` on the live server (in process): bad input gets a clear error and
stores nothing, a flood is limited without touching other chatters, and the verdict of a
frame reaches the viewer's socket (safe start lifts on a real face)."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import httpx
import pytest

from ..frame_posts import post, video_pair
from ..images import cat, claiming_size, portrait
from ..inprocess import serving, serving_in_thread
from .chatter import Chatter


def cases(data_dir) -> int:
    with sqlite3.connect(data_dir / "strangers.db") as db:
        return db.execute("select count(*) from cases").fetchone()[0]


@pytest.fixture
async def scripted(tmp_path):
    async with serving(
        tmp_path,
        frame_checker="tests.checkers:scripted",
        same_device_pairs=False,
        frame_posts_per_second=1,
        frame_post_burst=4,
        # These tests are about the checks and the per-session limit; the per-device
        # limits have their own tests below.
        limit_frame_device="100/second",
    ) as srv:
        yield srv.base


async def test_bad_frames_get_a_clear_error_and_store_nothing(scripted, tmp_path):
    url = scripted.replace("http://", "ws://") + "/v1/ws"
    a, b, matched, theirs = await video_pair(url)
    token = matched["frame_token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    async with httpx.AsyncClient(base_url=scripted) as client:
        refusals = [
            (await post(client, None, portrait()), 401, "bad_token"),
            (await post(client, forged, portrait()), 401, "bad_token"),
            (await post(client, token, png), 415, "not_jpeg"),
            (await post(client, token, portrait(), content_type="text/plain"), 415, "not_jpeg"),
            (await post(client, token, portrait()[:40]), 415, "not_jpeg"),
            (await post(client, token, b"\xff\xd8\xff" + b"\x00" * 70_000), 413, "too_large"),
            (await post(client, token, claiming_size(portrait(), 60000, 60000)), 422, "bad_size"),
            (await post(client, token, portrait(), source="theirs"), 400, "invalid"),
        ]
        for response, status, code in refusals:
            assert response.status_code == status, response.text
            body = response.json()
            assert body["code"] == code and body["text"]
            assert "Traceback" not in response.text
        # The match goes on as if nothing happened.
        await a.send(type="message", text="still here")
        assert (await b.expect("message"))["text"] == "still here"
        # b's page has its own camera checked, so a may see b's video once a checks it.
        own = await post(client, theirs["frame_token"], portrait(), source="own")
        assert own.status_code == 200
        ok = await post(client, token, portrait())
        assert ok.status_code == 200 and ok.json() == {"status": "checked"}
        assert (await a.expect("blur")) == {
            "type": "blur",
            "on": False,
            "reason": "clear",
            "match": matched["match"],
        }
        # Once the match is over, its token is void.
        await b.send(type="skip")
        await a.expect("partner_left")
        over = await post(client, token, portrait())
        assert over.status_code == 410 and over.json()["code"] == "match_over"
    assert cases(tmp_path) == 0


async def test_a_frame_flood_is_limited_and_other_chatters_keep_chatting(scripted, tmp_path):
    url = scripted.replace("http://", "ws://") + "/v1/ws"
    _a, _b, matched, _ = await video_pair(url)
    c, d, _, _ = await video_pair(url)
    async with httpx.AsyncClient(base_url=scripted) as client:
        answers = await asyncio.gather(
            *(post(client, matched["frame_token"], portrait()) for _ in range(30))
        )
        statuses = [r.status_code for r in answers]
        assert statuses.count(200) <= 5 and statuses.count(429) >= 25
        limited = next(r for r in answers if r.status_code == 429)
        assert limited.json()["retry_after"] > 0 and int(limited.headers["retry-after"]) >= 1
    for n in range(5):
        await c.send(type="message", text=f"line {n}")
        assert (await d.expect("message", timeout=2))["text"] == f"line {n}"
    assert cases(tmp_path) == 0


async def until(chatter: Chatter, kind: str, timeout: float = 5.0) -> dict:
    """The first message of ``kind``, skipping others (blur verdicts on the way)."""
    while True:
        message = await chatter.recv(timeout)
        if message["type"] == kind:
            return message


async def test_a_device_flooding_frames_is_limited_then_banned_and_others_go_on(tmp_path):
    async with serving(
        tmp_path,
        frame_checker="tests.checkers:scripted",
        same_device_pairs=False,
        # The session's own bucket out of the way: this is about the device's limit.
        frame_posts_per_second=100,
        frame_post_burst=100,
        limit_frame_device="3/second",
        limit_abuse_device="5/10 minutes",
    ) as srv:
        base, url = srv.base, srv.ws
        a, b, matched, _ = await video_pair(url)
        c, _d, other, others_partner = await video_pair(url)
        async with httpx.AsyncClient(base_url=base) as client:
            answers = await asyncio.gather(
                *(post(client, matched["frame_token"], portrait()) for _ in range(20))
            )
            statuses = [r.status_code for r in answers]
            # A burst straddling a window's edge may get a frame or two more, never more.
            assert statuses.count(200) <= 6 and statuses.count(429) >= 14
            limited = next(r for r in answers if r.status_code == 429)
            assert limited.json()["code"] == "rate_limited"
            assert 0 < limited.json()["retry_after"] <= 1
            # Past the abuse limit: the device is banned for a while, its chat ended.
            banned = await until(a, "banned")
            assert banned["reason"] == "Too many requests: automated or abusive use"
            assert banned["until"] > 0
            await until(b, "partner_left")
            # Someone else, behaving, is not touched.
            own = await post(client, others_partner["frame_token"], portrait(), source="own")
            assert own.status_code == 200
            fine = await post(client, other["frame_token"], portrait())
            assert fine.status_code == 200 and fine.json() == {"status": "checked"}
            await until(c, "blur")
    assert cases(tmp_path) == 0  # a rate-limit ban is no case for a moderator


async def test_the_real_checks_lift_safe_start_on_a_face_and_not_on_a_cat(tmp_path):
    """With the built-in checker and its models (the one test of the gateway that loads
    them); the counters read are process-wide, so what moved is compared."""
    async with serving(tmp_path, same_device_pairs=False) as srv:
        a, _b, matched, theirs = await video_pair(srv.ws)
        async with httpx.AsyncClient(base_url=srv.base) as client:
            before = (await client.get("/metrics")).text
            own = await post(client, theirs["frame_token"], portrait(), source="own")
            assert own.status_code == 200
            assert (await post(client, matched["frame_token"], cat())).status_code == 200
            assert await a.quiet(0.5)  # no face: still blurred
            assert (await post(client, matched["frame_token"], portrait())).status_code == 200
            blur = await a.expect("blur")
            assert blur["on"] is False and blur["reason"] == "clear"
            metrics = (await client.get("/metrics")).text
    assert checked(metrics, "clean") > checked(before, "clean")
    assert checked(metrics, "no_face") > checked(before, "no_face")


def checked(metrics: str, verdict: str) -> float:
    """``strangers_frames_checked_total`` for ``verdict`` in a scrape (0 if absent)."""
    for line in metrics.splitlines():
        if line.startswith("strangers_frames_checked_total{") and f'verdict="{verdict}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_openapi_document_describes_the_frame_route(tmp_path):
    with serving_in_thread(tmp_path, frame_checker="tests.checkers:scripted") as srv:
        document = json.loads(httpx.get(srv.base + "/openapi.json").text)
    route = document["paths"]["/v1/frames"]["post"]
    assert "image/jpeg" in route["requestBody"]["content"]
    assert {"400", "401", "410", "413", "415", "422", "429", "503"} <= set(route["responses"])
