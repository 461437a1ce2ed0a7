"""Blocks: pairs of devices that must never meet again (docs/design.md §4).

A report blocks its pair for good. The matchmaker asks :meth:`Blocklist.blocked`
for every candidate; the records layer is authoritative and refills the list at
start-up, so a blocked pair stays apart across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable


def couple(device_a: str, device_b: str) -> tuple[str, str]:
    """The pair in a canonical order, so (a, b) and (b, a) are one key."""
    return (device_a, device_b) if device_a <= device_b else (device_b, device_a)


class Blocklist:
    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = {couple(a, b) for a, b in pairs}

    def __len__(self) -> int:
        return len(self._pairs)

    def add(self, device_a: str, device_b: str) -> None:
        self._pairs.add(couple(device_a, device_b))

    def blocked(self, device_a: str, device_b: str) -> bool:
        return couple(device_a, device_b) in self._pairs
