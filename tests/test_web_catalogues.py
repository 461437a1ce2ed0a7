"""The page's catalogues: English and French hold the same keys, and every key the page's
HTML names is in them (a missing key would show as the key itself)."""

from __future__ import annotations

import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "src" / "strangers" / "web"
CATALOGUES = {
    code: json.loads((WEB / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
    for code in ("en", "fr")
}


def test_english_and_french_hold_the_same_keys() -> None:
    assert set(CATALOGUES["en"]) == set(CATALOGUES["fr"])


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
