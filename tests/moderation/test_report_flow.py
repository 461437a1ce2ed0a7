"""Reports, blocks and bans end to end: real websocket clients, the real server,
records on SQLite and on PostgreSQL.

The server runs in the test's process and loop (``tests/inprocess.py``), except where
the process itself is the point (marked ``process``)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from strangers.core.blocks import couple
from strangers.core.network import network_hash
from strangers.gateway.settings import Settings
from strangers.moderation import Records
from strangers.moderation import tables as t

from ..gateway.chatter import Chatter
from ..inprocess import serving
from ..servers import running_server

# Clients speak from this address so the tests can look for it where it must not be.
CLIENT_ADDRESS = "127.0.0.3"


async def join(url: str, device: str | None = None) -> Chatter:
    return await Chatter.join(url, device=device, local_addr=(CLIENT_ADDRESS, 0))


async def pair(url: str) -> tuple[Chatter, Chatter, str]:
    a, b = await join(url), await join(url)
    await a.find()
    await b.find()
    match = (await a.expect("matched"))["match"]
    assert (await b.expect("matched"))["match"] == match
    return a, b, match


def device_of(token: str) -> str:
    payload = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["d"]


async def hello_until_banned(url: str, device: str | None = None) -> dict:
    """Bans made straight in the records reach the gateway at its next refresh
    (``ban_refresh_seconds``, 0.2 s here): say hello until one answers ``banned``."""
    for _ in range(50):
        answer = await Chatter.hello(url, device=device, local_addr=(CLIENT_ADDRESS, 0))
        if answer["type"] == "banned":
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError("the ban never reached the gateway")


#: No frame is posted here: the scripted checker in threads, no model to load and no
#: check-worker process to start.
SETTINGS = dict(
    same_device_pairs=False,
    ban_refresh_seconds=0.2,
    frame_checker="tests.checkers:scripted",
    frame_check_mode="thread",
)


@asynccontextmanager
async def server(tmp_path, db_url, **settings) -> AsyncIterator[str]:
    """The server in this process and loop, on the records at ``db_url``, with the
    scripted frame checker unless ``settings`` name another; its base URL."""
    async with serving(tmp_path, database_url=db_url, **{**SETTINGS, **settings}) as served:
        yield served.base


@contextmanager
def server_process(tmp_path, db_url, **settings) -> Iterator[str]:
    """``strangers serve`` as a subprocess (pid in ``tmp_path/server.pid``, its output in
    ``tmp_path/server.log``); its base URL."""
    with running_server(tmp_path, database_url=db_url, **{**SETTINGS, **settings}) as base:
        yield base


def ws(base: str) -> str:
    return base.replace("http://", "ws://") + "/v1/ws"


async def count(records: Records, table) -> int:
    async with records._engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar())


async def test_a_report_is_committed_before_its_ack_and_the_pair_never_meets_again(
    tmp_path, db_url, evidence_key
):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a, b, match = await pair(ws(base))
        await a.send(type="message", text="hello there")
        await b.expect("message")
        await b.send(type="message", text="a line to report")
        await a.expect("message")
        await a.send(type="report", reason="harassment", note="rude from the start")
        assert await a.expect("ended") == {"type": "ended", "reason": "report", "match": match}
        reported = await a.expect("reported")
        assert reported["match"] == match and reported["case"].startswith("S-")
        assert await b.expect("partner_left") == {"type": "partner_left", "match": match}
        # the pair is blocked at once
        await a.find()
        await b.find()
        assert await a.quiet(1.0)
        tokens = a.welcome["device"], b.welcome["device"]
    records = await Records.open(db_url, evidence_key)
    try:
        [evidence] = await records.cases.evidence(reported["case"])
        texts = [line["text"] for line in evidence["lines"]]
        assert texts == ["hello there", "a line to report"]
        pair_of_devices = couple(device_of(tokens[0]), device_of(tokens[1]))
        assert pair_of_devices in set(await records.blocks.pairs())
    finally:
        await records.close()
    # across a restart the pair stays apart
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a2 = await join(ws(base), device=tokens[0])
        b2 = await join(ws(base), device=tokens[1])
        await a2.find()
        await b2.find()
        assert await a2.quiet(1.0)
        c = await join(ws(base))
        await c.find()
        assert (await c.expect("matched"))["match"] == (await a2.expect("matched"))["match"]


@pytest.mark.process
async def test_an_acknowledged_report_survives_sigkill(tmp_path, db_url, evidence_key):
    """A separate process: the server is killed with SIGKILL right after the ack (no
    shutdown, nothing flushed), which only a process of its own can undergo."""
    with server_process(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        pid = int((tmp_path / "server.pid").read_text())
        a, _partner, _ = await pair(ws(base))
        await a.send(type="report", reason="spam")
        await a.expect("ended")
        case = (await a.expect("reported"))["case"]
        os.kill(pid, signal.SIGKILL)
    records = await Records.open(db_url, evidence_key)
    try:
        assert await records.cases.evidence(case)  # the case and its evidence are there
    finally:
        await records.close()


@pytest.mark.parametrize(
    ("report", "code"),
    [
        ({"reason": "teleported"}, "invalid_field"),
        ({"reason": "other", "note": "x" * 501}, "invalid_field"),
    ],
)
async def test_bad_reports_are_refused_and_write_nothing(
    tmp_path, db_url, evidence_key, report, code
):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a, b, _ = await pair(ws(base))
        await a.send(type="report", **report)
        assert (await a.expect("error"))["code"] == code
        await a.send(type="message", text="still chatting")
        assert (await b.expect("message"))["text"] == "still chatting"
        idle = await join(ws(base))
        await idle.send(type="report", reason="spam")
        assert (await idle.expect("error"))["code"] == "not_allowed"
    records = await Records.open(db_url, evidence_key)
    try:
        for table in (t.Case, t.Report, t.Evidence, t.Block):
            assert await count(records, table) == 0
    finally:
        await records.close()


async def test_a_report_flood_is_limited(tmp_path, db_url, evidence_key):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        reporter = await join(ws(base))
        codes = []
        for _ in range(7):
            other = await join(ws(base))
            await reporter.find()
            await other.find()
            await reporter.expect("matched")
            await reporter.send(type="report", reason="spam")
            answer = await reporter.recv()
            codes.append(answer["type"] if answer["type"] != "error" else answer["code"])
            if answer["type"] == "ended":
                await reporter.expect("reported")
            else:
                await reporter.send(type="stop")
                await reporter.expect("ended")
        assert codes[:5] == ["ended"] * 5 and codes[5:] == ["rate_limited"] * 2


async def test_a_ban_reaches_a_second_tab_of_the_device(tmp_path, db_url, evidence_key):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        first = await join(ws(base))
        token = first.welcome["device"]
        records = await Records.open(db_url, evidence_key)
        try:
            until = datetime.now(UTC) + timedelta(hours=24)
            await records.bans.add(
                device=device_of(token),
                network=None,
                reason="Nudity on camera",
                case=None,
                until=until,
                now=datetime.now(UTC),
            )
        finally:
            await records.close()
        banned = await hello_until_banned(ws(base), device=token)
        assert banned["reason"] == "Nudity on camera"
        assert banned["until"] == int(until.timestamp())


async def test_a_ban_reaches_a_new_device_on_the_same_network(tmp_path, db_url, evidence_key):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        key = Settings(data_dir=tmp_path).subkey("network-hash")
        records = await Records.open(db_url, evidence_key)
        try:
            await records.bans.add(
                device=None,
                network=network_hash(key, CLIENT_ADDRESS),
                reason="Spam",
                case=None,
                until=None,
                now=datetime.now(UTC),
            )
        finally:
            await records.close()
        banned = await hello_until_banned(ws(base))
        assert "until" not in banned


async def test_an_appeal_is_stored_once_for_the_right_device(tmp_path, db_url, evidence_key):
    async with server(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a, b, _ = await pair(ws(base))
        await a.send(type="report", reason="harassment")
        await a.expect("ended")
        case = (await a.expect("reported"))["case"]

        def post(token, case_number, text):
            body = json.dumps({"device": token, "case": case_number, "text": text}).encode()
            request = urllib.request.Request(
                base + "/v1/appeals", data=body, headers={"content-type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        async def appeal(token, case_number, text="I was not rude"):
            # urllib blocks: off the loop the server runs on.
            return await asyncio.to_thread(post, token, case_number, text)

        assert await appeal(b.welcome["device"], case) == (201, {"status": "received"})
        assert (await appeal(b.welcome["device"], case))[0] == 409
        assert await appeal(a.welcome["device"], "S-999999") == (
            404,
            {"code": "unknown_case", "text": "This appeal cannot be accepted."},
        )
        assert (await appeal("forged.token", case))[0] == 400
        assert await appeal(b.welcome["device"], case, text="") == (
            400,
            {"code": "invalid", "text": "The request is missing a field or has a wrong value."},
        )


@pytest.mark.process
async def test_no_raw_address_reaches_the_records_or_the_logs(tmp_path, db_url, evidence_key):
    """A separate process: the log checked is everything ``strangers serve`` writes, under
    the logging it configures for itself (an in-process server logs through pytest's
    handlers instead)."""
    with server_process(tmp_path, db_url, evidence_key=evidence_key.decode()) as base:
        a, b, _ = await pair(ws(base))
        await a.send(type="message", text="zebra-crossing-42")
        await b.expect("message")
        await a.send(type="report", reason="other", note="testing the records")
        await a.expect("ended")
        await a.expect("reported")
    log = (tmp_path / "server.log").read_text()
    assert CLIENT_ADDRESS not in log
    if db_url.startswith("sqlite"):
        assert CLIENT_ADDRESS.encode() not in (tmp_path / "strangers.db").read_bytes()
        with sqlite3.connect(tmp_path / "strangers.db") as connection:
            dump = "\n".join(connection.iterdump())
        assert CLIENT_ADDRESS not in dump and "zebra-crossing-42" not in dump
    else:
        dump = subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-U", "root", db_url.rsplit("/", 1)[1]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert CLIENT_ADDRESS not in dump and "zebra-crossing-42" not in dump
