"""The chatter page in text mode, end to end: two browsers, the real server.

Set STRANGERS_SCREENSHOTS=1 to also write docs/screenshot-start.png and
docs/screenshot-chat.png from the first test.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import DESKTOP, NewPage, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EN = json.loads((ROOT / "src/strangers/web/i18n/en.json").read_text(encoding="utf-8"))
PHONE: ViewportSize = {"width": 375, "height": 667}


def fill_start(
    page: Page, url: str, *, year: int = 1990, month: int = 6, interests: Sequence[str] = ()
) -> None:
    page.goto(url)
    page.select_option("#birth-month", str(month))
    page.select_option("#birth-year", str(year))
    for tag in interests:
        page.fill("#interest-input", tag)
        page.press("#interest-input", "Enter")


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("STRANGERS_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / "docs" / name), animations="disabled")


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"))


def test_two_strangers_chat_and_one_stops(new_page: NewPage, server: str) -> None:
    a, b = new_page(), new_page()
    fill_start(a, server, interests=["music", "films"])
    expect(a.locator("#interest-list li")).to_have_count(2)
    screenshot(a, "screenshot-start.png")
    a.click("#text-button")
    a.click("#age-yes")  # "You said … — is that right?"
    expect(a.locator("#log")).to_contain_text(EN["status.waiting"])

    fill_start(b, server, month=11, year=1987, interests=["films", "music", "cats"])
    b.click("#text-button")
    b.click("#age-yes")  # "You said … — is that right?"
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text(EN["status.matched"])
        expect(page.locator("#log")).to_contain_text("You both like")
        expect(page.locator("#message")).to_be_focused()

    a.locator("#message").press_sequentially("Hello there")
    expect(b.locator("#typing-text")).to_be_visible()
    expect(b.locator("#typing-text")).to_have_text(EN["status.typing"])
    a.keyboard.press("Enter")
    expect(b.locator("#log .line.stranger").last).to_have_text("Stranger: Hello there")
    expect(b.locator("#typing-text")).to_be_hidden()
    expect(a.locator("#log .line.you").last).to_have_text("You: Hello there")
    expect(a.locator("#message")).to_have_value("")

    b.locator("#message").press_sequentially("Hi! Films, then.")
    b.keyboard.press("Shift+Enter")
    b.locator("#message").press_sequentially("Seen anything good lately?")
    b.keyboard.press("Enter")
    expect(a.locator("#log .line.stranger").last).to_have_text(
        "Stranger: Hi! Films, then.\nSeen anything good lately?"
    )
    a.locator("#message").press_sequentially("Yes, a quiet one about lighthouses.")
    a.keyboard.press("Enter")
    expect(b.locator("#log .line.stranger")).to_have_count(2)
    screenshot(a, "screenshot-chat.png")

    with a.expect_download() as download_info:
        a.click("#save-log")
    download = download_info.value
    assert download.url.startswith("blob:")
    assert download.suggested_filename.endswith(".txt")
    saved = Path(download.path()).read_text(encoding="utf-8")
    assert "You: Hello there\nStranger: Hi! Films, then.\nSeen anything good lately?\n" in saved

    b.check("#auto-next")

    a.keyboard.press("Escape")
    expect(a.locator("#skip-label")).to_have_text(EN["skip.really"])
    a.keyboard.press("Escape")
    expect(b.locator("#log")).to_contain_text(EN["status.partner_left"])
    expect(a.locator("#log")).to_contain_text(EN["status.you_left"])
    expect(a.locator("#skip-label")).to_have_text(EN["skip.new"])
    expect(a.locator("#message")).to_be_disabled()
    expect(b.locator("#log")).to_contain_text(EN["status.auto"])
    expect(b.locator("#log .status", has_text=EN["status.waiting"])).to_have_count(2)

    a.keyboard.press("Escape")  # New: look again
    expect(a.locator("#log .status", has_text=EN["status.waiting"])).to_have_count(2)
    expect(a.locator("#skip-label")).to_have_text(EN["skip.stop"])


def test_phone_layout_and_keyboard_only_start(new_page: NewPage, server: str) -> None:
    phone = new_page(PHONE)
    phone.goto(server)
    expect(phone.locator("#text-button")).to_be_visible()
    assert no_horizontal_scroll(phone)

    keyboard = phone.keyboard
    keyboard.press("Tab")
    expect(phone.locator("#language")).to_be_focused()
    keyboard.press("ArrowDown")  # Français, live
    expect(phone.locator("html")).to_have_attribute("lang", "fr")
    expect(phone.locator("#text-button")).to_have_text("Texte")
    keyboard.press("ArrowUp")
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.locator("#text-button")).to_have_text(EN["start.text"])

    keyboard.press("Tab")
    expect(phone.locator("#birth-month")).to_be_focused()
    for _ in range(3):
        keyboard.press("ArrowDown")
    expect(phone.locator("#birth-month")).to_have_value("3")
    keyboard.press("Tab")
    expect(phone.locator("#birth-year")).to_be_focused()
    keyboard.type("1992")
    expect(phone.locator("#birth-year")).to_have_value("1992")
    keyboard.press("Tab")
    expect(phone.locator("#interest-input")).to_be_focused()
    keyboard.type("chess,")
    expect(phone.locator("#interest-list li")).to_have_text(["chess"])
    keyboard.press("Tab")
    expect(phone.locator("#text-button")).to_be_focused()
    assert no_horizontal_scroll(phone)
    keyboard.press("Enter")
    # The answer is confirmed before it counts; the dialog opens on "Yes".
    expect(phone.locator("#age-confirm")).to_be_visible()
    expect(phone.locator("#age-yes")).to_be_focused()
    keyboard.press("Enter")

    expect(phone.locator("#log")).to_contain_text(EN["status.waiting"])
    expect(phone.locator("#message")).to_be_in_viewport()
    assert no_horizontal_scroll(phone)

    other = new_page()
    fill_start(other, server, interests=["chess"])
    other.click("#text-button")
    other.click("#age-yes")  # "You said … — is that right?"
    expect(phone.locator("#log")).to_contain_text(EN["status.matched"])
    other.fill("#message", "a" * 400)
    other.keyboard.press("Enter")
    expect(phone.locator("#log .line.stranger")).to_have_count(1)
    keyboard.type("Hello from a phone")
    keyboard.press("Enter")
    expect(other.locator("#log .line.stranger")).to_have_text(["Stranger: Hello from a phone"])
    expect(phone.locator("#message")).to_be_in_viewport()
    expect(phone.locator("#skip")).to_be_in_viewport()
    assert no_horizontal_scroll(phone)


def test_under_thirteen_is_refused_and_stays_refused(new_page: NewPage, server: str) -> None:
    page = new_page()
    fill_start(page, server, year=datetime.date.today().year - 10, month=1)
    page.click("#text-button")
    page.click("#age-yes")  # "You said … — is that right?"
    expect(page.locator("#refused")).to_be_visible()
    expect(page.locator("#refused-text")).to_have_text(EN["refused.too_young"])

    page.reload()
    expect(page.locator("#refused")).to_be_visible()
    expect(page.locator("#start-form")).to_be_hidden()
    expect(page.locator("#text-button")).to_be_hidden()


def test_two_tabs_of_one_browser_can_chat_on_the_laptop_default(
    browser: Browser, server: str
) -> None:
    """What the README promises for `make run`: one person, two tabs, a chat."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        tabs = [context.new_page(), context.new_page()]
        for tab in tabs:
            fill_start(tab, server)
            tab.click("#text-button")
            tab.click("#age-yes")  # "You said … — is that right?"
        for tab in tabs:
            expect(tab.locator("#log")).to_contain_text(EN["status.matched"])
        tabs[0].fill("#message", "hello from the other tab")
        tabs[0].press("#message", "Enter")
        expect(tabs[1].locator("#log")).to_contain_text("hello from the other tab")
    finally:
        context.close()


def test_a_flood_is_held_back_by_the_page_and_never_shown_as_sent(
    new_page: NewPage, server: str
) -> None:
    a, b = new_page(), new_page()
    for page in (a, b):
        fill_start(page, server)
        page.click("#text-button")
        page.click("#age-yes")  # "You said … — is that right?"
    expect(a.locator("#log")).to_contain_text(EN["status.matched"])
    # Fourteen lines pressed within a few milliseconds: the burst is ten.
    a.evaluate(
        """() => {
            const box = document.getElementById("message");
            for (let i = 0; i < 14; i += 1) {
                box.value = `line ${i}`;
                box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
            }
        }"""
    )
    expect(a.locator("#log .problem").first).to_contain_text("Slow down")
    expect(a.locator("#log .line.you")).to_have_count(10)
    expect(b.locator("#log .line.stranger")).to_have_count(10)
    expect(a.locator("#message")).to_have_value("line 13")


def test_interests_fall_back_to_a_random_stranger_with_a_line_that_says_so(
    new_page: NewPage, tmp_path: Path
) -> None:
    with running_server(tmp_path, interest_timeout=0.5) as url:
        a, b = new_page(), new_page()
        fill_start(a, url, interests=["astronomy"])
        fill_start(b, url, interests=["knitting"])
        a.click("#text-button")
        a.click("#age-yes")  # "You said … — is that right?"
        b.click("#text-button")
        b.click("#age-yes")  # "You said … — is that right?"
        for page in (a, b):
            expect(page.locator("#log")).to_contain_text(EN["status.matched"])
            expect(page.locator("#log")).to_contain_text(EN["status.fallback"])
