"""Attack 9a of issue 15: the console's sign-in told names apart. On the code before the
fix an unknown name got "Wrong name, password or code" (200) forever, while a known one
got "Too many failed attempts" (429) after five wrong passwords, and faster, as a locked
account was refused before any argon2 work: a guesser could list the moderators' names.

Now every refusal is the same page, status and argon2 work (OWASP ASVS 5.0 V6.3.8,
generic errors; docs/security.md, "Account takeover of moderators"). Against the real
server, in process; the argon2 work is counted, never timed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from strangers.moderation import Records, accounts
from strangers.moderation.accounts import MAX_FAILURES, Accounts

from ..inprocess import serving

PASSWORD = "correct horse battery staple"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found
    return found.group(1)


def _page(response: httpx.Response) -> str:
    """The answer without what differs on every page (the sign-in form's own token)."""
    return re.sub(r'value="[^"]*"', 'value=""', response.text)


@pytest.fixture
async def base(tmp_path):
    async with serving(
        tmp_path, frame_checker="tests.checkers:scripted", frame_check_mode="thread"
    ) as srv:
        records = await Records.open(srv.settings.records_url(), srv.settings.evidence_secret())
        try:
            await Accounts(records).add(
                "ana", PASSWORD, "moderator", totp=False, now=datetime.now(UTC)
            )
        finally:
            await records.close()
        yield srv.base


@pytest.fixture
def argon2_runs(monkeypatch) -> list[str]:
    """Each argon2 verification the server runs (the real one still runs)."""
    runs: list[str] = []
    real = accounts._verify

    def counting(stored: str, password: str) -> bool:
        runs.append(stored)
        return real(stored, password)

    monkeypatch.setattr(accounts, "_verify", counting)
    return runs


async def _attempt(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/mod/signin")
    return await client.post(
        "/mod/signin", data={"csrf": _csrf(form.text), "name": name, "password": password}
    )


async def test_a_locked_account_is_answered_like_a_name_that_does_not_exist(base, argon2_runs):
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(MAX_FAILURES):
            await _attempt(client, "ana", "not the password at all")
        argon2_runs.clear()
        locked = await _attempt(client, "ana", PASSWORD)  # locked now, even when right
        locked_runs = len(argon2_runs)
        unknown = await _attempt(client, "anna", PASSWORD)
        wrong = await _attempt(client, "anna", "not the password at all")
    assert locked.status_code == unknown.status_code == wrong.status_code == 200
    assert _page(locked) == _page(unknown) == _page(wrong)
    assert "strangers_mod=" not in locked.headers.get("set-cookie", "")
    # One argon2 verification each: the lock is not told by its speed either.
    assert locked_runs == 1 and len(argon2_runs) == 3


async def test_the_lock_out_is_no_different_for_a_known_name(base, argon2_runs):
    async with httpx.AsyncClient(base_url=base) as client:
        known = [await _attempt(client, "ana", f"guess {n}") for n in range(MAX_FAILURES + 2)]
        unknown = [await _attempt(client, "anna", f"guess {n}") for n in range(MAX_FAILURES + 2)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    assert [_page(r) for r in known] == [_page(r) for r in unknown]
    assert len(argon2_runs) == 2 * (MAX_FAILURES + 2)
