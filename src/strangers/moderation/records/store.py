"""What every part of the records shares: the engine, its transactions, the audit log,
the measures taken on cases, and the evidence key.

A :class:`Store` turns every database failure into a :class:`RecordError` with a
stable code (``invalid`` or ``unavailable``), never SQL; each aggregate of the records
(:mod:`.cases`, :mod:`.bans`, ...) runs its transactions through one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from strangers.moderation.errors import RecordError
from strangers.moderation.tables import Action, Audit, Case

ACTIONS: Final = Counter(
    "strangers_actions",
    "Measures taken on cases once committed, by kind and by whom (automatic or moderator).",
    ["kind", "actor"],
)


class Store:
    """One async engine, its sessions and the evidence key (a Fernet key)."""

    def __init__(self, engine: AsyncEngine, evidence_key: bytes) -> None:
        self._engine = engine
        self._fernet = Fernet(evidence_key)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One transaction: it commits on leaving, or rolls back and raises
        :class:`RecordError` (``invalid`` or ``unavailable``), never SQL. The measures
        recorded in it (:meth:`record_action`) are counted once it has committed."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions.begin() as session:
                yield session
                taken: list[tuple[str, str]] = session.info.pop("actions", [])
        except (IntegrityError, DataError) as exc:
            raise RecordError("invalid", "the records refused the change") from exc
        except SQLAlchemyError as exc:
            raise RecordError("unavailable", "the records are unavailable") from exc
        # Counted only now that they are committed: a rolled-back measure was not taken.
        for kind, actor in taken:
            ACTIONS.labels(kind=kind, actor=actor).inc()

    def audit(
        self,
        session: AsyncSession,
        *,
        at: datetime,
        action: str,
        case_id: int | None,
        actor: str = "system",
        **detail: Any,
    ) -> None:
        """Append to the audit log inside ``session``'s transaction (it has no update
        or delete anywhere in the code: append-only)."""
        detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
        session.add(Audit(at=at, actor=actor, action=action, case_id=case_id, detail=detail_text))

    def record_action(
        self,
        session: AsyncSession,
        case_id: int,
        kind: str,
        *,
        now: datetime,
        actor: str = "system",
        **detail: Any,
    ) -> None:
        """Record a measure taken on a case inside ``session``'s transaction; ``actor``
        "system" marks it automatic (for the transparency report and ``/metrics``)."""
        session.info.setdefault("actions", []).append(
            (kind, "automatic" if actor == "system" else "moderator")
        )
        session.add(
            Action(
                case_id=case_id,
                kind=kind,
                actor=actor,
                automatic=actor == "system",
                at=now,
                detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
            )
        )

    def seal(self, payload: dict[str, Any]) -> bytes:
        """Encrypt ``payload`` (JSON) under the evidence key: evidence is encrypted at
        rest (docs/design.md §6)."""
        return self._fernet.encrypt(json.dumps(payload, ensure_ascii=False).encode())

    def unseal(self, blob: bytes, *, what: str = "sealed") -> Any:
        """Decrypt what :meth:`seal` made; ``undecryptable`` under another key (the text
        says "<what> under another key")."""
        try:
            return json.loads(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise RecordError("undecryptable", f"{what} under another key") from exc

    @staticmethod
    async def case_id(session: AsyncSession, number: str) -> int:
        """The id of the case numbered ``number``; ``unknown_case`` when there is none."""
        case_id = await session.scalar(select(Case.id).where(Case.number == number))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        return case_id


def insert_new(session: AsyncSession, model: type[Any], rows: Any) -> Any:
    """An INSERT of ``rows`` that skips those a unique constraint already holds."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).values(rows).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(model).values(rows).on_conflict_do_nothing()
    raise RecordError("unavailable", f"unsupported database {dialect}")  # pragma: no cover
