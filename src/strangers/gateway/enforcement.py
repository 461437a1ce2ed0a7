"""What the records make of a report, a flag or a moderator's decision, carried out
(docs/design.md §6).

The switchboard decides (a report to file, a flag to enforce); this module does the
I/O that follows, in order: commit to the records first, then act in memory on what
was committed — a ban goes into the in-memory index at once, so the banned device
cannot come back in before the next refresh, and every session it has on this node is
told and closed. A report is acknowledged only once committed.

Each action has one implementation here. The moderator console reaches them through
:class:`NodeLiveChat`, this node's implementation of the moderation layer's
:class:`~strangers.moderation.live.LiveChat`, which the app hands to the console; the
console never imports the gateway.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from ..brokers.wire import AgeFact, BanFact, Fact, NetworkHoldFact
from ..core.age import AgeChanges
from ..core.flags import Flag
from ..core.messages import Banned
from ..core.network import UNKNOWN_NETWORK
from ..core.reports import Filing
from ..moderation.records import AddressCapture, BanNotice, PendingNotice
from .ages import merge_shared
from .services import Services

log = logging.getLogger("strangers.enforcement")

#: What a chatter banned by :func:`ban_for_abuse` is shown (at most 64 characters).
ABUSE_BAN_REASON: Final = "Too many requests: automated or abusive use"


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
    return await records.reports.file(stored, now=datetime.now(UTC))


async def enforce_flag(services: Services, flag: Flag) -> str | None:
    """Commit a flag with its evidence, strike and bans; then apply the ban on this node.
    Returns the case number, or ``None`` when the records failed (logged: the match
    has already ended and the viewer's video is blurred, so nobody is left exposed)."""
    records = services.records
    assert records is not None
    stored = _in_unix_time(flag, "matched_at", "flagged_at")
    capture = services.addresses.of_session(flag.subject.session)
    try:
        outcome = await records.flags.file(stored, now=datetime.now(UTC), capture=capture)
    except Exception:
        log.exception("a %s flag could not be stored", flag.kind)
        return None
    # A viewer's flag alone sanctions nobody (docs/safety.md, "Whose word counts"): the
    # count of independent viewers is what a moderator needs to read the case.
    log.info(
        "flag %s filed as case %s (independent viewers %d)",
        flag.kind,
        outcome.case,
        outcome.corroborated_by,
    )
    subject = flag.subject
    if outcome.ban is not None:
        apply_ban(services, subject.device, None, outcome.ban)
    if outcome.network_ban is not None:
        # The subject's own sessions are covered by the network match too.
        apply_ban(services, None, subject.network, outcome.network_ban)
    return outcome.case


def apply_ban(services: Services, device: str | None, network: str | None, ban: BanNotice) -> None:
    """A ban the records just committed (a moderator's, a flag's), in force at once:
    here, and through the broker on every other node (which also takes it from the
    records at its next ban refresh, should the broker be down)."""
    ban_here(services, device, network, ban)
    services.node.broker.share(BanFact(device, network, ban))


def ban_here(services: Services, device: str | None, network: str | None, ban: BanNotice) -> None:
    """Put a ban in this node's index, and tell and close every session it covers here."""
    services.bans.add(device, network, ban)
    until = None if ban.until is None else int(ban.until.timestamp())
    notice = Banned(reason=ban.reason, case=ban.case, until=until, note=ban.note)
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
    services.bans.replace(await records.bans.active(now=datetime.now(UTC)))


def apply_fact(services: Services, fact: Fact) -> None:
    """What another node shared, applied on this one: a ban, a device's age state (its
    sessions here held to it), a network's hold."""
    if isinstance(fact, BanFact):
        ban_here(services, fact.device, fact.network, fact.entry)
    elif isinstance(fact, AgeFact):
        merge_shared(services, AgeChanges({fact.device: fact.state}, {}))
    elif isinstance(fact, NetworkHoldFact):
        services.ages.merge(AgeChanges({}, {fact.network: fact.hold}))


_banning: set[str] = set()  # devices whose ban is being stored, so it is stored once


async def ban_for_abuse(services: Services, device: str | None) -> BanNotice | None:
    """Ban ``device`` for ``abuse_ban_minutes`` (a refusal of the rate limits came back
    ``abusive``, ``safety/ratelimits.py``): committed to the records first, then in
    force here and on every node, its sessions told and closed (:func:`apply_ban`).
    Returns the notice, or None when nothing was banned: no device, no records, a ban
    already in force or being stored, or a records failure (logged; the refusals go on)."""
    records = services.records
    if device is None or records is None or device in _banning:
        return None
    now = datetime.now(UTC)
    if services.bans.lookup(device, UNKNOWN_NETWORK, now) is not None:
        return None
    until = now + timedelta(minutes=services.settings.abuse_ban_minutes)
    _banning.add(device)
    try:
        await records.bans.add(
            device=device, network=None, reason=ABUSE_BAN_REASON, case=None, until=until, now=now
        )
    except Exception:
        log.exception("a ban for abuse of the rate limits could not be stored")
        return None
    finally:
        _banning.discard(device)
    notice = BanNotice(ABUSE_BAN_REASON, None, until)
    apply_ban(services, device, None, notice)
    log.info("a device was banned for abuse of the rate limits until %s", until.isoformat())
    return notice


@dataclass(frozen=True, slots=True)
class NodeLiveChat:
    """This node's :class:`~strangers.moderation.live.LiveChat`: what the console's
    decisions do to the running chat, carried out by the functions above."""

    services: Services

    def apply_ban(self, device: str | None, network: str | None, ban: BanNotice) -> None:
        apply_ban(self.services, device, network, ban)

    async def reload_bans(self) -> None:
        await reload_bans(self.services)

    def notify(self, notice: PendingNotice) -> None:
        self.services.decisions.add(notice)

    def address_of(self, device: str) -> AddressCapture | None:
        return self.services.addresses.of_device(device)
