"""The page's states that come from the server (issue 19), end to end in Chromium, on a
phone (375×667) and a desktop (1280×800): the online count and the honest waiting
lines, the age confirmation and a refusal that says until when, the ban screen at
arrival with its reason, end and appeal state, the Terms and Privacy screens, and the
page reconnecting by itself, with backoff, once the server is back.

Set STRANGERS_SCREENSHOTS=1 to also write docs/screenshots/state-*.png (desktop).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from strangers.gateway.settings import Settings

from ..gateway.chatter import SCRIPTED_CHALLENGE, proves
from ..standings import BannedCase, ban_with_case, device_token, loopback_network
from .conftest import DESKTOP, NewPage, running_server
from .test_text_chat import EN, PHONE, ROOT, no_horizontal_scroll

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize, WebSocketRoute

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

FR = json.loads((ROOT / "src/strangers/web/i18n/fr.json").read_text(encoding="utf-8"))
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
#: The server's checks and timers, and the page's first reconnection delays (1 s, 2 s,
#: 4 s, with jitter), on a loaded machine.
ARRIVES = 20_000


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("STRANGERS_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / name), animations="disabled")


def choose_birth(page: Page, url: str, *, year: int, month: int) -> None:
    page.goto(url)
    page.select_option("#birth-month", str(month))
    page.select_option("#birth-year", str(year))


def look(page: Page, url: str, *, year: int = 1990) -> None:
    choose_birth(page, url, year=year, month=6)
    page.click("#text-button")
    page.click("#age-yes")


def in_thread(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own: Playwright's sync API owns this thread's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def formatted_time(page: Page, unix: int, language: str = "en") -> str:
    return page.evaluate(
        "([t, l]) => new Intl.DateTimeFormat(l, {dateStyle: 'long', timeStyle: 'short'})"
        ".format(new Date(t * 1000))",
        [unix, language],
    )


# --- the online count and the waiting lines ----------------------------------------------


@VIEWPORTS
def test_the_online_count_and_the_honest_waiting_lines(
    new_page: NewPage, tmp_path: Path, viewport: ViewportSize
) -> None:
    with running_server(tmp_path, quiet_after=0.5, ban_refresh_seconds=0.5) as url:
        a = new_page(viewport)
        a.goto(url)
        few = EN["online.few"]
        expect(a.locator("#online")).to_have_text(EN["online.start"].format(text=few, video=few))
        look(a, url)
        expect(a.locator("#log")).to_contain_text(EN["status.waiting"])
        # Alone: told so after a few seconds, with the count of its mode.
        expect(a.locator("#wait-line")).to_have_text(EN["wait.nobody"], timeout=ARRIVES)
        expect(a.locator("#wait-online")).to_have_text(EN["online.mode_text"].format(count=few))
        assert no_horizontal_scroll(a)
        if viewport == DESKTOP:
            screenshot(a, "state-waiting.png")

        # Two who just met, left alone together: told why nobody comes.
        b = new_page(viewport)
        look(b, url)
        for page in (a, b):
            expect(page.locator("#log")).to_contain_text(EN["status.matched"])
            expect(page.locator("#wait-state")).to_be_hidden()
        a.check("#auto-next")
        a.click("#skip")
        a.click("#skip")  # "Really?": a skips and looks again at once
        expect(b.locator("#log")).to_contain_text(EN["status.partner_left"])
        b.click("#skip")  # New
        met = EN["wait.met_recently"].replace("{minutes}", "30 minutes")
        for page in (a, b):
            expect(page.locator("#wait-line")).to_have_text(met, timeout=ARRIVES)
            expect(page.locator("#wait-state")).to_have_attribute("role", "status")
        if viewport == DESKTOP:
            screenshot(b, "state-waiting-met.png")

        # A newcomer: paired at once with the one waiting longest, whose line goes.
        c = new_page(viewport)
        look(c, url)
        expect(c.locator("#log")).to_contain_text(EN["status.matched"])
        expect(a.locator("#log .status", has_text=EN["status.matched"])).to_have_count(2)
        expect(a.locator("#wait-state")).to_be_hidden()
        # b's only company has gone: b is told it is alone now.
        expect(b.locator("#wait-line")).to_have_text(EN["wait.nobody"], timeout=ARRIVES)


# --- the age gate ---------------------------------------------------------------------------


@VIEWPORTS
def test_the_age_answer_is_confirmed_before_it_counts_and_a_refusal_says_until_when(
    new_page: NewPage, server: str, viewport: ViewportSize
) -> None:
    page = new_page(viewport)
    page.goto(server)
    years = page.locator("#birth-year option:not([value=''])")
    this_year = datetime.date.today().year
    expect(years.first).to_have_text(str(this_year - 6))  # not the current year
    expect(years.last).to_have_text(str(this_year - 100))

    child = this_year - 10
    choose_birth(page, server, year=child, month=3)
    page.click("#text-button")
    dialog = page.locator("#age-confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#age-confirm-text")).to_have_text(
        EN["age_confirm.text"].format(month="March", year=child)
    )
    expect(page.locator("#age-yes")).to_be_focused()
    assert no_horizontal_scroll(page)
    if viewport == DESKTOP:
        screenshot(page, "state-age-confirm.png")

    # A slip: "Change" goes back to the question, nothing was sent.
    page.click("#age-change")
    expect(dialog).to_be_hidden()
    expect(page.locator("#birth-month")).to_be_focused()
    expect(page.locator("#start")).to_be_visible()
    assert page.evaluate("localStorage.getItem('strangers.device')") is None

    # Escape is "Change" too.
    page.click("#text-button")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.click("#text-button")
    page.click("#age-yes")
    expect(page.locator("#refused")).to_be_visible()
    expect(page.locator("#refused-text")).to_have_text(EN["refused.too_young"])
    refusal = json.loads(page.evaluate("localStorage.getItem('strangers.refused')"))
    expected = formatted_time(page, refusal["until"])
    until = page.locator("#refused-until")
    expect(until).to_have_text(EN["refused.until"].format(time=expected))
    if viewport == DESKTOP:
        screenshot(page, "state-refused.png")

    # In French, after a reload: the date in French.
    page.select_option("#language", "fr")
    expect(until).to_have_text(
        FR["refused.until"].format(time=formatted_time(page, refusal["until"], "fr"))
    )


def test_the_confirmation_speaks_french(new_page: NewPage, server: str) -> None:
    page = new_page(PHONE, locale="fr-FR")
    choose_birth(page, server, year=1990, month=8)
    page.click("#text-button")
    expect(page.locator("#age-confirm-text")).to_have_text(
        FR["age_confirm.text"].format(month="août", year=1990)
    )
    expect(page.locator("#age-yes")).to_have_text(FR["age_confirm.yes"])
    expect(page.locator("#age-change")).to_have_text(FR["age_confirm.change"])
    page.click("#age-yes")
    expect(page.locator("#log")).to_contain_text(FR["status.waiting"])


# --- the ban screen at arrival ---------------------------------------------------------------


def banned_arrival(
    new_page: NewPage, data_dir: Path, url: str, device: str, viewport: ViewportSize
) -> Page:
    """A page of ``device`` arriving: its token in storage before the page's script runs."""
    page = new_page(viewport)
    token = json.dumps(device_token(Settings(data_dir=data_dir), device))
    page.add_init_script(f"localStorage.setItem('strangers.device', {token})")
    return page


def wait_for_ban_index(url: str, data_dir: Path, device: str) -> None:
    """Until the ban the test stored is in the server's index (reloaded every 0.2 s here),
    asked as the page asks; fails after 10 s."""
    token = device_token(Settings(data_dir=data_dir), device)
    request = urllib.request.Request(url + "/v1/standing")
    request.add_header("authorization", f"Bearer {token}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as response:
            if json.loads(response.read())["banned"]:
                return
        time.sleep(0.05)  # between two polls of the condition
    raise AssertionError("the ban never reached the server's index")


@VIEWPORTS
def test_a_banned_chatter_learns_it_on_arrival_with_reason_end_and_appeal_state(
    new_page: NewPage, tmp_path: Path, viewport: ViewportSize
) -> None:
    with running_server(tmp_path, ban_refresh_seconds=0.2) as url:
        settings = Settings(data_dir=tmp_path)
        banned: BannedCase = in_thread(ban_with_case(settings, "dev-banned", reason="Harassment"))
        wait_for_ban_index(url, tmp_path, "dev-banned")
        page = banned_arrival(new_page, tmp_path, url, "dev-banned", viewport)
        page.goto(url)

        # Before any question: the ban screen, never the start form.
        expect(page.locator("#banned")).to_be_visible()
        expect(page.locator("#start")).to_be_hidden()
        expect(page.locator("#birth-month")).to_be_hidden()
        expect(page.locator("#banned-reason")).to_have_text("Harassment")
        expect(page.locator("#banned-case")).to_have_text(f"Case {banned.case}")
        assert banned.until is not None
        end = formatted_time(page, int(banned.until.timestamp()))
        expect(page.locator("#banned-until")).to_have_text(EN["banned.until"].format(time=end))
        expect(page.locator("#appeal-state")).to_be_hidden()
        expect(page.locator("#appeal-form")).to_be_visible()
        assert no_horizontal_scroll(page)

        # What is typed survives a reload (and a failed send) until it is sent.
        page.fill("#appeal-text", "I was not rude; please read the log.")
        page.reload()
        expect(page.locator("#appeal-text")).to_have_value("I was not rude; please read the log.")

        page.click("#appeal-send")
        state = page.locator("#appeal-state")
        expect(state).to_be_visible()
        expect(state).to_be_focused()
        expect(page.locator("#appeal-state-text")).to_contain_text("Appeal received on")
        expect(page.locator("#appeal")).to_be_hidden()
        if viewport == DESKTOP:
            screenshot(page, "state-banned.png")

        # The next visit: the appeal's state, not an empty form that says "already appealed".
        page.reload()
        expect(page.locator("#banned")).to_be_visible()
        expect(page.locator("#appeal-state-text")).to_contain_text("Appeal received on")
        expect(page.locator("#appeal-form")).to_be_hidden()
        expect(page.locator("#appeal-text")).to_have_value("")


@VIEWPORTS
def test_a_decided_appeal_and_a_permanent_ban_are_shown_as_such(
    new_page: NewPage, tmp_path: Path, viewport: ViewportSize
) -> None:
    with running_server(tmp_path, ban_refresh_seconds=0.2) as url:
        settings = Settings(data_dir=tmp_path)
        statement = "The log shows insults after hello."
        in_thread(
            ban_with_case(
                settings,
                "dev-upheld",
                days=None,
                appeal="It was a joke.",
                decided=("upheld", statement),
            )
        )
        wait_for_ban_index(url, tmp_path, "dev-upheld")
        page = banned_arrival(new_page, tmp_path, url, "dev-upheld", viewport)
        page.goto(url)
        expect(page.locator("#banned-until")).to_have_text(EN["banned.permanent"])
        expect(page.locator("#appeal-state-text")).to_contain_text("the decision stands")
        expect(page.locator("#appeal-statement")).to_have_text(statement)
        expect(page.locator("#appeal-form")).to_be_hidden()


@VIEWPORTS
def test_a_network_ban_is_shown_without_anything_about_whose_it_was(
    new_page: NewPage, tmp_path: Path, viewport: ViewportSize
) -> None:
    with running_server(tmp_path, ban_refresh_seconds=0.2) as url:
        settings = Settings(data_dir=tmp_path)
        banned: BannedCase = in_thread(
            ban_with_case(
                settings,
                "dev-culprit",
                network=loopback_network(settings),
                reason="Spam",
            )
        )
        wait_for_ban_index(url, tmp_path, "dev-neighbour")
        page = banned_arrival(new_page, tmp_path, url, "dev-neighbour", viewport)
        page.goto(url)
        expect(page.locator("#banned")).to_be_visible()
        expect(page.locator("#banned-scope")).to_have_text(EN["banned.network"])
        expect(page.locator("#banned-reason-line")).to_be_hidden()
        expect(page.locator("#banned-case")).to_be_hidden()
        expect(page.locator("#appeal")).to_be_hidden()
        body = page.locator("#banned").inner_text()
        assert banned.case not in body and "Spam" not in body


@VIEWPORTS
def test_the_moderators_own_words_are_shown_as_text_when_the_notice_has_them(
    new_page: NewPage, server: str, viewport: ViewportSize
) -> None:
    """A ``banned`` notice with the moderator's ``note`` (the console's written reason):
    shown under the category, as text. Against a scripted socket: the page alone."""
    page = new_page(viewport)
    note = "You kept asking <i>where</i> a stranger lives after they said no."

    def socket(ws: WebSocketRoute) -> None:
        def on_message(frame: str | bytes) -> None:
            hello = json.loads(frame)
            if hello.get("type") == "hello" and proves(hello):
                banned = {"type": "banned", "reason": "Harassment", "case": "S-7", "note": note}
                ws.send(json.dumps({**banned, "until": 1_900_000_000, "appeal": "/v1/appeals"}))
                ws.close()

        ws.on_message(on_message)
        ws.send(json.dumps(SCRIPTED_CHALLENGE))

    page.route_web_socket("**/v1/ws", socket)
    look(page, server)
    expect(page.locator("#banned")).to_be_visible()
    expect(page.locator("#banned-note")).to_be_visible()
    expect(page.locator("#banned-note-text")).to_have_text(note)
    assert page.locator("#banned-note-text i").count() == 0
    expect(page.locator("#appeal-form")).to_be_visible()


# --- Terms and Privacy ------------------------------------------------------------------------


@VIEWPORTS
def test_terms_and_privacy_are_reachable_from_the_start_and_the_footer(
    new_page: NewPage, server: str, viewport: ViewportSize
) -> None:
    page = new_page(viewport)
    page.goto(server)
    page.locator("#legal-agree").get_by_role("link", name=EN["legal.terms"]).click()
    expect(page).to_have_url(server + "/terms")
    expect(page.locator("#legal-text h1")).to_have_text("Terms of use")
    expect(page.locator("#legal-text h2").first).to_be_visible()
    assert no_horizontal_scroll(page)
    page.click("#legal-back")
    expect(page).to_have_url(server + "/")
    expect(page.locator("#start")).to_be_visible()

    page.locator("footer").get_by_role("link", name=EN["legal.privacy"]).click()
    expect(page.locator("#legal-text h1")).to_have_text("Privacy notice")
    page.go_back()
    expect(page.locator("#start")).to_be_visible()

    # Linked directly, and in French.
    french = new_page(viewport, locale="fr-FR")
    french.goto(server + "/privacy")
    expect(french.locator("#legal-text h1")).to_have_text("Politique de confidentialité")
    expect(french.locator("#legal-back")).to_have_text(FR["legal.back"])


# --- reconnection ------------------------------------------------------------------------------

#: What Chromium logs, as errors, for each attempt while the server is down.
RECONNECT_NOISE = ("WebSocket connection to", "ERR_CONNECTION_REFUSED")


@contextlib.contextmanager
def tolerant_page(browser: Browser, viewport: ViewportSize) -> Iterator[Page]:
    """A page whose console errors fail the test, except the browser's own lines about
    the refused connections a reconnection test causes on purpose."""
    context = browser.new_context(viewport=viewport, locale="en-GB")
    problems: list[str] = []
    page = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error" and not any(n in message.text for n in RECONNECT_NOISE):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert problems == []


def attempts(page: Page) -> list[dict[str, float]]:
    return page.evaluate("window.strangersReconnect.attempts()")


@VIEWPORTS
def test_the_page_reconnects_by_itself_with_backoff_and_looks_again(
    browser: Browser, tmp_path: Path, viewport: ViewportSize
) -> None:
    with tolerant_page(browser, viewport) as page:
        with running_server(tmp_path) as url:
            port = int(url.rsplit(":", 1)[1])
            look(page, url)
            expect(page.locator("#log")).to_contain_text(EN["status.waiting"])

        # The server is gone: the page says so and counts down to its next try.
        banner = page.locator("#reconnect")
        expect(banner).to_be_visible(timeout=ARRIVES)
        expect(page.locator("#log")).to_contain_text(EN["status.lost"])
        expect(page.locator("#reconnect-text")).to_contain_text("Reconnecting")
        expect(page.locator("#reconnect-now")).to_be_visible()
        expect(banner).to_have_attribute("data-attempt", "3", timeout=ARRIVES)
        delays = [entry["delay"] for entry in attempts(page)]
        # 1 s, 2 s, 4 s, each within ±20 %: growing.
        assert 800 <= delays[0] <= 1200 and 1600 <= delays[1] <= 2400, delays
        assert delays[0] < delays[1] < delays[2], delays
        assert no_horizontal_scroll(page)

        # Back on the same port: the page comes back by itself, looking again.
        with running_server(tmp_path, port=port):
            expect(page.locator("#log")).to_contain_text(EN["status.reconnected"], timeout=ARRIVES)
            expect(banner).to_be_hidden()
            expect(page.locator("#log .status").last).to_have_text(EN["status.waiting"])
            expect(page.locator("#skip-label")).to_have_text(EN["skip.stop"])


@VIEWPORTS
def test_a_chat_lost_with_the_connection_says_so_and_the_page_comes_back_idle(
    browser: Browser, tmp_path: Path, viewport: ViewportSize
) -> None:
    with tolerant_page(browser, viewport) as a, tolerant_page(browser, viewport) as b:
        with running_server(tmp_path) as url:
            port = int(url.rsplit(":", 1)[1])
            look(a, url)
            look(b, url)
            for page in (a, b):
                expect(page.locator("#log")).to_contain_text(EN["status.matched"])
        for page in (a, b):
            expect(page.locator("#log")).to_contain_text(EN["status.chat_lost"], timeout=ARRIVES)
            expect(page.locator("#message")).to_be_disabled()
        # "Retry now" while the server is still down: one more refused try, the
        # countdown goes on.
        tries = len(attempts(a))
        a.click("#reconnect-now")
        expect(a.locator("#reconnect")).not_to_have_attribute(
            "data-attempt", str(tries), timeout=ARRIVES
        )
        with running_server(tmp_path, port=port):
            for page in (a, b):
                expect(page.locator("#log")).to_contain_text(
                    EN["status.reconnected"], timeout=ARRIVES
                )
                # A chat cannot survive it: idle, with "New", not looking.
                expect(page.locator("#skip-label")).to_have_text(EN["skip.new"])
                expect(page.locator("#reconnect")).to_be_hidden()
            a.click("#skip")  # New: looking again, on the chatter's word
            expect(a.locator("#skip-label")).to_have_text(EN["skip.stop"])
            expect(a.locator("#log .status").last).not_to_have_text(EN["status.reconnected"])
