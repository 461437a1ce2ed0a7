"""``strangers migrate``, and ``strangers serve`` migrating in a child process: the records
at the newest schema, or one line and exit 1, never a traceback (OWASP ASVS 5.0 V16.5).

Marked ``process`` because the commands run as the service runs them, in interpreters
of their own: ``serve`` starts ``python -m strangers migrate`` (``cli.migrate_in_child``)
so that Alembic never enters the chat process (issue 18), and ``migrate`` sets up the
process's logging, which would replace this test run's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.process

#: Refused at once: nothing listens on port 1.
UNREACHABLE = "postgresql+asyncpg://nobody:hunter2@127.0.0.1:1/none"


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRANGERS_")}
    env |= {"STRANGERS_DATA_DIR": str(data_dir), "STRANGERS_LOG_FORMAT": "json"}
    env |= {f"STRANGERS_{name.upper()}": value for name, value in settings.items()}
    return env


def strangers(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangers", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_creates_the_newest_schema_and_logs_in_the_settings_format(
    tmp_path: Path,
) -> None:
    done = strangers("migrate", env=environment(tmp_path / "data"))
    assert (done.returncode, done.stdout) == (0, "records are at the newest schema\n")
    # Alembic's progress in the service's log format: every stderr line is JSON.
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(r["logger"] == "alembic.runtime.migration" for r in records)
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'strangers.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select version_num from alembic_version")).scalar()
    finally:
        engine.dispose()
    again = strangers("migrate", env=environment(tmp_path / "data"))
    assert again.returncode == 0 and "Running upgrade" not in again.stderr


def test_migrate_without_the_records_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = strangers("migrate", env=environment(tmp_path / "data", database_url=UNREACHABLE))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: the records are unavailable (")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr


def test_serve_does_not_serve_when_the_migration_fails(tmp_path: Path) -> None:
    """The child's error line, then the server's own record, and exit 1 before any
    socket is opened."""
    done = strangers(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "1",  # never bound: serving stops before it listens
        env=environment(tmp_path / "data", database_url=UNREACHABLE),
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert "error: the records are unavailable (" in done.stderr
    last = json.loads(done.stderr.splitlines()[-1])
    assert last["level"] == "error" and last["logger"] == "strangers"
    assert last["message"].startswith("not serving: migrating the records failed")
    assert done.stdout == ""
