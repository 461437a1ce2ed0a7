"""Run the real server (``python -m strangers serve``) as a subprocess on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m strangers serve`` on 127.0.0.1:``port``, its output in ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strangers",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(
    process: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float = 30
) -> None:
    """Wait until ``base``/healthz answers 200; raise with the log if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def server_process(
    data_dir: Path, **settings: object
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start a server on a free loopback port with ``STRANGERS_<NAME>`` settings (its log
    in ``data_dir/server.log``); yield the process and its ``http://`` base URL, and
    stop it after."""
    port = free_port()
    env = {**os.environ, "STRANGERS_DATA_DIR": str(data_dir), **as_env(settings)}
    process = serve(port, env, data_dir / "server.log")
    (data_dir / "server.pid").write_text(str(process.pid))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, base, data_dir / "server.log", timeout=30)
        yield process, base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def running_server(data_dir: Path, **settings: object) -> Iterator[str]:
    """Start a server with ``STRANGERS_<NAME>`` settings; yield its ``http://`` base URL."""
    with server_process(data_dir, **settings) as (_process, base):
        yield base


def as_env(settings: dict[str, object]) -> dict[str, str]:
    """``STRANGERS_<NAME>`` variables for settings given as keyword arguments."""
    return {
        f"STRANGERS_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in settings.items()
    }
