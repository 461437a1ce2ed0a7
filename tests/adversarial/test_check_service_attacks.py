"""Issue 18: a check service on the network (``safety/check_service.py``,
``safety/remote.py``) is a new way in, both ways. Playing the attacker:

- against the service, a client without the secret — one that sends a frame, a length
  header of 4 GiB, nothing at all, or many connections at once — gets nothing checked,
  no worker started and no answer but the greeting, and the service goes on serving
  gateways that do know it;
- against a gateway, a "service" that does not know the secret is never believed, and
  one that does (a service host taken over) but answers garbage, an answer of 4 GiB, a
  verdict out of bounds or half an answer gets the frame failed closed — a fault, never
  a verdict — and the connection dropped.

Real sockets on 127.0.0.1; the real service runs real check-worker processes with the
misbehaving checker of ``tests/safety/stubs.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from strangers.safety import remote
from strangers.safety.check_service import _read_request
from strangers.safety.pool import Shed
from strangers.safety.remote import GREETING, NONCE_BYTES, RemoteBackend, secret_key
from strangers.safety.workers import CheckerFault, pack

from ..safety.test_remote import SECRET, remote_pool, service_of
from ..safety.test_workers import until

CLEAN = {
    "nudity": [],
    "face": True,
    "hash_hit": None,
    "scores": [],
    "age": None,
    "stages": {},
    "face_source": None,
    "hash_quality": None,
}


async def greeted(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    greeting = await reader.readexactly(len(GREETING) + NONCE_BYTES)
    assert greeting.startswith(GREETING)
    return reader, writer, greeting


async def closed_without_an_answer(reader: asyncio.StreamReader) -> None:
    """The service closes the connection, having sent nothing after its greeting."""
    async with asyncio.timeout(10):
        assert await reader.read() == b""


@pytest.mark.parametrize(
    "attack",
    [
        # A frame, as a gateway would send it after the handshake.
        pack({"op": "check", "estimate_age": False}, b"\xff\xd8\xff" + bytes(5000)),
        # A length header of 4 GiB, then bytes without end.
        struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF) + bytes(100_000),
        # The right length of proof, but not the proof.
        bytes(64),
    ],
    ids=["frame", "huge_length", "wrong_proof"],
)
async def test_a_client_without_the_secret_gets_nothing_checked(attack, caplog):
    async with service_of() as (service, address):
        reader, writer, _ = await greeted(address)
        with contextlib.suppress(ConnectionError):
            writer.write(attack)
            await writer.drain()
        await closed_without_an_answer(reader)
        writer.close()
        assert service.pids() == []
        assert "did not prove the check service's secret" in caplog.text
        # The service goes on: a gateway with the secret has its frames checked.
        async with remote_pool(address) as pool:
            assert (await pool.check(b"clean", priority=3)).verdict.clean


async def test_a_client_that_says_nothing_is_closed_after_the_handshake_time(monkeypatch):
    monkeypatch.setattr(remote, "HANDSHAKE_SECONDS", 0.3)
    async with service_of() as (service, address):
        reader, writer, _ = await greeted(address)
        await closed_without_an_answer(reader)
        writer.close()
        assert service.pids() == []


async def test_a_flood_of_unproven_connections_is_cut_off(monkeypatch):
    monkeypatch.setattr("strangers.safety.check_service.MAX_UNPROVEN", 4)
    async with service_of() as (service, address):
        held = [await greeted(address) for _ in range(4)]
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        # One more is closed at once, without even a greeting.
        await closed_without_an_answer(reader)
        writer.close()
        for _, other, _ in held:
            other.close()
        assert service.pids() == []
        async with remote_pool(address) as pool:
            assert (await pool.check(b"clean", priority=3)).verdict.clean


async def test_the_proof_is_bound_to_the_services_nonce():
    """A proof seen on the wire is worth nothing on another connection (a new nonce)."""
    key = secret_key(SECRET)
    async with service_of() as (service, address):
        reader, writer, greeting = await greeted(address)
        nonce = bytes(NONCE_BYTES)
        old_service_nonce = bytes(range(NONCE_BYTES))
        assert greeting[len(GREETING) :] != old_service_nonce
        writer.write(nonce + remote.proof(key, b"gateway", old_service_nonce, nonce))
        await closed_without_an_answer(reader)
        writer.close()
        assert service.pids() == []


Answer = Callable[[dict[str, object]], bytes]


@contextlib.asynccontextmanager
async def fake_service(answer: Answer, *, proven: bool = True) -> AsyncIterator[str]:
    """A "service" on 127.0.0.1 that answers ``ready``, then every ``check`` with
    ``answer(head)``; with ``proven=False``, it does not know the secret and makes up
    its proof."""
    key = secret_key(SECRET)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if proven:
                await remote.service_handshake(reader, writer, key)
            else:
                writer.write(GREETING + bytes(NONCE_BYTES))
                await reader.readexactly(64)
                writer.write(bytes(32))
            writer.write(pack({"op": "ready", "seconds": 0.0}))
            while True:
                head, _, _ = await _read_request(reader)
                if head.get("op") == "check":
                    writer.write(answer(head))
                    await writer.drain()
        except Exception:
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    try:
        yield f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def clean(_: object) -> bytes:
    return pack({"op": "result", "result": CLEAN})


async def test_a_service_that_does_not_know_the_secret_is_never_believed(caplog):
    async with (
        fake_service(clean, proven=False) as address,
        remote_pool(address, max_wait=1.0) as pool,
    ):
        await until(lambda: "did not prove the secret" in caplog.text)
        assert not pool.ready
        with pytest.raises(Shed):
            await pool.check(b"anything", priority=0)


def raw(head: bytes, body: bytes = b"") -> Answer:
    return lambda _: struct.pack(">II", len(head), len(body)) + head + body


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (raw(b"not json at all"), "bad_answer"),
        (raw(b"\xff\xfe"), "bad_answer"),
        (raw(b"[1, 2, 3]"), "bad_answer"),
        (lambda _: struct.pack(">II", 0xFFFFFFFF, 0) + bytes(100_000), "bad_answer"),
        (lambda _: pack({"op": "result", "result": CLEAN}, b"a body"), "bad_answer"),
        (lambda _: pack({"op": "result", "result": {**CLEAN, "face": "yes"}}), "bad_answer"),
        (lambda _: pack({"op": "result", "result": {**CLEAN, "nudity": "x" * 10}}), "bad_answer"),
        (lambda _: pack({"op": "rejected", "code": "made_up", "detail": "x"}), "bad_answer"),
        (lambda _: pack({"op": "clean"}), "bad_answer"),
        (raw(json.dumps({"op": "result", "result": CLEAN}).encode()[:-1]), "bad_answer"),
        (lambda _: struct.pack(">II", 100, 0) + b"{", "worker_hung"),
        (lambda _: b"\x00\x00", "worker_hung"),
    ],
    ids=[
        "not_json",
        "not_utf8",
        "not_an_object",
        "huge_length",
        "a_body",
        "face_not_bool",
        "nudity_not_a_list",
        "unknown_refusal",
        "unknown_op",
        "truncated_json",
        "half_an_answer",
        "half_a_header",
    ],
)
async def test_a_taken_over_service_cannot_pass_a_frame(answer, code):
    async with fake_service(answer) as address, remote_pool(address, check_timeout=1.0) as pool:
        backend = pool.backend
        assert isinstance(backend, RemoteBackend)
        await until(lambda: pool.ready)
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"anything", priority=3)
        assert fault.value.code == code
        # The connection is dropped, and made again.
        await until(lambda: backend.connections() == 1)


async def test_a_service_that_hangs_up_mid_answer_fails_the_frame_closed():
    def hang_up(_: object) -> bytes:
        raise ConnectionError("gone")

    async with fake_service(hang_up) as address, remote_pool(address) as pool:
        await until(lambda: pool.ready)
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"anything", priority=3)
        assert fault.value.code == "worker_died"


async def test_a_client_that_will_not_speak_tls_reaches_neither_the_secret_nor_a_worker(
    tmp_path,
):
    """On a TLS service, plain bytes (a frame, as a gateway would send it in the clear)
    end in the TLS handshake: no greeting, no worker, and the service goes on serving a
    gateway that speaks TLS and knows the secret."""
    from ..certificates import self_signed

    certificate = self_signed(tmp_path)
    async with service_of(tls=certificate) as (service, address):
        host, port = address.removeprefix("tls://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(pack({"op": "check", "estimate_age": False}, b"\xff\xd8\xff" + bytes(500)))
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read(4096)
        assert GREETING not in answer
        writer.close()
        assert service.pids() == []
        async with remote_pool(address, ca_file=str(certificate.cert)) as pool:
            assert (await pool.check(b"clean", priority=3)).verdict.clean
