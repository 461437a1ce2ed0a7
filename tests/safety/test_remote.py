"""Frame checks in a check service (``safety/check_service.py``) that a gateway reaches over
TCP (``safety/remote.py``; issue 18): a real service on 127.0.0.1 with real check-worker
processes, a real ``RemoteBackend`` under a ``CheckPool``, and the misbehaving checker of
``stubs.py`` for what a worker may do wrong. Whatever goes wrong on the far side — a
worker that dies or hangs, a service killed, a secret that does not match — a frame
gets no verdict (fail closed), and checks resume when the service is back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from strangers.core.frames import HashHit
from strangers.gateway.settings import Settings
from strangers.safety.check_service import CheckService
from strangers.safety.hashes import HashList, pdq_hex
from strangers.safety.jpeg import FrameRejected
from strangers.safety.pool import CheckPool, Shed
from strangers.safety.remote import RemoteBackend, ServiceAddress, service_tls
from strangers.safety.workers import CheckerFault, WorkerSpec

from ..certificates import Certificate, self_signed
from ..servers import free_port
from .pictures import FACE_FRAMES
from .test_workers import MISBEHAVING, gone, pid_of, until

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"a test secret of the check service, 48 characters"
WRONG = b"another secret, as long, that the service refuses"


@contextlib.asynccontextmanager
async def service_of(
    spec: WorkerSpec = MISBEHAVING,
    workers: int = 2,
    tls: Certificate | None = None,
    **kw: object,
) -> AsyncIterator[tuple[CheckService, str]]:
    """A check service in this process's loop (its workers are real processes), on a
    free port of 127.0.0.1; its ``tcp://`` address, or ``tls://`` with ``tls``."""
    service = CheckService(spec, SECRET, workers=workers, **kw)  # type: ignore[arg-type]
    context = service_tls(str(tls.cert), str(tls.key)) if tls is not None else None
    server = await service.start("127.0.0.1", 0, context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield service, f"{'tls' if tls else 'tcp'}://127.0.0.1:{port}"
    finally:
        await service.close()


@contextlib.asynccontextmanager
async def remote_pool(
    address: str, secret: bytes = SECRET, workers: int = 1, max_wait: float = 5.0, **kw: object
) -> AsyncIterator[CheckPool]:
    backend = RemoteBackend(address, secret, **kw)  # type: ignore[arg-type]
    pool = CheckPool(backend, workers=workers, max_wait=max_wait)
    pool.start()
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_frame_checked_through_a_check_service_gets_its_verdict():
    async with service_of() as (service, address), remote_pool(address, workers=2) as pool:
        await until(lambda: pool.ready and len(service.pids()) == 2)
        workers = set(service.pids())
        results = await asyncio.gather(*(pool.check(b"clean", priority=3) for _ in range(6)))
        assert all(r.verdict.clean for r in results)
        # Checked in the service's workers, one per connection.
        assert {pid_of(r) for r in results} <= workers
        with pytest.raises(FrameRejected) as refused:
            await pool.check(b"reject", priority=3)
        assert refused.value.code == "not_jpeg"
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"boom", priority=3)
        assert fault.value.code == "checker_raised" and "RuntimeError" in fault.value.detail
        # Neither costs a connection or a worker.
        assert set(service.pids()) == workers
        assert pid_of(await pool.check(b"clean", priority=3)) in workers


async def test_the_builtin_checker_and_hash_list_changes_work_through_a_service():
    hashes = HashList()
    frame = FACE_FRAMES["astronaut"]
    async with (
        service_of(WorkerSpec(age_estimator="off"), workers=1) as (_, address),
        remote_pool(address, hashes=hashes) as pool,
    ):
        first = await pool.check(frame, priority=3)
        assert first.verdict.face and first.verdict.hash_hit is None
        hashes.replace([(pdq_hex(frame), "benign test picture")])
        hit = await pool.check(frame, priority=3)
        assert hit.verdict.hash_hit == HashHit("benign test picture", 0)
        hashes.replace([])
        assert (await pool.check(frame, priority=3)).verdict.hash_hit is None


async def test_a_frame_that_crashes_the_services_worker_fails_closed_and_the_next_is_checked():
    async with service_of() as (_, address), remote_pool(address) as pool:
        first = pid_of(await pool.check(b"clean", priority=3))
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"crash", priority=3)
        assert fault.value.code == "worker_died"
        await until(lambda: gone(first))
        # A new connection, with a worker of its own; the service goes on.
        assert pid_of(await pool.check(b"clean", priority=3)) != first


async def test_a_service_worker_that_dies_between_frames_costs_no_frame():
    async with service_of() as (_, address), remote_pool(address) as pool:
        backend = pool.backend
        assert isinstance(backend, RemoteBackend)
        first = pid_of(await pool.check(b"clean", priority=3))
        os.kill(first, signal.SIGKILL)
        # Once the service sees it gone, it closes that connection; the gateway makes
        # another before its next frame, which is checked.
        await until(lambda: backend.connections() == 0)
        result = await pool.check(b"clean", priority=3)
        assert result.verdict.clean and pid_of(result) != first


async def test_a_worker_that_hangs_at_the_service_fails_closed_after_the_check_timeout():
    async with (
        service_of(check_timeout=1.0) as (_, address),
        remote_pool(address, check_timeout=0.5) as pool,
    ):
        first = pid_of(await pool.check(b"clean", priority=3))
        began = time.monotonic()
        with pytest.raises(CheckerFault) as fault:
            await pool.check(b"sleep:60", priority=3)
        assert fault.value.code == "worker_hung" and time.monotonic() - began < 5
        assert pid_of(await pool.check(b"clean", priority=3)) != first
        # The service killed the hung worker at its own timeout.
        await until(lambda: gone(first), 10)


async def test_a_wrong_secret_is_refused_and_no_frame_is_answered(caplog):
    async with (
        service_of() as (service, address),
        remote_pool(address, secret=WRONG, max_wait=1.0) as pool,
    ):
        await until(lambda: "did not prove the check service's secret" in caplog.text)
        await until(lambda: "did not load the frame checker" in caplog.text)
        assert not pool.ready and service.pids() == []
        with pytest.raises(Shed) as shed:
            await pool.check(b"clean", priority=0)
        assert shed.value.reason == "stale"
        assert service.pids() == []


async def test_a_frame_is_checked_over_tls_with_the_services_certificate_verified(tmp_path):
    certificate = self_signed(tmp_path)
    async with (
        service_of(tls=certificate) as (service, address),
        remote_pool(address, ca_file=str(certificate.cert)) as pool,
    ):
        assert address.startswith("tls://")
        result = await pool.check(b"clean", priority=3)
        assert result.verdict.clean and pid_of(result) in service.pids()


async def test_a_service_whose_certificate_does_not_verify_gets_no_frame(tmp_path, caplog):
    """A gateway that trusts another authority (a service impersonated on the path, or
    a certificate the operator did not issue) never hands it a frame."""
    served, trusted = self_signed(tmp_path / "served"), self_signed(tmp_path / "trusted")
    async with (
        service_of(tls=served) as (service, address),
        remote_pool(address, ca_file=str(trusted.cert), max_wait=1.0) as pool,
    ):
        await until(lambda: "did not load the frame checker" in caplog.text)
        assert "certificate verify failed" in caplog.text
        assert not pool.ready and service.pids() == []
        with pytest.raises(Shed):
            await pool.check(b"clean", priority=0)
        assert service.pids() == []


async def test_a_service_beyond_its_workers_refuses_more_connections(caplog):
    async with service_of(workers=1) as (service, address), remote_pool(address, workers=2) as pool:
        await until(lambda: "already runs its 1 workers" in caplog.text and pool.ready)
        # One connection is enough to be ready; its frames are checked.
        assert pool.ready and len(service.pids()) == 1
        assert (await pool.check(b"clean", priority=3)).verdict.clean


async def test_a_gateway_waits_for_a_service_that_is_not_there_yet():
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    async with remote_pool(address) as pool:
        await asyncio.sleep(0.3)
        assert not pool.ready
        service = CheckService(MISBEHAVING, SECRET, workers=1)
        await service.start("127.0.0.1", port)
        try:
            await until(lambda: pool.ready, 30)
            assert (await pool.check(b"clean", priority=3)).verdict.clean
        finally:
            await service.close()


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"frame_check_mode": "remote"}, "STRANGERS_FRAME_CHECK_SERVICE"),
        (
            {"frame_check_mode": "remote", "frame_check_service": "tls://10.0.0.5:8300"},
            "STRANGERS_CHECK_SERVICE_SECRET",
        ),
        ({"frame_check_service": "http://10.0.0.5:8300"}, "tcp://host:port"),
        ({"frame_check_service": "tcp://10.0.0.5"}, "tcp://host:port"),
        ({"frame_check_service": "tcp://10.0.0.5:8300"}, "unencrypted"),
        ({"frame_check_service": "tcp://checks.internal:8300"}, "unencrypted"),
        ({"check_service_cert": "/etc/ssl/check.pem"}, "go together"),
        ({"check_service_secret": "short"}, "at least 32 characters"),
    ],
)
def test_remote_mode_needs_an_address_and_a_secret(settings, complaint):
    with pytest.raises(ValidationError, match=complaint):
        Settings(**settings)


def test_a_service_address_reads_as_written():
    assert ServiceAddress.parse("tcp://checks.internal:8300") == ServiceAddress(
        "checks.internal", 8300
    )
    assert ServiceAddress.parse("tls://checks.internal:8300") == ServiceAddress(
        "checks.internal", 8300, tls=True
    )
    assert str(ServiceAddress.parse("tcp://[fd00::5]:8300")) == "tcp://[fd00::5]:8300"
    assert str(ServiceAddress.parse("tls://[fd00::5]:8300")) == "tls://[fd00::5]:8300"
    remote = Settings(
        frame_check_mode="remote",
        frame_check_service="tls://10.0.0.5:8300",
        check_service_secret=SECRET.decode(),  # type: ignore[arg-type]
    )
    assert remote.check_secret() == SECRET


def test_plain_tcp_is_for_this_host_or_a_link_the_operator_calls_private():
    """Frames are chatters' video: they cross a network encrypted unless the operator
    says, by name, that the link is private (a WireGuard tunnel)."""
    assert not ServiceAddress.parse("tcp://127.0.0.1:8300").in_the_clear
    assert not ServiceAddress.parse("tls://10.0.0.5:8300").in_the_clear
    assert ServiceAddress.parse("tcp://10.0.0.5:8300").in_the_clear
    private = Settings(
        frame_check_mode="remote",
        frame_check_service="tcp://10.0.0.5:8300",
        check_service_plaintext=True,
        check_service_secret=SECRET.decode(),  # type: ignore[arg-type]
    )
    assert private.frame_check_service == "tcp://10.0.0.5:8300"


def service_command(
    port: int, *args: str, secret: bytes | None = SECRET, **more: str
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGERS_")}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "STRANGERS_FRAME_CHECKER": MISBEHAVING.frame_checker,
        "STRANGERS_LOG_FORMAT": "json",
    }
    env |= {f"STRANGERS_{name.upper()}": value for name, value in more.items()}
    if secret is not None:
        env["STRANGERS_CHECK_SERVICE_SECRET"] = secret.decode()
    return subprocess.Popen(
        [sys.executable, "-m", "strangers", "check-service", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )


@contextlib.contextmanager
def running(process: subprocess.Popen):
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.process
async def test_a_killed_service_fails_frames_closed_and_checks_resume_when_it_is_back():
    """``strangers check-service`` as operators run it, in a process of its own: the point
    is to SIGKILL that process in the middle of a check, then start it again."""
    port = free_port()
    with running(service_command(port, "--workers", "2")) as service:
        async with remote_pool(f"tcp://127.0.0.1:{port}", workers=2, max_wait=2.0) as pool:
            backend = pool.backend
            assert isinstance(backend, RemoteBackend)
            await until(lambda: pool.ready, 60)
            worker = pid_of(await pool.check(b"clean", priority=3))
            checking = asyncio.create_task(pool.check(b"sleep:30", priority=3))
            await asyncio.sleep(0.5)
            service.send_signal(signal.SIGKILL)
            with pytest.raises(CheckerFault) as fault:
                await checking
            assert fault.value.code == "worker_died"
            await until(lambda: not pool.ready)
            # The service's workers go with it (their parent is gone).
            await until(lambda: gone(worker), 10)
            # Frames posted while it is down wait for a connection, and are shed unchecked.
            with pytest.raises(Shed) as shed:
                await pool.check(b"clean", priority=0)
            assert shed.value.reason == "stale"
            with running(service_command(port, "--workers", "2")):
                await until(lambda: pool.ready, 60)
                result = await pool.check(b"clean", priority=3)
                assert result.verdict.clean and pid_of(result) != worker


@pytest.mark.process
def test_a_service_on_a_public_address_needs_tls_and_the_secret():
    """The command's own refusals, before it listens: it runs as operators run it, in an
    interpreter of its own (it configures that process's logging). Beyond loopback it
    needs a certificate (or the operator's word that the link is private) and the
    secret."""
    with running(service_command(free_port(), "--host", "0.0.0.0")) as service:
        assert service.wait(60) == 2
        assert service.stderr is not None
        assert b"needs TLS" in service.stderr.read()
    public = service_command(
        free_port(), "--host", "0.0.0.0", secret=None, check_service_plaintext="true"
    )
    with running(public) as service:
        assert service.wait(60) == 2
        assert service.stderr is not None
        assert b"needs STRANGERS_CHECK_SERVICE_SECRET" in service.stderr.read()
