"""Text safety on the chatter page (docs/design.md §1 safety nudges, §6 text and age), end to end:
two browsers, the real server and its real signal engine.

- a stranger's contact details or secrecy earn the recipient a calm notice in the log
  (role=status), lines withheld by the checks show a placeholder;
- an age under 18 stated in the adult pool ends the chat for both and sends the speaker
  back to the age question after a cooldown, across reloads.

A last test drives the page against a scripted socket (Playwright's WebSocket routing,
no server logic) to check every nudge kind, both placeholders and the French catalogue.

Set STRANGERS_SCREENSHOTS=1 to also write docs/screenshots/text-safety.jpg.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from strangers.core.messages import TEXT_NUDGES

from ..gateway.chatter import SCRIPTED_CHALLENGE, proves
from .conftest import NewPage, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize, WebSocketRoute

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
I18N = ROOT / "src/strangers/web/i18n"
EN = json.loads((I18N / "en.json").read_text(encoding="utf-8"))
FR = json.loads((I18N / "fr.json").read_text(encoding="utf-8"))
SCREENSHOT: ViewportSize = {"width": 1280, "height": 720}  # as docs/screenshots/video-*.jpg
NUDGES = TEXT_NUDGES


def start_text(page: Page, url: str, *, year: int = 1990, month: int = 6) -> None:
    page.goto(url)
    page.select_option("#birth-month", str(month))
    page.select_option("#birth-year", str(year))
    page.click("#text-button")
    page.click("#age-yes")  # "You said … — is that right?"


def pair(a: Page, b: Page, url: str) -> None:
    start_text(a, url)
    expect(a.locator("#log")).to_contain_text(EN["status.waiting"])
    start_text(b, url, year=1985, month=2)
    for page in (a, b):
        expect(page.locator("#log")).to_contain_text(EN["status.matched"])


def say(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")
    expect(page.locator("#log .line.you").last).to_have_text(f"You: {text}")


def expect_nudge(page: Page, kind: str, catalogue: dict[str, str] = EN) -> None:
    """The nudge is in the log, reads as the catalogue says, and is a polite status."""
    line = page.locator(f"#log .nudge[data-kind={kind}]")
    expect(line).to_have_count(1)
    expect(line).to_be_visible()
    expect(line).to_have_text(catalogue[f"nudge.{kind}"])
    expect(line).to_have_attribute("role", "status")
    expect(page.get_by_role("status").filter(has_text=catalogue[f"nudge.{kind}"])).to_have_count(1)
    expect(page.locator("#log")).to_have_attribute("aria-live", "polite")


def stranger_said(page: Page, text: str) -> None:
    """The stranger's latest line: as sent, or withheld with a placeholder."""
    last = page.locator("#log .line.stranger").last
    expect(last).to_be_visible()
    if "withheld" in (last.get_attribute("class") or ""):
        why = last.get_attribute("data-hidden")
        assert why in ("contact", "risk")
        expect(last).to_have_text(f"{EN['label.stranger']} {EN[f'hidden.{why}']}")
        expect(last.locator("em")).to_have_css("font-style", "italic")
    else:
        expect(last).to_have_text(f"{EN['label.stranger']} {text}")


def refused_for_minutes(catalogue: dict[str, str]) -> re.Pattern[str]:
    """The age-check refusal, with a number of minutes in it."""
    before, after = catalogue["refused.age_check"].split("{wait}")
    return re.compile(f"^{re.escape(before)}\\d+ minutes?{re.escape(after)}$")


def shoot(page: Page, name: str) -> None:
    if os.environ.get("STRANGERS_SCREENSHOTS"):
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), animations="disabled", type="jpeg", quality=80)


def test_contact_details_and_secrecy_earn_the_recipient_a_calm_notice(
    new_page: NewPage, server: str
) -> None:
    a, b = new_page(), new_page(SCREENSHOT)
    pair(a, b, server)

    say(a, "hey! how was your day")
    expect(b.locator("#log .line.stranger")).to_have_text(["Stranger: hey! how was your day"])
    expect(b.locator("#log .nudge")).to_have_count(0)

    say(a, "add me on snap: coolkid_22")
    expect(b.locator("#log .line.stranger")).to_have_count(2)
    stranger_said(b, "add me on snap: coolkid_22")
    expect_nudge(b, "contact")
    expect(b.locator("#log .nudge").last).to_be_in_viewport()  # the log follows a notice
    expect(a.locator("#log .nudge")).to_have_count(0)  # the notice is for the recipient

    say(a, "don't tell your parents about me")
    expect(b.locator("#log .line.stranger")).to_have_count(3)
    stranger_said(b, "don't tell your parents about me")
    expect_nudge(b, "secrecy")
    expect_nudge(b, "contact")  # once per kind per match

    b.fill("#message", "No thanks.")
    shoot(b, "text-safety.jpg")
    with b.expect_download() as download_info:
        b.click("#save-log")
    saved = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert EN["nudge.contact"] in saved and EN["nudge.secrecy"] in saved


def test_a_minor_in_the_adult_pool_goes_back_to_the_age_question(
    new_page: NewPage, server: str
) -> None:
    a, b = new_page(), new_page()
    pair(a, b, server)
    admitted = a.evaluate("localStorage.getItem('strangers.device')")
    a.fill("#message", "im 14")
    a.press("#message", "Enter")

    expect(a.locator("#refused")).to_be_visible()
    expect(a.locator("#refused-text")).to_have_text(refused_for_minutes(EN))
    expect(a.locator("#refused-text")).to_be_focused()
    expect(a.locator("#chat")).to_be_hidden()
    expect(b.locator("#log .status.problem").last).to_have_text(EN["status.ended_safety"])
    expect(b.locator("#message")).to_be_disabled()
    expect(b.locator("#skip-label")).to_have_text(EN["skip.new"])
    expect(b.locator("#log .line.stranger")).to_have_count(0)  # the line never reached b

    stored = json.loads(a.evaluate("localStorage.getItem('strangers.refused')"))
    assert stored["reason"] == "age_check"
    left = math.ceil((stored["until"] - time.time()) / 60)
    assert left >= 2
    shown = re.search(r"(\d+) minutes", a.locator("#refused-text").inner_text())
    assert shown is not None and abs(int(shown[1]) - left) <= 1
    device = a.evaluate("localStorage.getItem('strangers.device')")
    assert device and device != admitted  # the token now carries the stated age

    a.reload()
    expect(a.locator("#refused")).to_be_visible()
    expect(a.locator("#refused-text")).to_have_text(refused_for_minutes(EN))
    expect(a.locator("#start-form")).to_be_hidden()
    expect(a.locator("#text-button")).to_be_hidden()


def test_the_age_question_comes_back_once_the_cooldown_ends(
    new_page: NewPage, tmp_path: Path
) -> None:
    with running_server(tmp_path, age_recheck_minutes=0.05) as url:  # 3 s
        a, b = new_page(), new_page()
        pair(a, b, url)
        a.fill("#message", "I'm 15 btw")
        a.press("#message", "Enter")
        expect(a.locator("#refused-text")).to_have_text(
            EN["refused.age_check"].replace("{wait}", "1 minute")
        )
        expect(b.locator("#log")).to_contain_text(EN["status.ended_safety"])

        expect(a.locator("#start-form")).to_be_visible(timeout=10_000)
        expect(a.locator("#refused")).to_be_hidden()
        expect(a.locator("#birth-month")).to_have_value("")
        expect(a.locator("#birth-year")).to_have_value("")
        expect(a.locator("#birth-month")).to_be_focused()
        assert a.evaluate("localStorage.getItem('strangers.refused')") is None
        a.reload()
        expect(a.locator("#start-form")).to_be_visible()


# --- against a scripted socket ----------------------------------------------------------


def scripted(page: Page, script: Callable[[WebSocketRoute, dict[str, Any]], None]) -> None:
    """Answers the page's hello and find like the server, then hands over to ``script``."""

    def handler(ws: WebSocketRoute) -> None:
        def on_message(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "hello" and proves(message):
                ws.send(json.dumps(WELCOME))
            elif message["type"] == "find":
                ws.send(json.dumps({"type": "waiting", "mode": "text"}))
                ws.send(json.dumps({"type": "matched", "match": "m1", "mode": "text"}))
            script(ws, message)

        ws.on_message(on_message)
        ws.send(json.dumps(SCRIPTED_CHALLENGE))  # as the server: the challenge first

    page.route_web_socket(re.compile(r"/v1/ws$"), handler)


WELCOME = {
    "type": "welcome",
    "session": "s1",
    "device": "device-token",
    "band": "adult",
    "limits": {
        "message_chars": 1000,
        "messages_per_second": 5,
        "message_burst": 10,
        "skips_per_minute": 20,
        "interest_timeout": 10,
    },
    "ice_servers": [],
    "relay_only": True,
    "video": True,
}


def test_every_nudge_and_placeholder_in_french(new_page: NewPage, server: str) -> None:
    page = new_page(locale="fr-FR")

    def script(ws: WebSocketRoute, message: dict[str, Any]) -> None:
        if message["type"] != "message":
            return
        if message["text"] == "go":
            for kind in (*NUDGES, "contact"):  # a repeat shows once
                ws.send(json.dumps({"type": "notice", "kind": kind, "match": "m1"}))
            ws.send(json.dumps({"type": "notice", "kind": "meet", "match": "old"}))
            for why in ("contact", "risk"):
                ws.send(json.dumps({"type": "message", "text": "", "hidden": why}))
            ws.send(json.dumps({"type": "message", "text": "<b>salut</b>"}))
        elif message["text"] == "age":
            ws.send(json.dumps({"type": "ended", "reason": "safety", "match": "m1"}))
            ws.send(
                json.dumps(
                    {
                        "type": "refused",
                        "reason": "age_check",
                        "until": int(time.time()) + 125,
                        "device": "device-token-2",
                    }
                )
            )

    scripted(page, script)
    page.goto(server)
    expect(page.locator("#text-button")).to_have_text(FR["start.text"])
    page.select_option("#birth-month", "6")
    page.select_option("#birth-year", "1990")
    page.click("#text-button")
    page.click("#age-yes")  # "You said … — is that right?"
    expect(page.locator("#log")).to_contain_text(FR["status.matched"])
    page.fill("#message", "go")
    page.press("#message", "Enter")

    for kind in NUDGES:
        expect_nudge(page, kind, FR)
    expect(page.locator("#log .nudge")).to_have_count(len(NUDGES))
    withheld = page.locator("#log .line.stranger")
    expect(withheld).to_have_text(
        [
            f"{FR['label.stranger']} {FR['hidden.contact']}",
            f"{FR['label.stranger']} {FR['hidden.risk']}",
            f"{FR['label.stranger']} <b>salut</b>",
        ]
    )
    expect(page.locator("#log .withheld em")).to_have_count(2)

    page.select_option("#language", "en")  # the log follows a language switch
    expect_nudge(page, "secrecy")
    expect(withheld.first).to_have_text(f"{EN['label.stranger']} {EN['hidden.contact']}")
    page.select_option("#language", "fr")

    page.fill("#message", "age")
    page.press("#message", "Enter")
    expect(page.locator("#refused-text")).to_have_text(
        FR["refused.age_check"].replace("{wait}", "3 minutes")
    )
    assert page.evaluate("localStorage.getItem('strangers.device')") == "device-token-2"
    page.select_option("#language", "en")
    expect(page.locator("#refused-text")).to_have_text(
        EN["refused.age_check"].replace("{wait}", "3 minutes")
    )
