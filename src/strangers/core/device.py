"""Signed device tokens: the only identifier a chatter carries (docs/design.md §6).

A token is ``<payload>.<tag>``: the payload is URL-safe base64 of compact JSON
``{"d": device id, "s": age stage, "u": lock end}``; the tag is a truncated
HMAC-SHA256 of the payload under the server secret (RFC 2104; 128-bit tags as
NIST SP 800-107 allows). A token that fails to verify is treated as absent, so
a forged or damaged token earns a fresh device, never an error that leaks why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Final

from .age import AgeRecord, Stage

TAG_BYTES: Final = 16


@dataclass(frozen=True, slots=True)
class DeviceClaims:
    device: str
    age: AgeRecord | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DeviceTokens:
    """Issues and verifies device tokens under one secret (at least 32 bytes)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the device token secret must be at least 32 bytes")
        self._secret = secret

    def _tag(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()
        return _b64(digest[:TAG_BYTES])

    def issue(self, claims: DeviceClaims) -> str:
        body: dict[str, object] = {"d": claims.device}
        if claims.age is not None:
            body["s"] = int(claims.age.stage)
            body["u"] = claims.age.locked_until
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._tag(payload)}"

    def verify(self, token: str | None) -> DeviceClaims | None:
        """The claims of a genuine token, or ``None`` for anything else."""
        if not token or token.count(".") != 1:
            return None
        payload, tag = token.split(".")
        if not hmac.compare_digest(self._tag(payload), tag):
            return None
        try:
            body = json.loads(_unb64(payload))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or not isinstance(body.get("d"), str):
            return None
        stage, until = body.get("s"), body.get("u")
        age = None
        if isinstance(stage, int) and isinstance(until, int) and stage in Stage._value2member_map_:
            age = AgeRecord(Stage(stage), until)
        return DeviceClaims(body["d"], age)
