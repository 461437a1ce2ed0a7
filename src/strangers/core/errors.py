"""The errors a peer can be told about, and nothing else.

Every error that may reach a chatter is a :class:`StrangersError` with a
stable ``code`` from :data:`ERROR_CODES`. The gateway translates it into an
``error`` protocol message at the boundary; any other exception is an internal
fault, logged on the server and reported to the peer only as ``internal``
(OWASP ASVS 5.0 V16.5: errors reveal no internals to the client).

Hierarchy::

    StrangersError
    ├── ProtocolError        the frame cannot be accepted (shape, size, version, order)
    │   ├── NotJpeg          a posted frame is not a JPEG
    │   ├── BadSize          a posted frame's dimensions are out of bounds
    │   ├── ProofRequired    a hello without its proof of work
    │   └── ProofInvalid     a proof for another challenge, an expired one, or short of bits
    ├── Unauthorized         a request's bearer token is missing, forged or for someone else
    ├── StateError           the message is valid but not in the session's current state
    │   ├── MatchOver        a frame for a match that has ended
    │   └── NotRecent        a report naming a match that is not one of the session's recent ones
    ├── LimitExceeded        a rate or size limit was hit; carries ``retry_after``
    │   └── Busy             the server shed the work under load; try again later
    └── InternalError        the server failed; the peer sees a generic text only
"""

from __future__ import annotations

from typing import ClassVar, Final

#: Every code a peer may receive, with the sentence the server sends along.
#: Clients localise by code; the text is an English fallback.
ERROR_CODES: Final[dict[str, str]] = {
    "malformed": "The message is not a JSON object with a type.",
    "unknown_type": "The message type is not known.",
    "invalid_field": "A field of the message is missing or has a wrong value.",
    "too_large": "The message is larger than the limit.",
    "unsupported_version": "The protocol version is not supported.",
    "hello_required": "The first message must be hello.",
    "proof_required": "The hello must carry the proof of work for this connection's challenge.",
    "proof_invalid": "The proof of work does not solve this connection's challenge in time.",
    "not_allowed": "That message is not allowed right now.",
    "rate_limited": "Too many messages; slow down.",
    "not_jpeg": "The frame is not a JPEG image.",
    "bad_size": "The frame's width or height is out of bounds.",
    "bad_token": "The frame token is missing or not valid.",
    "match_over": "That match has ended.",
    "not_recent": "That match is not one of your recent ones, or was already reported.",
    "busy": "The server is busy; the frame was not checked.",
    "internal": "Something went wrong on our side.",
}


class StrangersError(Exception):
    """Base of every error a peer may be told about.

    ``code`` is one of :data:`ERROR_CODES`; ``detail`` is a short, safe
    sentence for the peer (never a stack trace or an internal value).
    """

    code: ClassVar[str] = "internal"

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        self.detail = detail or ERROR_CODES[self.code]
        self.field = field
        super().__init__(self.detail)


class ProtocolError(StrangersError):
    """The frame cannot be accepted at all (RFC 6455 §7.4.1 ``1007``/``1008`` class)."""

    code: ClassVar[str] = "malformed"


class Malformed(ProtocolError):
    code: ClassVar[str] = "malformed"


class UnknownType(ProtocolError):
    code: ClassVar[str] = "unknown_type"


class InvalidField(ProtocolError):
    code: ClassVar[str] = "invalid_field"


class TooLarge(ProtocolError):
    code: ClassVar[str] = "too_large"


class UnsupportedVersion(ProtocolError):
    code: ClassVar[str] = "unsupported_version"


class HelloRequired(ProtocolError):
    code: ClassVar[str] = "hello_required"


class ProofRequired(ProtocolError):
    """A ``hello`` without ``proof`` (docs/design.md §3; OWASP ASVS 5.0 V2.4 anti-automation)."""

    code: ClassVar[str] = "proof_required"


class ProofInvalid(ProtocolError):
    """A ``proof`` that is not for this connection's challenge, comes after it expired,
    or has too few leading zero bits. Which of these is not said."""

    code: ClassVar[str] = "proof_invalid"


class NotJpeg(ProtocolError):
    code: ClassVar[str] = "not_jpeg"


class BadSize(ProtocolError):
    code: ClassVar[str] = "bad_size"


class Unauthorized(StrangersError):
    """A bearer token that does not verify (RFC 6750 §3.1 ``invalid_token``)."""

    code: ClassVar[str] = "bad_token"


class StateError(StrangersError):
    """A valid message that the session's state does not allow (docs/design.md §4)."""

    code: ClassVar[str] = "not_allowed"


class MatchOver(StateError):
    code: ClassVar[str] = "match_over"


class NotRecent(StateError):
    """A ``report`` naming a match this session cannot report: not among its last
    ``recent_matches`` of the last ``recent_seconds`` (too old, another session's, made
    up), or already reported (docs/safety.md, "Evidence"). Which of these is not said."""

    code: ClassVar[str] = "not_recent"


class LimitExceeded(StrangersError):
    """A per-session rate limit was hit (docs/design.md §3, OWASP ASVS 5.0 V2.4)."""

    code: ClassVar[str] = "rate_limited"

    def __init__(self, detail: str | None = None, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Busy(LimitExceeded):
    """Work shed under load (docs/design.md §6: what is shed is counted)."""

    code: ClassVar[str] = "busy"


class InternalError(StrangersError):
    """A server fault. The peer only ever sees the generic ``internal`` text."""

    code: ClassVar[str] = "internal"


#: The errors a forwarded request may come back with, by code.
_BY_CODE: Final[dict[str, type[StrangersError]]] = {
    cls.code: cls
    for cls in (
        Malformed,
        UnknownType,
        InvalidField,
        TooLarge,
        UnsupportedVersion,
        HelloRequired,
        ProofRequired,
        ProofInvalid,
        NotJpeg,
        BadSize,
        Unauthorized,
        StateError,
        MatchOver,
        NotRecent,
    )
}


def error_for(code: str, detail: str | None = None, retry_after: float = 1.0) -> StrangersError:
    """The error a code names, rebuilt on the node that forwarded a request to the one
    that refused it (docs/design.md §5); an unknown code becomes ``internal``."""
    if code in ("rate_limited", "busy"):
        limited = Busy if code == "busy" else LimitExceeded
        return limited(detail, retry_after=retry_after)
    kind = _BY_CODE.get(code)
    return InternalError() if kind is None else kind(detail)
