"""Unguessable links to cases and appeals, bound to one console session.

A case is reached only through a handle the console itself issued in that session:
``S-000042.<mac>``, where ``mac`` is HMAC-SHA256 under the console key of the
session token's SHA-256 and the case number, URL-safe base64 cut to 22 characters
(132 bits). Enumerating numbers, reusing another moderator's link or a link from an
earlier session gives the same 404 as an unknown case: the console never confirms that
a case exists to someone who did not reach it through the queue (OWASP ASVS 4.0.3
V4.2.1, insecure direct object references; 50.1 V8.2.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

MAC_CHARS: Final = 22
#: Longest handle read from a URL: a case number is 32 characters at most (tables.py).
HANDLE_MAX: Final = 64


def token_hash(token: str) -> str:
    """The SHA-256 of a session token, as the records keep it."""
    return hashlib.sha256(token.encode()).hexdigest()


class Handles:
    """Issues and opens the handles of one session (``session_hash``: the token's SHA-256)."""

    def __init__(self, key: bytes, session_hash: str) -> None:
        self._key = key
        self._session = session_hash

    def _mac(self, kind: str, ident: str) -> str:
        # The kind keeps a case's handle from opening the appeal with the same number.
        message = f"{kind}\x00{self._session}\x00{ident}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:MAC_CHARS]

    def _issue(self, kind: str, ident: str) -> str:
        return f"{ident}.{self._mac(kind, ident)}"

    def _open(self, kind: str, handle: str) -> str | None:
        if len(handle) > HANDLE_MAX or handle.count(".") != 1:
            return None
        ident, mac = handle.split(".")
        if not ident or not hmac.compare_digest(self._mac(kind, ident).encode(), mac.encode()):
            return None
        return ident

    def case(self, number: str) -> str:
        return self._issue("case", number)

    def open_case(self, handle: str) -> str | None:
        """The case number behind ``handle``, or None when this session did not issue it."""
        return self._open("case", handle)

    def appeal(self, appeal_id: int) -> str:
        return self._issue("appeal", str(appeal_id))

    def open_appeal(self, handle: str) -> int | None:
        ident = self._open("appeal", handle)
        if ident is None or not ident.isascii() or not ident.isdigit():
            return None
        return int(ident)
