"""Reading an operator's known-abuse hash list (PDQ hashes) from text (docs/design.md §6).

A list is what a hash-sharing programme hands an operator: one PDQ hash a line, as 64
hex digits (256 bits), optionally followed by a label (the programme's reference).
This module only reads and checks the text; :meth:`HashLists.add
<strangers.moderation.records.hash_lists.HashLists.add>` stores it, all or nothing, and the
gateway's matcher loads it from there. No image is ever involved: a hash cannot be turned
back into the picture it came from.
"""

from __future__ import annotations

import re
from typing import Final

from strangers.moderation.errors import ModerationError
from strangers.moderation.tables import HASH_HEX_CHARS, HASH_LABEL_MAX

_HEX_DIGITS: Final = frozenset("0123456789abcdef")
#: A hash and its label are separated by whitespace or a comma (CSV exports).
_SEPARATOR: Final = re.compile(r"[\s,]+")


class HashListError(ModerationError, ValueError):
    """A line of a hash list that cannot be read; ``line`` counts from 1."""

    code: str = "hash_list"

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line
        self.detail = detail


def normalise_hash(value: str) -> str:
    """``value`` as the records keep a hash: 64 lowercase hex digits.

    Raises :class:`ValueError` with a reason fit to show when it is not one.
    """
    hex_digits = value.lower()
    if len(hex_digits) != HASH_HEX_CHARS:
        raise ValueError(
            f"a hash is {HASH_HEX_CHARS} hex digits, this one has {len(hex_digits)} characters"
        )
    if not _HEX_DIGITS.issuperset(hex_digits):
        raise ValueError("a hash holds hex digits (0-9, a-f) only")
    return hex_digits


def parse_hash_list(text: str) -> list[tuple[str, str]]:
    """The ``(hash, label)`` pairs of a hash list, in file order.

    One entry a line: ``<64 hex digits> [label…]``, the label after whitespace or a
    comma and optional (``""``). Blank lines and lines starting with ``#`` are skipped.
    The first bad line raises :class:`HashListError` naming it, so a list is imported
    whole or not at all.
    """
    entries: list[tuple[str, str]] = []
    # split("\n"), not splitlines(): line numbers must match what an editor shows,
    # and splitlines() also breaks at form feeds and Unicode separators.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = _SEPARATOR.split(line, maxsplit=1)
        label = parts[1].strip() if len(parts) > 1 else ""
        try:
            hex_digits = normalise_hash(parts[0])
        except ValueError as exc:
            raise HashListError(number, str(exc)) from None
        if len(label) > HASH_LABEL_MAX:
            raise HashListError(number, f"the label is longer than {HASH_LABEL_MAX} characters")
        entries.append((hex_digits, label))
    return entries
