"""The moderator console end to end (docs/design.md §1, Moderator; issue 7): the real server,
two moderators, a reported chatter's own page, Debian's Chromium.

A report case with two benign frames is filed straight into the server's records, about a
device whose token (signed with the server's own key) the chatter's page is given, so
that page IS the reported device. Then: ana opens the case from the queue, reveals a
frame, bans for 24 h; the chatter's live page shows the ban and appeals; ana may not
decide that appeal (DSA art. 20(6)); ben overturns it; the chatter is told on their
next visit and can chat again; ben's audit log shows every step.

Set STRANGERS_SCREENSHOTS=1 to also write docs/screenshots/console-queue.png and
docs/screenshots/console-case.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import Result
from typer.testing import CliRunner

from strangers import cli
from strangers.core.device import DeviceClaims, DeviceTokens
from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.gateway.settings import Settings
from strangers.moderation import Records, sqlite_url

from ..images import portrait
from .conftest import NewPage
from .test_text_chat import EN, ROOT, fill_start

if TYPE_CHECKING:
    from playwright.sync_api import Page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

PASSWORDS = {"ana": "correct horse battery", "ben": "staple gun turnip 42"}
NOT_YOURS = "You took the decision under appeal; another moderator must decide it (DSA art. 20(6))"


def add_moderator(data_dir: Path, name: str, role: str) -> None:
    """``strangers moderator add NAME --role R --password-stdin``, on the server's data:
    the command itself, in this process (a new interpreter costs seconds), on a thread
    of its own because Playwright's sync API owns this thread's event loop."""

    def run() -> Result:
        return CliRunner().invoke(
            cli.app,
            ["moderator", "add", name, "--role", role, "--password-stdin"],
            input=PASSWORDS[name] + "\n",
            env={"STRANGERS_DATA_DIR": str(data_dir)},
        )

    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(run).result()
    assert result.exit_code == 0 and result.exception is None, result.output


def file_case(data_dir: Path, reported_device: str) -> str:
    """A harassment report with its transcript and two benign frames, committed to the
    server's records as the gateway would; returns the case number."""
    settings = Settings(data_dir=data_dir)
    t0 = datetime.now(UTC).timestamp() - 120
    frames = (
        CheckedFrame(at=4.0, shows=FrameSource.PARTNER, jpeg=portrait(), verdict=FrameVerdict()),
        CheckedFrame(at=6.0, shows=FrameSource.OWN, jpeg=portrait(), verdict=FrameVerdict()),
    )
    filing = Filing(
        match="m-console",
        pool="adult-video",
        reason=ReportReason.HARASSMENT,
        note="Insults after hello.",
        reporter=Party(device="dev-reporter", network="net-" + "a" * 60, session="s-1"),
        reported=Party(device=reported_device, network="net-" + "b" * 60, session="s-2"),
        matched_at=t0,
        reported_at=t0 + 60,
        transcript=(
            Line(at=1.0, side="reporter", text="hello"),
            Line(at=3.0, side="reported", text="you are boring, go away"),
        ),
        frames=frames,
    )

    async def run() -> str:
        records = await Records.open(sqlite_url(data_dir), settings.evidence_secret())
        try:
            return await records.reports.file(filing, now=datetime.now(UTC))
        finally:
            await records.close()

    # Playwright's sync API owns this thread's event loop: the records get their own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def device_token(data_dir: Path, device: str) -> str:
    """A device token signed with the server's own key (its data directory's secret)."""
    return DeviceTokens(Settings(data_dir=data_dir).subkey("device-tokens")).issue(
        DeviceClaims(device)
    )


def sign_in(page: Page, server: str, name: str) -> None:
    page.goto(server + "/mod")
    expect(page).to_have_url(server + "/mod/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server + "/mod")
    expect(page.locator("#user-name")).to_have_text(name)


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("STRANGERS_SCREENSHOTS"):
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=True, animations="disabled")


def audit_rows(page: Page) -> list[tuple[str, str]]:
    """(who, what) of every row on the audit page; what as the records name it (the
    page shows it in words, the code is its ``data-action``)."""
    rows = page.locator("#audit tbody tr")
    return [
        (
            row.locator("td").nth(2).inner_text(),
            row.locator("td").nth(3).get_attribute("data-action") or "",
        )
        for row in rows.all()
    ]


def test_a_report_is_banned_appealed_and_overturned_by_another_moderator(
    new_page: NewPage, server: str, tmp_path: Path
) -> None:
    data_dir = tmp_path  # the server fixture's data directory
    add_moderator(data_dir, "ana", "moderator")
    add_moderator(data_dir, "ben", "admin")
    device = secrets.token_urlsafe(16)
    number = file_case(data_dir, device)

    # The reported chatter, waiting for a stranger on the device the case is about.
    chatter = new_page()
    token = json.dumps(device_token(data_dir, device))
    chatter.add_init_script(f"localStorage.setItem('strangers.device', {token})")
    fill_start(chatter, server)
    chatter.click("#text-button")
    chatter.click("#age-yes")  # "You said … — is that right?"
    expect(chatter.locator("#log")).to_contain_text(EN["status.waiting"])

    # ana: the queue, the case, a frame revealed, a 24 h ban.
    ana = new_page()
    sign_in(ana, server, "ana")
    expect(ana.locator("#user-role")).to_have_text("(moderator)")
    expect(ana.get_by_role("link", name="Audit")).to_have_count(0)
    link = ana.locator("#queue").get_by_role("link", name=number)
    expect(link).to_be_visible()
    screenshot(ana, "console-queue.png")
    link.click()
    expect(ana.locator("h1")).to_have_text(f"Case {number}")
    expect(ana.locator("#transcript")).to_contain_text("you are boring, go away")
    expect(ana.locator("#transcript .side-reported .who")).to_have_text("Reported")
    expect(ana.locator("#transcript .side-reporter .who")).to_have_text("Reporter")
    frames = ana.locator("#frames img")
    expect(frames).to_have_count(2)
    for index in range(2):
        expect(frames.nth(index)).to_have_attribute("data-state", "blurred")
        expect(frames.nth(index)).to_have_js_property("complete", True)
    screenshot(ana, "console-case.png")
    with ana.expect_response(lambda response: response.url.endswith("/frames/0/clear.jpg")) as seen:
        ana.locator("#frames a.reveal").first.click()
    assert seen.value.status == 200
    assert seen.value.headers["cache-control"] == "no-store"
    expect(frames.first).to_have_attribute("data-state", "clear")
    expect(frames.nth(1)).to_have_attribute("data-state", "blurred")
    # This test stays on the case after deciding (test_console_queue.py goes on to the next).
    ana.get_by_label("After a decision, claim and open the next case of this view").uncheck()
    ana.get_by_role("button", name="Ban 24 h").click()
    expect(ana.locator(".notice")).to_contain_text("The device is banned")
    expect(ana.locator("#bans")).to_contain_text("Harassment or hate")

    # The chatter's live page: the ban, its case, an appeal.
    expect(chatter.locator("#banned")).to_be_visible()
    expect(chatter.locator("#banned-case")).to_have_text(EN["banned.case"].format(case=number))
    expect(chatter.locator("#banned-reason")).to_have_text("Harassment or hate")
    chatter.fill("#appeal-text", "I was only joking, it will not happen again.")
    chatter.click("#appeal-send")
    # Visible, not only there: the state is in the page, hidden, until the 201 comes back.
    expect(chatter.locator("#appeal-state")).to_be_visible()
    expect(chatter.locator("#appeal-state-text")).to_contain_text("Appeal received on")

    # ana took the decision: the appeal's form is disabled, and a forced POST refused.
    ana.get_by_role("link", name="Appeals").click()
    ana.locator("#appeals").get_by_role("link", name="Appeal").first.click()
    expect(ana.locator("#appeal-text")).to_have_text("I was only joking, it will not happen again.")
    expect(ana.locator("#not-yours")).to_have_text(NOT_YOURS)
    expect(ana.get_by_role("button", name="Decide")).to_be_disabled()
    expect(ana.get_by_label("Statement of reasons (the chatter reads it)")).to_be_disabled()
    action = ana.locator("#decide-form").get_attribute("action")
    csrf = ana.locator("#decide-form input[name=csrf]").get_attribute("value")
    assert action and csrf
    forced = ana.request.post(
        server + action,
        form={"csrf": csrf, "outcome": "overturned", "statement": "Let it go."},
        max_redirects=0,
    )
    assert forced.status == 403
    assert NOT_YOURS in forced.text()
    ana.reload()
    expect(ana.locator("#appeal-status")).to_have_attribute("data-status", "pending")

    # ben, an admin who took no part, overturns it.
    ben = new_page()
    sign_in(ben, server, "ben")
    ben.get_by_role("link", name="Appeals").click()
    ben.locator("#appeals").get_by_role("link", name="Appeal").first.click()
    expect(ben.get_by_role("button", name="Decide")).to_be_enabled()
    ben.get_by_label("Overturned: the decision is reversed and its bans lifted").check()
    ben.get_by_label("Statement of reasons (the chatter reads it)").fill(
        "A first harsh word does not call for a ban; please stay kind."
    )
    ben.get_by_role("button", name="Decide").click()
    expect(ben.locator(".notice")).to_contain_text("The appeal is decided")
    expect(ben.locator("#appeal-status")).to_have_attribute("data-status", "overturned")

    # The chatter's next visit: told of the outcome, and free to chat again.
    fill_start(chatter, server)
    chatter.click("#text-button")
    chatter.click("#age-yes")  # "You said … — is that right?"
    expect(chatter.locator("#decision-list")).to_contain_text(
        EN["decision.appeal_overturned"].format(case=number)
    )
    expect(chatter.locator("#log")).to_contain_text(EN["status.waiting"])

    # ben's audit log holds every step, with who took it.
    ben.get_by_role("link", name="Audit").click()
    expect(ben.locator("h1")).to_have_text("Audit log")
    rows = audit_rows(ben)
    for step in (
        ("ana", "console.signed_in"),
        ("ana", "case.viewed"),
        ("ana", "frame.revealed"),
        ("ana", "case.banned"),
        ("chatter", "appeal.submitted"),
        ("ben", "appeal.decided"),
    ):
        assert step in rows, step
    # Newest first: the decision is above the ban it reversed.
    assert rows.index(("ben", "appeal.decided")) < rows.index(("ana", "case.banned"))


def test_signing_in_and_out(new_page: NewPage, server: str, tmp_path: Path) -> None:
    """A wrong password gets the generic refusal; sign-out ends the session."""
    add_moderator(tmp_path, "ana", "moderator")
    page = new_page()
    page.goto(server + "/mod/appeals")
    expect(page).to_have_url(server + "/mod/signin")
    page.get_by_label("Name").fill("ana")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    # One refusal for a wrong password, an unknown name and a locked account alike.
    expect(page.locator("#problem")).to_have_text(
        "Wrong name, password or code. After 5 failures in a row an account is locked for "
        "15 minutes, even with the right password."
    )
    expect(page.get_by_label("Name")).to_be_focused()
    sign_in(page, server, "ana")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server + "/mod/signin")
    page.goto(server + "/mod")
    expect(page).to_have_url(server + "/mod/signin")
