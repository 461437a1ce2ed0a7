"""The page's copies of the protocol's values are the core's.

``src/strangers/web/app.js`` is plain JavaScript served as it is, so it holds by hand
the protocol values it acts on: the version it says hello with, the interest limits,
and the values of the protocol's enums it tells apart (the ``refused`` reasons, the
``decision`` kinds, the safety nudges of ``notice``, the ``blur`` reasons, whose face an
``ended`` with ``no_face`` names); the report
form in ``index.html`` offers the report reasons. A value added to or renamed in
``core/messages.py`` or ``core/reports.py`` and not in the page would be shown as
something else (an unknown nudge is dropped, an unknown refusal reads as "too young"),
so each copy is parsed here and compared with the Python it copies."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from strangers.core import messages
from strangers.core.reports import MAX_NOTE_CHARS, ReportReason

WEB = Path(messages.__file__).resolve().parents[1] / "web"
APP = (WEB / "app.js").read_text(encoding="utf-8")
PAGE = (WEB / "index.html").read_text(encoding="utf-8")


def js_strings(name: str) -> list[str]:
    """The string literals of ``const NAME = [...]`` in app.js, in order; fails when
    the list holds anything else (the copy must stay a plain list to be checked)."""
    found = re.search(rf"^const {name} = \[(.*?)\];", APP, re.S | re.M)
    assert found, f"app.js has no `const {name} = [...]`"
    values = re.findall(r'"([^"\\]*)"', found[1])
    rest = re.sub(r'"[^"\\]*"', "", found[1])
    assert not rest.replace(",", "").split(), f"{name} holds more than string literals"
    return values


def js_number(name: str) -> int:
    found = re.search(rf"^const {name} = (\d+);", APP, re.M)
    assert found, f"app.js has no `const {name} = <number>;`"
    return int(found[1])


def literal(model: type[Any], field: str) -> list[str]:
    """The values of a ``Literal`` field of a message model, unions flattened."""
    values: list[str] = []
    pending = [model.model_fields[field].annotation]
    while pending:
        kind = pending.pop(0)
        args = get_args(kind)
        if not args:
            values.append(kind)
        elif all(isinstance(arg, str) for arg in args):
            values.extend(args)
        else:
            pending[:0] = [arg for arg in args if arg is not type(None)]
    return values


COPIES: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    # name in app.js: (the page's copy, the core's values)
    "PROTOCOL_VERSION": (lambda: js_number("PROTOCOL_VERSION"), lambda: messages.PROTOCOL_VERSION),
    "MAX_INTERESTS": (lambda: js_number("MAX_INTERESTS"), lambda: messages.MAX_INTERESTS),
    "MAX_INTEREST_CHARS": (
        lambda: js_number("MAX_INTEREST_CHARS"),
        lambda: messages.MAX_INTEREST_CHARS,
    ),
    "REFUSALS": (lambda: js_strings("REFUSALS"), lambda: literal(messages.Refused, "reason")),
    "WAIT_STATES": (
        lambda: js_strings("WAIT_STATES"),
        lambda: literal(messages.QueueState, "state"),
    ),
    "DECISION_KINDS": (
        lambda: js_strings("DECISION_KINDS"),
        lambda: literal(messages.Decision, "kind"),
    ),
    "NUDGES": (lambda: js_strings("NUDGES"), lambda: list(messages.TEXT_NUDGES)),
    # The page keeps the reasons a blur is on for; "clear" is the one it is off for.
    "BLUR_REASONS": (
        lambda: js_strings("BLUR_REASONS"),
        lambda: [r for r in literal(messages.Blur, "reason") if r != "clear"],
    ),
    "NO_FACE_SIDES": (lambda: js_strings("NO_FACE_SIDES"), lambda: literal(messages.Ended, "face")),
}


@pytest.mark.parametrize("name", COPIES)
def test_the_pages_copy_of_a_protocol_value_is_the_cores(name: str) -> None:
    page, core = COPIES[name]
    assert page() == core(), f"app.js's {name} differs from the core's"


def test_the_notice_kinds_are_the_nudges_and_show_face() -> None:
    # The page shows NUDGES as nudges and handles show_face on its own.
    assert literal(messages.Notice, "kind") == ["show_face", *messages.TEXT_NUDGES]


def test_the_report_form_offers_exactly_the_report_reasons() -> None:
    offered = re.findall(r'<input type="radio" name="reason" value="([^"]*)"', PAGE)
    assert sorted(offered) == sorted(reason.value for reason in ReportReason)
    assert len(offered) == len(set(offered))


def test_the_pages_field_lengths_are_the_protocols() -> None:
    def maxlength(element_id: str) -> int:
        found = re.search(rf'id="{element_id}"[^>]*maxlength="(\d+)"', PAGE, re.S)
        assert found, f"index.html has no maxlength on #{element_id}"
        return int(found[1])

    assert maxlength("interest-input") == messages.MAX_INTEREST_CHARS
    assert maxlength("report-note") == MAX_NOTE_CHARS
