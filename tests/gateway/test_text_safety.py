"""Text safety on the live server (in process) with hostile input: words hidden with
zero-width characters or spaced out still count, bidirectional overrides never reach the
stranger, huge lines and lone surrogates get a clear error, and the chat goes on."""

from __future__ import annotations

import pytest

from ..inprocess import serving
from .chatter import TEEN, Chatter
from .conftest import NO_MODELS


@pytest.fixture
async def teen_server(tmp_path):
    async with serving(tmp_path, teen_pool=True, same_device_pairs=False, **NO_MODELS) as srv:
        yield srv.ws


async def teen_pair(url: str) -> tuple[Chatter, Chatter]:
    a, b = await Chatter.join(url, birth=TEEN), await Chatter.join(url, birth=TEEN)
    await a.find()
    await b.find()
    await a.expect("matched")
    await b.expect("matched")
    return a, b


@pytest.mark.parametrize(
    "line",
    [
        "add me on s\u200bn\u200ba\u200bp: coolkid_22",
        "add me on s n a p: coolkid22",
        "my num: zero six one two three four five six seven eight",
        "mail me coolkid22 at gmail dot com",
    ],
)
async def test_obfuscated_contact_details_are_hidden_in_the_teen_pool(teen_server, line):
    a, b = await teen_pair(teen_server)
    await a.send(type="message", text=line)
    assert await b.expect("message") == {"type": "message", "text": "", "hidden": "contact"}
    assert (await b.expect("notice"))["kind"] == "contact"


async def test_hostile_text_gets_clear_errors_and_the_chat_goes_on(teen_server):
    a, b = await teen_pair(teen_server)
    await a.send(type="message", text="x" * 5000)
    assert (await a.expect("error"))["code"] == "too_large"
    await a.ws.send('{"type": "message", "text": "bad \\ud800 surrogate"}')
    assert (await a.expect("error"))["code"] in ("malformed", "invalid_field")
    await a.send(type="message", text="\u202e\u2066")
    assert (await a.expect("error"))["field"] == "text"
    await a.send(type="message", text="look \u202eright to left\u202c ok")
    assert await b.expect("message") == {"type": "message", "text": "look right to left ok"}
    await a.send(type="message", text="still here")
    assert (await b.expect("message"))["text"] == "still here"
