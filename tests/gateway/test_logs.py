"""The server's log through whole sessions: JSON lines, with request and session ids,
and never a chat line or a peer's raw address in them (docs/design.md §6; issue 10).

The chatters connect from 127.0.0.77, an address that is neither the server's own
(127.0.0.1) nor in any setting, so finding it anywhere in the log can only mean a
peer's address was logged. Each line said is unique, so finding any part of one can
only mean chat text was logged. Run at ``debug``, the most the log ever says.

The server is ``strangers serve`` in a process of its own (``pytest -m process``): the
log under test is all that command writes, with the logging it sets up (``cli.serve``,
``logs.configure``: JSON lines, the payload libraries held at WARNING, uvicorn's records
routed through them), and everything any library prints; in the test's process those
records would go through the test's own logging instead.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
from pathlib import Path

import httpx
import pytest

from .. import images
from ..checkers import with_verdict
from ..servers import running_server
from .chatter import TEEN, Chatter
from .test_frames import post

PEER = "127.0.0.77"


def said() -> str:
    """A line no log could contain by chance."""
    # Letters only: random digits could read as a phone number and earn a notice.
    word = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
    return f"zebra-{word} likes quiet mornings"


async def join(url: str, **kwargs: object) -> Chatter:
    return await Chatter.join(url, local_addr=(PEER, 0), **kwargs)


async def sessions(base: str) -> list[str]:
    """Text and video chats, skips, a report, flagged frames, bad input; returns every
    line the chatters said."""
    url = base.replace("http://", "ws://") + "/v1/ws"
    lines: list[str] = []
    transport = httpx.AsyncHTTPTransport(local_address=PEER)
    async with httpx.AsyncClient(base_url=base, transport=transport) as http:
        # A text chat, a skip, a bad frame, then a report.
        a, b = await join(url), await join(url)
        for chatter in (a, b):
            await chatter.find()
        await a.expect("matched")
        await b.expect("matched")
        for speaker, listener in ((a, b), (b, a), (a, b)):
            lines.append(said())
            await speaker.send(type="message", text=lines[-1])
            assert (await listener.expect("message"))["text"] == lines[-1]
        await a.ws.send('{"type": "message", "text": ' + json.dumps(said()) + ", oops")
        assert (await a.expect("error"))["code"] == "malformed"
        lines.append(said() + " add me on snap coolkid_22")
        await a.send(type="message", text=lines[-1])
        await b.expect("message")
        # "they shared contact details", "they asked you to move to another app"
        assert {(await b.expect("notice"))["kind"] for _ in range(2)} == {"contact", "other_app"}
        await b.send(type="report", reason="harassment", note=said())
        assert (await b.expect("ended"))["reason"] == "report"
        await b.expect("reported", timeout=10)
        await a.expect("partner_left")
        await a.close()
        await b.close()

        # A teen video chat whose sender's own camera the (injected) checker flags: a
        # critical case that seals the address into encrypted evidence, a ban, and the
        # banned device coming back.
        c, d = await join(url, birth=TEEN), await join(url, birth=TEEN)
        for chatter in (c, d):
            await chatter.send(type="find", mode="video", interests=[])
            await chatter.expect("waiting")
        matched = await c.expect("matched")
        own = await d.expect("matched")
        lines.append(said())
        await d.send(type="message", text=lines[-1])
        assert (await c.expect("message"))["text"] == lines[-1]
        clean = await post(http, matched["frame_token"], images.portrait())
        assert clean.status_code == 200
        nudity = with_verdict(images.portrait(), "nudity")
        flagged = await post(http, own["frame_token"], nudity, source="own")
        assert flagged.status_code == 200
        refused = await post(http, "not-a-token", images.portrait())
        assert refused.status_code in (401, 403)
        banned_device = d.welcome["device"]
        await c.close()
        await d.close()
        again = None
        for _ in range(50):
            again = await Chatter.hello(url, birth=TEEN, device=banned_device, local_addr=(PEER, 0))
            if again["type"] == "banned":
                break
            await asyncio.sleep(0.1)
        assert again is not None and again["type"] == "banned"
        appeal = await http.post(
            "/v1/appeals",
            json={"device": banned_device, "case": again["case"], "text": said()},
        )
        assert appeal.status_code < 500
    return lines


@pytest.mark.process
def test_whole_sessions_leave_no_chat_text_or_address_in_the_log(tmp_path: Path) -> None:
    """The log of ``strangers serve`` itself, in its process (see the module's docstring)."""
    with running_server(
        tmp_path,
        teen_pool=True,
        same_device_pairs=False,
        frame_checker="tests.checkers:scripted",
        log_level="debug",
        log_format="json",
    ) as base:
        lines = asyncio.run(sessions(base))
        # A proxy's well-formed request id is kept; anything else is replaced.
        kept = httpx.get(base + "/healthz", headers={"x-request-id": "nginx-4f2a9c1d"})
        assert kept.headers["x-request-id"] == "nginx-4f2a9c1d"
        for forged in ("short", "has space inside", "x" * 65, '"},{"level":"error"'):
            answer = httpx.get(base + "/healthz", headers={"x-request-id": forged})
            made = answer.headers["x-request-id"]
            assert made != forged and len(made) == 16 and made.isalnum()
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert PEER not in log
    for line in lines:
        for word in line.split():
            if word.startswith("zebra-"):
                assert word not in log, f"chat text in the log: {word}"
    assert "zebra-" not in log and "coolkid_22" not in log and "quiet mornings" not in log
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert records, "the server logged nothing"
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    # What was logged while serving a chat names its session; an HTTP request, its id.
    socket_lines = [r for r in records if r["logger"] == "strangers.socket"]
    assert socket_lines and all("session" in r for r in socket_lines)
    assert any(r["message"].startswith("report filed as case") for r in socket_lines)
    flagged = [r for r in records if r["message"].startswith("flag nudity filed")]
    assert flagged and all("request_id" in r for r in flagged)
