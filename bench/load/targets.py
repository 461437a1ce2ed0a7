"""Where the load generator may send traffic: this machine's loopback, or the operator's
own deployment (issue 10: "it refuses targets that are not the operator's own configured
origin or loopback").

Every URL is checked with :func:`check_target` before any connection, and the rest are
refused (:class:`TargetRefused`; ``bench/loadtest.py`` exits 2, with a message naming
how to allow the target). The configured origin is the ``public_origin`` setting
(``STRANGERS_PUBLIC_ORIGIN=https://chat.example.org`` allows
``wss://chat.example.org/v1/ws``), never ``allowed_origins``: a load test is for one's
own deployment, never someone else's. Such a deployment applies its own limits and
proof of work to the simulated chatters, who all come from one address: it sees the
load test as the abuse it resembles unless it runs with ``LOAD_TEST_LIMITS``
(``scenarios.py``) and a low ``STRANGERS_POW_BITS``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """The target is neither this machine's loopback nor the operator's own public
    origin (``STRANGERS_PUBLIC_ORIGIN``), or is not a ``ws://``/``wss://`` URL."""


class NotLoopback(TargetRefused):
    """The target is not on this machine's loopback."""


_LOOPBACK = "loopback (127.0.0.0/8, ::1, localhost)"
#: A chat socket's scheme and the page origin's scheme it goes with (RFC 6455 §3).
_PAGE_SCHEMES = {"ws": "http", "wss": "https"}


def check_loopback(url: str) -> str:
    """Return the host of ``url`` if it is loopback (127.0.0.0/8, ::1 or a name
    that resolves only to those); raise :class:`NotLoopback` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise NotLoopback(f"{url!r} is not a ws:// or wss:// URL")
    host = parts.hostname
    if not host:
        raise NotLoopback(f"{url!r} has no host")
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        if host.lower() != "localhost":
            raise NotLoopback(
                f"refusing {host!r}: the load generator only targets {_LOOPBACK}"
            ) from None
        try:
            infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise NotLoopback(f"cannot resolve {host!r}: {exc}") from None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(address.is_loopback for address in addresses):
        raise NotLoopback(f"refusing {host!r}: the load generator only targets {_LOOPBACK}")
    return host


def page_origin(url: str) -> str | None:
    """The page origin a chat socket URL goes with, in RFC 6454's form: ``ws`` as
    ``http``, ``wss`` as ``https``, the same host and port, the scheme's default
    port left out (``wss://chat.example.org:443/v1/ws`` → ``https://chat.example.org``);
    None when ``url`` is not a ``ws://`` or ``wss://`` URL with a host (or carries
    a user name or password)."""
    from strangers.gateway.origins import normalise  # the server's own rule for comparing origins

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = _PAGE_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        return None
    return normalise(f"{scheme}://{parts.netloc}")


def check_target(url: str, public_origin: str | None) -> str:
    """Return the host of ``url`` if the load generator may drive it; raise
    :class:`TargetRefused` otherwise, before any connection (issue 10: it refuses
    targets that are not the operator's own configured origin or loopback).

    Allowed: loopback (:func:`check_loopback`), and the chat socket of
    ``public_origin`` (the operator's ``STRANGERS_PUBLIC_ORIGIN``, e.g.
    ``https://chat.example.org``): a ``ws``/``wss`` URL whose scheme, host and port
    are that origin's, ``http`` going with ``ws`` and ``https`` with ``wss``,
    default ports as RFC 6454 has them; any path. Names are compared, never
    resolved. Nothing else: not ``allowed_origins``, not another port or scheme of
    the same host. The message of a refusal says how to allow the target."""
    from strangers.gateway.origins import normalise

    try:
        return check_loopback(url)
    except NotLoopback as refused:
        loopback_refusal = refused
    origin = page_origin(url)
    if origin is None:  # not a ws(s) URL with a host: nothing to compare
        raise TargetRefused(str(loopback_refusal)) from None
    own = normalise(public_origin) if public_origin else None
    if own is not None and origin == own:
        host = urlsplit(url).hostname
        assert host is not None  # page_origin found one
        return host
    if not public_origin:
        configured = "STRANGERS_PUBLIC_ORIGIN is not set"
    elif own is None:
        configured = f"STRANGERS_PUBLIC_ORIGIN {public_origin!r} is not an origin"
    else:
        configured = f"STRANGERS_PUBLIC_ORIGIN is {own} (chat socket {_socket_origin(own)}/v1/ws)"
    raise TargetRefused(
        f"refusing {url!r}: the load generator only targets {_LOOPBACK} or the operator's "
        f"own public origin, and {configured}; to load-test your own deployment at this "
        f"address, run bench/loadtest.py with STRANGERS_PUBLIC_ORIGIN={origin} (the "
        "deployment's public origin, as in its settings)"
    )


def _socket_origin(origin: str) -> str:
    """The chat socket side of a page origin: ``https://h`` → ``wss://h``,
    ``http://h`` → ``ws://h``."""
    scheme, rest = origin.split(":", 1)
    return ("wss" if scheme == "https" else "ws") + ":" + rest


def target_urls(urls: str | Sequence[str], public_origin: str | None = None) -> tuple[str, ...]:
    """The chat sockets to spread the chatters over, in order: ``urls`` as a
    sequence, or one string of URLs separated by commas. Each must pass
    :func:`check_target` with ``public_origin``; raise :class:`TargetRefused` for
    the first that does not, :class:`ValueError` when there is none."""
    parts = urls.split(",") if isinstance(urls, str) else list(urls)
    chosen = tuple(part.strip() for part in parts if part.strip())
    if not chosen:
        raise ValueError("no target URL")
    for url in chosen:
        check_target(url, public_origin)
    return chosen


def configured_public_origin() -> str | None:
    """The operator's ``public_origin`` setting (``STRANGERS_PUBLIC_ORIGIN``), or
    None. Invalid settings raise pydantic's ``ValidationError`` (a ``ValueError``)."""
    from strangers.gateway.settings import Settings

    return Settings().public_origin


def operator_targets(urls: str | Sequence[str]) -> tuple[str, ...]:
    """:func:`target_urls` as :func:`main` and :func:`run` apply it: loopback
    targets need no settings; the operator's public origin is read only when a
    target is not loopback (so a broken setting cannot stop a loopback run)."""
    try:
        return target_urls(urls)
    except TargetRefused:
        return target_urls(urls, configured_public_origin())
