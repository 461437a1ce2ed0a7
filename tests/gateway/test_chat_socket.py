"""Integration: several real websocket clients against the real server on loopback."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .chatter import ADULT, TEEN, Chatter, challenge, hello_frame, proof_for


async def pair(url, interests=()):
    a = await Chatter.join(url)
    b = await Chatter.join(url)
    await a.find(interests)
    await b.find(interests)
    ma, mb = await a.expect("matched"), await b.expect("matched")
    assert ma["match"] == mb["match"]
    return a, b, ma["match"]


async def test_two_chatters_pair_type_chat_and_skip(server):
    a, b, match = await pair(server)
    await a.send(type="typing", active=True)
    assert await b.expect("typing") == {"type": "typing", "active": True}
    await a.send(type="message", text="hi there")
    assert (await b.expect("message"))["text"] == "hi there"
    await b.send(type="message", text="hello")
    assert (await a.expect("message"))["text"] == "hello"
    await a.send(type="skip")
    assert await a.expect("ended") == {"type": "ended", "reason": "skip", "match": match}
    await a.expect("waiting")
    assert await b.expect("partner_left") == {"type": "partner_left", "match": match}
    # a (waiting again) meets a newcomer; b may not meet a again for 30 minutes
    await b.find()
    c = await Chatter.join(server)
    await c.find()
    assert (await a.expect("matched"))["match"] == (await c.expect("matched"))["match"]
    assert await b.quiet(0.3)


async def test_partner_is_told_when_the_other_socket_closes(server):
    a, b, match = await pair(server)
    await a.close()
    assert await b.expect("partner_left") == {"type": "partner_left", "match": match}


async def test_find_while_chatting_is_refused_and_the_chat_goes_on(server):
    a, b, _ = await pair(server)
    await a.send(type="find", mode="text", interests=[])
    error = await a.expect("error")
    assert error["code"] == "not_allowed"
    await a.send(type="message", text="still here")
    assert (await b.expect("message"))["text"] == "still here"


async def test_adults_and_teens_are_never_paired(server):
    adult = await Chatter.join(server)
    teen = await Chatter.join(server, birth=TEEN)
    assert adult.welcome["band"] == "adult" and teen.welcome["band"] == "teen"
    await adult.find()
    await teen.find()
    # past every timeout (interest 1 s + language 0.5 s) neither is paired
    assert await adult.quiet(2.5)
    assert await teen.quiet(0.1)
    adult2 = await Chatter.join(server)
    await adult2.find()
    assert (await adult.expect("matched"))["match"] == (await adult2.expect("matched"))["match"]


async def test_shared_interests_are_matched_before_a_stranger_who_came_first(server):
    plain = await Chatter.join(server)
    await plain.find()
    cats1 = await Chatter.join(server)
    await cats1.find(["cats"])
    cats2 = await Chatter.join(server)
    await cats2.find(["Cats", "chess"])
    m1, m2 = await cats1.expect("matched"), await cats2.expect("matched")
    assert m1["match"] == m2["match"] and m1["interests"] == ["cats"] and not m1["fallback"]
    assert await plain.quiet(0.3)


async def test_interests_fall_back_to_a_random_stranger_after_the_timeout(server):
    a = await Chatter.join(server)
    b = await Chatter.join(server)
    await a.find(["astronomy"])
    await b.find(["knitting"])
    assert await a.quiet(0.5)  # interests alone for 1 s
    matched = await a.expect("matched", timeout=3)
    assert matched["fallback"] is True and matched["interests"] == []
    assert (await b.expect("matched"))["fallback"] is True


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "typing", "active": "maybe"}', "invalid_field"),
        ('{"type": "message", "text": "' + "x" * 1001 + '"}', "too_large"),
        ('{"type": "message", "text": "' + "x" * 9000 + '"}', "too_large"),
        (b"\x00\x01binary", "malformed"),
    ],
)
async def test_bad_input_gets_its_error_and_the_chat_goes_on(server, frame, code):
    a, b, _ = await pair(server)
    await a.ws.send(frame)
    error = await a.expect("error")
    assert error["code"] == code and "Traceback" not in error["text"]
    await a.send(type="message", text="after the error")
    assert (await b.expect("message"))["text"] == "after the error"


async def test_a_frame_beyond_the_socket_limit_closes_only_that_socket(server):
    a, b, _ = await pair(server)
    other1, other2, _ = await pair(server)
    await a.ws.send("x" * 70_000)
    with pytest.raises(ConnectionClosed) as closed:
        await a.recv()
    assert closed.value.rcvd.code == 1009
    await b.expect("partner_left")
    await other1.send(type="message", text="unaffected")
    assert (await other2.expect("message"))["text"] == "unaffected"


async def test_flooding_is_rate_limited_and_others_keep_chatting(server):
    a, b, _ = await pair(server)
    c, d, _ = await pair(server)
    for i in range(20):
        await a.send(type="message", text=f"flood {i}")
    errors = [await a.expect("error") for _ in range(10)]
    assert {e["code"] for e in errors} == {"rate_limited"}
    assert all(e["retry_after"] > 0 for e in errors)
    relayed = []
    while True:
        try:
            relayed.append(await b.recv(timeout=0.5))
        except TimeoutError:
            break
    assert len(relayed) == 10  # the burst, no more
    await c.send(type="message", text="we are fine")
    assert (await d.expect("message"))["text"] == "we are fine"


async def test_a_client_that_keeps_sending_garbage_is_closed(server):
    a = await Chatter.join(server)
    for _ in range(40):
        await a.ws.send("garbage")
    codes = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            codes.append((await a.recv())["code"])
    assert closed.value.rcvd.code == 1008
    assert set(codes) <= {"malformed", "rate_limited"} and codes[-1] == "rate_limited"


async def test_the_first_message_must_be_hello(server):
    async with connect(server) as ws:
        await challenge(ws)
        await ws.send(json.dumps({"type": "find", "mode": "text"}))
        error = json.loads(await ws.recv())
        assert error["code"] == "hello_required"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008


async def test_an_unsupported_version_is_refused(server):
    async with connect(server) as ws:
        proof = proof_for(await challenge(ws))
        await ws.send(json.dumps({"type": "hello", "version": 9, "proof": proof, **ADULT}))
        assert json.loads(await ws.recv())["code"] == "unsupported_version"


async def refused(url, birth, device=None):
    async with connect(url) as ws:
        await ws.send(await hello_frame(ws, device=device, **birth))
        message = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return message


async def test_under_13_is_refused_and_stays_refused_on_that_device(server):
    child = {"birth_year": 2018, "birth_month": 6}
    first = await refused(server, child)
    assert first["type"] == "refused" and first["reason"] == "too_young"
    again = await refused(server, ADULT, device=first["device"])
    assert again["reason"] == "too_young" and again["until"] == first["until"]


async def test_teens_are_refused_when_the_teen_pool_is_off(adults_only):
    message = await refused(adults_only, TEEN)
    assert message == {**message, "type": "refused", "reason": "adults_only"}
    again = await refused(adults_only, ADULT, device=message["device"])
    assert again["reason"] == "adults_only"


async def test_two_tabs_of_one_device_are_never_paired(server):
    first = await Chatter.join(server)
    second = await Chatter.join(server, device=first.welcome["device"])
    await first.find()
    await second.find()
    assert await first.quiet(2.0)
    assert await second.quiet(0.1)


async def test_many_pairs_at_once_each_pair_only_with_its_partner(server):
    chatters = await asyncio.gather(*(Chatter.join(server) for _ in range(40)))
    for c in chatters:
        await c.send(type="find", mode="text", interests=[])
    matches = {}
    for c in chatters:
        await c.expect("waiting")
        matches.setdefault((await c.expect("matched"))["match"], []).append(c)
    assert len(matches) == 20 and all(len(v) == 2 for v in matches.values())
    # A line of letters only, one per pair: a random match id may read as a chat line
    # the text checks act on (an age stated in the adult pool), which is not the point.
    lines = {
        match: "hello " + "".join(chr(97 + int(d)) for d in f"{i:02d}")
        for i, match in enumerate(matches)
    }
    for match, (first, _) in matches.items():
        await first.send(type="message", text=lines[match])
    for match, (_, second) in matches.items():
        assert (await second.expect("message"))["text"] == lines[match]


async def test_on_the_laptop_default_two_tabs_of_one_browser_can_chat(adults_only):
    first = await Chatter.join(adults_only)
    second = await Chatter.join(adults_only, device=first.welcome["device"])
    for _ in range(2):  # and again at once after a skip: no cooldown with oneself
        await first.find()
        await second.find()
        match = (await first.expect("matched"))["match"]
        assert (await second.expect("matched"))["match"] == match
        await first.send(type="stop")
        await first.expect("ended")
        await second.expect("partner_left")


async def test_find_may_follow_hello_without_waiting_for_welcome(server):
    sockets = [await connect(server) for _ in range(2)]
    for ws in sockets:
        await ws.send(await hello_frame(ws, device=None, **ADULT))
        await ws.send(json.dumps({"type": "find", "mode": "text", "interests": []}))
    kinds = [[json.loads(await ws.recv())["type"] for _ in range(3)] for ws in sockets]
    assert kinds == [["welcome", "waiting", "matched"]] * 2
    for ws in sockets:
        await ws.close()
