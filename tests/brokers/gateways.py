"""Several real gateways on one Redis: in this process, each on a thread and event loop
of its own (:func:`threaded_cluster`), or as ``python -m strangers serve`` subprocesses
(:func:`cluster`), for the tests that kill one with SIGKILL.

They share one data directory (so one set of generated secrets and one SQLite file)
and a Redis namespace of their own, so tests never see each other's keys. They start
one after another, so only the first creates the database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.inprocess import serving_in_thread
from tests.servers import as_env, free_port, serve, wait_healthy

REDIS_URL = os.environ.get("STRANGERS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Gateway:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no goodbye to Redis, as when a host dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    data_dir: Path
    namespace: str
    settings: dict[str, object]
    gateways: list[Gateway] = field(default_factory=list)

    def start(self, name: str) -> Gateway:
        port = free_port()
        env = {
            **os.environ,
            "STRANGERS_DATA_DIR": str(self.data_dir),
            "STRANGERS_REDIS_URL": REDIS_URL,
            "STRANGERS_REDIS_NAMESPACE": self.namespace,
            "STRANGERS_GATEWAY_ID": name,
        }
        env.update(as_env(self.settings))
        log_path = self.data_dir / f"{name}.log"
        process = serve(port, env, log_path)
        gateway = Gateway(name, port, process, log_path)
        self.gateways.append(gateway)
        wait_healthy(process, gateway.http, log_path)
        return gateway

    def by_node(self, node_id: str) -> Gateway:
        """The gateway whose broker took ``node_id`` (its name, a dash, a random suffix)."""
        name = node_id.rsplit("-", 1)[0]
        return next(g for g in self.gateways if g.name == name)

    def stop(self) -> None:
        for gateway in self.gateways:
            if gateway.process.poll() is None:
                gateway.process.terminate()
        for gateway in self.gateways:
            try:
                gateway.process.wait(10)
            except subprocess.TimeoutExpired:
                gateway.process.kill()


@contextlib.contextmanager
def cluster(
    data_dir: Path, namespace: str, names: list[str], **settings: object
) -> Iterator[Cluster]:
    nodes = Cluster(data_dir, namespace, settings)
    try:
        for name in names:
            nodes.start(name)
        yield nodes
    finally:
        nodes.stop()


@dataclass
class ThreadGateway:
    """A gateway in this process, serving on a thread and event loop of its own."""

    name: str
    http: str

    @property
    def ws(self) -> str:
        return self.http.replace("http://", "ws://") + "/v1/ws"


@dataclass
class ThreadCluster:
    gateways: list[ThreadGateway]

    def by_node(self, node_id: str) -> ThreadGateway:
        """The gateway whose broker took ``node_id`` (its name, a dash, a random suffix)."""
        name = node_id.rsplit("-", 1)[0]
        return next(g for g in self.gateways if g.name == name)


@contextlib.contextmanager
def threaded_cluster(
    data_dir: Path, namespace: str, names: list[str], **settings: object
) -> Iterator[ThreadCluster]:
    """Gateways named ``names`` on the real Redis, in this process: the same app, broker
    and uvicorn configuration as ``strangers serve``, each on its own thread and loop,
    so they reach each other only through Redis, as separate hosts would."""
    with contextlib.ExitStack() as stack:
        gateways = [
            ThreadGateway(
                name,
                stack.enter_context(
                    serving_in_thread(
                        data_dir,
                        redis_url=REDIS_URL,
                        redis_namespace=namespace,
                        gateway_id=name,
                        **settings,
                    )
                ).base,
            )
            for name in names
        ]
        yield ThreadCluster(gateways)
