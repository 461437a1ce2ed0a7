"""Known-abuse hash lists: reading them, storing them, the ``strangers hashes import``
command. The hashes are made-up hex strings, not the hash of any picture."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from strangers.cli import app
from strangers.moderation import RecordError, Records, load_or_create_key, sqlite_url
from strangers.moderation.hash_import import HashListError, normalise_hash, parse_hash_list
from strangers.moderation.records import hash_lists as hash_lists_module

from .helpers import all_rows, counts

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
A, B, C = "a" * 64, "0123456789abcdef" * 4, "f" * 63 + "0"


# Reading a list


def test_a_list_with_comments_blank_lines_labels_and_separators() -> None:
    text = (
        "# known-abuse list, exported 2025-03-01\n"
        "\n"
        f"{A} first entry\n"
        f"{B.upper()},ref 2, with a comma\r\n"
        f"   {C}\t \n"
        "  # an indented comment\n"
        f"{A}\tagain\n"
    )
    assert parse_hash_list(text) == [
        (A, "first entry"),
        (B, "ref 2, with a comma"),
        (C, ""),
        (A, "again"),
    ]
    assert parse_hash_list("") == [] and parse_hash_list("# nothing\n\n") == []


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (f"# head\n{A}\n{A[:-1]} short\n", 3, "63 characters"),
        (f"{A}\n\n\n{'g' + A[1:]} not hex\n", 4, "hex digits"),
        (f"{A}0 too long\n", 1, "65 characters"),
        (f"{A} {'x' * 129}\n", 1, "longer than 128"),
        (f"{A}\n, label without a hash\n", 2, "0 characters"),
        (f"{'é' * 64}\n", 1, "hex digits"),
    ],
)
def test_a_bad_line_is_named(text: str, line: int, words: str) -> None:
    with pytest.raises(HashListError) as info:
        parse_hash_list(text)
    assert info.value.line == line
    assert words in info.value.detail
    assert str(info.value).startswith(f"line {line}: ")


def test_normalise_hash() -> None:
    assert normalise_hash(B.upper()) == B
    for bad in ("", A + " ", " " + A[1:], "z" * 64):
        with pytest.raises(ValueError):
            normalise_hash(bad)


# Storing lists


async def test_import_counts_added_and_present_per_list(
    records: Records, engine: AsyncEngine
) -> None:
    assert await records.hash_lists.counts() == {}
    assert await records.hash_lists.entries() == []

    added = await records.hash_lists.add(
        [(A, "one"), (B.upper(), "two"), (A, "one again")], list_name="ncmec", now=NOW
    )
    assert added == (2, 1)  # A twice: added once, then present
    assert sorted(await records.hash_lists.entries()) == sorted([(A, "one"), (B, "two")])

    # Again, with one new: the rest are present and keep their first label.
    assert await records.hash_lists.add(
        [(A, "renamed"), (B, "two"), (C, "three")], list_name="ncmec", now=NOW
    ) == (1, 2)
    # The same hash on another list is that list's own entry.
    assert await records.hash_lists.add([(A, "theirs")], list_name="partner", now=NOW) == (1, 0)
    assert await records.hash_lists.counts() == {"ncmec": 3, "partner": 1}
    assert sorted(await records.hash_lists.entries()) == sorted(
        [(A, "one"), (B, "two"), (C, "three"), (A, "theirs")]
    )

    rows = await all_rows(engine)
    assert {row["imported_at"] for row in rows["hash_entries"]} == {NOW}
    audits = [row for row in rows["audit"] if row["action"] == "hashes.imported"]
    assert [(row["actor"], json.loads(row["detail"])) for row in audits] == [
        ("operator", {"added": 2, "list": "ncmec", "present": 1}),
        ("operator", {"added": 1, "list": "ncmec", "present": 2}),
        ("operator", {"added": 1, "list": "partner", "present": 0}),
    ]


async def test_a_large_list_goes_in_chunks(
    records: Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hash_lists_module, "HASH_IMPORT_CHUNK", 7)
    entries = [(f"{n:064x}", f"entry {n}") for n in range(50)]
    assert await records.hash_lists.add(entries[:20], list_name="big", now=NOW) == (20, 0)
    assert await records.hash_lists.add(entries, list_name="big", now=NOW) == (30, 20)
    assert await records.hash_lists.counts() == {"big": 50}
    assert sorted(await records.hash_lists.entries()) == sorted(entries)


@pytest.mark.parametrize(
    ("entries", "list_name"),
    [
        ([(A, "ok"), (A[:-2], "short")], "list"),
        ([(A, "ok"), ("x" * 64, "not hex")], "list"),
        ([(A, "ok"), (B, "y" * 129)], "list"),
        ([(A, "ok")], ""),
        ([(A, "ok")], "n" * 65),
    ],
    ids=["short", "not-hex", "long-label", "no-name", "long-name"],
)
async def test_a_bad_entry_writes_nothing(
    records: Records, engine: AsyncEngine, entries: list[tuple[str, str]], list_name: str
) -> None:
    before = await counts(engine)
    with pytest.raises(RecordError) as info:
        await records.hash_lists.add(entries, list_name=list_name, now=NOW)
    assert info.value.code == "invalid"
    assert await counts(engine) == before


async def test_the_database_refuses_a_malformed_hash(
    records: Records, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the Python check, the length constraint still holds, and nothing is written.
    monkeypatch.setattr(hash_lists_module, "normalise_hash", lambda value: value)
    before = await counts(engine)
    with pytest.raises(RecordError) as info:
        await records.hash_lists.add([(A, "ok"), ("abc", "short")], list_name="l", now=NOW)
    assert info.value.code == "invalid"
    assert await counts(engine) == before


# The command


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The laptop default: SQLite in a data directory of its own."""
    monkeypatch.delenv("STRANGERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRANGERS_EVIDENCE_KEY", raising=False)
    monkeypatch.setenv("STRANGERS_ENV", "development")
    data = tmp_path / "data"
    monkeypatch.setenv("STRANGERS_DATA_DIR", str(data))
    return data


def stored_counts(data: Path) -> dict[str, int]:
    async def read() -> dict[str, int]:
        records = await Records.open(sqlite_url(data), load_or_create_key(data / "evidence.key"))
        try:
            return await records.hash_lists.counts()
        finally:
            await records.close()

    return asyncio.run(read())


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["hashes", "import", *args])
    # Exit codes only: a traceback would show as another exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_the_command_imports_a_list(data_dir: Path, tmp_path: Path) -> None:
    listing = tmp_path / "ncmec-2025.txt"
    listing.write_text(f"\ufeff# exported\n{A} one\n{B},two\n{A} again\n", encoding="utf-8")
    assert invoke(str(listing)) == (
        0,
        "imported 2 hashes (1 already present) into list ncmec-2025\n",
    )
    assert invoke(str(listing), "--list", "partner") == (
        0,
        "imported 2 hashes (1 already present) into list partner\n",
    )
    assert invoke(str(listing)) == (
        0,
        "imported 0 hashes (3 already present) into list ncmec-2025\n",
    )
    assert stored_counts(data_dir) == {"ncmec-2025": 2, "partner": 2}


def test_the_command_names_a_bad_line_and_imports_nothing(data_dir: Path, tmp_path: Path) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text(f"{A} one\n# fine so far\n{B[:-1]} short\n{C}\n", encoding="utf-8")
    code, output = invoke(str(listing))
    assert code == 1
    assert output.count("\n") == 1 and output.startswith("error: ")
    assert "line 3" in output and "nothing imported" in output
    assert not (data_dir / "strangers.db").exists() or stored_counts(data_dir) == {}


def test_the_command_refuses_what_it_cannot_read(data_dir: Path, tmp_path: Path) -> None:
    code, output = invoke(str(tmp_path / "missing.txt"))
    assert code == 1 and output.startswith("error: cannot read") and "missing.txt" in output
    assert output.count("\n") == 1

    latin = tmp_path / "latin.txt"
    latin.write_bytes(f"{A} caf\xe9\n".encode("latin-1"))
    code, output = invoke(str(latin))
    assert (code, output) == (1, f"error: {latin} is not UTF-8 text\n")

    code, output = invoke(str(tmp_path))
    assert code == 1 and output.startswith("error: cannot read")


def test_the_command_refuses_a_too_long_list_name(data_dir: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{A}\n", encoding="utf-8")
    code, output = invoke(str(listing), "--list", "x" * 65)
    assert code == 1 and output.startswith("error: the list name") and output.count("\n") == 1
    assert stored_counts(data_dir) == {}
