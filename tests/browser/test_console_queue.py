"""The console at volume (issue 19, points 5 to 7 and 9): the real server, Debian's
Chromium, at 1280×800 and 375×667.

- claim → decide → next: "Next case" claims the first free case; another moderator sees
  who holds it and is refused a decision on it; a decision goes on to the next case,
  claimed; a lead reassigns; the keyboard shortcuts work, never while typing;
- search by device hash, filters, server-side paging in a stable order, a malformed
  view answered with a 400 page;
- a ban over 24 h and an escalation each ask in a dialog, and the server refuses them
  without the confirmation; the written reason reaches the banned chatter's socket;
- the incident type in the package is the one chosen, shown in the preview first; on a
  default install the download says what is missing;
- the console in French, following the browser, with a switch.

Set STRANGERS_SCREENSHOTS=1 to also write docs/screenshots/console-*.png.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import pytest

from strangers.core.frames import CheckedFrame, FrameSource, FrameVerdict
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.gateway.settings import Settings
from strangers.moderation import Records, cybertip, sqlite_url

from ..images import portrait
from .conftest import DESKTOP, NewPage, running_server
from .test_console import PASSWORDS, add_moderator, device_token, screenshot, sign_in
from .test_text_chat import EN, ROOT, fill_start

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 375, "height": 667}
VIEWPORTS = [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="375x667")]
THEN_NEXT = "After a decision, claim and open the next case of this view"
REPORTER = {
    "cybertip_reporter_name": "Pat Example",
    "cybertip_reporter_email": "pat@example.org",
}
CHOSEN = cybertip.MISLEADING_WORDS_OR_IMAGES
SCREENSHOTS = ROOT / "docs" / "screenshots"


@dataclass(frozen=True)
class Spec:
    device: str
    reason: ReportReason = ReportReason.HARASSMENT
    pool: str = "adult-video"
    frames: bool = False


def file_reports(data_dir: Path, specs: list[Spec]) -> list[str]:
    """Reports with a short, benign transcript (and two plain frames when asked),
    committed to the server's records in this order; their case numbers."""
    settings = Settings(data_dir=data_dir)
    t0 = datetime.now(UTC).timestamp() - 600

    def filing(index: int, spec: Spec) -> Filing:
        frames = (
            (
                CheckedFrame(
                    at=4.0, shows=FrameSource.PARTNER, jpeg=portrait(), verdict=FrameVerdict()
                ),
                CheckedFrame(
                    at=6.0, shows=FrameSource.OWN, jpeg=portrait(), verdict=FrameVerdict()
                ),
            )
            if spec.frames
            else ()
        )
        return Filing(
            match=f"m-{index}",
            pool=spec.pool,
            reason=spec.reason,
            note="Rude after hello.",
            reporter=Party(device=f"dev-reporter-{index}", network="net-" + "a" * 60, session="s"),
            reported=Party(device=spec.device, network=f"net-{index:04d}" + "b" * 56, session="t"),
            matched_at=t0 + index,
            reported_at=t0 + index + 30,
            transcript=(
                Line(at=1.0, side="reporter", text="hello"),
                Line(at=3.0, side="reported", text="you are boring, go away"),
            ),
            frames=frames,
        )

    async def run() -> list[str]:
        records = await Records.open(sqlite_url(data_dir), settings.evidence_secret())
        try:
            numbers = []
            for index, spec in enumerate(specs):
                now = datetime.fromtimestamp(t0 + index + 60, UTC)
                numbers.append(await records.reports.file(filing(index, spec), now=now))
            return numbers
        finally:
            await records.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def device() -> str:
    return secrets.token_urlsafe(16)


def form_fields(page: Page, form: str) -> dict[str, str]:
    """The hidden fields of a form on the page (the CSRF token, the queue view)."""
    fields: dict[str, str] = {}
    for field in page.locator(f"{form} input[type=hidden]").all():
        name = field.get_attribute("name")
        if name:
            fields[name] = field.get_attribute("value") or ""
    return fields


def queue_numbers(page: Page) -> list[str]:
    return page.locator("#queue tbody tr").evaluate_all("rows => rows.map(row => row.dataset.case)")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_claim_decide_and_go_on_to_the_next_case(
    new_page: NewPage, server: str, tmp_path: Path, viewport: ViewportSize
) -> None:
    add_moderator(tmp_path, "ana", "moderator")
    add_moderator(tmp_path, "ben", "admin")
    underage, harassment, spam = file_reports(
        tmp_path,
        [
            Spec(device(), ReportReason.UNDERAGE, frames=True),
            Spec(device(), ReportReason.HARASSMENT),
            Spec(device(), ReportReason.SPAM, pool="adult-text"),
        ],
    )
    ana = new_page(viewport=viewport)
    sign_in(ana, server, "ana")
    expect(ana.locator("#queue-count")).to_have_text("Waiting: 3; held by nobody: 3.")
    assert queue_numbers(ana) == [underage, harassment, spam]  # most severe first

    # Next case: the first free one, claimed.
    ana.get_by_role("button", name="Next case").first.click()
    expect(ana.locator("#case-number")).to_have_text(underage)
    expect(ana.locator("#holder")).to_contain_text("You hold this case until")
    # Evidence first: the frames and the transcript are above the decision.
    frames_top = ana.locator("#frames").bounding_box()
    transcript_top = ana.locator("#transcript").bounding_box()
    actions_top = ana.locator("#actions").bounding_box()
    assert frames_top and transcript_top and actions_top
    assert frames_top["y"] < actions_top["y"] and transcript_top["y"] < actions_top["y"]
    if viewport == DESKTOP:
        for index in range(2):
            expect(ana.locator("#frames img").nth(index)).to_have_js_property("complete", True)
        screenshot(ana, "console-case-evidence.png")

    # ben sees who holds it; a decision by him is refused by the server.
    ben = new_page(viewport=viewport)
    sign_in(ben, server, "ben")
    row = ben.locator(f"#queue tr[data-case='{underage}']")
    expect(row.locator(".holder")).to_have_text("ana")
    row.get_by_role("link", name=underage).click()
    expect(ben.locator("#holder")).to_contain_text("ana holds this case until")
    expect(ben.locator("#held-note")).to_contain_text("ana holds this case")
    action = ben.locator("#form-dismiss").get_attribute("action")
    assert action
    forced = ben.request.post(
        server + action,
        form={**form_fields(ben, "#form-dismiss"), "action": "dismiss"},
        max_redirects=0,
    )
    assert forced.status == 403
    assert "ana holds this case" in forced.text()
    ben.reload()
    expect(ben.locator("#case-status")).to_have_text("open")

    # ana decides, and the console goes on to the next free case, claimed.
    expect(ana.get_by_label(THEN_NEXT)).to_be_checked()
    ana.get_by_role("button", name="Dismiss").click()
    expect(ana.locator("#case-number")).to_have_text(harassment)
    expect(ana.locator(".notice")).to_have_text("The case is dismissed.")
    expect(ana.locator("#holder")).to_contain_text("You hold this case")

    # A lead reassigns it: ben takes it over, and ana is told why she cannot decide.
    ben.goto(server + "/mod")
    ben.locator(f"#queue tr[data-case='{harassment}']").get_by_role("link").click()
    ben.get_by_label("Assign to").select_option("ben")
    ben.get_by_role("button", name="Assign", exact=True).click()
    expect(ben.locator(".notice")).to_have_text("The case is assigned.")
    expect(ben.locator("#holder")).to_contain_text("You hold this case")
    ana.reload()
    expect(ana.locator("#held-note")).to_contain_text("ben holds this case")
    refused = ana.request.post(
        server + (ana.locator("#form-dismiss").get_attribute("action") or ""),
        form={**form_fields(ana, "#form-dismiss"), "action": "dismiss"},
        max_redirects=0,
    )
    assert refused.status == 403 and "ben holds this case" in refused.text()

    # The keyboard: u back to the queue, j/k through it, never while typing; ? lists them.
    ana.keyboard.press("u")
    expect(ana.locator("h1")).to_have_text("Queue")
    ana.keyboard.press("j")
    expect(ana.locator("#queue tbody tr").first.locator("a")).to_be_focused()
    ana.keyboard.press("j")
    expect(ana.locator("#queue tbody tr").nth(1).locator("a")).to_be_focused()
    ana.keyboard.press("k")
    expect(ana.locator("#queue tbody tr").first.locator("a")).to_be_focused()
    ana.keyboard.press("/")
    expect(ana.get_by_label("Search", exact=True)).to_be_focused()
    ana.keyboard.type("jk?n")  # typed into the field: no shortcut fires
    expect(ana.get_by_label("Search", exact=True)).to_have_value("jk?n")
    expect(ana.locator("#shortcuts")).to_be_hidden()
    ana.locator("h1").click()
    ana.keyboard.press("?")
    expect(ana.locator("#shortcuts")).to_be_visible()
    expect(ana.locator("#shortcut-list")).to_contain_text("claim and open the next free case")
    ana.keyboard.press("Escape")
    expect(ana.locator("#shortcuts")).to_be_hidden()
    ana.keyboard.press("n")  # next free case: the spam report (ben holds the other)
    expect(ana.locator("#case-number")).to_have_text(spam)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_search_by_device_hash_filters_and_pages(
    new_page: NewPage, server: str, tmp_path: Path, viewport: ViewportSize
) -> None:
    add_moderator(tmp_path, "ana", "moderator")
    wanted = device()
    specs = [Spec(device(), ReportReason.SPAM, pool="adult-text") for _ in range(26)]
    specs += [
        Spec(wanted, ReportReason.HARASSMENT, pool="teen-text"),
        Spec(device(), ReportReason.OTHER, pool="teen-video"),
    ]
    numbers = file_reports(tmp_path, specs)
    ana = new_page(viewport=viewport)
    sign_in(ana, server, "ana")

    # Search by the first characters of the reported device.
    ana.get_by_label("Search", exact=True).fill(wanted[:10])
    ana.get_by_role("button", name="Apply").click()
    expect(ana.locator("#found")).to_have_text("Cases found: 1; page 1 of 1.")
    assert queue_numbers(ana) == [numbers[26]]
    ana.locator("#queue").get_by_role("link", name=numbers[26]).click()
    expect(ana.locator("#subject-device")).to_have_attribute("title", wanted)
    ana.get_by_role("link", name="Back to the queue").click()
    expect(ana.get_by_label("Search", exact=True)).to_have_value(wanted[:10])

    # Filters: the teen text pool.
    ana.get_by_role("link", name="Clear").click()
    ana.get_by_label("Pool").select_option("teen-text")
    ana.get_by_role("button", name="Apply").click()
    assert queue_numbers(ana) == [numbers[26]]
    ana.get_by_label("Pool").select_option("")
    ana.get_by_label("Severity").select_option("20")
    ana.get_by_label("Per page").select_option("25")
    ana.get_by_role("button", name="Apply").click()
    if viewport == DESKTOP:
        screenshot(ana, "console-queue-filters.png")  # the queue with filters set

    # Pages on the server, in a stable order: no case twice, none missing.
    expect(ana.locator("#found")).to_have_text("Cases found: 27; page 1 of 2.")
    first = queue_numbers(ana)
    ana.locator("#pages").get_by_role("link", name="Next").click()
    expect(ana.locator("#found")).to_have_text("Cases found: 27; page 2 of 2.")
    second = queue_numbers(ana)
    assert len(first) == 25 and len(second) == 2
    assert sorted(first + second) == sorted(numbers[:27])
    assert first[0] == numbers[26]  # severity 50 first, then the spam reports, oldest first
    assert first[1:] + second == numbers[:26]

    # A view that does not exist is a page that says so, status 400 (tests/adversarial
    # tries many more).
    for query, words in (
        ("severity=33", "The severity is one of 0, 20, 50, 70 and 90."),
        ("page=9", "There is no page 9: this view has 1."),
        ("q=%25%25", "Search for a case number"),
        ("per_page=-1", "A page holds 25, 50 or 100 cases."),
    ):
        answer = ana.request.get(f"{server}/mod?{query}")
        assert answer.status == 400, query
        assert words in answer.text(), query


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_long_bans_and_escalation_need_a_confirmation_and_the_package_has_the_chosen_type(
    new_page: NewPage, tmp_path: Path, viewport: ViewportSize
) -> None:
    add_moderator(tmp_path, "ana", "moderator")
    banned, other = device(), device()
    with running_server(tmp_path, **REPORTER) as server:
        first, second = file_reports(
            tmp_path,
            [Spec(banned, ReportReason.HARASSMENT), Spec(other, ReportReason.OTHER)],
        )
        # The chatter the first case is about, waiting for a stranger; its socket is watched.
        chatter = new_page(viewport=viewport)
        token = json.dumps(device_token(tmp_path, banned))
        chatter.add_init_script(f"localStorage.setItem('strangers.device', {token})")
        frames: list[str] = []
        chatter.on(
            "websocket",
            lambda socket: socket.on(
                "framereceived",
                lambda payload: frames.append(payload if isinstance(payload, str) else ""),
            ),
        )
        fill_start(chatter, server)
        chatter.click("#text-button")
        chatter.click("#age-yes")  # "You said … — is that right?"
        expect(chatter.locator("#log")).to_contain_text(EN["status.waiting"])

        ana = new_page(viewport=viewport)
        sign_in(ana, server, "ana")
        ana.locator("#queue").get_by_role("link", name=first).click()
        ana.get_by_label(THEN_NEXT).uncheck()

        # A permanent ban asks first; cancelling does nothing.
        ana.get_by_label("Reason in your words").fill("Insults <b>twice</b>, after a warning.")
        ana.get_by_role("button", name="Ban permanently").click()
        dialog = ana.locator("#confirm-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Ban this device for good?")
        if viewport == DESKTOP and os.environ.get("STRANGERS_SCREENSHOTS"):
            # The viewport, not the whole page: the dialog's backdrop covers the viewport.
            ana.screenshot(path=str(SCREENSHOTS / "console-confirm.png"), animations="disabled")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(ana.locator("#bans")).to_have_count(0)
        ana.get_by_role("button", name="Ban permanently").click()
        dialog.get_by_role("button", name="Confirm").click()
        expect(ana.locator(".notice")).to_contain_text("The device is banned")
        expect(ana.locator("#bans")).to_contain_text("permanent")
        # The written reason, as text, in the actions taken and on the chatter's socket.
        expect(ana.locator("#taken")).to_contain_text("Insults <b>twice</b>, after a warning.")
        expect(chatter.locator("#banned")).to_be_visible()
        notices = [json.loads(frame) for frame in frames if '"banned"' in frame]
        assert notices and notices[-1]["note"] == "Insults <b>twice</b>, after a warning."

        # A modified page that skips the dialog: the server refuses, and offers to confirm.
        ana.locator("#back-to-queue").click()
        ana.locator("#queue").get_by_role("link", name=second).click()
        action = ana.locator("#form-ban").get_attribute("action")
        assert action
        fields = form_fields(ana, "#form-ban")
        for duration in ("7d", "permanent"):
            skipped = ana.request.post(
                server + action,
                form={**fields, "duration": duration, "confirm": ""},
                max_redirects=0,
            )
            assert skipped.status == 400
            assert "must be confirmed: nothing was done yet" in skipped.text()
        escalate = form_fields(ana, "#form-escalate")
        skipped = ana.request.post(
            server + action,
            form={**escalate, "incident_type": CHOSEN, "confirm": ""},
            max_redirects=0,
        )
        assert skipped.status == 400 and "An escalation must be confirmed" in skipped.text()
        # An "Other" report has no default incident type: it must be chosen.
        unchosen = ana.request.post(
            server + action, form={**escalate, "confirm": "escalate"}, max_redirects=0
        )
        assert unchosen.status == 400 and "Choose the CyberTipline incident type" in unchosen.text()
        ana.reload()
        expect(ana.locator("#case-status")).to_have_text("open")
        expect(ana.locator("#bans")).to_have_count(0)

        # The escalation, in the page: no type chosen for it, one chosen, a dialog.
        expect(ana.get_by_label("CyberTipline incident type")).to_have_value("")
        ana.get_by_label("CyberTipline incident type").select_option(CHOSEN)
        ana.get_by_role("button", name="Escalate").click()
        expect(dialog).to_contain_text("Escalate this case for a report to law enforcement?")
        dialog.get_by_role("button", name="Confirm").click()
        expect(ana.locator(".notice")).to_contain_text("The case is escalated")
        expect(ana.locator("#report-package")).to_contain_text(f"Incident type: {CHOSEN}.")

        # The preview, then the package: the type is the one chosen.
        ana.get_by_role("link", name="Report package: preview, download, send").click()
        expect(ana.locator("#package-incident-type")).to_have_text(CHOSEN)
        expect(ana.locator("#package-files")).to_contain_text("transcript.txt")
        if viewport == DESKTOP:
            screenshot(ana, "console-report-preview.png")
        with ana.expect_download() as download:
            ana.get_by_role("link", name="Download report package (ZIP)").click()
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        report = ET.fromstring(archive.read("report.xml"))
        assert report.findtext("incidentSummary/incidentType") == CHOSEN
        assert json.loads(archive.read("manifest.json"))["incident_type"] == CHOSEN
        # A forged type is refused, never built.
        forged = ana.request.get(
            ana.url.replace("/report", "/report.zip") + "?incident=Spam", max_redirects=0
        )
        assert forged.status == 400


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_on_a_default_install_the_package_says_what_is_missing(
    new_page: NewPage, server: str, tmp_path: Path, viewport: ViewportSize
) -> None:
    add_moderator(tmp_path, "ana", "moderator")
    (number,) = file_reports(tmp_path, [Spec(device(), ReportReason.SEXUAL)])
    ana = new_page(viewport=viewport)
    sign_in(ana, server, "ana")
    ana.locator("#queue").get_by_role("link", name=number).click()
    # Sexual content reported from the adult pool: a default type is offered.
    expect(ana.get_by_label("CyberTipline incident type")).to_have_value(cybertip.CHILD_PORNOGRAPHY)
    ana.get_by_label(THEN_NEXT).uncheck()
    ana.get_by_role("button", name="Escalate").click()
    ana.locator("#confirm-dialog").get_by_role("button", name="Confirm").click()
    ana.get_by_role("link", name="Report package: preview, download, send").click()
    missing = ana.locator("#report-missing")
    expect(missing).to_contain_text("STRANGERS_CYBERTIP_REPORTER_NAME")
    expect(missing).to_contain_text("STRANGERS_CYBERTIP_REPORTER_EMAIL")
    expect(ana.locator("#download-blocked")).to_be_visible()
    expect(ana.locator("#package-incident-type")).to_have_text(cybertip.CHILD_PORNOGRAPHY)
    # Asked for anyway: a page that says what to set, not a silent failure.
    answer = ana.request.get(ana.url + ".zip")
    assert answer.status == 409
    assert answer.headers["content-type"].startswith("text/html")
    assert (
        "Set STRANGERS_CYBERTIP_REPORTER_NAME, STRANGERS_CYBERTIP_REPORTER_EMAIL on the server"
        in answer.text()
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_console_speaks_french_to_a_french_browser_with_a_switch(
    new_page: NewPage, server: str, tmp_path: Path, viewport: ViewportSize
) -> None:
    add_moderator(tmp_path, "ana", "moderator")
    (number,) = file_reports(tmp_path, [Spec(device(), ReportReason.HARASSMENT)])
    page = new_page(viewport=viewport, locale="fr-FR")
    page.goto(server + "/mod")
    expect(page.locator("h1")).to_have_text("Connexion")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("Nom").fill("ana")
    page.get_by_label("Mot de passe").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("File")
    expect(page.locator("#queue-count")).to_have_text("En attente : 1 ; libres : 1.")
    expect(page.get_by_label("Espace")).to_be_visible()
    page.locator("#queue").get_by_role("link", name=number).click()
    expect(page.locator("#case-reason")).to_have_text("Harcèlement ou haine")
    expect(page.get_by_role("button", name="Classer sans suite")).to_be_visible()
    expect(page.get_by_role("button", name="Bannir définitivement")).to_be_visible()
    if viewport == PHONE:
        screenshot(page, "console-case-fr-phone.png")
    # The audit trail, in words and fields, not codes or JSON.
    expect(page.locator("#case-audit")).to_contain_text("Signalement reçu")
    expect(page.locator("#case-audit")).to_contain_text("adultes, vidéo")
    expect(page.locator("#case-audit")).not_to_contain_text("{")

    page.get_by_role("link", name="English").click()
    expect(page.locator("#case-reason")).to_have_text("Harassment or hate")
    page.goto(server + "/mod")  # the choice is remembered
    expect(page.locator("h1")).to_have_text("Queue")
    page.get_by_role("link", name="Français").click()
    expect(page.locator("h1")).to_have_text("File")
