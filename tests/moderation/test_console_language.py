"""The console's words are all in its catalogues, in English and French (issue 19;
docs/moderation.md, "Languages"): the two catalogues have the same entries with the
same fields, every key the templates and the code ask for exists, no template holds a
word of its own, and the language follows the browser unless the switch chose one."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from starlette.requests import Request

from strangers.moderation.console import language
from strangers.moderation.console.language import LANGUAGES, Catalogue, choose, entries

CONSOLE = Path(language.__file__).resolve().parent
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
SOURCES = sorted(CONSOLE.glob("*.py"))
#: What a template may say without the catalogue: names, formats and symbols that are
#: the same in every language.
NOT_WORDS = {"JSON", "CSV", "SHA-256", "#", "·", "/", "—", ":", "(", ")", ",", "<", ">"}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_catalogues_have_the_same_entries_and_fields() -> None:
    english, french = entries("en"), entries("fr")
    assert set(english) == set(french)
    for key, text in english.items():
        assert fields(text) == fields(french[key]), key
        assert french[key].strip(), key


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
    assert said == {"en": "Page 2 of 5", "fr": "Page 2 sur 5"}
    assert Catalogue("fr").label("status", "escalated") == "transmis"
    assert Catalogue("fr").label("status", "unheard-of") == "unheard-of"
