"""Short-lived TURN credentials (the TURN REST API scheme coturn's ``use-auth-secret``
checks; draft-uberti-behave-turn-rest-00).

The username is ``<expiry Unix time>:<session>`` and the password is the base64
HMAC-SHA1 of the username under the secret shared with the TURN server, so the
TURN server can check them without asking anyone, and they stop working at
``expiry``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    username: str
    credential: str
    expires: int


def rest_credentials(secret: bytes, session: str, *, now: int, ttl: int) -> TurnCredentials:
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    expires = now + ttl
    username = f"{expires}:{session}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username, base64.b64encode(digest).decode("ascii"), expires)


def check_credentials(secret: bytes, username: str, credential: str, *, now: int) -> bool:
    """What the TURN server checks: the HMAC matches and the expiry has not passed."""
    expiry, _, _session = username.partition(":")
    if not expiry.isdigit() or int(expiry) <= now:
        return False
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), credential)
