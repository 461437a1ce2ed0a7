"""What the records make of a report or a flag, carried out (design §6).

The switchboard decides (a report to file, a flag to enforce); this module does the
I/O that follows, in order: commit to the records first, then act in memory on what
was committed — a ban goes into the in-memory index at once, so the banned device
cannot come back in before the next refresh, and every session it has on this node is
told and closed. A report is acknowledged only once committed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from ..core.flags import Flag
from ..core.messages import Banned
from ..core.reports import Filing
from ..moderation.records import BanNotice

if TYPE_CHECKING:
    from .chat_socket import Services

log = logging.getLogger("strangers.enforcement")


Record = TypeVar("Record", Filing, Flag)


def _in_unix_time(record: Record, *fields: str) -> Record:
    """``record`` with its ``fields`` (times of the switchboard's monotonic clock) as
    Unix times."""
    wall, mono = time.time(), time.monotonic()
    return replace(
        record, **{name: round(wall - (mono - getattr(record, name)), 3) for name in fields}
    )


async def file_report(services: Services, filing: Filing) -> str:
    """Commit a report; returns its case number. Raises when it could not be stored."""
    records = services.records
    assert records is not None
    stored = _in_unix_time(filing, "matched_at", "reported_at")
    return await records.file_report(stored, now=datetime.now(UTC))


async def enforce_flag(services: Services, flag: Flag) -> str | None:
    """Commit a flag with its evidence, strike and bans; then apply the ban on this node.
    Returns the case number, or ``None`` when the records failed (logged: the match
    has already ended and the viewer's video is blurred, so nobody is left exposed)."""
    records = services.records
    assert records is not None
    stored = _in_unix_time(flag, "matched_at", "flagged_at")
    capture = services.addresses.of_session(flag.subject.session)
    try:
        outcome = await records.file_flag(stored, now=datetime.now(UTC), capture=capture)
    except Exception:
        log.exception("a %s flag could not be stored", flag.kind)
        return None
    log.info("flag %s filed as case %s", flag.kind, outcome.case)
    subject, node = flag.subject, services.node
    if outcome.network_ban is not None:
        services.bans.add(None, subject.network, outcome.network_ban)
    if outcome.ban is not None:
        services.bans.add(subject.device, None, outcome.ban)
    for ban, network in ((outcome.ban, None), (outcome.network_ban, subject.network)):
        if ban is not None:
            until = None if ban.until is None else int(ban.until.timestamp())
            notice = Banned(reason=ban.reason, case=ban.case, until=until)
            node.run(node.switchboard.ban(subject.device, network, notice))
    return outcome.case


def apply_ban(services: Services, device: str | None, network: str | None, ban: BanNotice) -> None:
    """A ban the records just committed (a moderator's, say), in force on this node at
    once: into the index, and every session it covers here is told and closed. Other
    nodes take it at their next ban refresh."""
    services.bans.add(device, network, ban)
    until = None if ban.until is None else int(ban.until.timestamp())
    notice = Banned(reason=ban.reason, case=ban.case, until=until)
    node = services.node
    if device is not None:
        node.run(node.switchboard.ban(device, network, notice))
    elif network is not None:
        # No device of its own: the switchboard's network match covers the sessions.
        node.run(node.switchboard.ban("", network, notice))


async def reload_bans(services: Services) -> None:
    """Replace the index with the bans in force now (after a ban is lifted)."""
    records = services.records
    assert records is not None
    services.bans.replace(await records.active_bans(now=datetime.now(UTC)))
