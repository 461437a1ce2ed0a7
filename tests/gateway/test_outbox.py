"""The outbox writes at once when it can, queues in order while the peer is slow,
and drops a reader that falls too far behind."""

import asyncio

from strangers.gateway.outbox import Outbox


class Peer:
    """A socket whose sends complete at once until ``pause()``, like an ASGI send."""

    def __init__(self):
        self.written: list[str] = []
        self.gate: asyncio.Event | None = None
        self.broken = False

    def pause(self):
        self.gate = asyncio.Event()

    def resume(self):
        assert self.gate is not None
        self.gate.set()
        self.gate = None

    async def write(self, frame: str) -> None:
        if self.broken:
            raise ConnectionError("gone")
        if self.gate is not None:
            await self.gate.wait()
        self.written.append(frame)


async def test_frames_are_written_in_the_callers_turn():
    peer, overflows = Peer(), []
    outbox = Outbox(peer.write, 4, lambda: overflows.append(1))
    outbox.put("a")
    outbox.put("b")
    assert peer.written == ["a", "b"]  # no await in between: written synchronously


async def test_a_slow_peer_gets_its_frames_later_and_in_order():
    peer = Peer()
    outbox = Outbox(peer.write, 4, lambda: None)
    peer.pause()
    for frame in "abc":
        outbox.put(frame)
    await asyncio.sleep(0)
    assert peer.written == []
    peer.resume()
    await outbox.drain()
    assert peer.written == ["a", "b", "c"]
    outbox.put("d")
    assert peer.written == ["a", "b", "c", "d"]


async def test_a_reader_too_slow_for_the_limit_is_dropped_once():
    peer, overflows = Peer(), []
    outbox = Outbox(peer.write, 2, lambda: overflows.append(1))
    peer.pause()
    for frame in "abcdef":
        outbox.put(frame)
    assert overflows == [1] and outbox.overflowed
    outbox.close()
    await asyncio.sleep(0)
    assert peer.written == []


async def test_a_broken_socket_stops_the_outbox_without_raising():
    peer = Peer()
    outbox = Outbox(peer.write, 4, lambda: None)
    peer.broken = True
    outbox.put("a")
    assert outbox.broken
    outbox.put("b")
    assert peer.written == []


async def test_closing_cancels_a_send_in_flight():
    peer = Peer()
    outbox = Outbox(peer.write, 4, lambda: None)
    peer.pause()
    outbox.put("a")
    outbox.close()
    await outbox.drain()
    peer.resume()
    await asyncio.sleep(0)
    assert peer.written == []
