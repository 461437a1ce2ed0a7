"""The durable records: reports and automatic flags with their evidence, bans, strikes,
blocks, appeals, the decisions waiting for chatters, and the operator's known-abuse hash
lists.

One :class:`Records` per process, on SQLite (the laptop default) or PostgreSQL. It opens
the database and exposes one aggregate per concern, each a module of this package over
the same :class:`~.store.Store`:

- ``records.reports`` (:mod:`.reports`): a chatter's report, its evidence, its block;
- ``records.flags`` (:mod:`.flags`): an automatic flag with its strike, bans, escalation;
- ``records.cases`` (:mod:`.cases`): a case's evidence, escalation, retention purge;
- ``records.bans`` (:mod:`.bans`): bans and strikes;
- ``records.appeals`` (:mod:`.appeals`): a chatter's appeal;
- ``records.notices`` (:mod:`.notices`): decisions waiting for their device;
- ``records.blocks`` (:mod:`.blocks`): pairs never to be matched again;
- ``records.hash_lists`` (:mod:`.hash_lists`): the known-abuse hash lists.

Every method is one transaction: it commits before it returns, or it leaves nothing
behind. Callers see a :class:`RecordError` with a stable code, never SQL. Identifiers are
opaque (device id, keyed network hash); an identifier that looks like an IP address is
refused. The modules built on the records (accounts, casework, transparency, ages,
cybertip) run their own transactions through :meth:`Records.transaction`.
"""

from __future__ import annotations

import asyncio

from cryptography.fernet import Fernet
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.moderation.db import make_engine
from strangers.moderation.errors import RecordError
from strangers.moderation.records.appeals import MAX_APPEAL_CHARS, Appeals
from strangers.moderation.records.bans import STRIKE_WINDOW, BanNotice, Bans
from strangers.moderation.records.blocks import Blocks
from strangers.moderation.records.cases import (
    ESCALATED_EVIDENCE_DAYS,
    EVIDENCE_DAYS,
    Cases,
    case_number,
)
from strangers.moderation.records.checks import MAX_REASON_CHARS
from strangers.moderation.records.evidence import AddressCapture
from strangers.moderation.records.flags import (
    ADULT_IN_TEEN_SEVERITY,
    CRITICAL_SEVERITY,
    FLAG_BAN_REASONS,
    KNOWN_ABUSE_SEVERITY,
    NUDITY_SEVERITY,
    TEEN_NUDITY_SEVERITY,
    TEXT_RISK_SEVERITY,
    FlagOutcome,
    Flags,
)
from strangers.moderation.records.hash_lists import HASH_IMPORT_CHUNK, HashLists
from strangers.moderation.records.notices import Notices, PendingNotice
from strangers.moderation.records.reports import (
    REPORT_EVIDENCE_MAX_BYTES,
    REPORT_FRAME_BYTES,
    REPORT_TRANSCRIPT_BYTES,
    SEVERITY,
    Reports,
)
from strangers.moderation.records.store import ACTIONS, Store

__all__ = [
    "ACTIONS",
    "ADULT_IN_TEEN_SEVERITY",
    "CRITICAL_SEVERITY",
    "ESCALATED_EVIDENCE_DAYS",
    "EVIDENCE_DAYS",
    "FLAG_BAN_REASONS",
    "HASH_IMPORT_CHUNK",
    "KNOWN_ABUSE_SEVERITY",
    "MAX_APPEAL_CHARS",
    "MAX_REASON_CHARS",
    "NUDITY_SEVERITY",
    "REPORT_EVIDENCE_MAX_BYTES",
    "REPORT_FRAME_BYTES",
    "REPORT_TRANSCRIPT_BYTES",
    "SEVERITY",
    "STRIKE_WINDOW",
    "TEEN_NUDITY_SEVERITY",
    "TEXT_RISK_SEVERITY",
    "AddressCapture",
    "Appeals",
    "BanNotice",
    "Bans",
    "Blocks",
    "Cases",
    "FlagOutcome",
    "Flags",
    "HashLists",
    "Notices",
    "PendingNotice",
    "RecordError",
    "Records",
    "Reports",
    "Store",
    "case_number",
]


class Records(Store):
    """The records over one async engine, with their aggregates. Create with :meth:`open`.

    As a :class:`~.store.Store` it gives the modules built on the records their
    transactions, the audit log, the measures taken and the evidence key."""

    def __init__(self, engine: AsyncEngine, evidence_key: bytes) -> None:
        super().__init__(engine, evidence_key)
        self.cases = Cases(self)
        self.bans = Bans(self)
        self.blocks = Blocks(self)
        self.reports = Reports(self, self.cases, self.blocks)
        self.flags = Flags(self, self.cases, self.bans)
        self.appeals = Appeals(self)
        self.notices = Notices(self)
        self.hash_lists = HashLists(self)

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

    async def ping(self, timeout: float = 2.0) -> None:
        """One round trip to the database (``SELECT 1``) within ``timeout`` seconds, for
        ``/readyz``; raises :class:`RecordError` ``unavailable`` otherwise."""
        try:
            async with asyncio.timeout(timeout), self._engine.connect() as connection:
                await connection.execute(sql_text("SELECT 1"))
        except Exception as exc:  # any failure of the probe means: not ready
            raise RecordError("unavailable", "the records are unavailable") from exc
