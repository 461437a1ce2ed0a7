"""Chatting bots for the many-gateway tests: protocol clients (:class:`strangers.client.Client`)
that find, talk, skip, leave and come back, and write down everything they are told.

Each bot keeps its device token across reconnections (as the page does), so the
re-pair rule can be checked per device. Everything they see is checked afterwards
by :func:`violations`, the same properties the core's tests check:

- no pair across age bands;
- nobody in two matches at once, and no match with other than two chatters;
- no device with itself, and no two devices paired again within the cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from strangers.client import ADULT, Birth, Client, ClientError, NotAdmitted
from strangers.core.messages import Ended, Error, Matched, Message, PartnerLeft

#: A birth the age question admits to the teen pool (13–17).
TEEN = Birth(2011, 1)


@dataclass
class Seen:
    """One thing a bot was told, with the monotonic time it arrived."""

    at: float
    bot: int
    kind: str
    match: str | None = None
    session: str | None = None
    device: str | None = None
    band: str | None = None
    gateway: int | None = None


@dataclass
class Bot:
    index: int
    band: str
    urls: list[str]
    rng: random.Random
    log: list[Seen]
    device: str | None = None
    session: str | None = None
    gateway: int = 0
    match: str | None = None
    #: Share of chats this bot keeps going for several seconds instead of skipping soon,
    #: so a failure in the middle of a chat can be seen from the other side.
    long_chats: float = 0.3
    finds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self, kind: str, **fields: Any) -> None:
        self.log.append(
            Seen(
                time.monotonic(),
                self.index,
                kind,
                session=self.session,
                device=self.device,
                band=self.band,
                gateway=self.gateway,
                **fields,
            )
        )

    async def run(self, until: float, churn: float = 0.1) -> None:
        """Chat until ``until``: after each match a short talk, then skip; now and then
        (``churn``) close the socket instead and come back, maybe on another gateway."""
        attempt = 0
        while time.monotonic() < until:
            url = self.urls[(self.gateway) % len(self.urls)]
            try:
                await self._session(url, until, churn)
            # A gateway killed between the TCP accept and its handshake answer
            # closes with no HTTP response at all: InvalidHandshake, not OSError.
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, ClientError) as exc:
                self.note("disconnected")
                self.errors.append(type(exc).__name__)
            self.match = None
            attempt += 1
            # Come back on the next gateway (the one we were on may be dead).
            self.gateway = (self.gateway + 1) % len(self.urls)
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))

    async def _session(self, url: str, until: float, churn: float) -> None:
        birth = ADULT if self.band == "adult" else TEEN
        try:
            client = await Client.join(
                url, birth, device=self.device, language="en", timeout=5, close_timeout=1
            )
        except NotAdmitted as refused:
            self.errors.append(f"hello answered {refused.answer}")
            return
        async with client:
            assert client.welcome is not None
            self.device, self.session = client.welcome.device, client.welcome.session
            await self._find(client)
            while time.monotonic() < until:
                try:
                    message = await client.receive(0.5)
                except TimeoutError:
                    continue
                if isinstance(message, Matched):
                    if self.match is not None:
                        self.note("matched-while-chatting", match=message.match)
                    self.match = message.match
                    self.note("matched", match=self.match)
                    await client.say(f"hi from {self.index}")
                    if self.rng.random() < self.long_chats:
                        if not await self._hold(client, self.rng.uniform(5.0, 9.0)):
                            continue
                    else:
                        await asyncio.sleep(self.rng.uniform(0.1, 0.6))
                    if self.match is None:
                        continue
                    if self.rng.random() < churn:
                        self.note("leaves", match=self.match)
                        return  # the socket closes: the partner must hear partner_left
                    self.note("skip", match=self.match)
                    await client.skip()
                elif isinstance(message, Ended):
                    self.note("ended", match=message.match)
                    self.match = None
                elif isinstance(message, PartnerLeft):
                    self.note("partner_left", match=message.match)
                    if self.match == message.match:
                        self.match = None
                    await asyncio.sleep(self.rng.uniform(0.0, 0.2))
                    await self._find(client)
                elif isinstance(message, Message):
                    self.note("message", match=self.match)
                elif isinstance(message, Error):
                    self.errors.append(message.code)
                    if message.code == "rate_limited":
                        wait = message.retry_after or 1.0
                        await asyncio.sleep(min(wait, max(0.0, until - time.monotonic())))
                        if self.match is None:
                            with contextlib.suppress(ConnectionClosed):
                                await self._find(client)

    async def _hold(self, client: Client, seconds: float) -> bool:
        """Stay in the chat for ``seconds``, hearing the partner; False if it ended."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                message = await client.receive(left)
            except TimeoutError:
                break
            if isinstance(message, PartnerLeft | Ended):
                self.note(message.type, match=message.match)
                self.match = None
                await self._find(client)
                return False
        return True

    async def _find(self, client: Client) -> None:
        self.finds.append(time.monotonic())
        self.note("find")
        await client.find()


def make_bots(
    urls: list[str], count: int, teen_share: float, seed: int
) -> tuple[list[Bot], list[Seen]]:
    rng = random.Random(seed)
    log: list[Seen] = []
    bots = [
        Bot(
            index=i,
            band="teen" if rng.random() < teen_share else "adult",
            urls=urls,
            rng=random.Random(seed * 1000 + i),
            log=log,
            gateway=i % len(urls),
        )
        for i in range(count)
    ]
    return bots, log


def violations(log: list[Seen], cooldown: float, slack: float = 0.25) -> list[str]:
    """Every broken rule in what the bots saw (empty when all held)."""
    found: list[str] = []
    by_match: dict[str, list[Seen]] = defaultdict(list)
    for seen in log:
        if seen.kind == "matched" and seen.match is not None:
            by_match[seen.match].append(seen)
        if seen.kind == "matched-while-chatting":
            found.append(f"bot {seen.bot} was matched while in a match ({seen.match})")
    last_met: dict[tuple[str, str], float] = {}
    for match, sides in sorted(by_match.items(), key=lambda kv: kv[1][0].at):
        if len(sides) > 2:
            found.append(f"match {match} reached {len(sides)} chatters")
            continue
        if len({s.band for s in sides}) > 1:
            found.append(f"match {match} paired across age bands")
        if len(sides) == 2:
            one, two = sides
            if one.device == two.device:
                found.append(f"match {match} paired a device with itself")
            key = tuple(sorted((str(one.device), str(two.device))))
            at = min(one.at, two.at)
            earlier = last_met.get(key)  # type: ignore[arg-type]
            if earlier is not None and at - earlier < cooldown - slack:
                found.append(f"devices {key} met again after {at - earlier:.2f} s")
            last_met[key] = at  # type: ignore[index]
    return found
