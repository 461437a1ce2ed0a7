"""``/readyz`` on the live server: ready only while the database (and Redis, when
configured) answer and the models are loaded; not ready, naming the part, when one is
cut off; ready again once it is back (issue 10). The database and Redis are the real
ones, reached through a TCP relay the test can cut. The server runs in process (in a
thread): its log is what the test's ``caplog`` catches."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
import types
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from strangers.gateway import readiness

from ..inprocess import serving_in_thread
from ..moderation.conftest import POSTGRES, _admin


class Relay:
    """A TCP relay on loopback to ``upstream``; :meth:`cut` drops every connection and
    refuses new ones until :meth:`restore`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.live: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        with self.lock:
            for end in self.live:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.live.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@contextlib.contextmanager
def relay_to(host: str, port: int) -> Iterator[Relay]:
    relay = Relay((host, port))
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The name of a new, empty PostgreSQL database (dropped afterwards)."""
    name = f"strangers_test_{uuid.uuid4().hex[:16]}"

    async def run(statement: str) -> None:
        admin: asyncpg.Connection = await _admin()
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def readyz(base: str) -> tuple[int, dict[str, object]]:
    answer = httpx.get(base + "/readyz", timeout=10)
    return answer.status_code, answer.json()


def until(base: str, status: int) -> dict[str, object]:
    """The body of the first ``/readyz`` answer with ``status`` (the server notices a
    cut connection at its next probe)."""
    for _ in range(100):
        code, body = readyz(base)
        if code == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"/readyz never answered {status}: last {code} {body}")


def test_readyz_fails_while_the_database_is_unreachable(
    tmp_path: Path, postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(POSTGRES)
    with relay_to(url.host or "127.0.0.1", url.port or 5432) as relay:
        database_url = url.set(
            host="127.0.0.1", port=relay.port, database=postgres_database
        ).render_as_string(hide_password=False)
        with serving_in_thread(
            tmp_path, database_url=database_url, frame_checker="tests.checkers:scripted"
        ) as srv:
            base = srv.base
            # Ready once the check workers have loaded (they load while the server starts).
            assert until(base, 200) == {
                "status": "ready",
                "checks": {"database": "ok", "redis": "off", "models": "ok"},
            }
            relay.cut()
            body = until(base, 503)
            assert body == {
                "status": "not_ready",
                "checks": {"database": "unavailable", "redis": "off", "models": "ok"},
            }
            # Alive all the same: liveness is not readiness.
            assert httpx.get(base + "/healthz", timeout=5).status_code == 200
            metrics = httpx.get(base + "/metrics", timeout=5).text
            assert "strangers_ready 0.0" in metrics
            relay.restore()
            assert until(base, 200)["status"] == "ready"
    # The answer names the part; the log says what failed, with no traceback.
    said = [record.getMessage() for record in caplog.records]
    assert any("readiness: database unavailable" in line for line in said), said
    assert not [record for record in caplog.records if record.exc_info], said
    assert "Traceback" not in caplog.text


def test_readyz_fails_while_redis_is_unreachable(tmp_path: Path, namespace: str) -> None:
    with (
        relay_to("127.0.0.1", 6379) as relay,
        serving_in_thread(
            tmp_path,
            redis_url=f"redis://127.0.0.1:{relay.port}/0",
            redis_namespace=namespace,
            frame_checker="tests.checkers:scripted",
        ) as srv,
    ):
        base = srv.base
        assert until(base, 200) == {
            "status": "ready",
            "checks": {"database": "ok", "redis": "ok", "models": "ok"},
        }
        relay.cut()
        assert until(base, 503)["checks"] == {
            "database": "ok",
            "redis": "unavailable",
            "models": "ok",
        }
        relay.restore()
        assert until(base, 200)["checks"]["redis"] == "ok"


async def test_a_readiness_check_cancelled_before_its_probes_run_leaves_none_unawaited():
    # A /readyz whose client leaves at once is cancelled; the probes were once made by
    # the caller and left as coroutines never awaited (a RuntimeWarning in the logs).
    class Records:
        async def ping(self, timeout: float) -> None:
            await asyncio.sleep(0)

    services = types.SimpleNamespace(
        records=Records(),
        frame_checks=None,
        node=types.SimpleNamespace(broker=Records()),
        settings=types.SimpleNamespace(redis_url="redis://127.0.0.1:6379/0"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check = asyncio.ensure_future(readiness.check_readiness(services))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # it has started: the probes are made, not yet run
        check.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await check
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
