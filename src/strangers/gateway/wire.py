"""The chat socket's frames on the wire: the server side of RFC 6455 after the opening
handshake, as an asyncio protocol on the connection's transport.

Every chat line crosses this twice, so it does only what the chat needs (docs/performance.md,
"Against the Node peers"): no extension is negotiated (so RSV bits must be 0), frames are
parsed from one buffer with no object per frame, a text message is handed to the chat socket
as a ``str`` (UTF-8 checked, RFC 6455 §8.1), and a server frame is one header and one payload
written straight to the transport. The rules it enforces, each failing the connection with
the close code RFC 6455 §7.4.1 gives:

- a client frame must be masked (§5.1), its RSV bits 0 (§5.2), its opcode known (§5.2);
  a control frame must not be fragmented and holds at most 125 bytes (§5.5): 1002;
- continuation frames only inside a fragmented message, no new data message inside one
  (§5.4): 1002;
- a message over ``max_size`` bytes (counted across its fragments): 1009;
- a text message that is not UTF-8: 1007;
- a close frame's payload is empty, or a valid code (§7.4) and a UTF-8 reason (§5.5.1):
  else 1002 (1007 for the reason).

A ping is answered with a pong carrying its payload (§5.5.2); a pong is ignored. While the
transport has paused writing, only the latest ping is remembered and answered once it
resumes (§5.5.3 allows answering only the most recent one): a peer that pings and never
reads cannot grow the server's send buffer. The server sends no pings of its own: a chat
socket that sends nothing for ``idle_timeout`` seconds is closed by the chat socket
(``chat_socket.py``), which also ends a half-open connection.

Closing (§7.1): :meth:`ChatWire.close` sends a close frame and closes the TCP connection
when the peer's close frame arrives, or after ``close_timeout`` seconds; a close frame from
the peer is echoed, then the connection closed (the server closes TCP first, §7.1.1). Once
closing began, nothing more is sent, and the connection is gone within ``close_timeout``
seconds: a transport that still holds unsent bytes then (the peer stopped reading) is
aborted rather than left to wait for a flush that never comes.

Flow control: the transport's writes are never awaited unless it paused writing (the peer
stopped reading, and the kernel's and the transport's buffers are full); then
:meth:`send_text` waits until it resumes, at most ``write_timeout`` seconds: a peer that
reads nothing for that long while the server has bytes for it is dropped (the role the
websocket ping timeout has on every other socket, docs/security.md, "Flooders": dead
peers). Reading pauses while ``max_queue`` messages wait for the chat socket, so a peer
that writes faster than the socket reads is held back by TCP, not buffered without end
(OWASP ASVS 5.0 V4.4); a fragmented message is held in one buffer of at most
``max_size`` bytes, however many fragments it comes in.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable
from typing import Final, cast

from websockets.utils import apply_mask

from .errors import WireClosed

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

PROTOCOL_ERROR: Final = 1002
INVALID_DATA: Final = 1007
TOO_BIG: Final = 1009
GOING_AWAY: Final = 1001
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006

#: Close codes a peer may send (RFC 6455 §7.4.1, §7.4.2; 1004-1006 and 1015 are reserved
#: and must never be sent, 1016-2999 are for future versions of the protocol).
_PEER_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)

_SHORT: Final = struct.Struct("!H")
_LONG: Final = struct.Struct("!Q")


def frame_header(opcode: int, length: int) -> bytes:
    """The header of an unmasked, final server frame (RFC 6455 §5.2)."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 0x10000:
        return bytes((first, 126)) + _SHORT.pack(length)
    return bytes((first, 127)) + _LONG.pack(length)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code, then the reason cut to fit 125 bytes, at a
    character's edge (the reason must be UTF-8, RFC 6455 §5.5.1)."""
    return _SHORT.pack(code) + reason.encode()[:123].decode(errors="ignore").encode()


class _Failed(Exception):
    """The peer broke the protocol: fail the connection with ``code`` (RFC 6455 §7.1.7)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ChatWire(asyncio.Protocol):
    """One chat socket's connection after the handshake (module docstring).

    The chat socket awaits :meth:`receive` for each message and calls :meth:`send_text`
    and :meth:`close`; ``receive`` raises :class:`~strangers.gateway.errors.WireClosed`
    once the connection is closing or gone, with the close code when one is known."""

    def __init__(
        self,
        *,
        max_size: int = 65536,
        max_queue: int = 16,
        close_timeout: float = 2.0,
        write_timeout: float = 20.0,
    ) -> None:
        self.max_size = max_size
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self.write_timeout = write_timeout
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        # One buffer, not a list of fragments: empty continuation frames add nothing.
        self._fragments = bytearray()
        self._fragment_opcode = 0
        self._pending_pong: bytes | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._messages: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._close_sent = False
        self._close_timer: asyncio.TimerHandle | None = None
        #: The close code, once the closing handshake began or the connection was lost.
        self.close_code: int | None = None
        self.lost = False
        self._peer_closed = False
        #: Called once when the connection is gone (the server's count of connections).
        self.on_lost: Callable[[], None] | None = None

    # --- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._peer_closed:
            return  # after the peer's close frame, or a failure: nothing more is read
        self._buffer += data
        try:
            self._parse()
        except _Failed as failure:
            self._fail(failure.code, failure.reason)

    def eof_received(self) -> bool | None:
        self._peer_closed = True
        self._arm_close_deadline()  # the close below waits for a flush the peer may refuse
        return None  # close the transport: a peer that stops sending is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.on_lost is not None:
            self.on_lost()
            self.on_lost = None
        if self.close_code is None:
            self.close_code = ABNORMAL
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._cancel_write_timer()
        self._pending_pong = None
        self._wake()
        self._release_writers()

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self._write_timer is None and not self.lost:
            loop = asyncio.get_running_loop()
            self._write_timer = loop.call_later(self.write_timeout, self._write_late)

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._cancel_write_timer()
        pong, self._pending_pong = self._pending_pong, None
        if pong is not None and not self._close_sent and not self.lost and self.transport:
            self.transport.write(frame_header(OP_PONG, len(pong)) + pong)
        self._release_writers()

    # --- what the chat socket uses --------------------------------------------------

    async def accept(self) -> bool:
        """The handshake was answered before this protocol took the connection."""
        return not self.lost

    async def receive(self) -> str | bytes:
        """The next message (``str`` for text, ``bytes`` for binary); raises
        :class:`WireClosed` once the connection is closing or lost."""
        while not self._messages:
            if self.close_code is not None or self._close_sent:
                raise WireClosed(self.close_code)
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        if self._reading_paused and len(self._messages) < self.max_queue // 2:
            self._reading_paused = False
            if self.transport is not None and not self.lost:
                self.transport.resume_reading()
        return message

    async def send_text(self, text: str) -> None:
        """Write one text frame; waits only while the transport has paused writing.
        Raises :class:`WireClosed` once the connection is closing or lost."""
        if self._writing_paused and not self.lost:
            writable = self._writable
            if writable is None or writable.done():
                writable = self._writable = asyncio.get_running_loop().create_future()
            await writable
        if self._close_sent or self.lost or self.transport is None:
            raise WireClosed(self.close_code)
        payload = text.encode()
        self.transport.write(frame_header(OP_TEXT, len(payload)) + payload)

    def write_now(self, text: str) -> bool:
        """Write one text frame if that needs no wait: False (nothing written) while
        the transport has paused writing or the connection is closing or gone."""
        transport = self.transport
        if self._writing_paused or self._close_sent or self.lost or transport is None:
            return False
        payload = text.encode()
        transport.write(frame_header(OP_TEXT, len(payload)) + payload)
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with ``code`` (RFC 6455 §7.1.2): nothing more is
        sent, and the connection is closed when the peer answers or ``close_timeout``
        passes."""
        self._send_close(code, reason)

    def shutdown(self) -> None:
        """The server is stopping (uvicorn calls this on every connection it tracks):
        close with 1012, service restart (RFC 6455 §7.4.1 as registered by IANA)."""
        self._send_close(1012, "")
        self._wake()

    # --- inside ---------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _release_writers(self) -> None:
        """Let a :meth:`send_text` waiting for the transport go on (to write, or to
        find the connection closing)."""
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_late(self) -> None:
        """Writing stayed paused for ``write_timeout``: the peer reads nothing; no close
        frame would reach it either, so the connection is dropped (1006)."""
        self._write_timer = None
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def _arm_close_deadline(self) -> None:
        if self._close_timer is None and not self.lost and self.transport is not None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(self.close_timeout, self._close_late)

    def _send_close(self, code: int, reason: str) -> None:
        if self._close_sent or self.lost or self.transport is None:
            return
        self._close_sent = True
        if self.close_code is None:
            self.close_code = code
        payload = close_payload(code, reason)
        self.transport.write(frame_header(OP_CLOSE, len(payload)) + payload)
        if self._peer_closed:
            self.transport.close()
        self._arm_close_deadline()
        self._wake()
        self._release_writers()  # nothing more is sent after a close frame (§5.5.1)

    def _close_late(self) -> None:
        """``close_timeout`` after closing began: close TCP, or abort it when its bytes
        cannot be flushed (``close`` alone would wait for a peer that never reads)."""
        self._close_timer = None
        transport = self.transport
        if transport is None or self.lost:
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close frame, then close TCP."""
        self._peer_closed = True  # read nothing more from it
        self._send_close(code, reason)
        if self.transport is not None:
            self.transport.close()
            self._arm_close_deadline()
        self._wake()

    def _deliver(self, message: str | bytes) -> None:
        self._messages.append(message)
        if len(self._messages) >= self.max_queue and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        self._wake()

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        size = len(buffer)
        while not self._peer_closed:
            if size - offset < 2:
                break
            first, second = buffer[offset], buffer[offset + 1]
            if not second & 0x80:
                raise _Failed(PROTOCOL_ERROR, "unmasked frame")
            if first & 0x70:
                raise _Failed(PROTOCOL_ERROR, "reserved bits set")
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                length = _SHORT.unpack_from(buffer, start)[0]
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = _LONG.unpack_from(buffer, start)[0]
                start += 8
            opcode = first & 0x0F
            final = bool(first & 0x80)
            # Judged from the header, before the payload is waited for.
            if opcode >= OP_CLOSE:
                if opcode > OP_PONG:
                    raise _Failed(PROTOCOL_ERROR, "unknown opcode")
                if length > 125 or not final:
                    raise _Failed(PROTOCOL_ERROR, "bad control frame")
            else:
                if opcode > OP_BINARY:
                    raise _Failed(PROTOCOL_ERROR, "unknown opcode")
                if opcode == OP_CONTINUATION:
                    if not self._fragment_opcode:
                        raise _Failed(PROTOCOL_ERROR, "continuation outside a fragmented message")
                elif self._fragment_opcode:
                    raise _Failed(PROTOCOL_ERROR, "new message inside a fragmented one")
                if length + len(self._fragments) > self.max_size:
                    raise _Failed(TOO_BIG, "message too big")
            end = start + 4 + length
            if size < end:
                break
            payload = apply_mask(bytes(buffer[start + 4 : end]), bytes(buffer[start : start + 4]))
            offset = end
            self._frame(opcode, final, payload)
        if offset:
            del buffer[:offset]

    def _frame(self, opcode: int, final: bool, payload: bytes) -> None:
        """One frame whose header :meth:`_parse` found valid."""
        if opcode in (OP_TEXT, OP_BINARY):
            if final:
                self._message(opcode, payload)
                return
            self._fragment_opcode = opcode
            self._fragments += payload
        elif opcode == OP_CONTINUATION:
            self._fragments += payload
            if final:
                whole = bytes(self._fragments)
                opcode = self._fragment_opcode
                self._fragments.clear()
                self._fragment_opcode = 0
                self._message(opcode, whole)
        elif opcode == OP_PING:
            if self._close_sent or self.transport is None:
                pass
            elif self._writing_paused:
                self._pending_pong = payload  # answered on resume_writing
            else:
                self.transport.write(frame_header(OP_PONG, len(payload)) + payload)
        elif opcode == OP_CLOSE:
            self._peer_close(payload)

    def _message(self, opcode: int, payload: bytes) -> None:
        if self._close_sent:
            return  # past our close frame, data is discarded (RFC 6455 §5.5.1)
        if opcode == OP_TEXT:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                raise _Failed(INVALID_DATA, "invalid UTF-8") from None
            self._deliver(text)
        else:
            self._deliver(payload)

    def _peer_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise _Failed(PROTOCOL_ERROR, "bad close payload")
        code = NO_STATUS
        if payload:
            code = _SHORT.unpack_from(payload)[0]
            if code not in _PEER_CODES and not 3000 <= code <= 4999:
                raise _Failed(PROTOCOL_ERROR, "bad close code")
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                raise _Failed(INVALID_DATA, "invalid UTF-8 in the close reason") from None
        self._peer_closed = True
        if self.transport is None:
            return
        if self._close_sent:
            self.transport.close()  # our close, answered
        else:
            # Echo the code (RFC 6455 §5.5.1), then close TCP: the server closes first.
            self.close_code = code
            echo = b"" if code == NO_STATUS else _SHORT.pack(code)
            self._close_sent = True
            self.transport.write(frame_header(OP_CLOSE, len(echo)) + echo)
            self.transport.close()
        self._arm_close_deadline()
        self._wake()
        self._release_writers()
