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


@contextlib.contextmanager
def running_server(data_dir: Path, **settings: object) -> Iterator[str]:
    """Start a server with ``STRANGERS_<NAME>`` settings; yield its ``http://`` base URL."""
    port = free_port()
    env = {**os.environ, "STRANGERS_DATA_DIR": str(data_dir)}
    env.update(
        {
            f"STRANGERS_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in settings.items()
        }
    )
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "strangers", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    (data_dir / "server.pid").write_text(str(process.pid))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
