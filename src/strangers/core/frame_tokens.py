"""Per-match frame tokens: who may post frames of a match for checking (docs/design.md §6).

Each side of a video match gets its own token in ``matched``; ``POST /v1/frames``
takes it as a bearer token (RFC 6750). A token is ``<match>.<session>.<tag>``, the
tag a truncated HMAC-SHA256 of both ids under a server key (RFC 2104), so only the
two sessions of that match hold a valid one and nothing is stored per token. A
token outlives its match only on paper: the gateway accepts a frame only while the
token's session is still in that very match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

TAG_BYTES: Final = 16
MAX_TOKEN_CHARS: Final = 256


@dataclass(frozen=True, slots=True)
class FrameGrant:
    match: str
    session: str


class FrameTokens:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the frame token secret must be at least 32 bytes")
        self._secret = secret

    def _tag(self, match: str, session: str) -> str:
        digest = hmac.new(
            self._secret, f"{match}.{session}".encode("ascii"), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:TAG_BYTES]).rstrip(b"=").decode("ascii")

    def issue(self, match: str, session: str) -> str:
        if "." in match or "." in session:
            raise ValueError("match and session ids must not contain '.'")
        return f"{match}.{session}.{self._tag(match, session)}"

    def verify(self, token: str | None) -> FrameGrant | None:
        """The grant of a genuine token, or ``None`` for anything else."""
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            return None
        match, session, tag = parts
        if not hmac.compare_digest(self._tag(match, session), tag):
            return None
        return FrameGrant(match, session)
