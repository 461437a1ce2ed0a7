"""The errors the gateway itself raises on purpose, in one tree.

The errors a peer is told about are the core's (:mod:`strangers.core.errors`); these are
the gateway's own, raised between its parts. Every one is a :class:`GatewayError` with a
stable, machine-readable ``code``.

Hierarchy, with each class's code::

    GatewayError      gateway
    └── BodyTooLarge  too_large: a request body went past its cap, raised from
                      ``receive`` to the app (``request_size.py``); the client is
                      answered 413 with the same code
    └── WireClosed    closed: the chat socket's connection is closing or gone
                      (``wire.py``); ``close_code`` is RFC 6455's, when known
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose; ``code`` is stable."""

    code: ClassVar[str] = "gateway"


class WireClosed(GatewayError):
    """The chat socket's connection is closing or gone (RFC 6455 §7): nothing more can
    be received or sent on it. ``close_code`` is the code of the closing handshake, or
    1006 when the connection dropped without one, or None when not known."""

    code: ClassVar[str] = "closed"

    def __init__(self, close_code: int | None = None) -> None:
        super().__init__(f"the connection is closed ({close_code})")
        self.close_code = close_code
