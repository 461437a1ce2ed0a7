"""Websocket frames made by hand (RFC 6455 §5.2), right or wrong, as a modified client
sends them; and the server's frames read back, checked against the rules a server's
frames follow (unmasked, RSV bits 0, never fragmented: ``gateway/wire.py``).

For the tests of the chat socket's own wire (``test_wire.py``) and of a live server
spoken to over raw sockets (``tests/adversarial/test_chat_wire.py``)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from websockets.utils import apply_mask

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
    with_payload: bool = True,
) -> bytes:
    """One client frame. ``length`` claims another payload length than the payload's
    (a lie the server must judge from the header); ``with_payload=False`` sends the
    header and the masking key only."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 0x10000:
        head = bytes((first, mask_bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, mask_bit | 127)) + struct.pack("!Q", n)
    if not masked:
        return head + (payload if with_payload else b"")
    key = os.urandom(4)
    return head + key + (apply_mask(payload, key) if with_payload else b"")


def text(data: str | bytes, *, fin: bool = True) -> bytes:
    return client_frame(TEXT, data.encode() if isinstance(data, str) else data, fin=fin)


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    return client_frame(CLOSE, b"" if code is None else struct.pack("!H", code) + reason)


@dataclass(frozen=True)
class ServerFrame:
    opcode: int
    payload: bytes

    @property
    def code(self) -> int | None:
        """A close frame's code (None for an empty one)."""
        assert self.opcode == CLOSE, self
        return struct.unpack("!H", self.payload[:2])[0] if self.payload else None


def server_frames(data: bytes) -> tuple[list[ServerFrame], bytes]:
    """The whole frames at the start of ``data``, and what is left after them."""
    frames = []
    offset = 0
    while len(data) - offset >= 2:
        first, second = data[offset], data[offset + 1]
        assert first & 0x80, "a server frame is never fragmented"
        assert not first & 0x70, "RSV bits set in a server frame"
        assert not second & 0x80, "a server frame is never masked (RFC 6455 §5.1)"
        length, start = second & 0x7F, offset + 2
        if length == 126:
            if len(data) - start < 2:
                break
            length, start = struct.unpack_from("!H", data, start)[0], start + 2
        elif length == 127:
            if len(data) - start < 8:
                break
            length, start = struct.unpack_from("!Q", data, start)[0], start + 8
        if len(data) < start + length:
            break
        opcode = first & 0x0F
        if opcode >= CLOSE:
            assert length <= 125, "a control frame holds at most 125 bytes"
        frames.append(ServerFrame(opcode, bytes(data[start : start + length])))
        offset = start + length
    return frames, bytes(data[offset:])
