"""Moderator console accounts: passwords, optional TOTP, lock-out, sessions, CSRF.

docs/design.md §1 (Moderator): argon2id passwords, optional TOTP, roles ``moderator`` and
``admin``, CSRF-protected forms, every action in the audit log. The rules followed:

- Passwords (OWASP ASVS 2.1.1, 2.1.2, 2.1.3; NIST SP 800-63B §5.1.1.2): 12 to 128
  characters, every printable character allowed, nothing truncated, no composition rule;
  NFKC-normalised before hashing; refused when they contain the account's name or are
  little more than one repeated character.
- Storage (ASVS 2.4.1, 2.4.4; RFC 9106 §4): an argon2id PHC string with explicit
  parameters (RFC 9106's second recommendation: t=3, 64 MiB, p=4), rehashed at the next
  sign-in when they change. Hashing runs off the event loop on one thread of its own
  (``_HASHING``), so however many attempts arrive, at most one argon2 computation (64 MiB,
  its 4 lanes) runs at a time: a flood of sign-ins queues instead of taking every core
  and 64 MiB per attempt (docs/performance.md, Floods).
- Sign-in (ASVS 2.2.1, 3.2.x; ASVS 5.0 V6.3.8): one refusal for an unknown name, a
  disabled account and a wrong password, with a verification against a dummy hash so
  all take as long; ``max_failures`` failures in a row lock the account for ``lockout``
  (even the right password is refused meanwhile, after the same dummy verification). The
  lock has its own code for the audit log; the console answers it with the very page of
  a wrong password, so a lock never tells that a name exists.
- TOTP (RFC 6238, ASVS 2.8.1): a 160-bit base32 secret, sealed under the evidence key
  (``Records.seal``); a code one 30-second step early or late is accepted.
- Sessions (ASVS 3.2.1, 3.2.2, 3.3.1): a 32-byte random token for the cookie, of which
  only the SHA-256 is stored; an absolute lifetime; sign-out deletes it. Each session has
  its own random CSRF token (ASVS 4.2.2), compared in constant time.

Every method runs in one records transaction and audits what it changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Final, NamedTuple, TypeVar

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from strangers.moderation.errors import ModerationError
from strangers.moderation.records import RecordError, Records
from strangers.moderation.tables import MODERATOR_NAME_MAX, ConsoleSession, Moderator

ROLES: Final = ("moderator", "admin")
PASSWORD_MIN: Final = 12  # OWASP ASVS 2.1.1
PASSWORD_MAX: Final = 128  # OWASP ASVS 2.1.2
MAX_FAILURES: Final = 5
LOCKOUT: Final = timedelta(minutes=15)
SESSION_TTL: Final = timedelta(hours=8)

#: The issuer an authenticator app shows next to the account (Key URI Format).
TOTP_ISSUER: Final = "strangers"
#: Steps of 30 s accepted either side of now: clocks drift, people type slowly.
TOTP_WINDOW: Final = 1
#: Fewer distinct characters than this is a repetition ("aaaaaaaaaaaa"), not a password
#: (NIST SP 800-63B §5.1.1.2: "repetitive or sequential characters").
PASSWORD_MIN_DISTINCT: Final = 5
#: Longest session token accepted from a cookie; ours are 43 characters.
TOKEN_MAX: Final = 128

#: Lowercase only, so "Alice" and "alice" cannot be two accounts that read alike in the
#: audit log; the name is also the audit actor and the authenticator's account label.
NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]*")
#: Actor names the records use for what no moderator did: ``system`` marks an action as
#: automatic (DSA art. 15(1)(c) counts those apart), ``operator`` is the command line.
RESERVED_NAMES: Final = frozenset({"system", "operator"})

#: RFC 9106 §4, second recommended option, spelled out so a library upgrade cannot
#: change it silently (a change is picked up as a rehash at the next sign-in).
HASHER: Final = PasswordHasher(
    time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)
#: A hash of a random string nobody kept, with :data:`HASHER`'s parameters: an unknown
#: name is verified against it, so it is refused after the same work as a wrong password.
DUMMY_HASH: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$lN/IIl0zjU02GcHDXUHMRg"
    "$svK1enAyo74y0Sgk69P8hyvFu62qi+JBDGxprtGPtow"
)


@dataclass(frozen=True)
class PasswordHashing:
    """The argon2 parameters new password hashes get (``hasher``), and a hash made with
    them of a string nobody kept (``dummy``): what an unknown name is verified against."""

    hasher: PasswordHasher
    dummy: str

    @classmethod
    def using(cls, hasher: PasswordHasher) -> PasswordHashing:
        """``hasher``, with a dummy hash made now with its parameters."""
        return cls(hasher, hasher.hash(secrets.token_urlsafe(32)))


#: :data:`HASHER` and :data:`DUMMY_HASH`.
PRODUCTION_HASHING: Final = PasswordHashing(HASHER, DUMMY_HASH)
#: What an :class:`Accounts` made without ``hashing`` uses: the production parameters.
#: Only the test suite replaces it (cheap parameters, ``tests/conftest.py``), because
#: the console builds its ``Accounts`` per request.
default_hashing: PasswordHashing = PRODUCTION_HASHING

_REFUSALS: Final = {
    "bad_credentials": "the name or the password is wrong",
    "locked": "too many failed sign-ins: the account is locked for a while",
    "totp_required": "a code from the authenticator app is required",
    "bad_code": "the authenticator code is wrong",
}


class SignInRefused(ModerationError):
    """A refused sign-in. ``code``: ``bad_credentials`` (unknown name, wrong password or
    a disabled account, deliberately indistinguishable), ``locked``, ``totp_required``
    (the password was right; ask for the code) or ``bad_code``."""

    code: str = "sign_in_refused"
    codes: ClassVar[frozenset[str]] = frozenset(_REFUSALS)

    def __init__(self, code: str) -> None:
        super().__init__(_REFUSALS[code])
        self._refine(code)


@dataclass(frozen=True)
class ConsoleUser:
    """Who a session belongs to, and the CSRF token its forms must carry."""

    id: int
    name: str
    role: str
    csrf: str


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes in the cookie and is not kept anywhere else."""

    token: str
    user: ConsoleUser


class ModeratorRow(NamedTuple):
    """An account as the admin page lists it."""

    name: str
    role: str
    totp: bool
    locked: bool


def check_name(name: str) -> None:
    """Refuse (``RecordError("invalid")``) a name that is not 1-64 lowercase letters,
    digits, '.', '_' or '-' starting with a letter or digit, or a reserved actor name."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MODERATOR_NAME_MAX:
        raise RecordError(
            "invalid",
            f"a moderator name is 1 to {MODERATOR_NAME_MAX} lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or a digit",
        )
    if name in RESERVED_NAMES:
        raise RecordError("invalid", f"the name {name!r} is reserved")


def check_role(role: str) -> None:
    """Refuse (``RecordError("invalid")``) a role other than ``moderator`` or ``admin``."""
    if role not in ROLES:
        raise RecordError("invalid", "the role is moderator or admin")


def check_password(password: str, *, name: str) -> None:
    """Refuse (``RecordError("invalid")``) a password outside the rules above (ASVS 2.1.1,
    2.1.2; NIST SP 800-63B §5.1.1.2). Length counts characters after NFKC."""
    password = _normalised(password)
    if len(password) < PASSWORD_MIN:
        raise RecordError("invalid", f"the password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise RecordError("invalid", f"the password has more than {PASSWORD_MAX} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise RecordError("invalid", "the password contains control characters")
    if name and name.casefold() in password.casefold():
        raise RecordError("invalid", "the password contains the moderator's name")
    if len(set(password)) < PASSWORD_MIN_DISTINCT:
        raise RecordError("invalid", "the password repeats too few characters")


def _normalised(password: str) -> str:
    # NIST SP 800-63B §5.1.1.2: NFKC, so the same password typed on another keyboard or
    # system (composed or decomposed accents) still matches.
    return unicodedata.normalize("NFKC", password)


def _check_time(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RecordError("invalid", "times must be timezone-aware")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_T = TypeVar("_T")
_HASHING: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


async def _hashing(work: Callable[..., _T], *args: str) -> _T:
    """Run one argon2 computation on the hashing thread."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, work, *args)


def _verify(stored: str, password: str) -> bool:
    # The cost is the one written in ``stored``, whatever hasher verifies it.
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (RFC 6238 §4: the counter T) whose code ``code`` is, within
    ``TOTP_WINDOW`` steps of ``now``; None when it is none of them."""
    code = code.replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


class Accounts:
    """Console accounts and sessions on the records (``moderators``, ``console_sessions``);
    passwords hashed with ``hashing`` (default :data:`default_hashing`)."""

    def __init__(
        self,
        records: Records,
        *,
        max_failures: int = MAX_FAILURES,
        lockout: timedelta = LOCKOUT,
        session_ttl: timedelta = SESSION_TTL,
        hashing: PasswordHashing | None = None,
    ) -> None:
        self._records = records
        self._argon2 = default_hashing if hashing is None else hashing
        self._max_failures = max_failures
        self._lockout = lockout
        self._session_ttl = session_ttl

    async def add(
        self, name: str, password: str, role: str, *, totp: bool, now: datetime
    ) -> str | None:
        """Create an account; returns the ``otpauth://`` provisioning URI (issuer
        "strangers") when ``totp``, else None. It is the only time the secret is shown.

        ``RecordError``: ``invalid`` for a bad name, role or password, ``duplicate`` for a
        name already taken. Audits ``moderator.added`` (actor ``operator``).
        """
        _check_time(now)
        check_name(name)
        check_role(role)
        check_password(password, name=name)
        password_hash = await _hashing(self._argon2.hasher.hash, _normalised(password))
        uri: str | None = None
        sealed: bytes | None = None
        if totp:
            secret = pyotp.random_base32()  # 32 base32 characters: 160 bits (RFC 4226 §4)
            sealed = self._records.seal({"totp": secret})
            uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)
        async with self._records.transaction() as session:
            if await session.scalar(select(Moderator.id).where(Moderator.name == name)):
                raise RecordError("duplicate", f"a moderator named {name} already exists")
            session.add(
                Moderator(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    totp_secret=sealed,
                    failed_logins=0,
                    locked_until=None,
                    disabled=False,
                    created_at=now,
                )
            )
            try:
                await session.flush()
            except IntegrityError:
                # Another `add` of the same name committed since the check above.
                raise RecordError("duplicate", f"a moderator named {name} already exists") from None
            self._records.audit(
                session,
                at=now,
                action="moderator.added",
                case_id=None,
                actor="operator",
                name=name,
                role=role,
                totp=totp,
            )
        return uri

    async def sign_in(
        self, name: str, password: str, code: str | None, *, now: datetime
    ) -> SignedIn:
        """Check the password (and the TOTP code when the account has one) and open a
        session, or raise :class:`SignInRefused`.

        Unknown name, wrong password and disabled account: ``bad_credentials``, after the
        same argon2 work. A wrong password or code counts as a failure; the
        ``max_failures``-th in a row locks the account for ``lockout``, during which even
        the right password is refused with ``locked``. A missing code for an account with
        TOTP is ``totp_required`` and is not a failure. Success resets the count, rehashes
        the password when the parameters changed, purges expired sessions, and audits
        ``console.signed_in``. Refusals on an existing account are audited too
        (``console.sign_in_refused``, ``console.locked``); the password never is.
        ``RecordError``: ``invalid`` for a naive ``now``, ``undecryptable`` when the TOTP
        secret was sealed under another evidence key, ``unavailable``.
        """
        _check_time(now)
        if (
            len(name) > MODERATOR_NAME_MAX
            or not NAME_PATTERN.fullmatch(name)
            or len(password) > PASSWORD_MAX * 4
        ):
            # No such name or password was ever accepted (NFKC may shorten a password,
            # hence the margin): refused without a query, after the same argon2 work.
            await _hashing(_verify, self._argon2.dummy, password[:PASSWORD_MAX])
            raise SignInRefused("bad_credentials")
        async with self._records.transaction() as session:
            account = await session.scalar(select(Moderator).where(Moderator.name == name))
        if account is None or account.disabled:
            await _hashing(_verify, self._argon2.dummy, _normalised(password))
            if account is not None:
                await self._refused(account.id, name, "disabled", now=now, failure=False)
            raise SignInRefused("bad_credentials")
        if account.locked_until is not None and account.locked_until > now:
            # The same argon2 work as any other refusal: a lock must not be told from an
            # unknown name by the time it takes (OWASP ASVS 5.0 V6.3.8).
            await _hashing(_verify, self._argon2.dummy, _normalised(password))
            await self._refused(account.id, name, "locked", now=now, failure=False)
            raise SignInRefused("locked")
        stored = account.password_hash
        if not await _hashing(_verify, stored, _normalised(password)):
            await self._refused(account.id, name, "password", now=now, failure=True)
            raise SignInRefused("bad_credentials")
        if account.totp_secret is not None:
            if code is None or not code.strip():
                raise SignInRefused("totp_required")
            secret = self._records.unseal(bytes(account.totp_secret))["totp"]
            step = _totp_step(secret, code, now)
            # A code already used is refused (RFC 6238 §5.2, ASVS 2.8.4): one seen over
            # someone's shoulder cannot open a second session.
            used = account.totp_last_step
            if step is None or (used is not None and step <= used):
                await self._refused(account.id, name, "code", now=now, failure=True)
                raise SignInRefused("bad_code")
        else:
            step = None
        hasher = self._argon2.hasher
        rehashed = (
            await _hashing(hasher.hash, _normalised(password))
            if hasher.check_needs_rehash(stored)
            else stored
        )
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        async with self._records.transaction() as session:
            # Conditional on what was checked, so a lock, a disabling or a new password
            # that landed meanwhile is not overridden.
            still = await session.scalar(
                update(Moderator)
                .where(
                    Moderator.id == account.id,
                    Moderator.password_hash == stored,
                    Moderator.disabled.is_(False),
                    or_(Moderator.locked_until.is_(None), Moderator.locked_until <= now),
                    # Two sign-ins racing with one code: only the first gets through.
                    *(
                        ()
                        if step is None
                        else (
                            or_(
                                Moderator.totp_last_step.is_(None),
                                Moderator.totp_last_step < step,
                            ),
                        )
                    ),
                )
                .values(
                    failed_logins=0,
                    locked_until=None,
                    password_hash=rehashed,
                    **({} if step is None else {"totp_last_step": step}),
                )
                .returning(Moderator.id)
            )
            if still is None:
                raise SignInRefused("bad_credentials")
            await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
            session.add(
                ConsoleSession(
                    token_hash=_token_hash(token),
                    moderator_id=account.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + self._session_ttl,
                )
            )
            self._records.audit(
                session,
                at=now,
                action="console.signed_in",
                case_id=None,
                actor=name,
                rehashed=rehashed != stored,
            )
        return SignedIn(token, ConsoleUser(account.id, name, account.role, csrf))

    async def _refused(
        self, moderator_id: int, name: str, reason: str, *, now: datetime, failure: bool
    ) -> None:
        """Audit a refused sign-in on an existing account; a ``failure`` also counts
        towards the lock-out (an atomic increment: concurrent guesses all count)."""
        async with self._records.transaction() as session:
            if failure:
                await session.execute(
                    update(Moderator)
                    .where(Moderator.id == moderator_id)
                    .values(failed_logins=Moderator.failed_logins + 1)
                )
                failures = await session.scalar(
                    select(Moderator.failed_logins).where(Moderator.id == moderator_id)
                )
                if failures is not None and failures >= self._max_failures:
                    until = now + self._lockout
                    # The count starts again once the lock-out ends.
                    await session.execute(
                        update(Moderator)
                        .where(Moderator.id == moderator_id)
                        .values(failed_logins=0, locked_until=until)
                    )
                    self._records.audit(
                        session,
                        at=now,
                        action="console.locked",
                        case_id=None,
                        actor=name,
                        until=until.isoformat(),
                    )
            self._records.audit(
                session,
                at=now,
                action="console.sign_in_refused",
                case_id=None,
                actor=name,
                reason=reason,
            )

    async def user(self, token: str, *, now: datetime) -> ConsoleUser | None:
        """The user a session token belongs to; None when the token is unknown, the
        session expired or the account is disabled."""
        _check_time(now)
        if not token or len(token) > TOKEN_MAX:
            return None
        async with self._records.transaction() as session:
            row = (
                await session.execute(
                    select(Moderator.id, Moderator.name, Moderator.role, ConsoleSession.csrf)
                    .join(ConsoleSession, ConsoleSession.moderator_id == Moderator.id)
                    .where(
                        ConsoleSession.token_hash == _token_hash(token),
                        ConsoleSession.expires_at > now,
                        Moderator.disabled.is_(False),
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        return ConsoleUser(row.id, row.name, row.role, row.csrf)

    async def sign_out(self, token: str, *, now: datetime) -> None:
        """End the session (deleted, not just expired) and audit ``console.signed_out``;
        an unknown token is a no-op."""
        _check_time(now)
        if not token or len(token) > TOKEN_MAX:
            return
        async with self._records.transaction() as session:
            name = await session.scalar(
                select(Moderator.name)
                .join(ConsoleSession, ConsoleSession.moderator_id == Moderator.id)
                .where(ConsoleSession.token_hash == _token_hash(token))
            )
            if name is None:
                return
            await session.execute(
                delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
            )
            self._records.audit(
                session, at=now, action="console.signed_out", case_id=None, actor=name
            )

    @staticmethod
    def csrf_ok(user: ConsoleUser, presented: str | None) -> bool:
        """Whether a form carried the session's CSRF token (ASVS 4.2.2); constant time."""
        if not presented:
            return False
        return hmac.compare_digest(user.csrf.encode(), presented.encode())


async def list_moderators(records: Records, *, now: datetime) -> list[ModeratorRow]:
    """Every account for the admin page, by name: (name, role, has TOTP, locked now)."""
    _check_time(now)
    async with records.transaction() as session:
        rows = await session.execute(
            select(
                Moderator.name,
                Moderator.role,
                Moderator.totp_secret.is_not(None).label("totp"),
                Moderator.locked_until,
            ).order_by(Moderator.name)
        )
        return [
            ModeratorRow(
                row.name,
                row.role,
                bool(row.totp),
                row.locked_until is not None and row.locked_until > now,
            )
            for row in rows
        ]
