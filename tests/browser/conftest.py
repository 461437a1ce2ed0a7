"""Fixtures for browser tests: the real server as a subprocess, and Debian's Chromium.

Playwright drives ``/usr/bin/chromium`` (never ``playwright install``). Without
it the tests are skipped, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..servers import running_server
from .chromium import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

DESKTOP: ViewportSize = {"width": 1280, "height": 800}

NewPage = Callable[..., "Page"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The base URL of a fresh ``strangers serve`` with the defaults of ``make run``:
    one per test, so no chatter left looking by one test meets the next one's."""
    with running_server(tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """Opens a page in a fresh context (its own storage: a distinct device). A CSP
    violation or a script error on any page fails the test."""
    contexts, problems = [], []

    def open_page(viewport: ViewportSize = DESKTOP, locale: str = "en-GB") -> Page:
        context = browser.new_context(viewport=viewport, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems == []
