"""Fixtures for browser tests: the real server, and Debian's Chromium.

Chromium is the separate process here; the server runs in this one, on a thread of its
own (``tests/inprocess.py``: the real app under the real uvicorn configuration), so the
test's Playwright calls and the server do not wait on each other. It checks frames with
the scripted checker: these pages chat in text and post no frames, and the bundled
models cost seconds to load (the video tests, ``test_video.py``, run them for real).

Playwright drives ``/usr/bin/chromium`` (never ``playwright install``). Without
it the tests are skipped, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..inprocess import serving_in_thread
from .chromium import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize

DESKTOP: ViewportSize = {"width": 1280, "height": 800}

NewPage = Callable[..., "Page"]

#: Text chats only: no frame is checked, so no model is loaded, and the scripted checker
#: runs in threads: no check-worker process to start with every test's server.
NO_MODELS = {"frame_checker": "tests.checkers:scripted", "frame_check_mode": "thread"}


@contextlib.contextmanager
def running_server(data_dir: Path, **settings: object) -> Iterator[str]:
    """The real server (in this process, on its own thread) with the defaults of
    ``make run`` but for ``settings`` and the frame checker, its records in
    ``data_dir``; yields its ``http://`` base URL."""
    with serving_in_thread(data_dir, **{**NO_MODELS, **settings}) as served:
        yield served.base


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The base URL of a fresh server with the defaults of ``make run`` (but the frame
    checker): one per test, so no chatter left looking by one test meets the next one's."""
    with running_server(tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Debian's Chromium, one per test module; a module that needs more switches (a fake
    camera: ``chromium.MEDIA_ARGS``) names them in ``CHROMIUM_EXTRA_ARGS``."""
    extra = tuple(getattr(request.module, "CHROMIUM_EXTRA_ARGS", ()))
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra]
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """Opens a page in a fresh context (its own storage: a distinct device). A CSP
    violation or a script error on any page fails the test."""
    contexts, problems = [], []

    def open_page(
        viewport: ViewportSize = DESKTOP,
        locale: str = "en-GB",
        *,
        expected_errors: tuple[str, ...] = (),
        **options: object,
    ) -> Page:
        """``options``: more of ``browser.new_context``'s, e.g. ``is_mobile=True,
        has_touch=True`` for a phone that taps and swipes. ``expected_errors``: console
        errors containing one of these are the protocol at work, not problems (e.g. a
        video frame in flight when its match ends is answered 410, which Chromium
        logs)."""
        context = browser.new_context(viewport=viewport, locale=locale, **options)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error" and not any(text in msg.text for text in expected_errors):
                problems.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems == []
