"""Casework: what the moderator console reads and does (docs/design.md §1, Moderator;
docs/moderation.md).

The queue of cases, most severe first, then oldest, then by number: filtered by kind,
pool, severity, state and claim, searched by case number, device id or network hash,
and paged on the server (:class:`QueueFilter`, :func:`queue`). Claims: who holds a case,
lapsing after :data:`CLAIM_MINUTES` (:func:`claim`, :func:`assign`, :func:`release`,
:func:`next_case`). One case with its evidence decrypted (the transcript of both sides,
the sampled frames, the automatic signals), the history of the same device and network
(keyed hashes, never raw addresses), its bans, actions, appeals and audit trail; the
actions a moderator takes (dismiss, warn, ban, escalate, note), a decision refused on a
case another moderator holds, and long bans and escalations that need a confirmation;
the appeals and their decision by a different moderator (DSA art. 20(6)); the audit
log.

Every function is one transaction (``Records.transaction``): it commits before it
returns, or it leaves nothing behind. Every change is appended to the audit log with
the moderator's name as the actor, and every measure is an ``actions`` row (DSA arts.
15(1)(c) and 24 count them by kind, automatic or human). Refusals are
:class:`~strangers.moderation.records.RecordError` with a stable code: ``invalid``,
``unknown_case``, ``not_allowed``, ``duplicate``, ``undecryptable``, ``unavailable``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.core.flags import FlagKind
from strangers.core.messages import AgeBand, Mode
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.reports import ReportReason
from strangers.moderation.cybertip.model import INCIDENT_TYPES, incident_type_for
from strangers.moderation.records import (
    ESCALATED_EVIDENCE_DAYS,
    FLAG_BAN_REASONS,
    AddressCapture,
    BanNotice,
    PendingNotice,
    RecordError,
    Records,
)
from strangers.moderation.tables import (
    BAN_NOTE_MAX,
    CASE_KINDS,
    CASE_STATUSES,
    NOTE_MAX,
    NOTICE_TEXT_MAX,
    Action,
    Appeal,
    Audit,
    Ban,
    Case,
    CaseClaim,
    ChatterNotice,
    Evidence,
    Moderator,
    Report,
)
from strangers.moderation.tables import Flag as FlagRow

#: The ban lengths a moderator chooses from (docs/design.md §1); None: for good.
BAN_DURATIONS: Final[dict[str, timedelta | None]] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "permanent": None,
}
ACTIONS: Final = ("dismiss", "warn", "ban", "escalate", "note")
#: The actions that decide a case (a note does not): refused on a case another
#: moderator holds (docs/moderation.md, "Claims"), and they end the decider's claim.
DECISIONS: Final = ("dismiss", "warn", "ban", "escalate")
#: Bans longer than 24 hours, and escalation, take effect only with ``confirm`` equal to
#: the duration (or "escalate"): a second, deliberate step the server checks, so a
#: modified page that skips the dialog is refused (docs/moderation.md, "Actions").
CONFIRMED_DURATIONS: Final = ("7d", "permanent")
#: How long a claim holds a case without its holder acting on it or opening it again.
CLAIM_MINUTES: Final = 30
CLAIM_TTL: Final = timedelta(minutes=CLAIM_MINUTES)
APPEAL_OUTCOMES: Final = ("upheld", "overturned")

#: The plain reason a banned chatter is shown (DSA art. 17(3)(c)-(d): the facts and
#: the ground, stated clearly), by report reason or flag kind; at most 64 characters
#: (the ``bans.reason`` column, ``records.MAX_REASON_CHARS``). Flags say what the
#: automatic ban says, so a chatter banned twice for one thing reads one reason.
BAN_REASONS: Final[dict[str, str]] = {
    ReportReason.SEXUAL: "Nudity or sexual content",
    ReportReason.UNDERAGE: "Under 18 in the adult pool",
    ReportReason.ADULT: "An adult in the teen pool",
    ReportReason.HARASSMENT: "Harassment or hate",
    ReportReason.SPAM: "Spam or a bot",
    ReportReason.OTHER: "Broke the chat rules",
    **{str(kind): reason for kind, reason in FLAG_BAN_REASONS.items()},
    FlagKind.TEXT_RISK: "Unsafe messages to other chatters",
    FlagKind.ADULT_IN_TEEN: "An adult in the teen pool",
}
DEFAULT_BAN_REASON: Final = "Broke the safety rules"  # as records' automatic bans

#: The cases a case page lists in its history, at most (newest first).
HISTORY_LIMIT: Final = 50
#: The most rows one listing returns, whatever the caller asks.
MAX_LIMIT: Final = 1000
#: The actor the records give automatic measures; no moderator may act under it, or
#: the transparency report would count a person's decision as automatic.
SYSTEM_ACTOR: Final = "system"
ACTOR_MAX: Final = 128  # the ``actor`` columns

#: The queue's filters (docs/moderation.md, "The queue"): states a moderator can list
#: ("waiting" is open and escalated, the default), claim views, severity floors,
#: page sizes; the pools are the age bands crossed with the modes (core.pools).
QUEUE_STATES: Final = ("waiting", *CASE_STATUSES, "all")
CLAIM_VIEWS: Final = ("any", "unclaimed", "mine")
SEVERITY_FLOORS: Final = (0, 20, 50, 70, 90)
POOLS: Final = tuple(f"{band.value}-{mode.value}" for band in AgeBand for mode in Mode)
PAGE_SIZES: Final = (25, 50, 100)
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE: Final = 1_000_000
#: The longest search accepted, and the shortest identifier prefix it matches by.
SEARCH_MAX: Final = 128
SEARCH_PREFIX_MIN: Final = 6
CASE_NUMBER: Final = re.compile(r"(?:S-?)?(\d{1,12})", re.IGNORECASE)
IDENTIFIER: Final = re.compile(r"[A-Za-z0-9_.:=+/-]+")


# What the console shows


@dataclass(frozen=True)
class QueueItem:
    number: str
    kind: str  # "report" | "automatic"
    severity: int
    status: str
    opened_at: datetime
    pool: str
    reason: str  # the report's reason (e.g. "underage") or the flag's kind (e.g. "nudity")
    escalated: bool
    holder: str | None = None  # who holds it now (a claim not yet lapsed)


@dataclass(frozen=True)
class QueueFilter:
    """What the queue lists: filters, a search and a page (docs/moderation.md, "The
    queue"). Every field has been checked (:meth:`parse`); ``search`` is a case
    number ("S-000042" or "42") or a device id or network hash, whole or a prefix of
    at least :data:`SEARCH_PREFIX_MIN` characters, on either side of a report."""

    kind: str = ""  # "" any, else one of tables.CASE_KINDS
    pool: str = ""  # "" any, else one of POOLS
    severity: int = 0  # at least this
    state: str = "waiting"
    claim: str = "any"
    search: str = ""
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> QueueFilter:
        """The filter a query string asks for; ``invalid`` with what is wrong, for any
        value out of its list or range (OWASP ASVS 5.1.3: allow lists)."""

        def number(name: str, default: int, lowest: int, highest: int) -> int:
            text = params.get(name, "").strip()
            if not text:
                return default
            if not text.isascii() or not text.isdigit() or len(text) > 7:
                raise RecordError("invalid", f"{name} must be a whole number")
            value = int(text)
            if not lowest <= value <= highest:
                raise RecordError("invalid", f"{name} must be from {lowest} to {highest}")
            return value

        def choice(name: str, allowed: Sequence[str], default: str) -> str:
            value = params.get(name, "").strip() or default
            if value not in allowed:
                raise RecordError("invalid", f"{name} must be one of {', '.join(allowed)}")
            return value

        search = params.get("q", "").strip()
        if len(search) > SEARCH_MAX:
            raise RecordError("invalid", f"the search is over {SEARCH_MAX} characters")
        if search and not CASE_NUMBER.fullmatch(search):
            if not IDENTIFIER.fullmatch(search):
                raise RecordError(
                    "invalid", "search for a case number, a device id or a network hash"
                )
            if len(search) < SEARCH_PREFIX_MIN:
                raise RecordError(
                    "invalid", f"search at least {SEARCH_PREFIX_MIN} characters of an identifier"
                )
        severity = number("severity", 0, 0, 100)
        if severity not in SEVERITY_FLOORS:
            floors = ", ".join(str(floor) for floor in SEVERITY_FLOORS)
            raise RecordError("invalid", f"severity must be one of {floors}")
        per_page = number("per_page", DEFAULT_PAGE_SIZE, 1, max(PAGE_SIZES))
        if per_page not in PAGE_SIZES:
            raise RecordError(
                "invalid", f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}"
            )
        return cls(
            kind=choice("kind", ("", *CASE_KINDS), ""),
            pool=choice("pool", ("", *POOLS), ""),
            severity=severity,
            state=choice("state", QUEUE_STATES, "waiting"),
            claim=choice("claim", CLAIM_VIEWS, "any"),
            search=search,
            page=number("page", 1, 1, MAX_PAGE),
            per_page=per_page,
        )

    def params(self, *, page: int | None = None) -> dict[str, str]:
        """The query string that asks for this filter (defaults left out), on ``page``
        (this one by default; 1 is left out)."""
        values = {
            "q": self.search,
            "kind": self.kind,
            "pool": self.pool,
            "severity": str(self.severity) if self.severity else "",
            "state": "" if self.state == "waiting" else self.state,
            "claim": "" if self.claim == "any" else self.claim,
            "per_page": "" if self.per_page == DEFAULT_PAGE_SIZE else str(self.per_page),
        }
        chosen = self.page if page is None else page
        values["page"] = "" if chosen == 1 else str(chosen)
        return {name: value for name, value in values.items() if value}

    def first_page(self) -> QueueFilter:
        return replace(self, page=1)


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue: its cases, how many match in all, and the paging."""

    items: list[QueueItem]
    total: int
    filter: QueueFilter
    pages: int
    waiting: int  # open and escalated cases in all, whatever the filter
    unclaimed: int  # of those, held by nobody (or by a lapsed claim)


@dataclass(frozen=True)
class Claim:
    """Who holds a case and until when their claim lasts (``until`` = ``claimed_at`` +
    :data:`CLAIM_TTL`); None: nobody."""

    holder: str
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Line:
    """A transcript line. ``side``: "reporter"/"reported" in a report, "subject"/"other"
    in an automatic case; ``at`` as the evidence has it; ``hidden`` why the recipient got
    it withheld, when the evidence says so."""

    side: str
    text: str
    at: float | None
    hidden: str | None


@dataclass(frozen=True)
class FrameView:
    """A sampled frame: whose camera it ``shows`` ("reported"/"reporter" in a report,
    "subject"/"other" in an automatic case), the decrypted JPEG and its verdict."""

    index: int
    shows: str
    at: float | None
    jpeg: bytes
    verdict: dict[str, Any] | None


@dataclass(frozen=True)
class HistoryItem:
    number: str
    kind: str
    reason: str
    status: str
    opened_at: datetime
    same: str  # what it shares with the case's subject: "device" | "network" | "both"


@dataclass(frozen=True)
class BanView:
    id: int
    target: str  # "device" | "network"
    reason: str
    until: datetime | None
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class ActionView:
    kind: str
    actor: str
    automatic: bool
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class AppealView:
    id: int
    case: str
    text: str
    submitted_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    statement: str | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    case: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class CaseView:
    number: str
    kind: str
    severity: int
    status: str
    escalated: bool
    pool: str
    opened_at: datetime
    reason: str  # the report's reason or the flag's kind
    note: str  # the reporter's note ("" for an automatic case)
    reporter: tuple[str, str] | None  # (device, network hash); None for an automatic case
    subject: tuple[str, str]  # (device, network hash) of the reported or flagged chatter
    transcript: list[Line]
    frames: list[FrameView]
    signals: list[tuple[str, float]]
    scores: dict[str, float]
    history: list[HistoryItem]
    bans: list[BanView]
    actions: list[ActionView]
    appeals: list[AppealView]
    audit: list[AuditEntry]  # oldest first
    evidence_kept_until: datetime | None
    claim: Claim | None = None
    #: The CyberTipline incident type chosen at its latest escalation, or None.
    incident_type: str | None = None
    #: The incident type an escalation of this case defaults to (None: none fits;
    #: the moderator must choose), :func:`cybertip.incident_type_for`.
    default_incident_type: str | None = None


@dataclass(frozen=True)
class ActionOutcome:
    """What an action changed that the gateway must know at once: a device ban to put
    in its index, the device it applies to, a notice to deliver on the next visit."""

    ban: BanNotice | None
    device: str | None
    notice: PendingNotice | None


# Checks


def _check_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RecordError("invalid", "times must be timezone-aware")


def _check_actor(actor: str) -> None:
    if not actor or len(actor) > ACTOR_MAX:
        raise RecordError("invalid", "the moderator's name is empty or too long")
    if actor == SYSTEM_ACTOR:
        raise RecordError("invalid", f'"{SYSTEM_ACTOR}" is reserved for automatic measures')


def _check_limit(limit: int) -> int:
    if limit < 1:
        raise RecordError("invalid", "the limit must be positive")
    return min(limit, MAX_LIMIT)


def _text(text: str, what: str, most: int) -> str:
    text = text.strip()
    if not text or len(text) > most:
        raise RecordError("invalid", f"the {what} is empty or over {most} characters")
    return text


def ban_reason(reason: str) -> str:
    """The statement of reasons for a case's report reason or flag kind (DSA art. 17)."""
    return BAN_REASONS.get(reason, DEFAULT_BAN_REASON)


# Reading


async def _case_row(session: AsyncSession, number: str) -> Case:
    row = await session.scalar(select(Case).where(Case.number == number))
    if row is None:
        raise RecordError("unknown_case", "there is no such case")
    return row


@dataclass(frozen=True)
class _About:
    """Who and what a case is about, from its report or its flag."""

    reason: str
    note: str
    reporter: tuple[str, str] | None
    subject: tuple[str, str]
    detail: dict[str, Any]  # the flag's verdict or text signals ({} for a report)


async def _about(session: AsyncSession, case: Case) -> _About:
    report = await session.scalar(select(Report).where(Report.case_id == case.id).limit(1))
    if report is not None:
        return _About(
            reason=report.reason,
            note=report.note,
            reporter=(report.reporter_device, report.reporter_network),
            subject=(report.reported_device, report.reported_network),
            detail={},
        )
    flag = await session.scalar(select(FlagRow).where(FlagRow.case_id == case.id).limit(1))
    if flag is None:
        # Every case is opened with its report or flag in one transaction.
        raise RecordError("unavailable", "the case has neither a report nor a flag")
    try:
        detail = json.loads(flag.detail)
    except ValueError:
        detail = {}
    return _About(
        reason=flag.kind,
        note="",
        reporter=None,
        subject=(flag.subject_device, flag.subject_network),
        detail=detail if isinstance(detail, dict) else {},
    )


def _same_as(subject: tuple[str, str]) -> tuple[str, str | None]:
    """The device and network to look the subject up by; the unknown network is
    shared by everyone whose address could not be read, so it links nothing."""
    device, network = subject
    return device, None if network == UNKNOWN_NETWORK else network


def _same(subject: tuple[str, str], device: str, network: str) -> str:
    mine, my_network = _same_as(subject)
    by_device = device == mine
    by_network = my_network is not None and network == my_network
    return "both" if by_device and by_network else "device" if by_device else "network"


async def _history(
    session: AsyncSession, case_id: int, subject: tuple[str, str]
) -> list[HistoryItem]:
    """Other cases about the same device or network hash, newest first."""
    device, network = _same_as(subject)
    found: dict[int, HistoryItem] = {}
    sources: tuple[tuple[Any, Any, Any, Any], ...] = (
        (Report, Report.reason, Report.reported_device, Report.reported_network),
        (FlagRow, FlagRow.kind, FlagRow.subject_device, FlagRow.subject_network),
    )
    for table, reason, device_column, network_column in sources:
        matches = [device_column == device]
        if network is not None:
            matches.append(network_column == network)
        rows = await session.execute(
            select(
                Case.id,
                Case.number,
                Case.kind,
                reason,
                Case.status,
                Case.opened_at,
                device_column,
                network_column,
            )
            .join(table, table.case_id == Case.id)
            .where(Case.id != case_id, or_(*matches))
            .order_by(Case.opened_at.desc(), Case.id.desc())
            .limit(HISTORY_LIMIT)
        )
        for other_id, number, kind, why, status, opened_at, other_device, other_network in rows:
            found[other_id] = HistoryItem(
                number=number,
                kind=kind,
                reason=why,
                status=status,
                opened_at=opened_at,
                same=_same(subject, other_device, other_network),
            )
    ordered = sorted(found.items(), key=lambda item: (item[1].opened_at, item[0]), reverse=True)
    return [item for _, item in ordered[:HISTORY_LIMIT]]


async def _bans(session: AsyncSession, subject: tuple[str, str], now: datetime) -> list[BanView]:
    """Bans on the subject's device or network, newest first."""
    device, network = _same_as(subject)
    matches = [Ban.device == device]
    if network is not None:
        matches.append(Ban.network == network)
    rows = await session.scalars(
        select(Ban).where(or_(*matches)).order_by(Ban.created_at.desc(), Ban.id.desc())
    )
    return [
        BanView(
            id=ban.id,
            target="device" if ban.device is not None else "network",
            reason=ban.reason,
            until=ban.until,
            active=ban.until is None or ban.until > now,
            created_at=ban.created_at,
        )
        for ban in rows
    ]


def _detail(text: str) -> dict[str, Any]:
    try:
        detail = json.loads(text)
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


async def _actions(session: AsyncSession, case_id: int) -> list[ActionView]:
    rows = await session.scalars(
        select(Action).where(Action.case_id == case_id).order_by(Action.at, Action.id)
    )
    return [
        ActionView(
            kind=row.kind,
            actor=row.actor,
            automatic=row.automatic,
            at=row.at,
            detail=_detail(row.detail),
        )
        for row in rows
    ]


def _appeal_view(row: Appeal, number: str) -> AppealView:
    return AppealView(
        id=row.id,
        case=number,
        text=row.text,
        submitted_at=row.submitted_at,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        statement=row.statement,
    )


async def _appeals(session: AsyncSession, where: Any, limit: int | None = None) -> list[AppealView]:
    statement = (
        select(Appeal, Case.number)
        .join(Case, Case.id == Appeal.case_id)
        .where(where)
        .order_by(Appeal.submitted_at, Appeal.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [_appeal_view(row, number) for row, number in await session.execute(statement)]


async def _audit_entries(
    session: AsyncSession, where: Sequence[Any], *, newest_first: bool, limit: int | None = None
) -> list[AuditEntry]:
    order = (Audit.id.desc(),) if newest_first else (Audit.id,)
    statement = (
        select(Audit, Case.number)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(*where)
        .order_by(*order)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            case=number,
            detail=_detail(row.detail),
        )
        for row, number in await session.execute(statement)
    ]


def _kept_until(case: Case, kept: Sequence[tuple[datetime, datetime]]) -> datetime | None:
    """When the first of the case's evidence may be purged: its ``retain_until``, or a
    year from its creation once the case is escalated (REPORT Act), as ``Cases.purge``
    decides. None: no evidence left."""
    ends = [
        max(retain, created + timedelta(days=ESCALATED_EVIDENCE_DAYS)) if case.escalated else retain
        for created, retain in kept
    ]
    return min(ends) if ends else None


def _lines(payload: Any) -> list[Line]:
    lines = payload.get("lines", []) if isinstance(payload, dict) else []
    return [
        Line(
            side=str(line.get("side", "")),
            text=str(line.get("text", "")),
            at=_number(line.get("at")),
            hidden=None if line.get("hidden") is None else str(line["hidden"]),
        )
        for line in lines
        if isinstance(line, dict)
    ]


def _frames(payload: Any, first: int) -> list[FrameView]:
    frames = payload.get("frames", []) if isinstance(payload, dict) else []
    views = []
    for offset, frame in enumerate(frame for frame in frames if isinstance(frame, dict)):
        try:
            jpeg = base64.b64decode(frame.get("jpeg", ""), validate=True)
        except (binascii.Error, ValueError):
            raise RecordError("undecryptable", "a frame of the evidence is damaged") from None
        verdict = frame.get("verdict")
        views.append(
            FrameView(
                index=first + offset,
                shows=str(frame.get("shows", "")),
                at=_number(frame.get("at")),
                jpeg=jpeg,
                verdict=verdict if isinstance(verdict, dict) else None,
            )
        )
    return views


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pairs(values: Any) -> list[tuple[str, float]]:
    """``[[name, score], ...]`` as the records keep signals and scores."""
    pairs = []
    for item in values if isinstance(values, list) else []:
        if isinstance(item, list | tuple) and len(item) == 2:
            score = _number(item[1])
            if score is not None:
                pairs.append((str(item[0]), score))
    return pairs


def _signals_and_scores(detail: dict[str, Any]) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """What set the flag off, and every score the checks gave (``Flag.detail``): text
    signals with their weights; the nudity classes that reached their thresholds; a
    hash-list match with its Hamming distance (lower is closer, ≤ 31 matches)."""
    scores = dict(_pairs(detail.get("scores")))
    signals = _pairs(detail.get("signals"))
    for name in detail.get("nudity") or []:
        signals.append((str(name), scores.get(str(name), 1.0)))
    hit = detail.get("hash_hit")
    if isinstance(hit, dict):
        distance = _number(hit.get("distance"))
        if distance is not None:
            label = str(hit.get("label", ""))
            signals.append((f"hash list match: {label}" if label else "hash list match", distance))
            scores["hash_distance"] = distance
    return signals, scores


def _live_claims(now: datetime) -> Any:
    """The claims that have not lapsed at ``now``."""
    return select(CaseClaim.case_id).where(CaseClaim.claimed_at > now - CLAIM_TTL)


def _unclaimed(now: datetime) -> Any:
    return Case.id.not_in(_live_claims(now))


def _held_by(actor: str, now: datetime) -> Any:
    return Case.id.in_(_live_claims(now).where(CaseClaim.holder == actor))


async def _claim_row(session: AsyncSession, case_id: int, now: datetime) -> CaseClaim | None:
    """The case's claim while it lasts; None when nobody holds it or the claim lapsed."""
    row = await session.get(CaseClaim, case_id)
    return row if row is not None and row.claimed_at > now - CLAIM_TTL else None


def _search(search: str) -> Any:
    """Cases whose number is ``search``, or whose report (either side) or flag names a
    device or network starting with it."""
    number = CASE_NUMBER.fullmatch(search)
    if number is not None:
        return Case.number == f"S-{int(number.group(1)):06d}"
    # "_" is a LIKE wildcard an identifier may hold: escape it, and the escape itself.
    pattern = search.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"

    def like(column: Any) -> Any:
        return column.like(pattern, escape="\\")

    reports = select(Report.case_id).where(
        or_(
            like(Report.reported_device),
            like(Report.reported_network),
            like(Report.reporter_device),
            like(Report.reporter_network),
        )
    )
    flags = select(FlagRow.case_id).where(
        or_(like(FlagRow.subject_device), like(FlagRow.subject_network))
    )
    return or_(Case.id.in_(reports), Case.id.in_(flags))


def _where(view: QueueFilter, *, actor: str, now: datetime) -> list[Any]:
    where: list[Any] = []
    if view.state == "waiting":
        where.append(Case.status.in_(("open", "escalated")))
    elif view.state != "all":
        where.append(Case.status == view.state)
    if view.kind:
        where.append(Case.kind == view.kind)
    if view.pool:
        where.append(Case.pool == view.pool)
    if view.severity:
        where.append(Case.severity >= view.severity)
    if view.claim == "unclaimed":
        where.append(_unclaimed(now))
    elif view.claim == "mine":
        where.append(_held_by(actor, now))
    if view.search:
        where.append(_search(view.search))
    return where


#: The queue's order, stable across pages: most severe, then oldest, then by id.
QUEUE_ORDER: Final = (Case.severity.desc(), Case.opened_at, Case.id)


async def queue(
    records: Records,
    view: QueueFilter | None = None,
    *,
    actor: str = "",
    now: datetime | None = None,
    limit: int | None = None,
) -> QueuePage:
    """One page of the cases ``view`` asks for (by default those waiting for a
    moderator, status "open" or "escalated": an escalated case stays until it is
    dismissed or otherwise acted on), most severe first, then oldest, then by number
    (docs/design.md §1), counted in all and paged on the server. ``actor`` is whose
    claims "mine" lists. A page past the last one is ``invalid`` (the first page of
    an empty list is not). ``limit`` overrides the page size (a CLI, a test)."""
    view = view or QueueFilter()
    if limit is not None:
        view = replace(view, per_page=_check_limit(limit))
    moment = now if now is not None else _utcnow()
    _check_now(moment)
    where = _where(view, actor=actor, now=moment)
    async with records.transaction() as session:
        total = int(await session.scalar(select(func.count(Case.id)).where(*where)) or 0)
        pages = max(1, -(-total // view.per_page))
        if view.page > pages:
            raise RecordError("invalid", f"page {view.page} is past the last page, {pages}")
        waiting_where = Case.status.in_(("open", "escalated"))
        waiting = int(await session.scalar(select(func.count(Case.id)).where(waiting_where)) or 0)
        unclaimed = int(
            await session.scalar(
                select(func.count(Case.id)).where(waiting_where, _unclaimed(moment))
            )
            or 0
        )
        ids = (
            select(Case.id)
            .where(*where)
            .order_by(*QUEUE_ORDER)
            .offset((view.page - 1) * view.per_page)
            .limit(view.per_page)
        ).subquery()
        live = _live_claims(moment).add_columns(CaseClaim.holder).subquery()
        rows = await session.execute(
            select(Case, Report.reason, FlagRow.kind, live.c.holder)
            .join(ids, ids.c.id == Case.id)
            .outerjoin(Report, Report.case_id == Case.id)
            .outerjoin(FlagRow, FlagRow.case_id == Case.id)
            .outerjoin(live, live.c.case_id == Case.id)
            .order_by(*QUEUE_ORDER)
        )
        seen: set[int] = set()
        items: list[QueueItem] = []
        for case, report_reason, flag_kind, holder in rows:
            if case.id in seen:  # a case has one report or one flag; never list it twice
                continue
            seen.add(case.id)
            items.append(
                QueueItem(
                    number=case.number,
                    kind=case.kind,
                    severity=case.severity,
                    status=case.status,
                    opened_at=case.opened_at,
                    pool=case.pool,
                    reason=report_reason or flag_kind or "",
                    escalated=case.escalated,
                    holder=holder,
                )
            )
    return QueuePage(
        items=items,
        total=total,
        filter=view,
        pages=pages,
        waiting=waiting,
        unclaimed=unclaimed,
    )


async def queue_counts(records: Records, *, now: datetime) -> tuple[int, int]:
    """(waiting, unclaimed): the open and escalated cases, and those nobody holds; what
    the console's queue count refreshes from."""
    _check_now(now)
    waiting_where = Case.status.in_(("open", "escalated"))
    async with records.transaction() as session:
        waiting = int(await session.scalar(select(func.count(Case.id)).where(waiting_where)) or 0)
        unclaimed = int(
            await session.scalar(select(func.count(Case.id)).where(waiting_where, _unclaimed(now)))
            or 0
        )
    return waiting, unclaimed


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Claims


def _claim_of(row: CaseClaim | None) -> Claim | None:
    if row is None:
        return None
    return Claim(holder=row.holder, since=row.claimed_at, until=row.claimed_at + CLAIM_TTL)


async def claim(records: Records, number: str, *, actor: str, now: datetime) -> Claim:
    """``actor`` takes the case: refused (``not_allowed``) while another moderator's
    claim lasts; taking it again renews one's own claim. A claim lapses
    :data:`CLAIM_TTL` after it was made or renewed, and the case is anyone's again
    (docs/moderation.md, "Claims"). A new claim is audited; a renewal is not."""
    _check_now(now)
    _check_actor(actor)
    async with records.transaction() as session:
        row = await _case_row(session, number)
        current = await session.get(CaseClaim, row.id)
        live = current is not None and current.claimed_at > now - CLAIM_TTL
        if current is not None and live and current.holder != actor:
            raise RecordError("not_allowed", f"{current.holder} holds this case")
        if current is None:
            # Two moderators claiming at once: the primary key lets one insert win.
            session.add(CaseClaim(case_id=row.id, holder=actor, claimed_at=now))
        else:
            taken = await session.scalar(
                update(CaseClaim)
                .where(
                    CaseClaim.case_id == row.id,
                    or_(
                        CaseClaim.holder == actor,
                        CaseClaim.claimed_at <= now - CLAIM_TTL,
                    ),
                )
                .values(holder=actor, claimed_at=now)
                .returning(CaseClaim.case_id)
            )
            if taken is None:
                raise RecordError("not_allowed", "another moderator took this case first")
        if not (live and current is not None and current.holder == actor):
            records.audit(session, at=now, action="case.claimed", case_id=row.id, actor=actor)
    return Claim(holder=actor, since=now, until=now + CLAIM_TTL)


async def assign(
    records: Records, number: str, *, to: str | None, actor: str, now: datetime
) -> None:
    """Give the case to moderator ``to`` (None: release it to the queue), whoever holds
    it. Only a lead (an admin) may do this to another's claim: the console checks the
    role, this checks that ``to`` names an account that can sign in. Audited with the
    previous holder."""
    _check_now(now)
    _check_actor(actor)
    async with records.transaction() as session:
        row = await _case_row(session, number)
        if to is not None:
            account = await session.scalar(
                select(Moderator.id).where(Moderator.name == to, Moderator.disabled.is_(False))
            )
            if account is None:
                raise RecordError("invalid", "there is no such moderator")
        held = await _claim_row(session, row.id, now)
        previous = None if held is None else held.holder  # before the row changes below
        current = await session.get(CaseClaim, row.id)
        if to is None:
            if current is not None:
                await session.delete(current)
        elif current is None:
            session.add(CaseClaim(case_id=row.id, holder=to, claimed_at=now))
        else:
            current.holder, current.claimed_at = to, now
        records.audit(
            session,
            at=now,
            action="case.assigned" if to is not None else "case.released",
            case_id=row.id,
            actor=actor,
            holder=to,
            previous=previous,
        )


async def release(records: Records, number: str, *, actor: str, now: datetime) -> None:
    """The holder gives the case back to the queue; ``not_allowed`` for anyone else
    (a lead uses :func:`assign`). Nothing to do when nobody holds it."""
    _check_now(now)
    _check_actor(actor)
    async with records.transaction() as session:
        row = await _case_row(session, number)
        current = await _claim_row(session, row.id, now)
        if current is None:
            return
        if current.holder != actor:
            raise RecordError("not_allowed", f"{current.holder} holds this case")
        await session.delete(current)
        records.audit(
            session, at=now, action="case.released", case_id=row.id, actor=actor, previous=actor
        )


async def next_case(
    records: Records, view: QueueFilter, *, actor: str, now: datetime, skip: str | None = None
) -> str | None:
    """Claim and return the first case in ``view``'s order that nobody else holds (a
    case ``actor`` already holds counts), other than ``skip``; None when there is
    none. The filter's page and claim view are ignored: the next case is the first one
    free. A case taken by someone else between the look and the claim is passed over."""
    where = _where(replace(view, claim="any", page=1), actor=actor, now=now)
    free = or_(_unclaimed(now), _held_by(actor, now))
    tried: set[str] = set() if skip is None else {skip}
    for _ in range(8):
        conditions = [*where, free]
        if tried:
            conditions.append(Case.number.not_in(tried))
        async with records.transaction() as session:
            number: str | None = await session.scalar(
                select(Case.number).where(*conditions).order_by(*QUEUE_ORDER).limit(1)
            )
        if number is None:
            return None
        try:
            await claim(records, number, actor=actor, now=now)
        except RecordError as exc:
            if exc.code != "not_allowed":
                raise
            tried.add(number)
            continue
        return number
    return None


async def case(records: Records, number: str, *, now: datetime) -> CaseView:
    """One case as the console shows it, its evidence decrypted. Reading is not
    audited here: the console audits what a moderator opens (:func:`audit_view`).
    ``unknown_case`` when there is none; ``undecryptable`` when its evidence was sealed
    under another key."""
    _check_now(now)
    async with records.transaction() as session:
        row = await _case_row(session, number)
        about = await _about(session, row)
        evidence = (
            await session.execute(
                select(
                    Evidence.kind, Evidence.ciphertext, Evidence.created_at, Evidence.retain_until
                )
                .where(Evidence.case_id == row.id)
                .order_by(Evidence.id)
            )
        ).all()
        history = await _history(session, row.id, about.subject)
        bans = await _bans(session, about.subject, now)
        actions = await _actions(session, row.id)
        appeals = await _appeals(session, Appeal.case_id == row.id)
        audit = await _audit_entries(session, [Audit.case_id == row.id], newest_first=False)
        held = _claim_of(await _claim_row(session, row.id, now))

    transcript: list[Line] = []
    frames: list[FrameView] = []
    for kind, blob, _, _ in evidence:
        if kind == "transcript":
            transcript.extend(_lines(records.unseal(bytes(blob))))
        elif kind == "frames":
            frames.extend(_frames(records.unseal(bytes(blob)), len(frames)))
    signals, scores = _signals_and_scores(about.detail)
    return CaseView(
        number=row.number,
        kind=row.kind,
        severity=row.severity,
        status=row.status,
        escalated=row.escalated,
        pool=row.pool,
        opened_at=row.opened_at,
        reason=about.reason,
        note=about.note,
        reporter=about.reporter,
        subject=about.subject,
        transcript=transcript,
        frames=frames,
        signals=signals,
        scores=scores,
        history=history,
        bans=bans,
        actions=actions,
        appeals=appeals,
        audit=audit,
        evidence_kept_until=_kept_until(row, [(created, kept) for _, _, created, kept in evidence]),
        claim=held,
        incident_type=chosen_incident_type(actions),
        default_incident_type=incident_type_for(about.reason, row.pool),
    )


async def case_subject(records: Records, number: str) -> tuple[str, str]:
    """(device, network hash) of the chatter a case is about; ``unknown_case``."""
    async with records.transaction() as session:
        return (await _about(session, await _case_row(session, number))).subject


async def audit_view(
    records: Records, number: str, *, actor: str, now: datetime, what: str
) -> None:
    """Audit a moderator opening a case (``what`` "case": "case.viewed") or revealing
    one of its blurred frames (``what`` "frame:<index>": "frame.revealed"). Access to
    evidence is logged like any change (OWASP ASVS 7.2.2)."""
    _check_now(now)
    _check_actor(actor)
    if what == "case":
        action, detail = "case.viewed", {}
    else:
        prefix, _, index = what.partition(":")
        if prefix != "frame" or not index.isascii() or not index.isdigit():
            raise RecordError("invalid", 'what is "case" or "frame:<index>"')
        action, detail = "frame.revealed", {"frame": int(index)}
    async with records.transaction() as session:
        row = await _case_row(session, number)
        records.audit(session, at=now, action=action, case_id=row.id, actor=actor, **detail)


# Acting


async def act(
    records: Records,
    number: str,
    action: str,
    *,
    actor: str,
    now: datetime,
    duration: str | None = None,
    text: str = "",
    capture: AddressCapture | None = None,
    confirm: str = "",
    incident_type: str | None = None,
) -> ActionOutcome:
    """Take ``action`` on a case as moderator ``actor``; any status may be acted on
    again (a second look).

    - dismiss: status "dismissed" (an escalated case keeps its year of evidence).
    - warn: status "actioned"; ``text`` (required, ≤ 500 characters) is the warning the
      subject device is shown on its next visit (DSA art. 17).
    - ban: ``duration`` one of :data:`BAN_DURATIONS`; a device ban on the subject with
      the case's plain reason (:data:`BAN_REASONS`, DSA art. 17) and ``text``, when
      given, as the moderator's written reason (≤ 500 characters, plain text: DSA art.
      17(3)(d)); status "actioned". A ban of :data:`CONFIRMED_DURATIONS` needs
      ``confirm`` equal to the duration.
    - escalate: ``Cases.escalate`` (status "escalated", evidence kept a year, REPORT
      Act), sealing ``capture`` (the subject's raw address, while its session is live)
      into the evidence for a CyberTipline report (18 U.S.C. 2258A(b)), with
      ``incident_type`` (one of the CyberTipline's :data:`INCIDENT_TYPES`; required
      when the case's kind has no default, :func:`incident_type_for`). Needs
      ``confirm`` "escalate".

    A decision (:data:`DECISIONS`) on a case another moderator holds is
    ``not_allowed`` until a lead reassigns it or the claim lapses; it ends the
    decider's own claim. A missing confirmation is ``invalid``.
    - note: ``text`` required (≤ 500 characters); status unchanged; not a measure, so
      the transparency report does not count it.

    ``duration`` and ``text`` are ignored by the actions that take none. An unknown
    action or case, a bad duration or text: :class:`RecordError`, nothing written.
    Escalation reads the case's subject first, then ``Cases.escalate`` makes the
    change in its own single transaction.
    """
    _check_now(now)
    _check_actor(actor)
    if action not in ACTIONS:
        raise RecordError("invalid", f"the action is one of {', '.join(ACTIONS)}")
    if action == "ban" and (duration is None or duration not in BAN_DURATIONS):
        raise RecordError("invalid", f"the ban lasts one of {', '.join(BAN_DURATIONS)}")
    if action == "warn":
        text = _text(text, "warning", NOTICE_TEXT_MAX)
    elif action == "note":
        text = _text(text, "note", NOTE_MAX)
    elif action == "ban":
        text = text.strip()
        if len(text) > BAN_NOTE_MAX:
            raise RecordError("invalid", f"the written reason is over {BAN_NOTE_MAX} characters")
        if duration in CONFIRMED_DURATIONS and confirm != duration:
            raise RecordError("invalid", "a ban over 24 hours must be confirmed")
    elif action == "escalate":
        if confirm != "escalate":
            raise RecordError("invalid", "an escalation must be confirmed")
        if incident_type is not None and incident_type not in INCIDENT_TYPES:
            raise RecordError("invalid", "not an incident type of the CyberTipline")

    if action == "escalate":
        async with records.transaction() as session:
            row = await _case_row(session, number)
            await _check_holder(session, row, actor, now)
            about = await _about(session, row)
            device = about.subject[0]
            chosen = incident_type or incident_type_for(about.reason, row.pool)
        if chosen is None:
            raise RecordError("invalid", "choose the CyberTipline incident type")
        await records.cases.escalate(
            number, actor=actor, now=now, capture=capture, device=device, incident_type=chosen
        )
        return ActionOutcome(ban=None, device=device, notice=None)

    async with records.transaction() as session:
        row = await _case_row(session, number)
        if action in DECISIONS:
            await _check_holder(session, row, actor, now)
            # The decision ends the decider's claim (a lapsed one of anyone's too).
            claimed = await session.get(CaseClaim, row.id)
            if claimed is not None:
                await session.delete(claimed)
        about = await _about(session, row)
        device = about.subject[0]
        ban: BanNotice | None = None
        notice: PendingNotice | None = None
        if action == "dismiss":
            row.status = "dismissed"
            records.record_action(session, row.id, "dismiss", now=now, actor=actor)
            records.audit(session, at=now, action="case.dismissed", case_id=row.id, actor=actor)
        elif action == "warn":
            row.status = "actioned"
            warning = ChatterNotice(
                device=device, kind="warning", case_id=row.id, text=text, created_at=now
            )
            session.add(warning)
            await session.flush()
            notice = PendingNotice(
                id=warning.id, device=device, kind="warning", case=row.number, text=text
            )
            records.record_action(session, row.id, "warn", now=now, actor=actor, notice=warning.id)
            records.audit(
                session,
                at=now,
                action="case.warned",
                case_id=row.id,
                actor=actor,
                notice=warning.id,
            )
        elif action == "ban":
            assert duration is not None
            length = BAN_DURATIONS[duration]
            until = None if length is None else now + length
            reason = ban_reason(about.reason)
            row.status = "actioned"
            note = text or None
            ban_id = await records.bans.add_in(
                session,
                device=device,
                network=None,
                reason=reason,
                case_id=row.id,
                until=until,
                now=now,
                note=note,
            )
            ban = BanNotice(reason=reason, case=row.number, until=until, note=note)
            until_text = None if until is None else until.isoformat()
            records.record_action(
                session,
                row.id,
                "ban",
                now=now,
                actor=actor,
                duration=duration,
                until=until_text,
                target="device",
                reason=reason,
                **({"note": note} if note else {}),
            )
            records.audit(
                session,
                at=now,
                action="case.banned",
                case_id=row.id,
                actor=actor,
                ban=ban_id,
                duration=duration,
                until=until_text,
            )
        else:  # note
            records.record_action(session, row.id, "note", now=now, actor=actor, text=text)
            # The note's text stays with the action; the audit says only that one was made.
            records.audit(session, at=now, action="case.noted", case_id=row.id, actor=actor)
    return ActionOutcome(ban=ban, device=device, notice=notice)


async def _check_holder(session: AsyncSession, row: Case, actor: str, now: datetime) -> None:
    held = await _claim_row(session, row.id, now)
    if held is not None and held.holder != actor:
        raise RecordError(
            "not_allowed", f"{held.holder} holds this case: ask a lead to reassign it, or wait"
        )


def chosen_incident_type(actions: Sequence[ActionView]) -> str | None:
    """The CyberTipline incident type chosen at the case's latest escalation (kept in
    the escalation's action detail), or None."""
    for action in reversed(actions):
        if action.kind == "escalate":
            chosen = action.detail.get("incident_type")
            return chosen if isinstance(chosen, str) and chosen in INCIDENT_TYPES else None
    return None


# Appeals


async def appeals_queue(records: Records, *, limit: int = 100) -> list[AppealView]:
    """Appeals waiting for a decision, oldest first."""
    limit = _check_limit(limit)
    async with records.transaction() as session:
        return await _appeals(session, Appeal.status == "pending", limit)


async def appeal(records: Records, appeal_id: int) -> AppealView:
    """One appeal; ``unknown_case`` when there is none."""
    async with records.transaction() as session:
        found = await _appeals(session, Appeal.id == appeal_id)
    if not found:
        raise RecordError("unknown_case", "there is no such appeal")
    return found[0]


async def decide_appeal(
    records: Records,
    appeal_id: int,
    outcome: str,
    *,
    actor: str,
    statement: str,
    now: datetime,
) -> PendingNotice:
    """Decide an appeal: "upheld" (the decision stands) or "overturned" (it is
    reversed: every ban of the case still in force ends now, each an "unban" action).

    The statement (required, ≤ 500 characters: DSA art. 20(5), reasons for the
    decision) is stored with the appeal and sent to the appealing device on its next
    visit; the returned notice is for the gateway's index.

    Refused with ``not_allowed`` when ``actor`` took any measure (an action other than
    a note) on the case: a complaint is not decided by the person whose decision it
    contests (DSA art. 20(6), docs/design.md §1). ``duplicate`` when already decided;
    ``unknown_case`` when there is no such appeal; ``invalid`` for a bad outcome.
    """
    _check_now(now)
    _check_actor(actor)
    if outcome not in APPEAL_OUTCOMES:
        raise RecordError("invalid", f"the outcome is one of {', '.join(APPEAL_OUTCOMES)}")
    statement = _text(statement, "statement", NOTICE_TEXT_MAX)
    async with records.transaction() as session:
        row = await session.get(Appeal, appeal_id)
        if row is None:
            raise RecordError("unknown_case", "there is no such appeal")
        if row.status != "pending":
            raise RecordError("duplicate", "this appeal is already decided")
        acted = await session.scalar(
            select(Action.id)
            .where(Action.case_id == row.case_id, Action.actor == actor, Action.kind != "note")
            .limit(1)
        )
        if acted is not None:
            raise RecordError(
                "not_allowed", "a moderator who acted on the case cannot decide its appeal"
            )
        number = await session.scalar(select(Case.number).where(Case.id == row.case_id))
        assert number is not None
        lifted: list[int] = []
        if outcome == "overturned":
            bans = await session.scalars(
                select(Ban).where(
                    Ban.case_id == row.case_id, or_(Ban.until.is_(None), Ban.until > now)
                )
            )
            for ban in bans:
                ban.until = now
                lifted.append(ban.id)
                records.record_action(
                    session,
                    row.case_id,
                    "unban",
                    now=now,
                    actor=actor,
                    ban=ban.id,
                    target="device" if ban.device is not None else "network",
                    appeal=row.id,
                )
        # Claimed only while still pending: of two moderators deciding at once, the
        # second finds it decided and its transaction (bans lifted included) rolls back.
        claimed = await session.scalar(
            update(Appeal)
            .where(Appeal.id == row.id, Appeal.status == "pending")
            .values(status=outcome, decided_by=actor, decided_at=now, statement=statement)
            .returning(Appeal.id)
        )
        if claimed is None:
            raise RecordError("duplicate", "this appeal is already decided")
        kind = f"appeal_{outcome}"
        notice = ChatterNotice(
            device=row.device, kind=kind, case_id=row.case_id, text=statement, created_at=now
        )
        session.add(notice)
        await session.flush()
        records.audit(
            session,
            at=now,
            action="appeal.decided",
            case_id=row.case_id,
            actor=actor,
            appeal=row.id,
            outcome=outcome,
            bans_lifted=lifted,
        )
        return PendingNotice(
            id=notice.id, device=row.device, kind=kind, case=number, text=statement
        )


# The audit log


async def audit_log(
    records: Records, *, limit: int = 200, before: int | None = None, case: str | None = None
) -> list[AuditEntry]:
    """Audit entries, newest first: those with an id below ``before`` (the next page),
    of one case when ``case`` names it (``unknown_case`` when there is none)."""
    limit = _check_limit(limit)
    async with records.transaction() as session:
        where: list[Any] = []
        if before is not None:
            where.append(Audit.id < before)
        if case is not None:
            where.append(Audit.case_id == (await _case_row(session, case)).id)
        return await _audit_entries(session, where, newest_first=True, limit=limit)
