"""Pools: who may ever meet whom (docs/design.md §4).

A pool is an age band crossed with a mode. Chatters in different pools are
never paired, whatever else happens: the matchmaker keeps one queue per pool
and looks for partners only inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import AgeBand, Mode


@dataclass(frozen=True, slots=True)
class Pool:
    band: AgeBand
    mode: Mode

    @property
    def key(self) -> str:
        """A stable name, e.g. ``adult-text`` (used in metrics and broker keys)."""
        return f"{self.band.value}-{self.mode.value}"


def pool_for(band: AgeBand, mode: Mode) -> Pool:
    return Pool(band, mode)
