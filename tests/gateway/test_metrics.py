"""``/metrics`` after a scripted session on the live server: every counter the session
should move moved by exactly what the session did (issue 10), and the gauges read
the sessions as they are.

The server runs in process (in a thread), where the metrics registry is the process's:
counters are read as what they moved, and the gauges, which read every node the process
serves, are read while this server is the only one."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import httpx
from prometheus_client.parser import text_string_to_metric_families

from strangers.gateway.metrics import NODES

from .. import images
from ..checkers import with_verdict
from ..inprocess import serving_in_thread
from .chatter import TEEN, Chatter
from .test_frames import post

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str) -> Samples:
    text = httpx.get(base + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def pair(url: str, birth: dict[str, int] | None = None) -> tuple[Chatter, Chatter]:
    kwargs = {} if birth is None else {"birth": birth}
    a, b = await Chatter.join(url, **kwargs), await Chatter.join(url, **kwargs)
    await a.find()
    await b.find()
    await a.expect("matched")
    await b.expect("matched")
    return a, b


async def adult_session(url: str, base: str) -> Samples:
    """Two adults: pair, five lines, one malformed frame, a skip. Returns a scrape
    taken while they chatted."""
    a, b = await pair(url)
    for line in ("hi", "how are you", "nice weather"):
        await a.send(type="message", text=line)
        assert (await b.expect("message"))["text"] == line
    for line in ("hello", "fine thanks"):
        await b.send(type="message", text=line)
        assert (await a.expect("message"))["text"] == line
    during = await asyncio.to_thread(scrape, base)
    await a.ws.send("{not json")
    assert (await a.expect("error"))["code"] == "malformed"
    await b.send(type="skip")
    await b.expect("ended")
    await b.expect("waiting")
    await a.expect("partner_left")
    await a.close()
    await b.close()
    return during


async def teen_session(url: str) -> None:
    """Two teens: one benign line, then an adult age statement, which ends the match
    and opens a case with automatic measures (docs/design.md §6)."""
    c, d = await pair(url, TEEN)
    await c.send(type="message", text="hey there")
    assert (await d.expect("message"))["text"] == "hey there"
    await c.send(type="message", text="lol btw im 32")
    assert (await d.expect("ended"))["reason"] == "safety"
    assert (await c.expect("ended"))["reason"] == "safety"
    await c.close()
    await d.close()


async def video_session(base: str, url: str) -> None:
    """Two adults on camera: a clean frame of b, then one of b's own camera the
    (injected) checker finds nudity in, which ends the match and strikes b (docs/design.md §6;
    a frame only a's page sampled would open a case and strike no one)."""
    a, b = await Chatter.join(url), await Chatter.join(url)
    for chatter in (a, b):
        await chatter.send(type="find", mode="video", interests=[])
        await chatter.expect("waiting")
    matched = await a.expect("matched")
    own = await b.expect("matched")
    async with httpx.AsyncClient(base_url=base) as client:
        clean = await post(client, matched["frame_token"], images.portrait())
        assert clean.status_code == 200, clean.text
        flagged = await post(
            client, own["frame_token"], with_verdict(images.portrait(), "nudity"), source="own"
        )
        assert flagged.status_code == 200, flagged.text
    await a.close()
    await b.close()


def committed_actions(data_dir: Path) -> Counter[tuple[str, str]]:
    with sqlite3.connect(data_dir / "strangers.db") as db:
        rows = db.execute("SELECT kind, automatic FROM actions").fetchall()
    return Counter((kind, "automatic" if automatic else "moderator") for kind, automatic in rows)


def test_a_scripted_session_moves_the_counters_by_what_it_did(tmp_path: Path) -> None:
    earlier = list(NODES.nodes)
    with (
        serving_in_thread(
            tmp_path,
            teen_pool=True,
            same_device_pairs=False,
            frame_checker="tests.checkers:scripted",
        ) as srv,
        # The gauges sum every node the process registered: a server another test left
        # behind in this worker (one stopped by force skips its lifespan's end) would
        # add its chatters. Only this server's node is scraped.
        mock.patch.object(NODES, "nodes", [n for n in NODES.nodes if n not in earlier]),
    ):
        base, url = srv.base, srv.ws
        assert len(NODES.nodes) == 1, "another server started in this process: gauges add up"
        before = scrape(base)
        during = asyncio.run(adult_session(url, base))
        asyncio.run(teen_session(url))
        asyncio.run(video_session(base, url))
        # The strike is committed after the answer to the frame: wait for it.
        for _ in range(100):
            after = scrape(base)
            if value(after, "strangers_actions_total", kind="strike", actor="automatic"):
                break
            time.sleep(0.1)
        actions = committed_actions(tmp_path)

    # While the adults chatted: both online, both in the adult text pool, chatting.
    assert value(during, "strangers_chatters_online", band="adult") == 2
    assert value(during, "strangers_chatters_in_pool", pool="adult-text", state="chatting") == 2
    assert value(during, "strangers_chatters_in_pool", pool="adult-text", state="waiting") == 0
    # After: everyone gone.
    assert value(after, "strangers_chatters_online", band="adult") == 0
    assert value(after, "strangers_chatters_online", band="teen") == 0

    assert moved(before, after, "strangers_websocket_connections_total") == 6
    assert moved(before, after, "strangers_matched_chatters_total", pool="adult-video") == 2
    assert moved(before, after, "strangers_frames_checked_total", verdict="clean") == 1
    assert moved(before, after, "strangers_frames_checked_total", verdict="nudity") == 1
    assert moved(before, after, "strangers_frame_check_seconds_count", stage="total") == 2
    assert moved(before, after, "strangers_matched_chatters_total", pool="adult-text") == 2
    assert moved(before, after, "strangers_matched_chatters_total", pool="teen-text") == 2
    assert moved(before, after, "strangers_time_to_pair_seconds_count", pool="adult-text") == 2
    assert moved(before, after, "strangers_time_to_pair_seconds_count", pool="teen-text") == 2
    # The adult-in-teen line is withheld from the partner: not relayed, but checked.
    assert moved(before, after, "strangers_messages_relayed_total", pool="adult-text") == 5
    assert moved(before, after, "strangers_messages_relayed_total", pool="teen-text") == 1
    assert moved(before, after, "strangers_text_checks_total") == 7
    assert moved(before, after, "strangers_text_check_seconds_count") == 7
    assert moved(before, after, "strangers_text_signals_total", kind="age") == 1
    assert moved(before, after, "strangers_websocket_errors_total", code="malformed") == 1
    # Every measure the records hold was counted, as automatic, once: the strike.
    assert actions[("strike", "automatic")] == 1
    for (kind, actor), count in actions.items():
        assert moved(before, after, "strangers_actions_total", kind=kind, actor=actor) == count
    counted = sum(
        v - value(before, name, **dict(labels))
        for (name, labels), v in after.items()
        if name == "strangers_actions_total"
    )
    assert counted == sum(actions.values())
    # Nothing was shed or dropped in a session this small.
    assert moved(before, after, "strangers_slow_readers_dropped_total") == 0
    assert value(after, "strangers_ready") == 1
    assert value(after, "strangers_matchmaker_leases_held") == 4
