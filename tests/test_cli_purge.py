"""``strangers purge`` on the laptop default and with the records out of reach: a
count, or one line and exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from strangers.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STRANGERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRANGERS_EVIDENCE_KEY", raising=False)
    monkeypatch.setenv("STRANGERS_ENV", "development")
    monkeypatch.setenv("STRANGERS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_purge_on_a_fresh_data_directory_purges_nothing(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["purge"])
    assert (result.exit_code, result.stdout) == (0, "purged 0 evidence items past retention\n")
    assert (data_dir / "strangers.db").exists()


def test_purge_without_the_records_is_one_line_and_exit_1(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRANGERS_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["purge"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: the records are unavailable (")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
