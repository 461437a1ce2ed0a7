"""Frame checks in a check service on another host (issue 18; docs/deploy.md, "Check
services on their own hosts"): the gateway's side.

``frame_check_mode = remote`` hands each frame to a ``strangers check-service``
(``safety/check_service.py``) at ``frame_check_service`` (``tls://host:port``) instead of
to check-worker processes of its own. :class:`RemoteBackend` keeps one TCP connection per
pool task ("slot"); behind each, the service runs one check-worker process for it alone.
Everything else is :class:`~strangers.safety.workers.SlotBackend`'s, as for local
workers: the pool's queue, priorities, fair shares and shedding do not change, and a
connection that is lost, an answer that does not come within ``frame_check_timeout`` or
one that is not a verdict fails its frame as a
:class:`~strangers.safety.workers.CheckerFault` (the frame is not checked: fail closed,
docs/safety.md); the connection is dropped and made again, after 1, 2, 4… up to 60
seconds while the service cannot be reached. ``/readyz`` says ``models: unavailable``
while no connection is up.

**The handshake** (:func:`client_handshake`, :func:`service_handshake`), before any
framed message, both sides proving the shared secret ``check_service_secret``
without sending it:

1. service → gateway: :data:`GREETING` and a fresh 32-byte nonce;
2. gateway → service: its own 32-byte nonce and ``HMAC-SHA256(key, "gateway" ‖ both
   nonces)``; the service compares in constant time and, if the proof is wrong, closes
   the connection without a word, having read exactly these 64 bytes (no length from the
   peer is read before it has proven the secret);
3. service → gateway: ``HMAC-SHA256(key, "service" ‖ both nonces)``: a gateway never
   takes verdicts from a service that does not know the secret either;
4. service → gateway: ``ready`` once its worker has loaded the checker (or ``failed``:
   it could not, or it already runs as many workers as it may).

The key is derived from the secret (HMAC-SHA256 as a KDF, as ``Settings.subkey``).
Then the messages are those of the worker's pipes (``safety/workers.py``): ``hashes``
and ``check`` from the gateway, ``result``, ``rejected`` or ``error`` from the service,
each answer read within :data:`~strangers.safety.workers.MAX_ANSWER_BYTES` and checked
field by field.

**The link**: at a ``tls://`` address the connection is TLS (1.2 or later), and the
gateway verifies the service's certificate against ``check_service_ca`` (the system's
authorities when unset), so frames (chatters' video) and verdicts cross the network
encrypted and unaltered. At a ``tcp://`` address nothing is encrypted and, past the
handshake, nothing is authenticated: whoever can read or alter packets on the path can
see frames and alter verdicts. ``Settings`` therefore refuses ``tcp://`` to any host but
this one unless ``check_service_plaintext`` says the link is private (a WireGuard
tunnel, docs/deploy.md); the service refuses the same on its side.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ..core.network import is_loopback_host
from .errors import SafetyError
from .hashes import HashList
from .workers import CheckerFault, FramedPeer, SlotBackend, ready_from_wire

log = logging.getLogger(__name__)

#: What a check service says first; changes with the handshake.
GREETING: Final = b"STRCHK1\n"
NONCE_BYTES: Final = 32
PROOF_BYTES: Final = 32
#: Seconds either side waits for the other's part of the handshake.
HANDSHAKE_SECONDS: Final = 5.0
#: The shortest secret either side accepts.
MIN_SECRET_CHARS: Final = 32


class NotProven(SafetyError):
    """The peer did not prove it knows the shared secret (the connection is closed
    without an answer; never a peer's error: it is not a chatter's)."""

    code = "not_proven"


@dataclass(frozen=True)
class ServiceAddress:
    """A check service's address: ``tls://host:port`` (TLS, the service's certificate
    verified) or ``tcp://host:port`` (plain TCP); an IPv6 host in brackets."""

    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, address: str) -> ServiceAddress:
        """``ValueError`` for anything but ``tls://host:port`` or ``tcp://host:port``."""
        parts = urlsplit(address)
        try:
            port = parts.port
        except ValueError:
            port = None
        if (
            parts.scheme not in ("tcp", "tls")
            or not parts.hostname
            or port is None
            or port == 0
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(
                f"a check service's address is tls://host:port or tcp://host:port, not {address!r}"
            )
        return cls(parts.hostname, port, parts.scheme == "tls")

    @property
    def in_the_clear(self) -> bool:
        """Frames would cross a network unencrypted: plain TCP to a host other than this
        one (docs/deploy.md, "Check services on their own hosts")."""
        return not self.tls and not is_loopback_host(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls' if self.tls else 'tcp'}://{host}:{self.port}"


def client_tls(ca_file: str | None = None) -> ssl.SSLContext:
    """What a gateway requires of a ``tls://`` check service: TLS 1.2 or later and a
    certificate for the address's host name, issued by ``ca_file``'s authorities (the
    system's when unset): OWASP ASVS 9.2.1, server certificates trusted and verified."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def service_tls(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A check service's TLS: its certificate chain and key, TLS 1.2 or later. The
    service does not ask for client certificates: gateways prove the shared secret."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def secret_key(secret: bytes) -> bytes:
    """The handshake's key, derived from the shared secret; ``ValueError`` for a
    secret shorter than :data:`MIN_SECRET_CHARS`."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(
            f"STRANGERS_CHECK_SERVICE_SECRET must be at least {MIN_SECRET_CHARS} characters"
        )
    return hmac.new(secret, b"strangers/check-service", hashlib.sha256).digest()


def proof(key: bytes, side: bytes, service_nonce: bytes, gateway_nonce: bytes) -> bytes:
    """``side``'s (``b"gateway"`` or ``b"service"``) proof of the key, over both nonces."""
    return hmac.new(key, side + b"\0" + service_nonce + gateway_nonce, hashlib.sha256).digest()


async def service_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes
) -> None:
    """The service's side of the handshake; :class:`NotProven` (the caller closes the
    connection, answering nothing) when the gateway's proof is wrong or late. Reads
    exactly ``NONCE_BYTES + PROOF_BYTES`` bytes, whatever the peer sends."""
    service_nonce = os.urandom(NONCE_BYTES)
    writer.write(GREETING + service_nonce)
    try:
        async with asyncio.timeout(HANDSHAKE_SECONDS):
            await writer.drain()
            answer = await reader.readexactly(NONCE_BYTES + PROOF_BYTES)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        raise NotProven() from None
    gateway_nonce, claimed = answer[:NONCE_BYTES], answer[NONCE_BYTES:]
    if not hmac.compare_digest(claimed, proof(key, b"gateway", service_nonce, gateway_nonce)):
        raise NotProven()
    writer.write(proof(key, b"service", service_nonce, gateway_nonce))
    await writer.drain()


async def client_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes
) -> None:
    """The gateway's side; :class:`NotProven` when the service does not prove the key
    (or is not a check service), ``ConnectionError``, ``IncompleteReadError`` or
    ``TimeoutError`` when the connection does not last through it."""
    async with asyncio.timeout(HANDSHAKE_SECONDS):
        greeting = await reader.readexactly(len(GREETING) + NONCE_BYTES)
        if not greeting.startswith(GREETING):
            raise NotProven()
        service_nonce = greeting[len(GREETING) :]
        gateway_nonce = os.urandom(NONCE_BYTES)
        writer.write(gateway_nonce + proof(key, b"gateway", service_nonce, gateway_nonce))
        await writer.drain()
        claimed = await reader.readexactly(PROOF_BYTES)
    if not hmac.compare_digest(claimed, proof(key, b"service", service_nonce, gateway_nonce)):
        raise NotProven()


def keep_alive(writer: asyncio.StreamWriter) -> None:
    """TCP keepalive on a connection that may idle for hours between frames: a peer
    that vanished (its host powered off) is noticed within about two minutes."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class ServiceConnection(FramedPeer):
    """One connection to a check service, from the gateway's side: :meth:`open` (connect,
    handshake, wait for ``ready``), then :meth:`check` one frame at a time."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: ServiceAddress
    ) -> None:
        super().__init__(reader, writer)
        self.address = address
        self.name = f"the check service at {address}"
        self.where = str(address)

    @classmethod
    async def open(
        cls,
        address: ServiceAddress,
        key: bytes,
        *,
        load_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> tuple[ServiceConnection, float]:
        """A connection whose worker has loaded the checker, and the seconds the load
        took by the service's clock; ``CheckerFault`` (``not_loaded``) otherwise. A
        ``tls://`` address is reached with ``tls`` (:func:`client_tls` when ``None``); a
        certificate that does not verify is a connection refused."""
        try:
            async with asyncio.timeout(HANDSHAKE_SECONDS):
                if address.tls:
                    reader, writer = await asyncio.open_connection(
                        address.host,
                        address.port,
                        ssl=tls or client_tls(),
                        server_hostname=address.host,
                    )
                else:
                    reader, writer = await asyncio.open_connection(address.host, address.port)
        except (OSError, TimeoutError) as exc:
            detail = f"could not reach the check service at {address}: {str(exc) or 'timed out'}"
            raise CheckerFault("not_loaded", detail) from None
        connection = cls(reader, writer, address)
        keep_alive(writer)
        try:
            try:
                await client_handshake(reader, writer, key)
            except NotProven:
                detail = "did not prove the secret"
                raise
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                detail = (
                    "refused the handshake (is STRANGERS_CHECK_SERVICE_SECRET the same on "
                    "both sides?)"
                )
                raise
            detail = "gave no worker"
            async with asyncio.timeout(load_timeout):
                head = await connection._receive()
            return connection, ready_from_wire(head)
        except (NotProven, asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            connection.kill()
            if detail == "gave no worker":
                detail += f" within {load_timeout:g} s" if isinstance(exc, TimeoutError) else ""
            raise CheckerFault("not_loaded", f"the check service at {address} {detail}") from None
        except CheckerFault as fault:
            connection.kill()
            raise CheckerFault(
                "not_loaded", f"the check service at {address} {detail}: {fault.detail}"
            ) from None
        except BaseException:
            connection.kill()
            raise


class RemoteBackend(SlotBackend[ServiceConnection]):
    """The pool's checks in a check service at ``address`` (``tcp://host:port``), one
    connection per pool task, proven with ``secret`` (see the module docstring)."""

    kind = "check service connection"

    def __init__(
        self,
        address: str,
        secret: bytes,
        *,
        hashes: HashList | None = None,
        check_timeout: float = 10.0,
        load_timeout: float = 300.0,
        ca_file: str | None = None,
    ) -> None:
        super().__init__(hashes=hashes, check_timeout=check_timeout, load_timeout=load_timeout)
        self.address = ServiceAddress.parse(address)
        self._key = secret_key(secret)
        # Built once: it reads the authorities' file, which a bad path makes fail here,
        # at start-up, not at the first frame.
        self._tls = client_tls(ca_file) if self.address.tls else None

    @property
    def ready(self) -> bool:
        """One connection at least is up (a service may serve fewer slots than a pool
        has: those wait), and the backend is not draining."""
        return (
            self._draining is not None
            and not self._draining.is_set()
            and any(peer is not None and peer.alive for peer in self._workers)
        )

    def connections(self) -> int:
        """The connections up now (for tests)."""
        return sum(1 for peer in self._workers if peer is not None and peer.alive)

    async def _open(self, slot: int) -> ServiceConnection:
        connection, seconds = await ServiceConnection.open(
            self.address, self._key, load_timeout=self.load_timeout, tls=self._tls
        )
        log.info(
            "check service connection %d to %s is ready (its worker loaded in %.2f s)",
            slot,
            self.address,
            seconds,
        )
        return connection
