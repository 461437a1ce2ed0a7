"""A check service: frame checks for gateways on other hosts (``strangers check-service``;
issue 18, docs/deploy.md "Check services on their own hosts").

It listens on TCP (``check_service_host``, 127.0.0.1 by default, and
``check_service_port``), with TLS when it has a certificate (``check_service_cert`` and
``check_service_key``; ``remote.py`` says why a network link needs it), for gateways in
``frame_check_mode = remote``
(``safety/remote.py``), and checks their frames with the checker its own settings name,
built exactly as a gateway's workers build it (:class:`~strangers.safety.workers.WorkerSpec`
from the same ``STRANGERS_*`` variables).

**The design: one check-worker process per connection.** Each accepted connection is
one slot of one gateway's pool. Once the gateway has proven the shared secret (the
handshake of ``safety/remote.py``), the service starts a check-worker process for that
connection alone (:func:`~strangers.safety.workers.spawn_loaded`: the same fresh
interpreter, ``python -m strangers.safety.check_worker``, a gateway starts for itself),
answers ``ready`` when it has loaded, and from then on passes the gateway's ``hashes``
and ``check`` messages to it one at a time and the worker's answers back. The service
process itself never decodes a frame and never loads a model: a decoder that crashes or
hangs on a frame takes down that connection's worker only. The service then closes that
connection (the gateway fails the frame as not checked and connects again, getting a new
worker); every other connection goes on. Nor does the service trust its workers more
than a gateway does: an answer is read within
:data:`~strangers.safety.workers.MAX_ANSWER_BYTES`, checked as a verdict and written
again from what was checked; a worker taking more than ``check_timeout`` seconds over a
frame is killed. At most ``workers`` connections have a worker at once; one more is
answered ``failed`` and closed (the gateway tries again later, logging it). The workers
exit with the connection, with the service, and by themselves if the service is killed
(their parent changes).

Before the handshake, the service reads exactly 64 bytes (a nonce and a proof), within
five seconds; a connection that does not prove the secret is closed without an answer,
and no more than :data:`MAX_UNPROVEN` connections may be in the handshake at once. After
it, a message is read only within :data:`MAX_REQUEST_BYTES` (a frame, within
``MAX_FRAME_BYTES``), and anything but ``hashes`` or ``check`` closes the connection.
Frames are never logged, nor written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from typing import Any, Final

from .jpeg import MAX_FRAME_BYTES, FrameRejected
from .remote import HANDSHAKE_SECONDS, NotProven, keep_alive, secret_key, service_handshake
from .workers import (
    LENGTHS,
    MAX_DETAIL,
    MAX_NAME,
    CheckerFault,
    WorkerProcess,
    WorkerSpec,
    _Gone,
    answer_from_wire,
    pack,
    result_to_wire,
    spawn_loaded,
)

log = logging.getLogger(__name__)

#: The largest message a proven gateway may send (a whole hash list: its hashes and
#: labels); a frame is bounded by ``MAX_FRAME_BYTES``.
MAX_REQUEST_BYTES: Final = 256 * 1024 * 1024
#: Connections in the handshake at once; more are closed at once.
MAX_UNPROVEN: Final = 64


class _Closed(Exception):
    """The gateway closed the connection, or broke the protocol: close it."""


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes, bytes]:
    """A proven gateway's next message: its head, its body, and the message as it came."""
    try:
        lengths = await reader.readexactly(LENGTHS.size)
        head_bytes, body_bytes = LENGTHS.unpack(lengths)
        if head_bytes + body_bytes > MAX_REQUEST_BYTES:
            raise _Closed()
        head_text = await reader.readexactly(head_bytes)
        body = await reader.readexactly(body_bytes)
        head = json.loads(head_text)
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        raise _Closed() from None
    if not isinstance(head, dict):
        raise _Closed()
    return head, body, lengths + head_text + body


def _answer(head: dict[str, Any]) -> bytes:
    """The worker's answer, checked and written again; ``CheckerFault`` for one that
    is not an answer (the worker is replaced)."""
    try:
        result = answer_from_wire(head)
    except FrameRejected as exc:
        return pack({"op": "rejected", "code": exc.code, "detail": exc.detail[:MAX_DETAIL]})
    except CheckerFault as fault:
        if fault.code != "checker_raised":
            raise
        kind, detail = str(head.get("type"))[:MAX_NAME], str(head.get("detail"))[:MAX_DETAIL]
        return pack({"op": "error", "type": kind, "detail": detail})
    return pack({"op": "result", "result": result_to_wire(result)})


class CheckService:
    """The service's connections, each with its check-worker process (see the module
    docstring): ``secret`` is the shared secret, ``workers`` the most worker processes
    at once, ``check_timeout`` the seconds a worker may take over one frame."""

    def __init__(
        self,
        spec: WorkerSpec,
        secret: bytes,
        *,
        workers: int = 2,
        check_timeout: float = 10.0,
        load_timeout: float = 300.0,
    ) -> None:
        if workers < 1:
            raise ValueError("a check service needs at least one worker")
        self.spec = spec
        self.workers = workers
        self.check_timeout = check_timeout
        self.load_timeout = load_timeout
        self._key = secret_key(secret)
        self._busy = 0
        self._unproven = 0
        self._workers: set[WorkerProcess] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._reaping: set[asyncio.Future[None]] = set()
        self._server: asyncio.Server | None = None

    def pids(self) -> list[int]:
        """The worker processes running now (for tests)."""
        return [worker.pid for worker in self._workers if worker.alive]

    async def start(
        self, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> asyncio.Server:
        """Listen on ``host``:``port`` (0: any free port; ``sockets`` says which), with
        TLS when ``tls`` is given (``remote.service_tls``): a client that does not
        complete the TLS handshake within its timeout never reaches the secret's."""
        self._server = await asyncio.start_server(
            self._connection,
            host,
            port,
            backlog=64,
            ssl=tls,
            ssl_handshake_timeout=HANDSHAKE_SECONDS if tls is not None else None,
        )
        return self._server

    async def close(self) -> None:
        """Stop listening, close every connection and stop every worker."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await asyncio.gather(*self._reaping, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer, peer[0] if peer else "?")
        except (ConnectionError, _Closed, _Gone):
            pass
        except asyncio.CancelledError:
            # :meth:`close`: this task is the connection's own, and ends here (ending
            # cancelled, asyncio's stream callback would log it as an error).
            pass
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        if self._unproven >= MAX_UNPROVEN:
            return
        self._unproven += 1
        try:
            await service_handshake(reader, writer, self._key)
        except NotProven:
            log.warning("a connection from %s did not prove the check service's secret", peer)
            return
        finally:
            self._unproven -= 1
        keep_alive(writer)
        if self._busy >= self.workers:
            log.warning(
                "a gateway at %s was refused: this check service already runs its %d workers",
                peer,
                self.workers,
            )
            detail = f"the check service already runs its {self.workers} workers"
            writer.write(pack({"op": "failed", "detail": detail}))
            await writer.drain()
            return
        self._busy += 1
        worker: WorkerProcess | None = None
        watch: asyncio.Future[int] | None = None
        try:
            try:
                worker, seconds = await spawn_loaded(self.spec, self.load_timeout)
            except CheckerFault as fault:
                log.error("a check worker did not load the frame checker (%s)", fault.detail)
                writer.write(pack({"op": "failed", "detail": fault.detail}))
                await writer.drain()
                return
            self._workers.add(worker)
            log.info("a gateway at %s has check worker %d", peer, worker.pid)
            # A worker that dies between frames closes its connection at once, so the
            # gateway connects again before its next frame instead of losing it.
            watch = asyncio.ensure_future(worker.process.wait())
            watch.add_done_callback(lambda _: writer.transport.abort())
            writer.write(pack({"op": "ready", "seconds": seconds}))
            await writer.drain()
            await self._relay(reader, writer, worker)
        finally:
            self._busy -= 1
            if watch is not None:
                watch.cancel()
            if worker is not None:
                self._workers.discard(worker)
                worker.kill()
                # Reaped in a task of its own, which :meth:`close` waits for: this one
                # may be cancelled by then.
                reaping = asyncio.ensure_future(worker.reap())
                self._reaping.add(reaping)
                reaping.add_done_callback(self._reaping.discard)

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, worker: WorkerProcess
    ) -> None:
        """Pass the gateway's messages to ``worker`` and its checked answers back, until
        either goes away or breaks the protocol."""
        hashes: bytes | None = None
        while True:
            head, body, message = await _read_request(reader)
            op = head.get("op")
            if op == "hashes" and isinstance(head.get("labels"), list):
                hashes = message  # the newest list replaces any the worker has not had
                continue
            if op != "check" or len(body) > MAX_FRAME_BYTES:
                raise _Closed()
            estimate_age = head.get("estimate_age") is True
            update = None if hashes is None else (worker.hash_version + 1, hashes)
            try:
                async with asyncio.timeout(self.check_timeout):
                    answer = _answer(await worker.exchange(body, estimate_age, update))
            except TimeoutError:
                log.warning(
                    "check worker %d took more than %g s over a frame; killed",
                    worker.pid,
                    self.check_timeout,
                )
                return
            except CheckerFault as fault:
                log.warning("check worker %d failed a frame (%s)", worker.pid, fault.code)
                return
            hashes = None
            writer.write(answer)
            await writer.drain()


async def serve_forever(
    service: CheckService, host: str, port: int, tls: ssl.SSLContext | None = None
) -> None:
    """Run ``service`` on ``host``:``port`` until cancelled (SIGINT, SIGTERM)."""
    server = await service.start(host, port, tls)
    log.info(
        "check service listening on %s (%s) with up to %d workers (%s frame checker)",
        ", ".join(str(sock.getsockname()[:2]) for sock in server.sockets),
        "TLS" if tls is not None else "plain TCP",
        service.workers,
        service.spec.frame_checker,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await service.close()
