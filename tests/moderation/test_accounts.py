"""Moderator console accounts, on SQLite and on PostgreSQL (see conftest.py): argon2id
passwords, TOTP, lock-out, server-side sessions and CSRF tokens.

The suite hashes with argon2's cheapest parameters (tests/conftest.py); the tests of the
parameters themselves pass ``PRODUCTION_HASHING``, and one checks that it is the default
outside the suite."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.moderation import RecordError, Records
from strangers.moderation import accounts as accounts_module
from strangers.moderation.accounts import (
    DUMMY_HASH,
    HASHER,
    LOCKOUT,
    MAX_FAILURES,
    PRODUCTION_HASHING,
    SESSION_TTL,
    Accounts,
    ConsoleUser,
    ModeratorRow,
    SignInRefused,
    list_moderators,
)
from strangers.moderation.tables import Audit, ConsoleSession, Moderator

from .helpers import all_rows

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


async def refusal(
    accounts: Accounts, name: str, password: str, code: str | None = None, *, now: datetime = NOW
) -> SignInRefused:
    with pytest.raises(SignInRefused) as info:
        await accounts.sign_in(name, password, code, now=now)
    return info.value


async def moderator_row(engine: AsyncEngine, name: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(Moderator).where(Moderator.name == name))).one()


async def audit_actions(engine: AsyncEngine) -> list[tuple[str, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Audit.action, Audit.actor, Audit.detail).order_by(Audit.id)
        )
        return [(action, actor, json.loads(detail)) for action, actor, detail in rows]


async def session_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(ConsoleSession))
        return int(count or 0)


def totp_secret(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


# Adding accounts


async def test_the_password_is_stored_only_as_an_argon2id_phc_string(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records, hashing=PRODUCTION_HASHING)
    assert await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW) is None

    row = await moderator_row(engine, "alice")
    assert row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(row.password_hash, PASSWORD)
    assert (row.role, row.totp_secret, row.failed_logins, row.locked_until, row.disabled) == (
        "moderator",
        None,
        0,
        None,
        False,
    )
    assert PASSWORD not in repr(await all_rows(engine))
    assert await audit_actions(engine) == [
        ("moderator.added", "operator", {"name": "alice", "role": "moderator", "totp": False})
    ]


async def test_a_duplicate_name_is_refused(records: Records, engine: AsyncEngine) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    with pytest.raises(RecordError) as info:
        await accounts.add("alice", "another long password", "admin", totp=True, now=NOW)
    assert info.value.code == "duplicate" and "alice" in info.value.detail
    assert (await moderator_row(engine, "alice")).role == "moderator"
    assert [action for action, _, _ in await audit_actions(engine)] == ["moderator.added"]


BAD_ACCOUNTS = [
    ("", PASSWORD, "moderator", "name"),
    ("Alice", PASSWORD, "moderator", "lowercase"),
    ("bob smith", PASSWORD, "moderator", "name"),
    ("-bob", PASSWORD, "moderator", "starting"),
    ("b" * 65, PASSWORD, "moderator", "1 to 64"),
    ("system", PASSWORD, "moderator", "reserved"),
    ("operator", PASSWORD, "admin", "reserved"),
    ("carol", PASSWORD, "root", "role"),
    ("carol", "short pass", "moderator", "at least 12"),
    ("carol", "x1" * 64 + "y", "moderator", "more than 128"),
    ("carol", "my name is Carol!", "moderator", "name"),
    ("carol", "abababababababab", "moderator", "too few"),
    ("carol", "tab\there and there", "moderator", "control"),
]


async def test_bad_names_roles_and_weak_passwords_are_refused(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    for name, password, role, words in BAD_ACCOUNTS:
        with pytest.raises(RecordError) as info:
            await accounts.add(name, password, role, totp=False, now=NOW)
        assert info.value.code == "invalid" and words in info.value.detail, (name, password)
    assert (await all_rows(engine))["moderators"] == []
    assert await audit_actions(engine) == []


async def test_a_password_of_128_characters_and_any_script_is_accepted(records: Records) -> None:
    accounts = Accounts(records)
    longest = ("pässwörd ünïcødé 🙂 " * 7)[:128]
    await accounts.add("dana", longest, "admin", totp=False, now=NOW)
    assert (await accounts.sign_in("dana", longest, None, now=NOW)).user.role == "admin"


async def test_the_password_is_compared_after_nfkc_normalisation(records: Records) -> None:
    accounts = Accounts(records)
    composed = "caf\u00e9 au lait, s'il vous pla\u00eet"
    await accounts.add("erin", composed, "moderator", totp=False, now=NOW)
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert (await accounts.sign_in("erin", decomposed, None, now=NOW)).user.name == "erin"


async def test_times_must_be_aware(records: Records) -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    with pytest.raises(RecordError) as info:
        await Accounts(records).add("alice", PASSWORD, "moderator", totp=False, now=naive)
    assert info.value.code == "invalid"


# Signing in


async def test_sign_in_opens_a_session_of_which_only_the_token_hash_is_stored(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "admin", totp=False, now=NOW)

    signed = await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    assert signed.user.name == "alice" and signed.user.role == "admin"
    assert len(signed.token) >= 43 and len(signed.user.csrf) >= 43
    assert signed.token != signed.user.csrf
    assert await accounts.user(signed.token, now=NOW) == signed.user

    sessions = (await all_rows(engine))["console_sessions"]
    assert len(sessions) == 1
    assert sessions[0]["token_hash"] == hashlib.sha256(signed.token.encode()).hexdigest()
    assert sessions[0]["expires_at"] == NOW + SESSION_TTL
    assert signed.token not in repr(await all_rows(engine))
    assert (await audit_actions(engine))[-1] == ("console.signed_in", "alice", {"rehashed": False})

    other = await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    assert other.token != signed.token and other.user.csrf != signed.user.csrf


async def test_an_unknown_name_and_a_wrong_password_get_the_same_refusal(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)

    unknown = await refusal(accounts, "mallory", PASSWORD)
    wrong = await refusal(accounts, "alice", "not the password at all")
    too_long = await refusal(accounts, "m" * 200, "x" * 10_000)
    not_a_name = await refusal(accounts, "nul\x00 byte", PASSWORD)  # never reaches SQL
    assert unknown.code == wrong.code == too_long.code == not_a_name.code == "bad_credentials"
    assert str(unknown) == str(wrong) == str(too_long) == str(not_a_name)
    # Only the existing account's refusal is audited: a name nobody has may be a
    # password typed in the wrong field.
    assert (await audit_actions(engine))[1:] == [
        ("console.sign_in_refused", "alice", {"reason": "password"})
    ]
    assert (await moderator_row(engine, "alice")).failed_logins == 1
    assert await session_count(engine) == 0


async def test_a_disabled_account_is_refused_like_an_unknown_one_and_loses_its_sessions(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    signed = await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    async with engine.begin() as conn:
        await conn.execute(update(Moderator).values(disabled=True))

    assert (await refusal(accounts, "alice", PASSWORD)).code == "bad_credentials"
    assert await accounts.user(signed.token, now=NOW) is None


async def test_five_failures_lock_the_account_even_against_the_right_password(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    for attempt in range(MAX_FAILURES):
        at = NOW + timedelta(seconds=attempt)
        assert (await refusal(accounts, "alice", "wrong password!", now=at)).code == (
            "bad_credentials"
        )
    locked_at = NOW + timedelta(seconds=MAX_FAILURES - 1)
    assert (await moderator_row(engine, "alice")).locked_until == locked_at + LOCKOUT
    assert ("console.locked", "alice", {"until": (locked_at + LOCKOUT).isoformat()}) in (
        await audit_actions(engine)
    )

    assert (await refusal(accounts, "alice", PASSWORD, now=locked_at)).code == "locked"
    just_before = locked_at + LOCKOUT - timedelta(seconds=1)
    assert (await refusal(accounts, "alice", PASSWORD, now=just_before)).code == "locked"
    assert await list_moderators(records, now=just_before) == [
        ModeratorRow("alice", "moderator", totp=False, locked=True)
    ]
    assert await session_count(engine) == 0

    ended = locked_at + LOCKOUT
    assert await list_moderators(records, now=ended) == [
        ModeratorRow("alice", "moderator", totp=False, locked=False)
    ]
    assert (await accounts.sign_in("alice", PASSWORD, None, now=ended)).user.name == "alice"
    row = await moderator_row(engine, "alice")
    assert (row.failed_logins, row.locked_until) == (0, None)


async def test_a_success_resets_the_failure_count(records: Records, engine: AsyncEngine) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            await refusal(accounts, "alice", "wrong password!")
        await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    row = await moderator_row(engine, "alice")
    assert (row.failed_logins, row.locked_until) == (0, None)


async def test_the_lockout_limits_are_settings(records: Records) -> None:
    accounts = Accounts(records, max_failures=2, lockout=timedelta(minutes=1))
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    await refusal(accounts, "alice", "wrong password!")
    await refusal(accounts, "alice", "wrong password!")
    assert (await refusal(accounts, "alice", PASSWORD)).code == "locked"
    await accounts.sign_in("alice", PASSWORD, None, now=NOW + timedelta(minutes=1))


async def test_a_hash_with_old_parameters_is_rehashed_at_sign_in(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records, hashing=PRODUCTION_HASHING)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    async with engine.begin() as conn:
        await conn.execute(update(Moderator).values(password_hash=weaker.hash(PASSWORD)))

    await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    stored = (await moderator_row(engine, "alice")).password_hash
    assert not HASHER.check_needs_rehash(stored) and HASHER.verify(stored, PASSWORD)
    assert (await audit_actions(engine))[-1] == ("console.signed_in", "alice", {"rehashed": True})
    await accounts.sign_in("alice", PASSWORD, None, now=NOW)


def test_the_dummy_hash_costs_what_a_real_one_does() -> None:
    assert not HASHER.check_needs_rehash(DUMMY_HASH)
    assert accounts_module.PasswordHashing(HASHER, DUMMY_HASH) == PRODUCTION_HASHING
    # Other parameters get a dummy hash of their own cost (the suite's cheap ones here).
    suite = accounts_module.default_hashing
    assert suite.dummy != DUMMY_HASH and not suite.hasher.check_needs_rehash(suite.dummy)


def test_accounts_hash_with_the_production_parameters_unless_told_otherwise() -> None:
    # A fresh interpreter: this one had the suite's cheap parameters swapped in.
    program = (
        "from strangers.moderation import accounts as a; "
        "print(a.default_hashing is a.PRODUCTION_HASHING)"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "True\n"


# TOTP


async def test_totp_is_provisioned_sealed_and_required(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    uri = await accounts.add("alice", PASSWORD, "admin", totp=True, now=NOW)
    assert uri is not None and uri.startswith("otpauth://totp/strangers:alice?")
    assert parse_qs(urlsplit(uri).query)["issuer"] == ["strangers"]
    secret = totp_secret(uri)
    assert len(secret) == 32

    row = await moderator_row(engine, "alice")
    assert records.unseal(bytes(row.totp_secret)) == {"totp": secret}
    assert secret not in repr(await all_rows(engine))
    assert await list_moderators(records, now=NOW) == [
        ModeratorRow("alice", "admin", totp=True, locked=False)
    ]

    totp = pyotp.TOTP(secret)
    assert (await refusal(accounts, "alice", PASSWORD)).code == "totp_required"
    assert (await refusal(accounts, "alice", PASSWORD, "  ")).code == "totp_required"
    # The code is only asked once the password is right.
    assert (await refusal(accounts, "alice", "wrong password!", totp.at(NOW))).code == (
        "bad_credentials"
    )
    wrong = f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"
    assert (await refusal(accounts, "alice", PASSWORD, wrong)).code == "bad_code"
    too_old = totp.at(NOW - timedelta(seconds=60))
    assert (await refusal(accounts, "alice", PASSWORD, too_old)).code == "bad_code"
    assert (await refusal(accounts, "alice", PASSWORD, "abcdef")).code == "bad_code"
    assert (await moderator_row(engine, "alice")).failed_logins == 4  # not totp_required

    # One 30-second step of drift either way.
    late = totp.at(NOW - timedelta(seconds=30))
    signed = await accounts.sign_in("alice", PASSWORD, late, now=NOW)
    assert signed.user.name == "alice"
    assert (await moderator_row(engine, "alice")).failed_logins == 0
    await accounts.sign_in("alice", PASSWORD, totp.at(NOW), now=NOW)
    # The spaced form an app shows, one step ahead.
    ahead = totp.at(NOW + timedelta(seconds=30))
    await accounts.sign_in("alice", PASSWORD, f"{ahead[:3]} {ahead[3:]}", now=NOW)


async def test_a_totp_code_is_good_for_one_sign_in_only(records: Records) -> None:
    """RFC 6238 §5.2, ASVS 2.8.4: a code seen over a shoulder, or replayed, opens
    nothing; neither does an older code once a newer one was used."""
    accounts = Accounts(records)
    uri = await accounts.add("alice", PASSWORD, "moderator", totp=True, now=NOW)
    assert uri is not None
    totp = pyotp.TOTP(totp_secret(uri))
    await accounts.sign_in("alice", PASSWORD, totp.at(NOW), now=NOW)
    assert (await refusal(accounts, "alice", PASSWORD, totp.at(NOW))).code == "bad_code"
    earlier = totp.at(NOW - timedelta(seconds=30))
    assert (await refusal(accounts, "alice", PASSWORD, earlier)).code == "bad_code"
    later = NOW + timedelta(seconds=30)
    await accounts.sign_in("alice", PASSWORD, totp.at(later), now=later)


async def test_wrong_codes_lock_the_account(records: Records) -> None:
    accounts = Accounts(records)
    uri = await accounts.add("alice", PASSWORD, "moderator", totp=True, now=NOW)
    assert uri is not None
    right = pyotp.TOTP(totp_secret(uri)).at(NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(MAX_FAILURES):
        assert (await refusal(accounts, "alice", PASSWORD, wrong)).code == "bad_code"
    assert (await refusal(accounts, "alice", PASSWORD, right)).code == "locked"


# Sessions


async def test_sessions_expire_and_expired_ones_are_purged_at_sign_in(
    records: Records, engine: AsyncEngine
) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    signed = await accounts.sign_in("alice", PASSWORD, None, now=NOW)

    last = NOW + SESSION_TTL - timedelta(seconds=1)
    assert await accounts.user(signed.token, now=last) == signed.user
    assert await accounts.user(signed.token, now=NOW + SESSION_TTL) is None
    assert await session_count(engine) == 1

    later = await accounts.sign_in("alice", PASSWORD, None, now=NOW + SESSION_TTL)
    assert await session_count(engine) == 1  # the expired one went
    assert await accounts.user(later.token, now=NOW + SESSION_TTL) == later.user


async def test_unknown_tokens_have_no_user(records: Records) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    signed = await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    for token in ("", "nope", signed.token + "x", signed.token.upper(), "x" * 10_000):
        assert await accounts.user(token, now=NOW) is None
    # The stored hash is not a token either.
    assert await accounts.user(hashlib.sha256(signed.token.encode()).hexdigest(), now=NOW) is None


async def test_sign_out_ends_only_that_session(records: Records, engine: AsyncEngine) -> None:
    accounts = Accounts(records)
    await accounts.add("alice", PASSWORD, "moderator", totp=False, now=NOW)
    first = await accounts.sign_in("alice", PASSWORD, None, now=NOW)
    second = await accounts.sign_in("alice", PASSWORD, None, now=NOW)

    await accounts.sign_out(first.token, now=NOW)
    assert await accounts.user(first.token, now=NOW) is None
    assert await accounts.user(second.token, now=NOW) == second.user
    assert await session_count(engine) == 1
    assert (await audit_actions(engine))[-1] == ("console.signed_out", "alice", {})

    await accounts.sign_out(first.token, now=NOW)  # again: nothing to do, nothing audited
    await accounts.sign_out("", now=NOW)
    assert [a for a, _, _ in await audit_actions(engine)].count("console.signed_out") == 1


def test_csrf_ok_takes_only_the_sessions_token() -> None:
    user = ConsoleUser(1, "alice", "moderator", "k" * 43)
    assert Accounts.csrf_ok(user, "k" * 43)
    for presented in (None, "", "k" * 42, "k" * 44, "K" * 43, "ķ" * 43):
        assert not Accounts.csrf_ok(user, presented)


async def test_list_moderators_is_by_name(records: Records) -> None:
    accounts = Accounts(records)
    assert await list_moderators(records, now=NOW) == []
    await accounts.add("zoe", PASSWORD, "admin", totp=True, now=NOW)
    await accounts.add("adam", PASSWORD, "moderator", totp=False, now=NOW)
    assert await list_moderators(records, now=NOW) == [
        ("adam", "moderator", False, False),
        ("zoe", "admin", True, False),
    ]
