"""The ``strangers moderator add`` command, on the laptop default (SQLite in the data
directory): the account it makes can sign in, and bad input is one line, exit 1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from typer.testing import CliRunner

from strangers.cli import app
from strangers.moderation import Records, load_or_create_key, sqlite_url
from strangers.moderation.accounts import Accounts, ModeratorRow, SignInRefused, list_moderators

PASSWORD = "correct horse battery"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STRANGERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRANGERS_EVIDENCE_KEY", raising=False)
    monkeypatch.setenv("STRANGERS_ENV", "development")
    data = tmp_path / "data"
    monkeypatch.setenv("STRANGERS_DATA_DIR", str(data))
    return data


def invoke(*args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["moderator", "add", *args], input=stdin)
    # Exit codes only: a traceback would show as another exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def stored(data: Path) -> list[ModeratorRow]:
    if not (data / "strangers.db").exists():
        return []

    async def read() -> list[ModeratorRow]:
        records = await Records.open(sqlite_url(data), load_or_create_key(data / "evidence.key"))
        try:
            return await list_moderators(records, now=datetime.now(UTC))
        finally:
            await records.close()

    return asyncio.run(read())


def sign_in(data: Path, name: str, password: str, code: str | None = None) -> str:
    """The role the account signs in with, or the refusal's code."""

    async def run() -> str:
        records = await Records.open(sqlite_url(data), load_or_create_key(data / "evidence.key"))
        try:
            signed = await Accounts(records).sign_in(name, password, code, now=datetime.now(UTC))
        except SignInRefused as refused:
            return refused.code
        finally:
            await records.close()
        return signed.user.role

    return asyncio.run(run())


def test_a_password_from_stdin_makes_an_account_that_signs_in(data_dir: Path) -> None:
    assert invoke("alice", "--role", "admin", "--password-stdin", stdin=f"{PASSWORD}\n") == (
        0,
        "added admin alice\n",
        "",
    )
    assert stored(data_dir) == [ModeratorRow("alice", "admin", totp=False, locked=False)]
    assert sign_in(data_dir, "alice", PASSWORD) == "admin"
    # Only the line ending is taken off: the password is the whole line.
    invoke("bob", "--role", "moderator", "--password-stdin", stdin=f" {PASSWORD} \r\n")
    assert sign_in(data_dir, "bob", f" {PASSWORD} ") == "moderator"
    assert sign_in(data_dir, "bob", PASSWORD) == "bad_credentials"


def test_the_password_is_asked_twice_without_echo(data_dir: Path) -> None:
    code, out, err = invoke("alice", "--role", "moderator", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert (code, err) == (0, "")
    assert out.endswith("added moderator alice\n") and PASSWORD not in out
    assert "Password" in out and "again" in out
    assert sign_in(data_dir, "alice", PASSWORD) == "moderator"


def test_two_different_passwords_add_nothing(data_dir: Path) -> None:
    code, _, err = invoke("alice", "--role", "moderator", stdin=f"{PASSWORD}\n{PASSWORD}!\n")
    assert (code, err) == (1, "error: the two passwords differ; nothing added\n")
    assert stored(data_dir) == []


def test_totp_prints_the_provisioning_uri(data_dir: Path) -> None:
    code, out, err = invoke(
        "alice", "--role", "admin", "--totp", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "added admin alice" and len(lines) == 3
    uri = lines[2]
    assert uri.startswith("otpauth://totp/strangers:alice?")
    assert parse_qs(urlsplit(uri).query)["issuer"] == ["strangers"]
    assert stored(data_dir) == [ModeratorRow("alice", "admin", totp=True, locked=False)]

    assert sign_in(data_dir, "alice", PASSWORD) == "totp_required"
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert sign_in(data_dir, "alice", PASSWORD, pyotp.TOTP(secret).now()) == "admin"


def test_a_duplicate_name_is_one_line_and_exit_1(data_dir: Path) -> None:
    invoke("alice", "--role", "moderator", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert invoke("alice", "--role", "admin", "--password-stdin", stdin=f"{PASSWORD}\n") == (
        1,
        "",
        "error: a moderator named alice already exists; nothing added\n",
    )
    assert stored(data_dir) == [ModeratorRow("alice", "moderator", totp=False, locked=False)]


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (("alice", "--password-stdin"), f"{PASSWORD}\n", "--role is required"),
        (("alice", "--role", "root", "--password-stdin"), f"{PASSWORD}\n", "role"),
        (("Alice", "--role", "admin", "--password-stdin"), f"{PASSWORD}\n", "lowercase"),
        (("system", "--role", "admin", "--password-stdin"), f"{PASSWORD}\n", "reserved"),
        (("alice", "--role", "admin", "--password-stdin"), "", "no password on stdin"),
        (("alice", "--role", "admin", "--password-stdin"), "short one\n", "at least 12"),
        (("alice", "--role", "admin", "--password-stdin"), "alice alice alice\n", "name"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    data_dir: Path, args: tuple[str, ...], stdin: str, words: str
) -> None:
    code, out, err = invoke(*args, stdin=stdin)
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert err.endswith("; nothing added\n")
    assert stored(data_dir) == []


def test_unavailable_records_are_one_line_and_exit_1(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRANGERS_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    code, out, err = invoke("alice", "--role", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert (code, out) == (1, "")
    assert err.startswith("error: the records are unavailable (") and err.count("\n") == 1
