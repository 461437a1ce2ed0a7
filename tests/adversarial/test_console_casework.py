"""Attacks on the console's casework of issue 19, as a modified client would make them:
forms without the CSRF token, a moderator acting as a lead, a decision on a case
another moderator holds, a long ban or an escalation without its confirmation, an
incident type that is not the CyberTipline's, and queue views out of range or malformed.
Every one is refused by the server with a clear page (400, 403), never a 500, and
writes nothing (docs/moderation.md, "Claims" and "Actions"; docs/security.md).

Against the real app in process, as tests/moderation/test_console_security.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from strangers.gateway.app import Gateway
from strangers.gateway.settings import Settings
from strangers.moderation import casework, cybertip, sqlite_url, upgrade
from strangers.moderation.accounts import Accounts
from strangers.moderation.db import make_engine

from ..inprocess import app_for
from ..moderation.helpers import all_rows
from ..moderation.test_console_security import (
    PASSWORDS,
    ROLES,
    Console,
    case_handle,
    filing,
    party,
    sign_in,
)
from ..servers import free_port


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("migrated")
    upgrade(sqlite_url(folder))
    return folder / "strangers.db"


@pytest.fixture
async def console(tmp_path: Path, migrated: Path) -> AsyncIterator[Console]:
    settings = Settings(
        data_dir=tmp_path,
        frame_checker="tests.checkers:scripted",
        frame_check_mode="thread",
        cybertip_reporter_name="Pat Example",
        cybertip_reporter_email="pat@example.org",
        cybertip_url=f"http://127.0.0.1:{free_port()}/ispws",  # nothing listens there
        cybertip_username="esp-test",
        cybertip_password="not-a-real-password",
    )
    if settings.records_url() == sqlite_url(tmp_path):
        shutil.copyfile(migrated, tmp_path / "strangers.db")
    else:
        upgrade(settings.records_url())
    app = cast(Gateway, app_for(settings))
    async with app.http.router.lifespan_context(app.http):
        records = app.services.records
        assert records is not None
        now = datetime.now(UTC)
        for name, password in PASSWORDS.items():
            await Accounts(records).add(name, password, ROLES[name], totp=False, now=now)
        cases = [
            await records.reports.file(filing(party("bob", "b"), "m-1"), now=now),
            await records.reports.file(filing(party("dan", "d"), "m-2"), now=now),
        ]
        engine = make_engine(settings.records_url())
        try:
            yield Console(app, app.services, settings, records, engine, cases, 0)
        finally:
            await engine.dispose()


async def handle_of(client: httpx.AsyncClient, number: str) -> str:
    return case_handle((await client.get("/mod")).text, number)


async def test_the_new_forms_without_the_csrf_token_do_nothing(console: Console) -> None:
    ben = await sign_in(console, "ben")
    handle = await handle_of(ben, console.cases[0])
    before = await all_rows(console.engine)
    for path, fields in (
        (f"/mod/cases/{handle}/claim", {}),
        (f"/mod/cases/{handle}/release", {}),
        (f"/mod/cases/{handle}/assign", {"to": "ben"}),
        ("/mod/next", {}),
        (
            f"/mod/cases/{handle}/act",
            {"action": "ban", "duration": "permanent", "confirm": "permanent"},
        ),
    ):
        for token in (None, "", ben.csrf[:-1] + "x"):
            data = fields if token is None else {**fields, "csrf": token}
            response = await ben.post(path, data=data)
            assert response.status_code == 403, (path, token)
    assert await all_rows(console.engine) == before
    await ben.aclose()


async def test_a_moderator_cannot_assign_or_release_anothers_claim(console: Console) -> None:
    ana = await sign_in(console, "ana")
    cy = await sign_in(console, "cy")
    number = console.cases[0]
    cy_handle = await handle_of(cy, number)
    assert (
        await cy.post(f"/mod/cases/{cy_handle}/claim", data={"csrf": cy.csrf})
    ).status_code == 303
    handle = await handle_of(ana, number)
    before = await all_rows(console.engine)
    for to in ("ana", "", "cy"):
        response = await ana.post(f"/mod/cases/{handle}/assign", data={"csrf": ana.csrf, "to": to})
        assert response.status_code == 403 and "for admins" in response.text
    released = await ana.post(f"/mod/cases/{handle}/release", data={"csrf": ana.csrf})
    assert released.status_code == 403 and "cy holds this case" in released.text
    grabbed = await ana.post(f"/mod/cases/{handle}/claim", data={"csrf": ana.csrf})
    assert grabbed.status_code == 403
    assert await all_rows(console.engine) == before
    await ana.aclose()
    await cy.aclose()


async def test_a_decision_on_a_case_another_holds_is_refused_until_reassigned(
    console: Console,
) -> None:
    ana = await sign_in(console, "ana")
    cy = await sign_in(console, "cy")
    ben = await sign_in(console, "ben")
    number = console.cases[0]
    await cy.post(f"/mod/cases/{await handle_of(cy, number)}/claim", data={"csrf": cy.csrf})
    handle = await handle_of(ana, number)
    before = await all_rows(console.engine)
    for fields in (
        {"action": "dismiss"},
        {"action": "warn", "text": "Be kind."},
        {"action": "ban", "duration": "1h"},
        {"action": "ban", "duration": "permanent", "confirm": "permanent"},
        {"action": "escalate", "confirm": "escalate", "incident_type": cybertip.CHILD_PORNOGRAPHY},
        {"action": "dismiss", "then": "next"},
    ):
        response = await ana.post(f"/mod/cases/{handle}/act", data={"csrf": ana.csrf, **fields})
        assert response.status_code == 403, fields
        assert "cy holds this case" in response.text
    assert await all_rows(console.engine) == before
    assert console.services.bans.lookup("dev-bob", "net-" + "b" * 60, datetime.now(UTC)) is None

    # A lead gives it to ana: now her decision goes through.
    ben_handle = await handle_of(ben, number)
    assigned = await ben.post(
        f"/mod/cases/{ben_handle}/assign", data={"csrf": ben.csrf, "to": "ana"}
    )
    assert assigned.status_code == 303
    done = await ana.post(f"/mod/cases/{handle}/act", data={"csrf": ana.csrf, "action": "dismiss"})
    assert done.status_code == 303
    for client in (ana, cy, ben):
        await client.aclose()


async def test_skipping_the_confirmation_of_a_long_ban_or_an_escalation_is_refused(
    console: Console,
) -> None:
    ana = await sign_in(console, "ana")
    handle = await handle_of(ana, console.cases[0])
    before = await all_rows(console.engine)
    for fields in (
        {"action": "ban", "duration": "7d"},
        {"action": "ban", "duration": "7d", "confirm": ""},
        {"action": "ban", "duration": "permanent", "confirm": "7d"},  # a lesser confirmation
        {"action": "ban", "duration": "permanent", "confirm": "yes"},
        {"action": "escalate", "incident_type": cybertip.CHILD_PORNOGRAPHY},
        {"action": "escalate", "incident_type": cybertip.CHILD_PORNOGRAPHY, "confirm": "1"},
        {"action": "escalate", "incident_type": cybertip.CHILD_PORNOGRAPHY, "confirm": "7d"},
    ):
        response = await ana.post(f"/mod/cases/{handle}/act", data={"csrf": ana.csrf, **fields})
        assert response.status_code == 400, fields
        assert "must be confirmed: nothing was done yet" in response.text
        # The page offers the same decision, ready to confirm.
        assert 'id="confirming"' in response.text
    assert await all_rows(console.engine) == before
    assert console.services.bans.lookup("dev-bob", "net-" + "b" * 60, datetime.now(UTC)) is None
    await ana.aclose()


async def test_an_incident_type_not_in_the_cybertiplines_list_is_never_used(
    console: Console,
) -> None:
    ana = await sign_in(console, "ana")
    ben = await sign_in(console, "ben")
    handle = await handle_of(ana, console.cases[0])
    before = await all_rows(console.engine)
    for forged in ("Spam", "child pornography", cybertip.CHILD_PORNOGRAPHY + " ", "<b>x</b>"):
        response = await ana.post(
            f"/mod/cases/{handle}/act",
            data={
                "csrf": ana.csrf,
                "action": "escalate",
                "confirm": "escalate",
                "incident_type": forged,
            },
        )
        assert response.status_code == 400, forged
        assert "not a CyberTipline incident type" in response.text
    assert await all_rows(console.engine) == before

    escalated = await ana.post(
        f"/mod/cases/{handle}/act",
        data={
            "csrf": ana.csrf,
            "action": "escalate",
            "confirm": "escalate",
            "incident_type": cybertip.MISLEADING_WORDS_OR_IMAGES,
        },
    )
    assert escalated.status_code == 303
    before = await all_rows(console.engine)
    for path in (f"/mod/cases/{handle}/report", f"/mod/cases/{handle}/report.zip"):
        response = await ana.get(path, params={"incident": "Spam"})
        assert response.status_code == 400, path
        assert "not a CyberTipline incident type" in response.text
    ben_handle = await handle_of(ben, console.cases[0])
    sent = await ben.post(
        f"/mod/cases/{ben_handle}/cybertip", data={"csrf": ben.csrf, "incident_type": "Spam"}
    )
    assert sent.status_code == 400
    # Nothing was built, downloaded or sent (only the views of the case are audited).
    after = await all_rows(console.engine)
    assert after["audit"][: len(before["audit"])] == before["audit"]
    assert not [row for row in after["audit"] if str(row["action"]).startswith("cybertip.")]
    await ana.aclose()
    await ben.aclose()


MALFORMED: list[dict[str, Any]] = [
    {"page": "0"},
    {"page": "-1"},
    {"page": "1e3"},
    {"page": "99999999999999999999"},
    {"page": "2"},  # past the last page of two cases
    {"page": "١"},
    {"per_page": "1000"},
    {"per_page": "0"},
    {"severity": "101"},
    {"severity": "abc"},
    {"kind": "<script>"},
    {"pool": "adult"},
    {"state": "../../etc"},
    {"claim": "everyone"},
    {"q": "' OR 1=1 --"},
    {"q": "%"},
    {"q": "a\x00b-cdefg"},
    {"q": "x" * 5000},
    {"q": "abc"},
]


@pytest.mark.parametrize("params", MALFORMED)
async def test_a_malformed_or_out_of_range_view_is_a_clear_400(
    console: Console, params: dict[str, Any]
) -> None:
    ana = await sign_in(console, "ana")
    handle = await handle_of(ana, console.cases[0])
    before = await all_rows(console.engine)
    queue = await ana.get("/mod", params=params)
    assert queue.status_code == 400, params
    assert "This view of the queue does not exist" in queue.text
    assert "Traceback" not in queue.text
    # The same view carried by a case page and by the forms that go on in it (a case
    # page and "Next case" list nothing, so a page past the last is not out of range).
    if params.get("page") != "2":
        carried = await ana.get(f"/mod/cases/{handle}", params=params)
        assert carried.status_code == 400, params
        nexted = await ana.post("/mod/next", data={"csrf": ana.csrf, **params})
        assert nexted.status_code == 400, params
        after = await all_rows(console.engine)
        assert [row for row in after["audit"] if row not in before["audit"]] == []
    await ana.aclose()


async def test_the_queue_count_is_for_signed_in_moderators_only(console: Console) -> None:
    async with console.client() as stranger:
        assert (await stranger.get("/mod/queue/count.json")).status_code == 403
    ana = await sign_in(console, "ana")
    counted = await ana.get("/mod/queue/count.json")
    assert counted.json() == {"waiting": 2, "unclaimed": 2}
    assert counted.headers["cache-control"] == "no-store"
    await casework.claim(console.records, console.cases[0], actor="cy", now=datetime.now(UTC))
    assert (await ana.get("/mod/queue/count.json")).json() == {"waiting": 2, "unclaimed": 1}
    await ana.aclose()
