"""Report and ban notice on the chatter page (docs/design.md §1), end to end: the real server.

The ban notice test stands in for the server's websocket and ``/v1/appeals`` with
Playwright routes (the real server serves the page), so it checks the page alone.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from ..gateway.chatter import SCRIPTED_CHALLENGE, proves
from .conftest import NewPage
from .test_text_chat import EN, fill_start

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route, WebSocketRoute

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

CASE = re.compile(r"\(case S-\d+\)")


def start(page: Page, url: str) -> None:
    fill_start(page, url)
    page.click("#text-button")
    page.click("#age-yes")  # "You said … — is that right?"


def pair(new_page: NewPage, url: str) -> tuple[Page, Page]:
    a, b = new_page(), new_page()
    start(a, url)
    expect(a.locator("#log")).to_contain_text(EN["status.waiting"])
    start(b, url)
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text(EN["status.matched"])
        expect(page.locator("#report")).to_be_enabled()
    return a, b


def matched_lines(page: Page) -> int:
    return page.locator("#log .status", has_text=EN["status.matched"]).count()


def test_a_report_ends_the_chat_and_the_pair_never_meets_again(
    new_page: NewPage, server: str
) -> None:
    a, b = pair(new_page, server)
    a.fill("#message", "hello")
    a.press("#message", "Enter")
    expect(b.locator("#log .line.stranger")).to_have_text(["Stranger: hello"])

    a.click("#report")
    dialog = a.locator("#report-dialog")
    expect(dialog).to_be_visible()
    # The adult pool is offered "looks under 18", not "looks adult".
    expect(dialog.get_by_label(EN["report.underage"])).to_be_visible()
    expect(dialog.get_by_label(EN["report.adult"])).to_be_hidden()
    dialog.get_by_label(EN["report.harassment"]).check()
    a.fill("#report-note", "Insults after hello.")
    dialog.get_by_role("button", name=EN["report.send"]).click()
    expect(dialog).to_be_hidden()

    expect(a.locator("#log")).to_contain_text(EN["status.reported_ended"])
    expect(a.locator("#log .status").last).to_have_text(CASE)
    expect(b.locator("#log")).to_contain_text(EN["status.partner_left"])
    for page in (a, b):
        expect(page.locator("#skip-label")).to_have_text(EN["skip.new"])
        expect(page.locator("#message")).to_be_disabled()
    # The reporter has nobody left to report; the one who was left can still report.
    expect(a.locator("#report")).to_be_disabled()
    expect(a.locator("#recent-strangers")).to_be_hidden()
    expect(b.locator("#report")).to_be_enabled()

    a.keyboard.press("Escape")  # New
    b.click("#skip")  # New
    for page in (a, b):
        expect(page.locator("#log .status", has_text=EN["status.waiting"])).to_have_count(2)
    a.wait_for_timeout(2000)
    for page in (a, b):
        assert matched_lines(page) == 1
        expect(page.locator("#log .status").last).to_have_text(EN["status.waiting"])

    c = new_page()
    start(c, server)
    expect(c.locator("#log")).to_contain_text(EN["status.matched"])
    for _ in range(50):
        if matched_lines(a) + matched_lines(b) == 3:
            break
        a.wait_for_timeout(100)
    assert sorted([matched_lines(a), matched_lines(b)]) == [1, 2]


def test_the_report_dialog_works_by_keyboard_alone(new_page: NewPage, server: str) -> None:
    a, b = pair(new_page, server)
    keyboard = a.keyboard
    expect(a.locator("#message")).to_be_focused()
    keyboard.press("Tab")
    expect(a.locator("#send")).to_be_focused()
    keyboard.press("Tab")
    expect(a.locator("#report")).to_be_focused()

    # Esc closes the dialog only: the skip button does not advance to "Really?".
    keyboard.press("Enter")
    dialog = a.locator("#report-dialog")
    expect(dialog).to_be_visible()
    keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(a.locator("#skip-label")).to_have_text(EN["skip.stop"])
    expect(a.locator("#report")).to_be_focused()

    keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(EN["report.sexual"])).to_be_focused()
    # Focus stays inside: Shift+Tab from the reasons wraps to the last button.
    keyboard.press("Shift+Tab")
    expect(a.locator("#report-cancel")).to_be_focused()
    keyboard.press("Tab")
    expect(dialog.get_by_label(EN["report.sexual"])).to_be_focused()

    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    expect(dialog.get_by_label(EN["report.harassment"])).to_be_checked()
    keyboard.press("Tab")
    expect(a.locator("#report-note")).to_be_focused()
    keyboard.press("Tab")
    expect(dialog.get_by_role("button", name=EN["report.send"])).to_be_focused()
    keyboard.press("Enter")

    expect(dialog).to_be_hidden()
    expect(a.locator("#log")).to_contain_text(EN["status.reported_ended"])
    expect(a.locator("#log .status").last).to_have_text(CASE)
    expect(a.locator("#skip")).to_be_focused()
    expect(b.locator("#log")).to_contain_text(EN["status.partner_left"])


def test_other_needs_a_note(new_page: NewPage, server: str) -> None:
    a, _ = pair(new_page, server)
    a.click("#report")
    dialog = a.locator("#report-dialog")
    dialog.get_by_label(EN["report.other"]).check()
    a.click("#report-send")
    expect(a.locator("#report-problem")).to_have_text(EN["report.missing_note"])
    expect(a.locator("#report-note")).to_be_focused()
    expect(dialog).to_be_visible()
    a.click("#report-cancel")
    expect(dialog).to_be_hidden()
    expect(a.locator("#log")).not_to_contain_text(EN["status.reported_ended"])


def test_the_ban_notice_shows_the_reason_as_text_and_takes_an_appeal(
    new_page: NewPage, server: str
) -> None:
    page = new_page()
    until = 1_900_000_000
    appeals: list[dict[str, object]] = []

    def socket(ws: WebSocketRoute) -> None:
        def on_message(frame: str | bytes) -> None:
            hello = json.loads(frame)
            if hello.get("type") == "hello" and proves(hello):
                ws.send(
                    json.dumps(
                        {
                            "type": "banned",
                            "reason": "<b>Spam</b> & links",
                            "case": "S-42",
                            "until": until,
                            "appeal": "/v1/appeals",
                        }
                    )
                )
                ws.close()

        ws.on_message(on_message)
        ws.send(json.dumps(SCRIPTED_CHALLENGE))  # as the server: the challenge first

    def appeal(route: Route) -> None:
        appeals.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(status=201, json={"status": "received"})

    page.route_web_socket("**/v1/ws", socket)
    page.route("**/v1/appeals", appeal)
    fill_start(page, server)
    page.click("#text-button")
    page.click("#age-yes")  # "You said … — is that right?"

    expect(page.locator("#banned")).to_be_visible()
    expect(page.locator("#banned-reason")).to_have_text("<b>Spam</b> & links")
    expect(page.locator("#banned-case")).to_have_text("Case S-42")
    expected = page.evaluate(
        "t => new Intl.DateTimeFormat('en', {dateStyle: 'long', timeStyle: 'short'})"
        ".format(new Date(t * 1000))",
        until,
    )
    expect(page.locator("#banned-until")).to_have_text(f"This ban ends on {expected}.")

    page.click("#appeal-send")
    expect(page.locator("#appeal-problem")).to_have_text(EN["appeal.missing"])
    page.fill("#appeal-text", "I only shared one link, once.")
    page.click("#appeal-send")
    # The appeal's state, hidden until the 201, in place of the form.
    expect(page.locator("#appeal-state")).to_be_visible()
    expect(page.locator("#appeal-state")).to_be_focused()
    expect(page.locator("#appeal-state-text")).to_contain_text("Appeal received on")
    expect(page.locator("#appeal-form")).to_be_hidden()
    assert appeals == [{"device": None, "case": "S-42", "text": "I only shared one link, once."}]


def test_a_stranger_who_flashed_and_skipped_can_still_be_reported(
    new_page: NewPage, server: str
) -> None:
    """Attack 7 on the page: the stranger says something and skips at once; the
    victim reports them afterwards, from the Report button or the recent list, by
    keyboard too."""
    a, b = pair(new_page, server)
    b.fill("#message", "look at this")
    b.press("#message", "Enter")
    expect(a.locator("#log .line.stranger")).to_have_text(["Stranger: look at this"])
    b.click("#skip")
    b.click("#skip")  # "Really?"
    expect(a.locator("#log")).to_contain_text(EN["status.partner_left"])

    recent = a.locator("#recent-strangers")
    expect(recent).to_be_visible()
    expect(recent.get_by_role("heading")).to_have_text(EN["recent.title"])
    stranger = recent.get_by_role("button", name=EN["recent.report_now"])
    expect(stranger).to_have_text(EN["recent.now"])
    expect(a.locator("#report")).to_be_enabled()

    stranger.focus()
    a.keyboard.press("Enter")
    dialog = a.locator("#report-dialog")
    expect(dialog).to_be_visible()
    expect(a.locator("#report-lead")).to_have_text(EN["report.lead_recent"])
    expect(dialog.get_by_label(EN["report.sexual"])).to_be_focused()
    a.keyboard.press("Space")
    dialog.get_by_role("button", name=EN["report.send"]).click()
    expect(dialog).to_be_hidden()

    expect(a.locator("#log .status").last).to_have_text(CASE)
    expect(recent).to_be_hidden()
    expect(a.locator("#report")).to_be_disabled()
    expect(a.locator("#skip")).to_be_focused()
