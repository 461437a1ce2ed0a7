"""The console's words are all in its catalogues, in English, French and Spanish (issue
19; docs/moderation.md, "Languages"): every catalogue has the entries of the English one
with the same fields, every key the templates and the code ask for exists, no template
holds a word of its own, and the language follows the browser unless the switch chose
one."""

from __future__ import annotations

import html
import re
import shutil
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
import pytest
from starlette.requests import Request

from strangers.gateway.app import Gateway
from strangers.gateway.settings import Settings
from strangers.moderation import sqlite_url, upgrade
from strangers.moderation.accounts import Accounts
from strangers.moderation.console import language
from strangers.moderation.console.language import LANGUAGES, Catalogue, choose, entries

from ..inprocess import app_for

CONSOLE = Path(language.__file__).resolve().parent
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
SOURCES = sorted(CONSOLE.glob("*.py"))
#: What a template may say without the catalogue: names, formats and symbols that are
#: the same in every language.
NOT_WORDS = {"JSON", "CSV", "SHA-256", "#", "·", "/", "—", ":", "(", ")", ",", "<", ">"}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_a_catalogue() -> None:
    assert sorted(path.stem for path in (CONSOLE / "i18n").glob("*.json")) == sorted(LANGUAGES)


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_each_catalogue_has_the_english_entries_and_fields(lang: str) -> None:
    english, other = entries("en"), entries(lang)
    assert set(other) == set(english)
    for key, text in english.items():
        assert fields(text) == fields(other[key]), key
        assert other[key].strip(), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalogue_names_every_language_in_that_language(lang: str) -> None:
    """The switch offers each language under its own name, whatever the page's."""
    names = {other: Catalogue(lang).t(f"language.{other}") for other in LANGUAGES}
    assert names == {"en": "English", "fr": "Français", "es": "Español"}


def test_every_key_the_templates_and_the_code_ask_for_exists() -> None:
    english = entries("en")
    asked: set[str] = set()
    prefixes: set[str] = set()
    for path in [*TEMPLATES, *SOURCES]:
        text = path.read_text(encoding="utf-8")
        for key in re.findall(r"""\b(?:t|say)\(\s*f?["']([a-z_.0-9]+)["']""", text):
            asked.add(key)
        for prefix in re.findall(r"""\b(?:t|say)\(\s*f?["']([a-z_.0-9]+)(?:["'] ~|\{)""", text):
            prefixes.add(prefix)
    missing = sorted(key for key in asked if key not in english and key not in prefixes)
    assert not missing, missing
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in english), prefix


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_no_template_holds_a_word_of_its_own(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", text, flags=re.S)
    # A key to press and a command to type are the same in every language.
    text = re.sub(r"<(kbd|code)>[^<]*</\1>", " ", text)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"&\w+;", " ", text)
    words = [word for word in text.split() if word not in NOT_WORDS]
    assert words == [], f"{path.name}: {words}"


def request(query: str = "", cookie: str = "", accept: str = "") -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", f"strangers_mod_lang={cookie}".encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("", "", "", ("en", False)),
        ("", "", "fr-FR,fr;q=0.9,en;q=0.8", ("fr", False)),
        ("", "", "de-DE,fr;q=0.5,en;q=0.7", ("en", False)),
        ("", "", "de, fr-CA;q=0.4", ("fr", False)),
        ("", "", "fr;q=0, en", ("en", False)),
        ("", "", "fr;q=oops", ("en", False)),
        ("", "fr", "en", ("fr", False)),
        ("", "xx", "fr", ("fr", False)),
        ("lang=en", "fr", "fr", ("en", True)),
        ("lang=de", "", "fr", ("fr", False)),
        ("", "", "es-ES,es;q=0.9,en;q=0.8", ("es", False)),
        ("", "", "es-MX", ("es", False)),
        ("", "", "es-419,en;q=0.5", ("es", False)),
        ("", "", "de, es-AR;q=0.6, fr;q=0.4", ("es", False)),
        ("", "", "fr-FR, es;q=0.9", ("fr", False)),
        ("", "es", "fr", ("es", False)),
        ("lang=es", "fr", "en", ("es", True)),
    ],
)
def test_the_language_follows_the_switch_then_the_cookie_then_the_browser(
    query: str, cookie: str, accept: str, expected: tuple[str, bool]
) -> None:
    assert choose(request(query, cookie, accept)) == expected


def test_a_phrase_is_said_in_each_language() -> None:
    said = {
        lang: Catalogue(lang).text(language.say("queue.page_of", page=2, pages=5))
        for lang in LANGUAGES
    }
    assert said == {"en": "Page 2 of 5", "fr": "Page 2 sur 5", "es": "Página 2 de 5"}
    assert Catalogue("fr").label("status", "escalated") == "transmis"
    assert Catalogue("es").label("status", "escalated") == "escalado"
    assert Catalogue("fr").label("status", "unheard-of") == "unheard-of"


@pytest.fixture
async def console(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app in process, with one moderator account, ``ana``."""
    settings = Settings(data_dir=tmp_path)
    if settings.records_url() == sqlite_url(tmp_path):
        shutil.copyfile(sqlite_template, tmp_path / "strangers.db")
    else:  # STRANGERS_DATABASE_URL names another database
        upgrade(settings.records_url())
    app = cast(Gateway, app_for(settings))
    async with app.http.router.lifespan_context(app.http):
        records = app.services.records
        assert records is not None
        await Accounts(records).add("ana", PASSWORD, "moderator", totp=False, now=datetime.now(UTC))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client


PASSWORD = "correct horse battery"


def heading(page: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", page, flags=re.S)
    assert found, "no h1"
    return html.unescape(found.group(1)).strip()


def switch(page: str) -> dict[str, tuple[str, str]]:
    """The language switch of a page: language -> (its name, where it leads)."""
    found = re.search(r'<p class="languages" id="languages">(.*?)</p>', page, flags=re.S)
    assert found, "no language switch"
    return {
        lang: (html.unescape(name), html.unescape(href))
        for href, lang, name in re.findall(
            r'<a href="([^"]*)" lang="([a-z]+)" hreflang="[a-z]+">([^<]*)</a>', found.group(1)
        )
    }


@pytest.mark.parametrize("accept", ["es-ES,es;q=0.9,en;q=0.8", "es-MX", "es-419,en;q=0.5"])
async def test_a_spanish_browser_gets_the_console_in_spanish(
    console: httpx.AsyncClient, accept: str
) -> None:
    console.headers["accept-language"] = accept
    page = (await console.get("/mod/signin")).text
    assert '<html lang="es">' in page
    assert heading(page) == "Iniciar sesión"
    assert {lang: name for lang, (name, _) in switch(page).items()} == {
        "en": "English",
        "fr": "Français",
    }
    csrf = re.search(r'name="csrf" value="([^"]*)"', page)
    assert csrf
    signed_in = await console.post(
        "/mod/signin",
        data={"csrf": html.unescape(csrf.group(1)), "name": "ana", "password": PASSWORD},
    )
    assert signed_in.status_code == 303
    queue = (await console.get("/mod")).text
    assert '<html lang="es">' in queue
    assert heading(queue) == "Cola"
    assert "En espera: 0; sin tomar: 0." in queue
    assert "Cerrar sesión" in queue


async def test_the_switch_offers_spanish_and_remembers_it(console: httpx.AsyncClient) -> None:
    console.headers["accept-language"] = "fr-FR,fr;q=0.9"
    page = (await console.get("/mod/signin")).text
    assert heading(page) == "Connexion"
    offered = switch(page)
    assert {lang: name for lang, (name, _) in offered.items()} == {
        "en": "English",
        "es": "Español",
    }
    chosen = await console.get(offered["es"][1])
    assert heading(chosen.text) == "Iniciar sesión"
    assert "strangers_mod_lang=es" in chosen.headers["set-cookie"]
    again = (await console.get("/mod/signin")).text  # the cookie, over the browser
    assert heading(again) == "Iniciar sesión"
    assert set(switch(again)) == {"en", "fr"}
