"""The operator's known-abuse hash lists: the PDQ hashes the video checks match frames
against (docs/design.md §6), imported all or nothing (the text is read by
``moderation/hash_import``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select

from strangers.moderation.errors import RecordError
from strangers.moderation.hash_import import normalise_hash
from strangers.moderation.records.checks import check_time
from strangers.moderation.records.store import Store, insert_new
from strangers.moderation.tables import HASH_LABEL_MAX, HASH_LIST_MAX, HashEntry

#: Rows a statement inserts at most when importing a hash list (4 parameters a row stay
#: far below the SQLite and PostgreSQL parameter limits).
HASH_IMPORT_CHUNK: Final = 1000


class HashLists:
    """The known-abuse hash lists of the records."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(
        self,
        entries: Sequence[tuple[str, str]],
        *,
        list_name: str,
        now: datetime,
        actor: str = "operator",
    ) -> tuple[int, int]:
        """Add ``(hash, label)`` entries to the hash list ``list_name``, all or nothing.
        Hashes are kept as 64 lowercase hex digits; a hash the list already holds keeps
        its first label. Returns (added, already present), which add up to
        ``len(entries)``: a hash given twice is added once and then counted as present.

        A malformed hash, a label over 128 characters or a list name over 64: ``invalid``,
        nothing written.
        """
        check_time(now)
        if not list_name or len(list_name) > HASH_LIST_MAX:
            raise RecordError(
                "invalid", f"the list name is empty or over {HASH_LIST_MAX} characters"
            )
        rows: dict[str, dict[str, Any]] = {}
        for number, (value, label) in enumerate(entries, start=1):
            try:
                hex_digits = normalise_hash(value)
            except ValueError as exc:
                raise RecordError("invalid", f"entry {number}: {exc}") from None
            if len(label) > HASH_LABEL_MAX:
                raise RecordError(
                    "invalid", f"entry {number}: the label is over {HASH_LABEL_MAX} characters"
                )
            rows.setdefault(
                hex_digits,
                {"hash": hex_digits, "label": label, "list_name": list_name, "imported_at": now},
            )
        unique = list(rows.values())
        added = 0
        async with self._store.transaction() as session:
            for start in range(0, len(unique), HASH_IMPORT_CHUNK):
                chunk = unique[start : start + HASH_IMPORT_CHUNK]
                # RETURNING yields only the rows inserted, not those skipped as present.
                statement = insert_new(session, HashEntry, chunk).returning(HashEntry.id)
                added += len((await session.execute(statement)).all())
            present = len(entries) - added
            self._store.audit(
                session,
                at=now,
                action="hashes.imported",
                case_id=None,
                actor=actor,
                list=list_name,
                added=added,
                present=present,
            )
        return added, present

    async def entries(self) -> list[tuple[str, str]]:
        """Every listed hash as (lowercase hex, label), for the gateway's matcher; a hash
        on several lists comes once per list."""
        async with self._store.transaction() as session:
            rows = await session.execute(
                select(HashEntry.hash, HashEntry.label).order_by(HashEntry.id)
            )
            return [(hex_digits, label) for hex_digits, label in rows]

    async def counts(self) -> dict[str, int]:
        """How many hashes each list holds."""
        async with self._store.transaction() as session:
            rows = await session.execute(
                select(HashEntry.list_name, func.count()).group_by(HashEntry.list_name)
            )
            return {name: int(count) for name, count in rows}
