"""The errors the gateway itself raises on purpose, in one tree.

The errors a peer is told about are the core's (:mod:`strangers.core.errors`); these are
the gateway's own, raised between its parts. Every one is a :class:`GatewayError` with a
stable, machine-readable ``code``.

Hierarchy, with each class's code::

    GatewayError      gateway
    └── BodyTooLarge  too_large: a request body went past its cap, raised from
                      ``receive`` to the app (``request_size.py``); the client is
                      answered 413 with the same code
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose; ``code`` is stable."""

    code: ClassVar[str] = "gateway"
