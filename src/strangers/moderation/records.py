"""The durable records: reports with their evidence, bans, strikes, blocks, appeals.

One :class:`Records` per process, on SQLite (the laptop default) or PostgreSQL. Every
method is one transaction: it commits before it returns, or it leaves nothing behind.
Callers see a :class:`RecordError` with a stable code, never SQL. Identifiers are opaque
(device id, keyed network hash); an identifier that looks like an IP address is refused.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from strangers.core.bans import BanEntry
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import MAX_NOTE_CHARS, Filing, ReportReason
from strangers.moderation.db import make_engine
from strangers.moderation.tables import (
    Appeal,
    Audit,
    Ban,
    Block,
    Case,
    Evidence,
    Report,
    Strike,
)

EVIDENCE_DAYS: Final = 90  # design §6
ESCALATED_EVIDENCE_DAYS: Final = 365  # REPORT Act: a year when escalated
STRIKE_WINDOW: Final = timedelta(hours=24)
MAX_APPEAL_CHARS: Final = 2000
MAX_REASON_CHARS: Final = 64

#: Queue order: most severe first (design §1, Moderator).
SEVERITY: Final[dict[ReportReason, int]] = {
    ReportReason.UNDERAGE: 90,
    ReportReason.SEXUAL: 70,
    ReportReason.ADULT: 60,
    ReportReason.HARASSMENT: 50,
    ReportReason.SPAM: 20,
    ReportReason.OTHER: 10,
}


class RecordError(Exception):
    """A refused or failed records operation; ``code`` is stable, the text is safe to show.

    Codes: ``invalid`` (a bad argument), ``unknown_case``, ``not_allowed``, ``duplicate``,
    ``undecryptable`` (evidence under another key), ``unavailable`` (the database failed).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


#: What a banned chatter is shown (design §1, Ban notice): reason, case number, end.
BanNotice = BanEntry


def case_number(case_id: int) -> str:
    return f"S-{case_id:06d}"


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _check_time(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RecordError("invalid", "times must be timezone-aware")


def _check_id(value: str, what: str) -> None:
    if not value or len(value) > 128:
        raise RecordError("invalid", f"{what} is empty or too long")
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return
    raise RecordError("invalid", f"{what} must be an opaque identifier, not an address")


class Records:
    """The records layer over one async engine. Create with :meth:`open`."""

    def __init__(self, engine: AsyncEngine, evidence_key: bytes) -> None:
        self._engine = engine
        self._fernet = Fernet(evidence_key)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str, evidence_key: bytes) -> Records:
        """Connect to ``url`` (no migration here: see ``strangers.moderation.migrate``)."""
        try:
            Fernet(evidence_key)
        except (ValueError, TypeError) as exc:
            raise RecordError("invalid", "the evidence key is not a Fernet key") from exc
        return cls(make_engine(url), evidence_key)

    async def close(self) -> None:
        await self._engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions.begin() as session:
                yield session
        except (IntegrityError, DataError) as exc:
            raise RecordError("invalid", "the records refused the change") from exc
        except SQLAlchemyError as exc:
            raise RecordError("unavailable", "the records are unavailable") from exc

    async def _case_id(self, session: AsyncSession, number: str) -> int:
        case_id = await session.scalar(select(Case.id).where(Case.number == number))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        return case_id

    def _audit(
        self,
        session: AsyncSession,
        *,
        at: datetime,
        action: str,
        case_id: int | None,
        actor: str = "system",
        **detail: Any,
    ) -> None:
        detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
        session.add(Audit(at=at, actor=actor, action=action, case_id=case_id, detail=detail_text))

    # Reports

    async def file_report(self, filing: Filing, *, now: datetime) -> str:
        """Commit a report: case, report, encrypted transcript, block, audit. Returns the
        case number, only once all of it is committed."""
        _check_time(now)
        if len(filing.note) > MAX_NOTE_CHARS:
            raise RecordError("invalid", "the note is too long")
        if filing.reason not in SEVERITY:
            raise RecordError("invalid", "unknown report reason")
        for party, side in ((filing.reporter, "reporter"), (filing.reported, "reported")):
            _check_id(party.device, f"{side} device")
            _check_id(party.network, f"{side} network")
        payload = {
            "match": filing.match,
            "pool": filing.pool,
            "matched_at": filing.matched_at,
            "reported_at": filing.reported_at,
            "lines": [
                {"at": line.at, "side": line.side, "text": line.text} for line in filing.transcript
            ],
        }
        ciphertext = self._fernet.encrypt(json.dumps(payload, ensure_ascii=False).encode())

        async with self._transaction() as session:
            # The number derives from the id: insert with a placeholder nobody else can see
            # (it never leaves this transaction), then set it.
            case = Case(
                number=f"~{uuid.uuid4().hex[:24]}",
                kind="report",
                severity=SEVERITY[ReportReason(filing.reason)],
                status="open",
                opened_at=now,
                escalated=False,
                pool=filing.pool,
            )
            session.add(case)
            await session.flush()
            case.number = case_number(case.id)
            session.add_all(
                [
                    Report(
                        case_id=case.id,
                        reason=str(filing.reason),
                        note=filing.note,
                        match=filing.match,
                        reporter_device=filing.reporter.device,
                        reporter_network=filing.reporter.network,
                        reported_device=filing.reported.device,
                        reported_network=filing.reported.network,
                        matched_at=_at(filing.matched_at),
                        reported_at=_at(filing.reported_at),
                    ),
                    Evidence(
                        case_id=case.id,
                        kind="transcript",
                        ciphertext=ciphertext,
                        created_at=now,
                        retain_until=now + timedelta(days=EVIDENCE_DAYS),
                    ),
                ]
            )
            await session.flush()
            await self._block(session, filing.reporter.device, filing.reported.device, case.id, now)
            self._audit(
                session,
                at=now,
                action="report.filed",
                case_id=case.id,
                reason=str(filing.reason),
                pool=filing.pool,
            )
            number = case.number
        return number

    async def _block(
        self, session: AsyncSession, one: str, other: str, case_id: int | None, now: datetime
    ) -> None:
        if one == other:
            return  # one device on both sides (the laptop default): nothing to block
        a, b = sorted((one, other))
        values = {"device_a": a, "device_b": b, "created_at": now, "case_id": case_id}
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(Block).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(Block).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RecordError("unavailable", f"unsupported database {dialect}")
        await session.execute(statement)

    async def blocked_pairs(self) -> list[tuple[str, str]]:
        """Every blocked pair, each sorted ``(device_a, device_b)``."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(Block.device_a, Block.device_b).order_by(Block.device_a, Block.device_b)
            )
            return [(a, b) for a, b in rows]

    async def read_evidence(self, case: str) -> list[dict[str, Any]]:
        """The decrypted evidence of a case, oldest first."""
        async with self._transaction() as session:
            case_id = await self._case_id(session, case)
            blobs = (
                await session.scalars(
                    select(Evidence.ciphertext)
                    .where(Evidence.case_id == case_id)
                    .order_by(Evidence.id)
                )
            ).all()
        try:
            return [json.loads(self._fernet.decrypt(blob)) for blob in blobs]
        except InvalidToken as exc:
            raise RecordError("undecryptable", "evidence sealed under another key") from exc

    async def escalate(self, case: str, *, actor: str, now: datetime) -> None:
        """Mark a case for a law-enforcement report: its evidence is kept a year."""
        _check_time(now)
        async with self._transaction() as session:
            row = await session.get(Case, await self._case_id(session, case))
            assert row is not None
            row.escalated = True
            row.status = "escalated"
            self._audit(session, at=now, action="case.escalated", case_id=row.id, actor=actor)

    async def purge(self, *, now: datetime) -> int:
        """Delete evidence past its retention: 90 days, a year from creation when the
        case is escalated. Returns the number of evidence rows deleted."""
        _check_time(now)
        escalated = select(Case.id).where(Case.escalated.is_(True))
        async with self._transaction() as session:
            result: Any = await session.execute(
                delete(Evidence).where(
                    Evidence.retain_until <= now,
                    or_(
                        Evidence.case_id.not_in(escalated),
                        Evidence.created_at <= now - timedelta(days=ESCALATED_EVIDENCE_DAYS),
                    ),
                )
            )
            deleted = int(result.rowcount or 0)
            if deleted:
                self._audit(session, at=now, action="evidence.purged", case_id=None, rows=deleted)
        return deleted

    # Bans and strikes

    async def add_ban(
        self,
        *,
        device: str | None,
        network: str | None,
        reason: str,
        case: str | None,
        until: datetime | None,
        now: datetime,
    ) -> int:
        """Ban a device, a network or both until ``until`` (None: for good). Returns its id."""
        _check_time(now)
        if until is not None:
            _check_time(until)
        if device is None and network is None:
            raise RecordError("invalid", "a ban needs a device or a network")
        if device is not None:
            _check_id(device, "device")
        if network is not None:
            _check_id(network, "network")
            if network == UNKNOWN_NETWORK:
                # Every peer whose address could not be read shares it: banning it
                # would ban them all.
                raise RecordError("invalid", "an unknown network cannot be banned")
        if not reason or len(reason) > MAX_REASON_CHARS:
            raise RecordError("invalid", "the reason is empty or too long")
        async with self._transaction() as session:
            case_id = None if case is None else await self._case_id(session, case)
            ban = Ban(
                device=device,
                network=network,
                reason=reason,
                case_id=case_id,
                created_at=now,
                until=until,
            )
            session.add(ban)
            await session.flush()
            self._audit(
                session,
                at=now,
                action="ban.added",
                case_id=case_id,
                ban=ban.id,
                until=None if until is None else until.isoformat(),
            )
            return ban.id

    async def active_bans(self, *, now: datetime) -> list[tuple[str | None, str | None, BanNotice]]:
        """Every ban in force: (device, network, notice), for the gateway's in-memory index."""
        _check_time(now)
        async with self._transaction() as session:
            rows = (
                await session.execute(
                    select(Ban.device, Ban.network, Ban.reason, Case.number, Ban.until)
                    .outerjoin(Case, Case.id == Ban.case_id)
                    .where(or_(Ban.until.is_(None), Ban.until > now))
                )
            ).all()
        return [
            (device, network, BanNotice(reason=reason, case=number, until=until))
            for device, network, reason, number, until in rows
        ]

    async def add_strike(
        self, *, device: str, network: str, reason: str, case: str | None, now: datetime
    ) -> int:
        """Record a strike; returns the device's strikes in the last 24 hours, this one
        included."""
        _check_time(now)
        _check_id(device, "device")
        _check_id(network, "network")
        if not reason or len(reason) > MAX_REASON_CHARS:
            raise RecordError("invalid", "the reason is empty or too long")
        async with self._transaction() as session:
            case_id = None if case is None else await self._case_id(session, case)
            session.add(
                Strike(device=device, network=network, case_id=case_id, reason=reason, at=now)
            )
            await session.flush()
            count = await session.scalar(
                select(func.count())
                .select_from(Strike)
                .where(
                    and_(
                        Strike.device == device,
                        Strike.at > now - STRIKE_WINDOW,
                        Strike.at <= now,
                    )
                )
            )
            return int(count or 0)

    # Appeals

    async def submit_appeal(self, *, case: str, device: str, text: str, now: datetime) -> int:
        """Store an appeal from the device a case acted on (reported or banned).
        Returns the appeal's id."""
        _check_time(now)
        text = text.strip()
        if not text or len(text) > MAX_APPEAL_CHARS:
            raise RecordError("invalid", "the appeal is empty or too long")
        async with self._transaction() as session:
            case_id = await self._case_id(session, case)
            concerned = await session.scalar(
                select(func.count()).where(
                    or_(
                        select(Report.id)
                        .where(Report.case_id == case_id, Report.reported_device == device)
                        .exists(),
                        select(Ban.id).where(Ban.case_id == case_id, Ban.device == device).exists(),
                    )
                )
            )
            if not concerned:
                raise RecordError("not_allowed", "this case is not about this device")
            pending = await session.scalar(
                select(Appeal.id).where(
                    Appeal.case_id == case_id,
                    Appeal.device == device,
                    Appeal.status == "pending",
                )
            )
            if pending is not None:
                raise RecordError("duplicate", "an appeal of this case is already pending")
            appeal = Appeal(
                case_id=case_id, device=device, text=text, submitted_at=now, status="pending"
            )
            session.add(appeal)
            await session.flush()
            self._audit(
                session,
                at=now,
                action="appeal.submitted",
                case_id=case_id,
                actor="chatter",
                appeal=appeal.id,
            )
            return appeal.id
