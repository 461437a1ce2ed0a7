"""The records schema, declared once for the code; ``migrations/`` creates it.

Identifiers are opaque strings only: a device id and a keyed network hash (docs/design.md §6).
There is no address column anywhere. Times are timezone-aware UTC.

Revisions: 0001 the reports, bans and appeals; 0002 automatic video flags
(:class:`Flag`), the "frames" and "identifiers" evidence kinds, and the operator's
known-abuse hash lists (:class:`HashEntry`); 0003 text flag kinds; 0004 the moderator
console: :class:`Moderator` accounts and their :class:`ConsoleSession`, the
:class:`Action` taken on each case (DSA arts. 15, 17 and 24: what was decided, by whom,
automatically or not), the :class:`ChatterNotice` a device is shown on its next visit
(a warning, an appeal's outcome), and an appeal's statement and delivery; 0005 the
age state of devices (:class:`DeviceAgeState`) and networks (:class:`NetworkHoldState`),
so a restart keeps it; 0006 casework at volume: who holds a case (:class:`CaseClaim`)
and a ban's written reason (``Ban.note``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from strangers.core.bans import BAN_NOTE_MAX_CHARS

#: Stable constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CASE_KINDS: Final = ("report", "automatic")
CASE_STATUSES: Final = ("open", "dismissed", "actioned", "escalated")
EVIDENCE_KINDS: Final = ("transcript", "frames", "identifiers")
FLAG_KINDS: Final = (  # strangers.core.flags.FlagKind
    "nudity",
    "known_abuse",
    "text_risk",
    "adult_in_teen",
)
#: Whose page sampled a flagged frame, seen from the flagged chatter (the subject): its
#: own page (its camera) or the viewer's (its incoming video, which it cannot opt out of).
FLAG_SAMPLERS: Final = ("subject", "viewer")
#: ``upheld``: the decision stands; ``overturned``: it is reversed (its bans lifted).
APPEAL_STATUSES: Final = ("pending", "upheld", "overturned")
ROLES: Final = ("moderator", "admin")
#: What was done about a case (DSA art. 15(1)(c) counts them by kind). ``strike`` and
#: ``ban`` are also taken automatically by the safety checks; ``note`` is not a measure
#: and is not counted; ``reveal`` is a moderator opening a blurred frame (audited).
ACTION_KINDS: Final = ("dismiss", "warn", "strike", "ban", "escalate", "note", "unban")
NOTICE_KINDS: Final = ("warning", "appeal_upheld", "appeal_overturned")
MODERATOR_NAME_MAX: Final = 64
NOTICE_TEXT_MAX: Final = 500
NOTE_MAX: Final = 500  # the same bound as strangers.core.reports.MAX_NOTE_CHARS
BAN_NOTE_MAX: Final = BAN_NOTE_MAX_CHARS  # strangers.core.bans
HASH_HEX_CHARS: Final = 64  # a PDQ hash: 256 bits as lowercase hex
HASH_LABEL_MAX: Final = 128
HASH_LIST_MAX: Final = 64


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only takes aware times and always gives back UTC.

    SQLite has no time zone type: values are stored as UTC without an offset (so text
    comparison orders them) and read back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: records take timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("kind", CASE_KINDS), name="kind"),
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        Index(None, "status", "severity", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    pool: Mapped[str] = mapped_column(String(32))


class CaseClaim(Base):
    """Who holds a case (a moderator's name) and since when. A claim older than
    ``casework.CLAIM_TTL`` has lapsed and the case is anyone's again (docs/moderation.md,
    "Claims"); the row goes when the holder decides the case or releases it."""

    __tablename__ = "case_claims"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(MODERATOR_NAME_MAX), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(f"length(note) <= {NOTE_MAX}", name="note_length"),
        Index(None, "reported_device"),
        Index(None, "reported_network"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    match: Mapped[str] = mapped_column(String(128))
    reporter_device: Mapped[str] = mapped_column(String(128))
    reporter_network: Mapped[str] = mapped_column(String(128))
    reported_device: Mapped[str] = mapped_column(String(128))
    reported_network: Mapped[str] = mapped_column(String(128))
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (CheckConstraint(_in("kind", EVIDENCE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Flag(Base):
    """An automatic video flag (docs/design.md §6): what was found, on whom, seen by whose page.

    ``detail`` is JSON of the verdict (nudity classes, face, scores, hash label and
    distance), kept in the clear for the moderator's queue; the frames themselves are
    encrypted evidence of the flag's case.
    """

    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint(_in("kind", FLAG_KINDS), name="kind"),
        CheckConstraint(_in("sampled_by", FLAG_SAMPLERS), name="sampled_by"),
        Index(None, "subject_device"),
        Index(None, "subject_network"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    match: Mapped[str] = mapped_column(String(128))
    pool: Mapped[str] = mapped_column(String(32))
    subject_device: Mapped[str] = mapped_column(String(128))
    subject_network: Mapped[str] = mapped_column(String(128))
    sampler_device: Mapped[str] = mapped_column(String(128))
    sampler_network: Mapped[str] = mapped_column(String(128))
    sampled_by: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HashEntry(Base):
    """One hash of an operator's known-abuse list (PDQ, matched at distance ≤ 31)."""

    __tablename__ = "hash_entries"
    __table_args__ = (
        CheckConstraint(f"length(hash) = {HASH_HEX_CHARS}", name="hash_length"),
        UniqueConstraint("list", "hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    label: Mapped[str] = mapped_column(String(HASH_LABEL_MAX))
    # The attribute is not called ``list``, which would shadow the builtin in the class.
    list_name: Mapped[str] = mapped_column("list", String(HASH_LIST_MAX))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Ban(Base):
    __tablename__ = "bans"
    __table_args__ = (CheckConstraint("device IS NOT NULL OR network IS NOT NULL", name="target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str | None] = mapped_column(String(128), index=True)
    network: Mapped[str | None] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: permanent
    #: The moderator's written reason, shown to the chatter with ``reason`` (DSA art.
    #: 17(3)(d): the facts relied on); plain text, None for automatic bans.
    note: Mapped[str | None] = mapped_column(String(BAN_NOTE_MAX))


class Strike(Base):
    __tablename__ = "strikes"
    __table_args__ = (Index(None, "device", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(128))
    network: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Block(Base):
    """A pair that must never be matched again; ``device_a < device_b``."""

    __tablename__ = "blocks"
    __table_args__ = (CheckConstraint("device_a < device_b", name="sorted"),)

    device_a: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_b: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


class Appeal(Base):
    __tablename__ = "appeals"
    __table_args__ = (CheckConstraint(_in("status", APPEAL_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    device: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    statement: Mapped[str | None] = mapped_column(Text)  # the reasons given (DSA art. 20(5))


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    detail: Mapped[str] = mapped_column(Text)


class Moderator(Base):
    """A console account (docs/design.md §1). ``password_hash`` is an argon2id PHC string, never
    anything weaker (OWASP ASVS 2.4.1); ``totp_secret`` is the Fernet-sealed base32 TOTP
    secret (RFC 6238) when the account has one. ``failed_logins`` and ``locked_until``
    carry the lock-out (ASVS 2.2.1)."""

    __tablename__ = "moderators"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(MODERATOR_NAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # the last code's RFC 6238 T
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A signed-in console session. The cookie holds a random token; only its SHA-256
    is stored (ASVS 3.2), with the session's CSRF token (ASVS 4.2.2)."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Action(Base):
    """One measure taken on a case, by a moderator or automatically (``actor`` is
    "system"). ``detail`` is JSON (a ban's duration and end, a note's text)."""

    __tablename__ = "actions"
    __table_args__ = (CheckConstraint(_in("kind", ACTION_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    automatic: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[str] = mapped_column(Text)


class ChatterNotice(Base):
    """What a device is told on its next visit (a warning, an appeal's outcome); the
    gateway marks it ``delivered_at`` once sent."""

    __tablename__ = "chatter_notices"
    __table_args__ = (
        CheckConstraint(_in("kind", NOTICE_KINDS), name="kind"),
        Index(None, "device", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    text: Mapped[str] = mapped_column(String(NOTICE_TEXT_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceAgeState(Base):
    """A device's age state while any of it lasts (``strangers.core.age.DeviceAge``):
    its youngest answer or statement under a lock (``stage`` 0 child, 1 teen, with
    ``locked_until``), its cooldown before the age question, its bar from the teen
    pool. Kept so a restart, or another gateway, holds the device to it (docs/safety.md,
    "Age"); deleted once ``expires_at`` has passed."""

    __tablename__ = "device_ages"
    __table_args__ = (CheckConstraint("stage IS NULL OR stage IN (0, 1, 2)", name="stage"),)

    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    stage: Mapped[int | None] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recheck_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    teen_barred_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class NetworkHoldState(Base):
    """A network hash that gave a minor's answer at ``since``: no new device from it is
    welcomed as an adult before ``until`` (``strangers.core.age.NetworkHold``)."""

    __tablename__ = "network_holds"

    network: Mapped[str] = mapped_column(String(128), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
