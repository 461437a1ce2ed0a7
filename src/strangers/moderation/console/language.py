"""The console's languages: every string a moderator reads comes from a catalogue
(``i18n/en.json``, ``i18n/fr.json``, ``i18n/es.json``), never from a template or the code
(docs/moderation.md, "Languages").

The language is, in order: the ``lang`` query parameter of the request (the switch at
the foot of every page, which also remembers the choice in a cookie), the cookie, then
the browser's ``Accept-Language`` (RFC 9110 §12.5.4, by its q-values; a regional tag
counts for its language: ``es-MX`` is Spanish), then English, as the chatter page does.
A catalogue entry is text with ``{name}`` fields; templates escape what they get like
any text (OWASP ASVS 5.3.3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from starlette.requests import Request

LANGUAGES: Final = ("en", "fr", "es")
DEFAULT: Final = "en"
LANG_COOKIE: Final = "strangers_mod_lang"
LANG_COOKIE_DAYS: Final = 365
CATALOGUE_DIR: Final = Path(__file__).resolve().parent / "i18n"


@dataclass(frozen=True)
class Phrase:
    """A catalogue entry to be said in the reader's language: its key and fields. What
    the code hands a page instead of words (a notice, an error, a message)."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


def say(key: str, **params: object) -> Phrase:
    return Phrase(key, params)


@cache
def entries(lang: str) -> Mapping[str, str]:
    """The catalogue of ``lang`` (one of :data:`LANGUAGES`)."""
    loaded = json.loads((CATALOGUE_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return {str(key): str(value) for key, value in loaded.items()}


class Catalogue:
    """One language's words: ``t(key, **fields)`` (a missing key is a bug: KeyError),
    ``text(value)`` for what may be a :class:`Phrase` or words already said (a
    record's own refusal)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._entries = entries(lang)

    def t(self, key: str, **params: object) -> str:
        template = self._entries[key]
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._entries

    def label(self, prefix: str, value: object) -> str:
        """The catalogue's word for ``value`` under ``prefix`` ("status.open"), or the
        value itself when the catalogue has none (a value from a newer record)."""
        key = f"{prefix}.{value}"
        return self._entries.get(key, str(value))

    def text(self, value: Phrase | str) -> str:
        if isinstance(value, Phrase):
            return self.t(value.key, **value.params)
        return value


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                quality = float(rest[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def choose(request: Request) -> tuple[str, bool]:
    """(language, chosen now): the language of this request's page, and whether it was
    chosen by the switch (so the response remembers it in :data:`LANG_COOKIE`)."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked, True
    kept = request.cookies.get(LANG_COOKIE, "")
    if kept in LANGUAGES:
        return kept, False
    for tag in _accepted(request.headers.get("accept-language", "")):
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary, False
    return DEFAULT, False
