"""Delivery: a channel per gateway carries pairs, partner events and frame checks;
another channel reaches every gateway (facts: blocks, bans, age records; cooldowns;
re-announce requests). One subscription hears both, and is made again if it is lost
(the waiting chatters are then re-announced: deliveries were missed meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..base import PairSink, home_of
from ..counters import BrokerCounters
from ..keys import Keys
from ..wire import (
    WireError,
    event_from_wire,
    fact_from_wire,
    loads,
    note_from_wire,
    pair_from_wire,
    pool_from_key,
)
from .frames import FrameCalls
from .leases import Leases
from .link import Link
from .waiting import Waiting

log = logging.getLogger("strangers.redis")


class Deliveries:
    """What reaches this gateway through Redis, handed to the node's sink.
    ``subscribed`` is set once the subscription is up."""

    def __init__(
        self,
        link: Link,
        keys: Keys,
        node_id: str,
        *,
        waiting: Waiting,
        leases: Leases,
        frames: FrameCalls,
        counters: BrokerCounters,
        clock: Callable[[], float],
    ) -> None:
        self._link = link
        self._keys = keys
        self.node_id = node_id
        self._waiting = waiting
        self._leases = leases
        self._frames = frames
        self.counters = counters
        self._clock = clock
        self.subscribed = asyncio.Event()

    async def listen_forever(self, sink: PairSink) -> None:
        first = True
        while self._link.running:
            pubsub = self._link.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.inbox(self.node_id), self._keys.everyone)
                if not first:
                    # Deliveries were missed while the subscription was down.
                    self._waiting.reannounce(None)
                first = False
                self.subscribed.set()
                while self._link.running:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    self.dispatch(sink, message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    def dispatch(self, sink: PairSink, channel: str, data: str) -> None:
        """Apply one delivery; a bad payload is counted and dropped, never fatal."""
        try:
            value = loads(data)
            if channel == self._keys.everyone:
                self._on_everyone(sink, value)
            else:
                self._on_inbox(sink, value)
        except WireError as exc:
            self.counters.bad_payloads += 1
            log.warning("dropped a payload from Redis: %s", exc)
        except Exception:
            # A fault in one delivery must not stop the node hearing the next.
            log.exception("fault while applying a delivery from Redis")

    def _on_inbox(self, sink: PairSink, value: dict[str, Any]) -> None:
        kind = value.get("t")
        if kind == "relay":
            to, event = event_from_wire(value)
            if home_of(to) == self.node_id:
                sink.on_peer(to, event)
        elif kind == "pair":
            pair = pair_from_wire(value, self._clock())
            sink.on_pairs([self._waiting.claim(pair)])
        elif kind == "note":
            note = note_from_wire(value)
            if home_of(note.session) == self.node_id:
                sink.on_wait_notes([note])
        elif kind == "frame":
            self._frames.serve(value)
        elif kind == "frame_reply":
            self._frames.answered(value)
        else:
            raise WireError(f"unknown delivery {kind!r}")

    def _on_everyone(self, sink: PairSink, value: dict[str, Any]) -> None:
        kind = value.get("t")
        if kind == "reannounce":
            self._waiting.reannounce(pool_from_key(str(value.get("p"))))
        elif kind == "cooldowns":
            if value.get("o") != self.node_id and self._leases.held:
                self._leases.remember(value.get("l"))
        elif value.get("o") != self.node_id:
            sink.on_fact(fact_from_wire(value))
