"""The page's catalogues: every language the page offers (English, French, Spanish) has
one, they hold the same keys, and every key the page's HTML names is in them (a missing
key would show as the key itself)."""

from __future__ import annotations

import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "src" / "strangers" / "web"
CATALOGUES = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((WEB / "i18n").glob("*.json"))
}


def test_the_page_offers_every_catalogue_and_only_those() -> None:
    """app.js's LANGUAGES (what the browser's language is matched against) and the
    language switch of index.html name exactly the catalogues there are."""
    script = (WEB / "app.js").read_text(encoding="utf-8")
    listed = re.search(r"const LANGUAGES = \[([^\]]*)\];", script)
    assert listed is not None
    assert set(re.findall(r'"([a-z]{2})"', listed[1])) == set(CATALOGUES)
    page = (WEB / "index.html").read_text(encoding="utf-8")
    assert set(re.findall(r'<option value="([a-z]{2})" lang="\1"', page)) == set(CATALOGUES)
    assert {"en", "fr", "es"} <= set(CATALOGUES)


def test_every_catalogue_holds_the_keys_of_the_english_one() -> None:
    for code, catalogue in CATALOGUES.items():
        assert set(catalogue) == set(CATALOGUES["en"]), code


def test_every_catalogue_keeps_the_placeholders_of_the_english_one() -> None:
    """A translation that drops or renames "{count}" would show the raw placeholder."""
    for code, catalogue in CATALOGUES.items():
        for key, text in CATALOGUES["en"].items():
            wanted = sorted(re.findall(r"\{[a-z_]+\}", text))
            assert sorted(re.findall(r"\{[a-z_]+\}", catalogue[key])) == wanted, (code, key)


def test_every_key_the_page_names_is_in_the_catalogues() -> None:
    page = (WEB / "index.html").read_text(encoding="utf-8")
    named = set(re.findall(r'data-i18n(?:-placeholder|-label)?="([^"]+)"', page))
    assert named
    for code, catalogue in CATALOGUES.items():
        assert named <= set(catalogue), (code, sorted(named - set(catalogue)))


def test_the_page_states_keys_the_script_builds_are_in_the_catalogues() -> None:
    """The keys app.js builds from protocol values (issue 19): wait states, appeal states,
    the online lines per mode."""
    built = (
        [f"wait.{state}" for state in ("nobody", "met_recently", "others")]
        + [f"appeal.state.{state}" for state in ("pending", "upheld", "overturned")]
        + [f"online.mode_{mode}" for mode in ("text", "video")]
    )
    for catalogue in CATALOGUES.values():
        assert set(built) <= set(catalogue)
