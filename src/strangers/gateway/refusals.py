"""The answer an HTTP endpoint of the gateway gives a request its rate limit refused:
429 with the limit's wait in ``Retry-After`` (RFC 9110 §10.2.3; RFC 6585 §4) and the same
``code``/``text``/``retry_after`` body as every other error of the HTTP API
(docs/protocol.md; docs/security.md, "Flooders")."""

from __future__ import annotations

from starlette.responses import JSONResponse

from ..safety.ratelimits import Refusal


def rate_limited(
    refusal: Refusal, text: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """429 for ``refusal``, saying ``text``; ``headers`` are added (``Cache-Control``)."""
    return JSONResponse(
        {"code": "rate_limited", "text": text, "retry_after": refusal.retry_after},
        status_code=429,
        headers={"retry-after": str(max(1, round(refusal.retry_after))), **(headers or {})},
    )
