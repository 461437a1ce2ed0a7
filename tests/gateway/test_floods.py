"""Floods against a live server (issue 9; docs/design.md §3 limits; OWASP ASVS 5.0 V2.4
anti-automation): connections, chat lines, ``find``/``skip``, frame posts and console
sign-in attempts, each a few hundred events from one network.

For each flood:

- **the limit holds**: past it, every refusal is the documented one (``rate_limited``
  with ``retry_after`` and close 1013 for a connection; ``rate_limited`` on the socket;
  429 with ``retry_after`` and ``Retry-After`` over HTTP), and what got through is
  within the configured limit (the server's own refusal counter agrees);
- **persistent abuse is banned where the design says so** (a device past
  ``limit_abuse_device``: ``banned``, then refused at its next ``hello``), and nowhere
  else (a connection flood has no device, and a network is shared: nothing is banned;
  console sign-in: refused, never banned);
- **a well-behaved pair keeps chatting, losing nothing** (``steady_pair.py``, from a
  network of its own, one line and its echo every 0.25 s through every flood);
- **the server comes back to its baseline**: it holds no more sockets than before (the
  chat sockets, HTTP connections, the pair's two: ``/proc/<pid>/fd``), its frame queue
  is empty again (its ``strangers_frame_queue_depth`` gauge), and its resident memory is
  within 64 MB of what it was (see :data:`RSS_SLACK_KB`). No time is asserted anywhere.

Every flood comes from a loopback address of its own (127.0.0.11-16): the server sees
each as another network, so one flood's counts never spill into the next one's.

The server is ``strangers serve`` in a process of its own (``pytest -m process``): the
baseline is read from that process (its sockets in ``/proc/<pid>/fd``, its resident
memory), which a server in the test's process would share with the floods' clients and
the pair; and the floods, hundreds of sockets and requests at once, must not run on the
server's interpreter, whose loop and GIL they would slow and so bend what the pair sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..images import portrait
from .chatter import Chatter
from .steady_pair import LiveServer, PairThread, live_server

pytestmark = pytest.mark.process

#: The limits the floods meet (the server below): what a flood may get through.
CONNECT_PER_HOUR = 40
MESSAGES_PER_SECOND = 10  # the default
FINDS_PER_HOUR = 20
FRAMES_PER_HOUR = 10
SIGN_INS_PER_NETWORK = 30  # the defaults: 30 per network, 10 per name, in 15 minutes
SIGN_INS_PER_NAME = 10
ABUSE_BAN_REASON = "Too many requests: automated or abusive use"

#: How far the server's resident memory may stay above its baseline after a flood. RSS
#: cannot be compared to the byte: CPython keeps freed objects' memory in its arenas and
#: glibc's malloc keeps freed heap for reuse, so after a burst of sockets it stays a few
#: MB up however clean the server (at most 4 MB measured after these floods). 64 MB is
#: far above that noise, so the check never fails by chance; it is a backstop against
#: gross growth (a buffer or queue kept per refused event, a runaway counter map). What a
#: flood leaves behind is checked exactly by the server's socket count and its frame queue
#: gauge; ``bench/flood.py`` reports RSS before, at the peak and after floods some 40
#: times larger.
RSS_SLACK_KB = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Small limits, so that a few hundred events pass them: per hour for connections,
    ``find``/``skip`` and frames (the steady pair needs one connection and one ``find``
    each, and posts no frames); chat lines keep the default 10/s per device, which the
    pair's 4/s stays under. The session's own frame bucket is opened wide, so the
    frame flood meets the per-device limit (the one that leads to a ban). A network
    becomes abusive after 100 refusals in 10 minutes (the default is 300), so the
    connection flood gets there; devices keep the default 30."""
    with live_server(
        tmp_path_factory.mktemp("floods"),
        frame_checker="tests.checkers:scripted",
        limit_connect_network=f"{CONNECT_PER_HOUR}/hour",
        limit_find_device=f"{FINDS_PER_HOUR}/hour",
        limit_frame_device=f"{FRAMES_PER_HOUR}/hour",
        frame_posts_per_second=100,
        frame_post_burst=100,
        limit_abuse_network="100/10 minutes",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def steady(server: LiveServer) -> Iterator[PairThread]:
    with PairThread(server.url, interval=0.25) as pair:
        yield pair


# --- what every flood checks -------------------------------------------------------------------


@dataclass
class Baseline:
    sockets: int
    rss_kb: int
    refused: dict[str, float]

    @classmethod
    def of(cls, server: LiveServer) -> Baseline:
        return cls(server.sockets(), server.rss_kb(), refused_by_action(server))


def refused_by_action(server: LiveServer) -> dict[str, float]:
    """The server's own count of refusals by the rate limits, per action."""
    counts: Counter[str] = Counter()
    for name, value in server.metrics().items():
        if name.startswith("strangers_rate_limited_total{"):
            labels = dict(re.findall(r'(\w+)="(\w*)"', name))
            counts[labels["action"]] += value
            counts[labels["action"] + " abusive"] += value if labels["abusive"] == "true" else 0
    return dict(counts)


async def back_to_baseline(server: LiveServer, before: Baseline, steady: PairThread) -> None:
    """After a flood: the server alive, holding no more sockets than before, its frame
    queue empty, its memory within :data:`RSS_SLACK_KB`; the pair lost nothing."""
    assert server.alive()
    # The last closes are settled by the server after the client's side is done.
    sockets = server.sockets()
    for _ in range(200):
        if sockets <= before.sockets:
            break
        await asyncio.sleep(0.05)
        sockets = server.sockets()
    assert sockets <= before.sockets, (sockets, before.sockets)
    assert server.metrics()["strangers_frame_queue_depth"] == 0
    rss = server.rss_kb()
    print(f"  after: {sockets} sockets (before {before.sockets}), RSS {rss - before.rss_kb:+} kB")
    assert rss <= before.rss_kb + RSS_SLACK_KB, (rss, before.rss_kb)
    tally = await asyncio.to_thread(steady.settle)
    assert tally.unexpected == [], tally.unexpected
    assert tally.received == tally.echoed == tally.sent > 0


def refused_for_a_while(message: dict[str, Any]) -> bool:
    return (
        message.get("type") == "error"
        and message.get("code") == "rate_limited"
        and message.get("retry_after", 0) > 0
    )


def windows(start: float, end: float, seconds: int) -> int:
    """How many windows of ``seconds`` (aligned on multiples of it, as the limits' are)
    the span from ``start`` to ``end`` (Unix times) touches."""
    return math.floor(end / seconds) - math.floor(start / seconds) + 1


@dataclass
class Socket:
    """One flooding socket: what it was told, and how it was closed."""

    chatter: Chatter
    told: list[dict[str, Any]] = field(default_factory=list)
    closed: int | None = None
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, address: str, device: str | None = None) -> Socket:
        return cls(await Chatter.join(url, device=device, local_addr=(address, 0)))

    def listen(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                self.told.append(await self.chatter.recv(timeout=30))
        except ConnectionClosed as closed:
            self.closed = closed.rcvd.code if closed.rcvd else 1006

    async def blast(self, frames: list[dict[str, Any]]) -> int:
        """Send ``frames`` as fast as the socket takes them; how many were sent before
        the server closed it."""
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await self.chatter.ws.send(json.dumps(frame))
                sent += 1
        return sent

    async def finish(self) -> None:
        assert self.reader is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.reader), 10)
        await self.chatter.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader

    def kinds(self) -> Counter[str]:
        return Counter(m.get("code", m["type"]) for m in self.told)


async def matched(url: str, address: str, mode: str = "text") -> tuple[Chatter, Chatter, dict]:
    tag = "flood-" + secrets.token_hex(4)
    a = await Chatter.join(url, local_addr=(address, 0))
    b = await Chatter.join(url, local_addr=(address, 0))
    for chatter in (a, b):
        await chatter.send(type="find", mode=mode, interests=[tag])
        await chatter.expect("waiting")
    first, second = await a.expect("matched"), await b.expect("matched")
    assert first["match"] == second["match"]
    return a, b, first


# --- connections -------------------------------------------------------------------------------


async def test_a_connection_flood_is_refused_past_the_network_limit_and_bans_no_one(
    server: LiveServer, steady: PairThread
) -> None:
    before = Baseline.of(server)
    address, attempts, at_once = "127.0.0.11", 400, 40
    admitted: list[Any] = []
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with gate:
            ws = await connect(server.url, compression=None, local_addr=(address, 0))
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if first["type"] == "challenge":
                admitted.append(ws)  # held open, as a flood would, until the end
                outcomes["admitted"] += 1
                return
            assert refused_for_a_while(first), first
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            outcomes["refused"] += 1

    await asyncio.gather(*(one() for _ in range(attempts)))
    print(f"\nconnections: {dict(outcomes)}")
    try:
        assert outcomes["admitted"] + outcomes["refused"] == attempts
        # A flood straddling the top of the hour may get one more (a sliding window).
        assert outcomes["admitted"] <= CONNECT_PER_HOUR + 1, outcomes
        after = refused_by_action(server)
        assert after["connect"] - before.refused["connect"] == outcomes["refused"]
        # Past 100 refusals the network is abusive, yet nothing is banned: no device is
        # known before hello, and a network is shared.
        assert after["connect abusive"] > before.refused["connect abusive"]
        # What the server holds for the flood is what it admitted, however many came.
        assert server.sockets() <= before.sockets + outcomes["admitted"] + at_once
    finally:
        await asyncio.gather(*(ws.close() for ws in admitted))
    # The flooding network is still refused for a while; anyone else is let in.
    async with connect(server.url, local_addr=(address, 0)) as ws:
        assert refused_for_a_while(json.loads(await ws.recv()))
    other = await Chatter.join(server.url, local_addr=("127.0.0.21", 0))
    assert other.welcome["type"] == "welcome"
    await other.close()
    await back_to_baseline(server, before, steady)


# --- chat lines --------------------------------------------------------------------------------


async def test_a_message_flood_is_held_to_the_device_limit_then_the_device_is_banned(
    server: LiveServer, steady: PairThread
) -> None:
    before = Baseline.of(server)
    address = "127.0.0.12"
    flooder, partner, _ = await matched(server.url, address)
    device = flooder.welcome["device"]
    lines = [{"type": "message", "text": f"flood {n}"} for n in range(200)]
    first = Socket(flooder)
    first.listen()
    through: list[str] = []
    started = time.time()
    sent = await first.blast(lines)
    await first.finish()
    # The partner got what passed, in order, and nothing after the flooder was closed.
    while (message := await partner.recv())["type"] == "message":
        through.append(message["text"])
    assert message["type"] == "partner_left"
    ended = time.time()
    await partner.close()
    # Past 10 lines a second, each line is refused; past 20 refusals the socket's error
    # budget is spent and it is closed (1008). The limit's one-second windows are aligned
    # on the clock the server shares: the bound counts the windows the flood touched (a
    # count of limits, not a time asserted).
    assert through == [f"flood {n}" for n in range(len(through))]
    assert 0 < len(through) <= MESSAGES_PER_SECOND * windows(started, ended, 1)
    assert first.closed == 1008
    assert len(through) + len(first.told) < sent  # the rest was never read
    assert all(refused_for_a_while(m) for m in first.told), first.kinds()
    refused = len(first.told)
    # The device keeps at it from new sockets: past 30 refusals in 10 minutes it is
    # banned (banned, then 1008), and refused at its next hello.
    rounds = 0
    banned: dict[str, Any] | None = None
    while banned is None and rounds < 5:
        rounds += 1
        again = await Socket.open(server.url, address, device)
        again.listen()
        await again.blast(lines)
        await again.finish()
        refused += sum(refused_for_a_while(m) for m in again.told)
        banned = next((m for m in again.told if m["type"] == "banned"), None)
        assert set(again.kinds()) <= {"rate_limited", "not_allowed", "banned"}, again.kinds()
    assert banned is not None, "the device was never banned"
    assert banned["reason"] == ABUSE_BAN_REASON and banned["until"] > time.time()
    assert again.closed == 1008
    assert (await Chatter.hello(server.url, device=device))["type"] == "banned"
    assert refused_by_action(server)["message"] - before.refused["message"] >= refused
    print(f"\nmessages: {len(through)} through, {refused} refused; banned on socket {rounds + 1}")
    await back_to_baseline(server, before, steady)


# --- find and skip ----------------------------------------------------------------------------


async def test_a_skip_flood_is_held_to_the_device_limit_then_the_device_is_banned(
    server: LiveServer, steady: PairThread
) -> None:
    before = Baseline.of(server)
    address = "127.0.0.13"
    first = await Socket.open(server.url, address)
    device = first.chatter.welcome["device"]
    first.listen()
    await first.blast([{"type": "find", "mode": "text", "interests": []}])
    await first.blast([{"type": "skip"}] * 200)
    await first.finish()
    # Each find or skip let through is answered waiting (alone in the pool, the flooder
    # waits on); past the limit, rate_limited; past 20 refusals, closed.
    kinds = first.kinds()
    assert set(kinds) <= {"waiting", "rate_limited"}, kinds
    assert 0 < kinds["waiting"] <= FINDS_PER_HOUR + 1
    assert all(refused_for_a_while(m) for m in first.told if m["type"] == "error")
    assert first.closed == 1008
    banned = None
    for _ in range(5):
        again = await Socket.open(server.url, address, device)
        again.listen()
        await again.blast([{"type": "find", "mode": "text", "interests": []}])
        await again.blast([{"type": "skip"}] * 200)
        await again.finish()
        assert set(again.kinds()) <= {"rate_limited", "not_allowed", "banned"}, again.kinds()
        banned = next((m for m in again.told if m["type"] == "banned"), None)
        if banned is not None:
            break
    assert banned is not None and banned["reason"] == ABUSE_BAN_REASON
    assert (await Chatter.hello(server.url, device=device))["type"] == "banned"
    assert refused_by_action(server)["find"] - before.refused["find"] >= kinds["rate_limited"]
    print(f"\nskips: first socket {dict(kinds)}, then banned")
    await back_to_baseline(server, before, steady)


# --- frame posts -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def http_from(server: LiveServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.base, transport=transport) as client:
        yield client


async def test_a_frame_flood_is_held_to_the_device_limit_then_the_device_is_banned(
    server: LiveServer, steady: PairThread
) -> None:
    before = Baseline.of(server)
    address, attempts, at_once = "127.0.0.14", 300, 20
    flooder, partner, match = await matched(server.url, address, mode="video")
    token = match["frame_token"]
    frame = portrait()
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(at_once)
    async with http_from(server, address) as client:

        async def one() -> None:
            async with gate:
                response = await client.post(
                    "/v1/frames?source=partner",
                    content=frame,
                    headers={"content-type": "image/jpeg", "authorization": f"Bearer {token}"},
                )
            statuses[response.status_code] += 1
            assert "Traceback" not in response.text
            if response.status_code == 429:
                body = response.json()
                assert body["code"] == "rate_limited" and body["retry_after"] > 0
                assert int(response.headers["retry-after"]) >= 1
            if response.status_code == 503:
                # Past the device's fair share of the check pool: shed, never failed.
                assert response.json()["code"] == "busy"

        await asyncio.gather(*(one() for _ in range(attempts)))
    print(f"\nframes: {dict(statuses)}")
    # Checked: at most the device's limit. Refused: 429; past the device's share of the
    # check pool, shed (503 busy). Once the device is banned, its match is over and the
    # token with it (410); the server never failed (no 500).
    assert sum(statuses.values()) == attempts
    assert set(statuses) <= {200, 429, 410, 503}, statuses
    assert 0 < statuses[200] <= FRAMES_PER_HOUR + 1, statuses
    assert refused_by_action(server)["frame"] - before.refused["frame"] == statuses[429]
    banned = await until(flooder, "banned")
    assert banned["reason"] == ABUSE_BAN_REASON
    assert (await until(partner, "partner_left"))["match"] == match["match"]
    assert (await Chatter.hello(server.url, device=flooder.welcome["device"]))["type"] == "banned"
    await flooder.close()
    await partner.close()
    await back_to_baseline(server, before, steady)


async def until(chatter: Chatter, kind: str) -> dict[str, Any]:
    """The first message of ``kind``, past others (blur verdicts of the checked frames)."""
    while True:
        message = await chatter.recv(timeout=10)
        if message["type"] == kind:
            return message


# --- console sign-in ---------------------------------------------------------------------------


def form_csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found, "no csrf field"
    return found.group(1)


async def sign_in_flood(server: LiveServer, address: str, names: list[str]) -> Counter[int]:
    """Sign-in attempts with wrong passwords, one after another, each with the form
    token of the page the last one returned."""
    statuses: Counter[int] = Counter()
    async with http_from(server, address) as client:
        csrf = form_csrf((await client.get("/mod/signin")).text)
        for name in names:
            response = await client.post(
                "/mod/signin", data={"csrf": csrf, "name": name, "password": "guess"}
            )
            statuses[response.status_code] += 1
            assert "Traceback" not in response.text
            if response.status_code == 429:
                assert "Too many sign-in attempts" in response.text
                assert 1 <= int(response.headers["retry-after"]) <= 15 * 60
            else:
                assert response.status_code == 200 and "Wrong name, password" in response.text
            csrf = form_csrf(response.text)
    return statuses


async def test_a_sign_in_flood_is_refused_past_the_network_and_name_limits(
    server: LiveServer, steady: PairThread
) -> None:
    before = Baseline.of(server)
    # Spraying: many names from one network.
    sprayed = await sign_in_flood(server, "127.0.0.15", [f"name{n}" for n in range(150)])
    assert set(sprayed) == {200, 429}
    assert sprayed[200] <= SIGN_INS_PER_NETWORK + 1, sprayed
    # One name, from another network.
    guessed = await sign_in_flood(server, "127.0.0.16", ["mallory"] * 60)
    print(f"\nsign-in: many names {dict(sprayed)}, one name {dict(guessed)}")
    assert set(guessed) == {200, 429}
    assert guessed[200] <= SIGN_INS_PER_NAME + 1, guessed
    counted = refused_by_action(server)["sign_in"] - before.refused["sign_in"]
    assert counted == sprayed[429] + guessed[429]
    await back_to_baseline(server, before, steady)


# --- after all the floods -----------------------------------------------------------------------


def test_the_server_logged_no_traceback_under_the_floods(server: LiveServer) -> None:
    assert server.alive()
    found = server.tracebacks()
    assert not found, f"{len(found)} traceback(s) in the server log; the first:\n{found[0]}"
