"""The durable records: reports and automatic flags with their evidence, bans, strikes,
blocks, appeals, and the operator's known-abuse hash lists.

One :class:`Records` per process, on SQLite (the laptop default) or PostgreSQL. Every
method is one transaction: it commits before it returns, or it leaves nothing behind.
Callers see a :class:`RecordError` with a stable code, never SQL. Identifiers are opaque
(device id, keyed network hash); an identifier that looks like an IP address is refused.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import ipaddress
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken
from prometheus_client import Counter
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from strangers.core.bans import BanEntry
from strangers.core.flags import PERMANENT, Corroboration, Flag, FlagKind
from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict, HashHit
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import MAX_NOTE_CHARS, Filing, Line, Party, ReportReason
from strangers.core.video import ban_after_strikes
from strangers.moderation.db import make_engine
from strangers.moderation.hash_import import normalise_hash
from strangers.moderation.tables import (
    HASH_LABEL_MAX,
    HASH_LIST_MAX,
    Action,
    Appeal,
    Audit,
    Ban,
    Block,
    Case,
    ChatterNotice,
    Evidence,
    HashEntry,
    Report,
    Strike,
)
from strangers.moderation.tables import Flag as FlagRow

ACTIONS: Final = Counter(
    "strangers_actions",
    "Measures taken on cases once committed, by kind and by whom (automatic or moderator).",
    ["kind", "actor"],
)

EVIDENCE_DAYS: Final = 90  # design §6
ESCALATED_EVIDENCE_DAYS: Final = 365  # REPORT Act: a year when escalated
STRIKE_WINDOW: Final = timedelta(hours=24)
MAX_APPEAL_CHARS: Final = 2000
MAX_REASON_CHARS: Final = 64
#: What one report may keep of its match (docs/security.md, "Flooders"): the newest
#: chat lines up to this many bytes of JSON-escaped UTF-8 text, and the newest frames up to this
#: many JPEG bytes. With the note (500 characters) a report's sealed evidence stays
#: under ``REPORT_EVIDENCE_MAX_BYTES`` whatever a modified client sent.
REPORT_TRANSCRIPT_BYTES: Final = 32 * 1024
REPORT_FRAME_BYTES: Final = 96 * 1024
REPORT_EVIDENCE_MAX_BYTES: Final = 256 * 1024

#: Queue order: most severe first (design §1, Moderator).
SEVERITY: Final[dict[ReportReason, int]] = {
    ReportReason.UNDERAGE: 90,
    ReportReason.SEXUAL: 70,
    ReportReason.ADULT: 60,
    ReportReason.HARASSMENT: 50,
    ReportReason.SPAM: 20,
    ReportReason.OTHER: 10,
}

#: Automatic flags share the queue with reports (design §6). A hash-list match is the
#: most severe of all: known abuse material, to be reported (18 U.S.C. 2258A). Nudity in
#: the teen pool comes next to an underage report; in the adult pool it was already acted
#: on automatically (a strike), so it ranks low.
KNOWN_ABUSE_SEVERITY: Final = 100
ADULT_IN_TEEN_SEVERITY: Final = 90  # as a report of someone who looks adult in the teen pool
TEEN_NUDITY_SEVERITY: Final = 80
TEXT_RISK_SEVERITY: Final = 55  # grooming and solicitation signals that added up
NUDITY_SEVERITY: Final = 40
#: From this severity a case is critical: the subject's raw address, when the gateway
#: has it, is sealed into the evidence (known abuse, an adult in the teen pool, nudity
#: in the teen pool). Below it, only when a moderator escalates the case.
CRITICAL_SEVERITY: Final = TEEN_NUDITY_SEVERITY

#: What a banned chatter is told (DSA art. 17, statement of reasons): the facts found,
#: stated plainly; the case number goes with it, for an appeal.
FLAG_BAN_REASONS: Final[dict[FlagKind, str]] = {
    FlagKind.NUDITY: "Nudity on camera",
    # Factual without saying which list matched: telling the subject that a report to
    # the authorities is coming could prejudice it (18 U.S.C. 2258A; DSA art. 17(5)
    # leaves out what authorities need withheld).
    FlagKind.KNOWN_ABUSE: "Illegal content on camera",
}

#: Rows a statement inserts at most when importing a hash list (4 parameters a row stay
#: far below the SQLite and PostgreSQL parameter limits).
HASH_IMPORT_CHUNK: Final = 1000


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


@dataclass(frozen=True)
class FlagOutcome:
    """What :meth:`Records.file_flag` committed: the case number, the subject device's
    strikes in the last 24 hours (this flag's included; 0 when the flag strikes nothing)
    the device ban's notice, if the flag banned it, and the network ban's, if any;
    ``corroborated_by``: for a flag that needs corroboration, the independent viewers
    counted (0 otherwise)."""

    case: str
    strikes: int
    ban: BanNotice | None
    network_ban: BanNotice | None = None
    corroborated_by: int = 0


@dataclass(frozen=True)
class AddressCapture:
    """A session's raw network address as the gateway saw it, with when and how.

    The gateway keeps it in memory for the session only; the records take it only to
    seal it into the evidence of a critical or escalated case (a report to the
    CyberTipline needs the address at the time, 18 U.S.C. 2258A(b)(1)). It is never
    stored anywhere else, never logged, never in a column.
    """

    address: str
    at: float  # unix time the address was seen
    event: str = "connect"  # what happened then: the chat socket's connection


@dataclass(frozen=True)
class PendingNotice:
    """A decision waiting to be shown to its device (a ``decision`` message)."""

    id: int
    device: str
    kind: str
    case: str
    text: str


def case_number(case_id: int) -> str:
    return f"S-{case_id:06d}"


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _matching_size(edges: Iterable[tuple[str, str]]) -> int:
    """The size of a maximum matching of the bipartite graph ``edges`` (device,
    network): Kuhn's augmenting paths, enough for the few flags of one subject."""
    networks_of: dict[str, list[str]] = {}
    for device, network in edges:
        networks_of.setdefault(device, []).append(network)
    holder: dict[str, str] = {}  # network -> the device it is matched to

    def augment(device: str, seen: set[str]) -> bool:
        for network in networks_of[device]:
            if network in seen:
                continue
            seen.add(network)
            if network not in holder or augment(holder[network], seen):
                holder[network] = device
                return True
        return False

    return sum(augment(device, set()) for device in networks_of)


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


def _check_parties(*parties: tuple[Party, str]) -> None:
    for party, side in parties:
        _check_id(party.device, f"{side} device")
        _check_id(party.network, f"{side} network")


def _check_reason(reason: str) -> None:
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise RecordError("invalid", "the reason is empty or too long")


def _check_ban(
    device: str | None, network: str | None, reason: str, until: datetime | None
) -> None:
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
    _check_reason(reason)


def _ban_end(seconds: float, now: datetime) -> datetime | None:
    """When a ban of ``seconds`` from ``now`` ends; None: for good (:data:`PERMANENT`)."""
    if seconds == PERMANENT:
        return None
    if not seconds > 0:
        raise RecordError("invalid", "a ban lasts a positive time")
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        raise RecordError("invalid", "the ban would end past the calendar") from None


def _hit_json(hit: HashHit | None) -> dict[str, Any] | None:
    return None if hit is None else {"label": hit.label, "distance": hit.distance}


def _verdict_json(verdict: FrameVerdict) -> dict[str, Any]:
    return {
        "nudity": list(verdict.nudity),
        "face": verdict.face,
        "hash_hit": _hit_json(verdict.hash_hit),
        "scores": [[name, score] for name, score in verdict.scores],
    }


def _flag_detail(flag: Flag) -> dict[str, Any]:
    """What the checks found: the frame's verdict, or the text signals that added up."""
    if flag.verdict is not None:
        return _verdict_json(flag.verdict)
    return {"signals": [[name, score] for name, score in flag.signals]}


def _frames_json(
    match: str, sampled_by: str, frames: Sequence[CheckedFrame], shows: Mapping[FrameSource, str]
) -> dict[str, Any]:
    """Frames as evidence; ``shows`` names whose video each source is, in the case's
    terms. The digest lets a law-enforcement report name the exact bytes kept."""
    return {
        "match": match,
        "sampled_by": sampled_by,
        "frames": [
            {
                "at": frame.at,
                "shows": shows[frame.shows],
                "jpeg": base64.b64encode(frame.jpeg).decode("ascii"),
                "sha256": hashlib.sha256(frame.jpeg).hexdigest(),
                "verdict": _verdict_json(frame.verdict),
            }
            for frame in frames
        ],
    }


def _newest_within(sizes: Sequence[int], budget: int) -> int:
    """How many of the last items fit in ``budget`` together (the newest are kept)."""
    kept = spent = 0
    for size in reversed(sizes):
        if spent + size > budget:
            break
        spent += size
        kept += 1
    return kept


def _bounded(filing: Filing) -> Filing:
    """``filing`` with no more evidence than one report may keep (the newest lines and
    frames within ``REPORT_TRANSCRIPT_BYTES`` and ``REPORT_FRAME_BYTES``): the switchboard
    keeps 500 lines of 1000 characters and 64 KB frames, which a modified client can
    fill to several megabytes once sealed."""
    # Sized as sealed (JSON-escaped UTF-8): a control character costs six bytes there.
    texts = [len(json.dumps(line.text, ensure_ascii=False).encode()) for line in filing.transcript]
    lines = _newest_within(texts, REPORT_TRANSCRIPT_BYTES)
    frames = _newest_within([len(frame.jpeg) for frame in filing.frames], REPORT_FRAME_BYTES)
    if lines == len(filing.transcript) and frames == len(filing.frames):
        return filing
    return dataclasses.replace(
        filing,
        transcript=filing.transcript[len(filing.transcript) - lines :],
        frames=filing.frames[len(filing.frames) - frames :],
    )


def _lines_json(lines: Sequence[Line], sides: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"at": line.at, "side": sides[line.side], "text": line.text} for line in lines]


def _capture_json(capture: AddressCapture) -> dict[str, Any]:
    return {
        "address": capture.address,
        "at": datetime.fromtimestamp(capture.at, UTC).isoformat(),
        "event": capture.event,
    }


def _party_json(party: Party) -> dict[str, str]:
    return {"device": party.device, "network": party.network, "session": party.session}


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

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One transaction, for the modules built on the records (accounts, casework,
        transparency): it commits on leaving, or rolls back and raises
        :class:`RecordError` (``invalid`` or ``unavailable``), never SQL."""
        return self._transaction()

    def audit(
        self,
        session: AsyncSession,
        *,
        at: datetime,
        action: str,
        case_id: int | None,
        actor: str,
        **detail: Any,
    ) -> None:
        """Append to the audit log inside ``session``'s transaction (it has no update
        or delete anywhere in the code: append-only)."""
        self._audit(session, at=at, action=action, case_id=case_id, actor=actor, **detail)

    def seal(self, payload: dict[str, Any]) -> bytes:
        """Encrypt ``payload`` (JSON) under the evidence key."""
        return self._seal(payload)

    def unseal(self, blob: bytes) -> Any:
        """Decrypt what :meth:`seal` made; ``undecryptable`` under another key."""
        try:
            return json.loads(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise RecordError("undecryptable", "sealed under another key") from exc

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

    async def ping(self, timeout: float = 2.0) -> None:
        """One round trip to the database (``SELECT 1``) within ``timeout`` seconds, for
        ``/readyz``; raises :class:`RecordError` ``unavailable`` otherwise."""
        try:
            async with asyncio.timeout(timeout), self._engine.connect() as connection:
                await connection.execute(sql_text("SELECT 1"))
        except Exception as exc:  # any failure of the probe means: not ready
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
        _check_parties((filing.reporter, "reporter"), (filing.reported, "reported"))
        filing = _bounded(filing)
        same_sides = {"reporter": "reporter", "reported": "reported"}
        sealed = {
            "transcript": self._seal(
                {
                    "match": filing.match,
                    "pool": filing.pool,
                    "matched_at": filing.matched_at,
                    "reported_at": filing.reported_at,
                    "lines": _lines_json(filing.transcript, same_sides),
                }
            )
        }
        if filing.frames:
            # The reporter's page sampled them: "own" is the reporter's camera.
            sides = {FrameSource.OWN: "reporter", FrameSource.PARTNER: "reported"}
            sealed["frames"] = self._seal(
                _frames_json(filing.match, "reporter", filing.frames, sides)
            )

        async with self._transaction() as session:
            case = await self._open_case(
                session,
                kind="report",
                severity=SEVERITY[ReportReason(filing.reason)],
                status="open",
                escalated=False,
                pool=filing.pool,
                now=now,
            )
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
                    *self._evidence(case.id, sealed, days=EVIDENCE_DAYS, now=now),
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

    def _seal(self, payload: dict[str, Any]) -> bytes:
        """Evidence is encrypted at rest (design §6)."""
        return self._fernet.encrypt(json.dumps(payload, ensure_ascii=False).encode())

    @staticmethod
    def _evidence(
        case_id: int, sealed: Mapping[str, bytes], *, days: int, now: datetime
    ) -> list[Evidence]:
        return [
            Evidence(
                case_id=case_id,
                kind=kind,
                ciphertext=ciphertext,
                created_at=now,
                retain_until=now + timedelta(days=days),
            )
            for kind, ciphertext in sealed.items()
        ]

    @staticmethod
    async def _open_case(
        session: AsyncSession,
        *,
        kind: str,
        severity: int,
        status: str,
        escalated: bool,
        pool: str,
        now: datetime,
    ) -> Case:
        # The number derives from the id: insert with a placeholder nobody else can see
        # (it never leaves this transaction), then set it.
        case = Case(
            number=f"~{uuid.uuid4().hex[:24]}",
            kind=kind,
            severity=severity,
            status=status,
            opened_at=now,
            escalated=escalated,
            pool=pool,
        )
        session.add(case)
        await session.flush()
        case.number = case_number(case.id)
        return case

    @staticmethod
    def _insert_new(session: AsyncSession, model: type[Any], rows: Any) -> Any:
        """An INSERT of ``rows`` that skips those a unique constraint already holds."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            return postgresql.insert(model).values(rows).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(model).values(rows).on_conflict_do_nothing()
        raise RecordError("unavailable", f"unsupported database {dialect}")  # pragma: no cover

    async def _block(
        self, session: AsyncSession, one: str, other: str, case_id: int | None, now: datetime
    ) -> None:
        if one == other:
            return  # one device on both sides (the laptop default): nothing to block
        a, b = sorted((one, other))
        values = {"device_a": a, "device_b": b, "created_at": now, "case_id": case_id}
        await session.execute(self._insert_new(session, Block, values))

    # Automatic flags (video)

    async def file_flag(
        self, flag: Flag, *, now: datetime, capture: AddressCapture | None = None
    ) -> FlagOutcome:
        """Commit an automatic video flag (design §6, video) in one transaction: its case,
        the ``flags`` row, the evidence, the strike and bans its enforcement asks for, the
        audit. Returns only once all of it is committed; a failure leaves nothing.

        - The case: kind "automatic"; severity :data:`KNOWN_ABUSE_SEVERITY`,
          :data:`ADULT_IN_TEEN_SEVERITY`, :data:`TEXT_RISK_SEVERITY`,
          :data:`TEEN_NUDITY_SEVERITY` (a ``teen-*`` pool) or :data:`NUDITY_SEVERITY`;
          status "escalated" when the enforcement escalates (marked for a report to law
          enforcement, 18 U.S.C. 2258A), else "open" when it asks for a review, else
          "actioned" (acted on automatically, kept for audit).
        - The evidence, encrypted: "frames" (when the flag has any), "transcript" (when
          it has lines) and "identifiers" of both sides; kept 90 days, a year when
          escalated (REPORT Act). The evidence names the sides from the subject:
          "subject" and "other". The flag's frames are in the sampler's view ("own" is
          the sampler's camera) and its transcript is already turned to the subject
          ("reported" is the subject), as the switchboard hands them over; the evidence
          also says whose page sampled (``sampled_by``: "subject" or "viewer").
        - A strike on the subject's device when the enforcement strikes; ``strikes`` in
          the outcome counts its strikes in the last 24 hours (0 without a strike).
        - A device ban for the longer of the enforcement's ban and the one the strikes
          earn (:func:`~strangers.core.video.ban_after_strikes`), for good when
          :data:`~strangers.core.video.PERMANENT`; with ``network_ban_seconds``, the
          subject's network for that long, unless it is the unknown network. The reason is the
          statement shown to the banned chatter (DSA art. 17).
        - An :class:`~strangers.moderation.tables.Action` (actor "system", automatic) for
          the strike, each ban and the escalation, for the transparency report.
        - ``capture``, the subject's raw address, goes into the "identifiers" evidence
          only when the case is critical (:data:`CRITICAL_SEVERITY`) or escalated, and is
          dropped otherwise.
        - A flag with a :class:`~strangers.core.flags.Corroboration` (a frame one viewer
          sampled of the subject, which that viewer's page could have forged) takes the
          corroboration's enforcement instead of its own only when, this flag counted,
          the subject's device was flagged with the same kind from viewers' sampling by
          at least ``viewers`` distinct devices on as many distinct networks (none
          unknown, none the subject's) within the window (docs/safety.md, "Whose word
          counts"); ``corroborated_by`` in the outcome and the audit is that count.
        """
        _check_time(now)
        try:
            kind = FlagKind(flag.kind)
        except ValueError:
            raise RecordError("invalid", "unknown flag kind") from None
        _check_parties((flag.subject, "subject"), (flag.sampler, "sampler"))
        enforcement = flag.enforcement
        corroboration = flag.corroboration
        held = [enforcement] if corroboration is None else [enforcement, corroboration.enforcement]
        for each in held:
            for seconds in (each.ban_seconds, each.network_ban_seconds):
                if seconds is not None:
                    _ban_end(seconds, now)  # refused: not positive, or past the calendar
        if corroboration is not None and corroboration.enforcement.escalate != enforcement.escalate:
            # Escalation decides how long the evidence is sealed for, before the count.
            raise RecordError("invalid", "a corroboration cannot change the escalation")
        if kind is FlagKind.NUDITY:
            # a pool key is "<band>-<mode>" (core.pools)
            teen = flag.pool.startswith("teen")
            severity = TEEN_NUDITY_SEVERITY if teen else NUDITY_SEVERITY
        else:
            severity = {
                FlagKind.KNOWN_ABUSE: KNOWN_ABUSE_SEVERITY,
                FlagKind.ADULT_IN_TEEN: ADULT_IN_TEEN_SEVERITY,
                FlagKind.TEXT_RISK: TEXT_RISK_SEVERITY,
            }[kind]
        escalated = enforcement.escalate
        status = "escalated" if escalated else "open" if enforcement.review else "actioned"
        days = ESCALATED_EVIDENCE_DAYS if escalated else EVIDENCE_DAYS
        # Sessions, not devices, tell the sides apart: one device may be on both (laptop).
        own_page = flag.sampler.session == flag.subject.session
        sampled_by = "subject" if own_page else "viewer"
        # The frames are the sampler's: "own" shows the subject when it sampled itself.
        shows = (
            {FrameSource.OWN: "subject", FrameSource.PARTNER: "other"}
            if own_page
            else {FrameSource.OWN: "other", FrameSource.PARTNER: "subject"}
        )
        sealed: dict[str, bytes] = {}
        if flag.frames:
            sealed["frames"] = self._seal(_frames_json(flag.match, sampled_by, flag.frames, shows))
        about = {
            "match": flag.match,
            "pool": flag.pool,
            "matched_at": flag.matched_at,
            "flagged_at": flag.flagged_at,
        }
        if flag.transcript:
            sides = {"reported": "subject", "reporter": "other"}
            sealed["transcript"] = self._seal(
                {**about, "lines": _lines_json(flag.transcript, sides)}
            )
        sealed["identifiers"] = self._seal(
            {
                **about,
                "subject": _party_json(flag.subject),
                "sampler": _party_json(flag.sampler),
                "sampled_by": sampled_by,
                "hash_hit": _hit_json(flag.verdict.hash_hit) if flag.verdict else None,
                **({"signals": _flag_detail(flag)["signals"]} if flag.verdict is None else {}),
                **(
                    {"captures": [_capture_json(capture)]}
                    if capture is not None and (escalated or severity >= CRITICAL_SEVERITY)
                    else {}
                ),
            }
        )

        async with self._transaction() as session:
            corroborated_by = 0
            corroborated: dict[str, Any] = {}
            if corroboration is not None:
                corroborated_by = await self._distinct_viewers(session, flag, kind, corroboration)
                corroborated["corroborated_by"] = corroborated_by
                if corroborated_by >= corroboration.viewers:
                    enforcement = corroboration.enforcement
                    flag = replace(flag, enforcement=enforcement)
                    if not escalated:
                        status = "open" if enforcement.review else "actioned"
            case = await self._open_case(
                session,
                kind="automatic",
                severity=severity,
                status=status,
                escalated=escalated,
                pool=flag.pool,
                now=now,
            )
            row = FlagRow(
                case_id=case.id,
                kind=str(kind),
                match=flag.match,
                pool=flag.pool,
                subject_device=flag.subject.device,
                subject_network=flag.subject.network,
                sampler_device=flag.sampler.device,
                sampler_network=flag.sampler.network,
                sampled_by=sampled_by,
                detail=json.dumps(_flag_detail(flag), separators=(",", ":")),
                flagged_at=_at(flag.flagged_at),
            )
            session.add_all([row, *self._evidence(case.id, sealed, days=days, now=now)])
            await session.flush()
            self._audit(
                session,
                at=now,
                action="flag.filed",
                case_id=case.id,
                flag=row.id,
                kind=str(kind),
                pool=flag.pool,
                status=status,
                sampled_by=sampled_by,
                **corroborated,
            )
            strikes = 0
            if enforcement.strike:
                strikes = await self._strike(
                    session,
                    device=flag.subject.device,
                    network=flag.subject.network,
                    reason=str(kind),
                    case_id=case.id,
                    now=now,
                )
            ban, network_ban = await self._flag_bans(session, flag, kind, strikes, case, now)
            if strikes:
                self._action(session, case.id, "strike", now=now, reason=str(kind))
            for notice, target in ((ban, "device"), (network_ban, "network")):
                if notice is not None:
                    until = None if notice.until is None else notice.until.isoformat()
                    self._action(
                        session,
                        case.id,
                        "ban",
                        now=now,
                        target=target,
                        until=until,
                        reason=notice.reason,
                    )
            if escalated:
                self._action(session, case.id, "escalate", now=now)
        return FlagOutcome(
            case=case.number,
            strikes=strikes,
            ban=ban,
            network_ban=network_ban,
            corroborated_by=corroborated_by,
        )

    @staticmethod
    async def _distinct_viewers(
        session: AsyncSession, flag: Flag, kind: FlagKind, corroboration: Corroboration
    ) -> int:
        """How many independent viewers flagged ``flag``'s subject device with ``kind``
        within the corroboration's window, ``flag``'s own sampler counted: the size of
        the largest set of (viewer device, viewer network) pairs, among the flags from
        viewers' sampling, in which no device and no network appears twice. The unknown
        network, the subject's own network and the subject's own device do not count
        (one person with many devices, or many addresses, is still one word)."""
        subject = flag.subject
        since = _at(flag.flagged_at) - timedelta(seconds=corroboration.window_seconds)
        rows = await session.execute(
            select(FlagRow.sampler_device, FlagRow.sampler_network)
            .where(
                FlagRow.subject_device == subject.device,
                FlagRow.kind == str(kind),
                FlagRow.sampled_by == "viewer",
                FlagRow.flagged_at >= since,
            )
            .distinct()
        )
        pairs = {(device, network) for device, network in rows}
        pairs.add((flag.sampler.device, flag.sampler.network))
        return _matching_size(
            (device, network)
            for device, network in pairs
            if device != subject.device and network not in (UNKNOWN_NETWORK, subject.network)
        )

    async def _flag_bans(
        self,
        session: AsyncSession,
        flag: Flag,
        kind: FlagKind,
        strikes: int,
        case: Case,
        now: datetime,
    ) -> tuple[BanNotice | None, BanNotice | None]:
        """The bans a flag makes (see :meth:`file_flag`): the device ban's notice and
        the network ban's."""
        enforcement = flag.enforcement
        earned = ban_after_strikes(strikes) if enforcement.strike else None
        given = [seconds for seconds in (enforcement.ban_seconds, earned) if seconds is not None]
        reason = FLAG_BAN_REASONS.get(kind, "Broke the safety rules")
        targets: list[tuple[str | None, str | None, float]] = []
        if given:
            seconds = max(given)
            if earned is not None and seconds == earned and earned != enforcement.ban_seconds:
                # The strikes made this ban: say so, it is why this one lasts as it does.
                reason = f"{reason}: {strikes} strikes in 24 hours"
            targets.append((flag.subject.device, None, seconds))
        network_seconds = enforcement.network_ban_seconds
        if network_seconds is not None and flag.subject.network != UNKNOWN_NETWORK:
            targets.append((None, flag.subject.network, network_seconds))
        notices: dict[bool, BanNotice] = {}
        for device, network, seconds in targets:
            until = _ban_end(seconds, now)
            await self.ban_in(
                session,
                device=device,
                network=network,
                reason=reason,
                case_id=case.id,
                until=until,
                now=now,
            )
            notices[network is not None] = BanNotice(reason=reason, case=case.number, until=until)
        return notices.get(False), notices.get(True)

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

    async def escalate(
        self,
        case: str,
        *,
        actor: str,
        now: datetime,
        capture: AddressCapture | None = None,
        device: str | None = None,
    ) -> None:
        """Mark a case for a law-enforcement report: its evidence is kept a year. With
        ``capture`` (the raw address of ``device``, the case's subject, while its session
        is still live), an "identifiers" evidence item holds it, sealed."""
        _check_time(now)
        async with self._transaction() as session:
            row = await session.get(Case, await self._case_id(session, case))
            assert row is not None
            row.escalated = True
            row.status = "escalated"
            if capture is not None:
                sealed = {
                    "identifiers": self._seal(
                        {"device": device, "captures": [_capture_json(capture)]}
                    )
                }
                session.add_all(
                    self._evidence(row.id, sealed, days=ESCALATED_EVIDENCE_DAYS, now=now)
                )
            self._action(session, row.id, "escalate", now=now, actor=actor)
            self._audit(
                session,
                at=now,
                action="case.escalated",
                case_id=row.id,
                actor=actor,
                address_kept=capture is not None,
            )

    def _action(
        self,
        session: AsyncSession,
        case_id: int,
        kind: str,
        *,
        now: datetime,
        actor: str = "system",
        **detail: Any,
    ) -> None:
        """Record a measure taken on a case; ``actor`` "system" marks it automatic."""
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

    def record_action(
        self,
        session: AsyncSession,
        case_id: int,
        kind: str,
        *,
        now: datetime,
        actor: str,
        **detail: Any,
    ) -> None:
        """:meth:`_action` for the modules built on the records (casework)."""
        self._action(session, case_id, kind, now=now, actor=actor, **detail)

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
        """Ban a device, a network or both until ``until`` (None: for good). Returns its id.

        ``reason`` is shown to the banned chatter with the case number (DSA art. 17):
        at most 64 characters. The unknown network is never a ban target."""
        _check_time(now)
        _check_ban(device, network, reason, until)
        async with self._transaction() as session:
            case_id = None if case is None else await self._case_id(session, case)
            return await self.ban_in(
                session,
                device=device,
                network=network,
                reason=reason,
                case_id=case_id,
                until=until,
                now=now,
            )

    async def ban_in(
        self,
        session: AsyncSession,
        *,
        device: str | None,
        network: str | None,
        reason: str,
        case_id: int | None,
        until: datetime | None,
        now: datetime,
    ) -> int:
        """:meth:`add_ban` inside the caller's transaction (a flag's bans, a moderator's
        ban with the rest of the decision). Returns the ban's id."""
        _check_ban(device, network, reason, until)
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

    # What chatters are told on their next visit

    async def pending_notices(self) -> list[PendingNotice]:
        """Every decision not yet delivered to its device (a warning, an appeal's
        outcome), oldest first, for the gateway's in-memory index."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(
                    ChatterNotice.id,
                    ChatterNotice.device,
                    ChatterNotice.kind,
                    Case.number,
                    ChatterNotice.text,
                )
                .join(Case, Case.id == ChatterNotice.case_id)
                .where(ChatterNotice.delivered_at.is_(None))
                .order_by(ChatterNotice.id)
            )
            return [PendingNotice(*row) for row in rows]

    async def notices_delivered(self, ids: Sequence[int], *, now: datetime) -> None:
        """Mark notices as sent to their device, so no later visit repeats them."""
        _check_time(now)
        if not ids:
            return
        async with self._transaction() as session:
            await session.execute(
                update(ChatterNotice)
                .where(ChatterNotice.id.in_(list(ids)), ChatterNotice.delivered_at.is_(None))
                .values(delivered_at=now)
            )

    async def add_strike(
        self, *, device: str, network: str, reason: str, case: str | None, now: datetime
    ) -> int:
        """Record a strike; returns the device's strikes in the last 24 hours, this one
        included."""
        _check_time(now)
        _check_id(device, "device")
        _check_id(network, "network")
        _check_reason(reason)
        async with self._transaction() as session:
            case_id = None if case is None else await self._case_id(session, case)
            return await self._strike(
                session, device=device, network=network, reason=reason, case_id=case_id, now=now
            )

    @staticmethod
    async def _strike(
        session: AsyncSession,
        *,
        device: str,
        network: str,
        reason: str,
        case_id: int | None,
        now: datetime,
    ) -> int:
        """Add a strike inside the caller's transaction; returns the device's strikes in
        the window, this one included."""
        session.add(Strike(device=device, network=network, case_id=case_id, reason=reason, at=now))
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

    # Known-abuse hash lists

    async def import_hashes(
        self,
        entries: Sequence[tuple[str, str]],
        *,
        list_name: str,
        now: datetime,
        actor: str = "operator",
    ) -> tuple[int, int]:
        """Add ``(hash, label)`` entries to the hash list ``list_name``, all or nothing:
        the PDQ hashes the video checks match frames against (design §6). Hashes are kept
        as 64 lowercase hex digits; a hash the list already holds keeps its first label.
        Returns (added, already present), which add up to ``len(entries)``: a hash given
        twice is added once and then counted as present.

        A malformed hash, a label over 128 characters or a list name over 64: ``invalid``,
        nothing written.
        """
        _check_time(now)
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
        async with self._transaction() as session:
            for start in range(0, len(unique), HASH_IMPORT_CHUNK):
                chunk = unique[start : start + HASH_IMPORT_CHUNK]
                # RETURNING yields only the rows inserted, not those skipped as present.
                statement = self._insert_new(session, HashEntry, chunk).returning(HashEntry.id)
                added += len((await session.execute(statement)).all())
            present = len(entries) - added
            self._audit(
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

    async def hash_entries(self) -> list[tuple[str, str]]:
        """Every listed hash as (lowercase hex, label), for the gateway's matcher; a hash
        on several lists comes once per list."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(HashEntry.hash, HashEntry.label).order_by(HashEntry.id)
            )
            return [(hex_digits, label) for hex_digits, label in rows]

    async def hash_list_counts(self) -> dict[str, int]:
        """How many hashes each list holds."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(HashEntry.list_name, func.count()).group_by(HashEntry.list_name)
            )
            return {name: int(count) for name, count in rows}
