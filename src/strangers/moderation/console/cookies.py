"""The console's cookies: the session, and the sign-in form's pre-session CSRF token.

Both are ``HttpOnly``, ``SameSite=Strict`` and scoped to ``Path=/mod`` (OWASP ASVS
4.0.3 V3.4.2, V3.4.3, V3.4.5), and ``Secure`` (V3.4.1) except on plain http to a
loopback host, so ``make run`` on a laptop (http://127.0.0.1:8000) can sign in: no
browser keeps a ``Secure`` cookie set over http, and loopback traffic never leaves the
machine.

The sign-in form has no session yet, so its CSRF defence is a double submit (ASVS
V4.2.2; OWASP CSRF Prevention Cheat Sheet, "signed double-submit cookie"): a random
nonce goes both in the form and in a short-lived cookie that carries its expiry and an
HMAC under the console key; the POST must bring both, matching, before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from ...core.network import is_loopback_host

SESSION_COOKIE: Final = "strangers_mod"
SIGNIN_COOKIE: Final = "strangers_mod_signin"
COOKIE_PATH: Final = "/mod"
SIGNIN_TTL: Final = timedelta(minutes=15)


def cookie_secure(request: Request) -> bool:
    """``Secure`` unless the request is plain http to a loopback host (see above)."""
    return not (request.url.scheme == "http" and is_loopback_host(request.url.hostname or ""))


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, secure=cookie_secure(request), httponly=True, samesite="strict"
    )


class SignInTokens:
    """The sign-in form's signed double-submit tokens under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"sign-in form", hashlib.sha256).digest()

    def _mac(self, nonce: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{nonce}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, now: datetime) -> tuple[str, str]:
        """(cookie value, form value) for a form shown at ``now``."""
        nonce = secrets.token_urlsafe(24)
        expires = int((now + SIGNIN_TTL).timestamp())
        return f"{nonce}.{expires}.{self._mac(nonce, expires)}", nonce

    def check(self, cookie: str | None, presented: str | None, now: datetime) -> bool:
        """Whether the form's value matches an unexpired cookie this key signed."""
        if not cookie or not presented or len(cookie) > 256 or cookie.count(".") != 2:
            return False
        nonce, expires_text, mac = cookie.split(".")
        if not expires_text.isascii() or not expires_text.isdigit():
            return False
        expires = int(expires_text)
        if not hmac.compare_digest(self._mac(nonce, expires).encode(), mac.encode()):
            return False
        if expires <= now.timestamp():
            return False
        return hmac.compare_digest(nonce.encode(), presented.encode())
