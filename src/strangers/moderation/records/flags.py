"""Automatic flags: what the safety checks found (a frame's verdict, text signals that
added up), filed in one transaction with its case, its sealed evidence, and the strike,
bans and escalation its enforcement asks for (docs/design.md §6; docs/safety.md).

A flag that needs corroboration takes its stronger enforcement only once enough
independent viewers flagged the same device (docs/safety.md, "Whose word counts").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from strangers.core.flags import Corroboration, Flag, FlagKind
from strangers.core.frames import FrameSource
from strangers.core.network import UNKNOWN_NETWORK
from strangers.core.video import ban_after_strikes
from strangers.moderation.errors import RecordError
from strangers.moderation.records.bans import BanNotice, Bans
from strangers.moderation.records.cases import (
    ESCALATED_EVIDENCE_DAYS,
    EVIDENCE_DAYS,
    Cases,
    evidence_rows,
)
from strangers.moderation.records.checks import at, ban_end, check_parties, check_time
from strangers.moderation.records.evidence import (
    AddressCapture,
    capture_json,
    frames_json,
    hit_json,
    lines_json,
    party_json,
    verdict_json,
)
from strangers.moderation.records.store import Store
from strangers.moderation.tables import Case
from strangers.moderation.tables import Flag as FlagRow

#: Automatic flags share the queue with reports (docs/design.md §6). A hash-list match is the
#: most severe of all: known abuse material, to be reported (18 U.S.C. 2258A). Nudity in
#: the teen pool comes next to an underage report; in the adult pool it was already acted
#: on automatically (a strike), so it ranks low.
KNOWN_ABUSE_SEVERITY: Final = 100
ADULT_IN_TEEN_SEVERITY: Final = 90  # as a report of someone who looks adult in the teen pool
TEEN_NUDITY_SEVERITY: Final = 80
TEXT_RISK_SEVERITY: Final = 55  # grooming and solicitation signals that added up
NUDITY_SEVERITY: Final = 40
#: From this severity a case is critical: the subject's raw address, when the gateway
#: has it, is sealed into the evidence (known abuse, an adult in the teen pool, nudity
#: in the teen pool). Below it, only when a moderator escalates the case.
CRITICAL_SEVERITY: Final = TEEN_NUDITY_SEVERITY

#: What a banned chatter is told (DSA art. 17, statement of reasons): the facts found,
#: stated plainly; the case number goes with it, for an appeal.
FLAG_BAN_REASONS: Final[dict[FlagKind, str]] = {
    FlagKind.NUDITY: "Nudity on camera",
    # Factual without saying which list matched: telling the subject that a report to
    # the authorities is coming could prejudice it (18 U.S.C. 2258A; DSA art. 17(5)
    # leaves out what authorities need withheld).
    FlagKind.KNOWN_ABUSE: "Illegal content on camera",
}


@dataclass(frozen=True)
class FlagOutcome:
    """What :meth:`Flags.file` committed: the case number, the subject device's
    strikes in the last 24 hours (this flag's included; 0 when the flag strikes nothing)
    the device ban's notice, if the flag banned it, and the network ban's, if any;
    ``corroborated_by``: for a flag that needs corroboration, the independent viewers
    counted (0 otherwise)."""

    case: str
    strikes: int
    ban: BanNotice | None
    network_ban: BanNotice | None = None
    corroborated_by: int = 0


def _matching_size(edges: Iterable[tuple[str, str]]) -> int:
    """The size of a maximum matching of the bipartite graph ``edges`` (device,
    network): Kuhn's augmenting paths, enough for the few flags of one subject."""
    networks_of: dict[str, list[str]] = {}
    for device, network in edges:
        networks_of.setdefault(device, []).append(network)
    holder: dict[str, str] = {}  # network -> the device it is matched to

    def augment(device: str, seen: set[str]) -> bool:
        for network in networks_of[device]:
            if network in seen:
                continue
            seen.add(network)
            if network not in holder or augment(holder[network], seen):
                holder[network] = device
                return True
        return False

    return sum(augment(device, set()) for device in networks_of)


def _flag_detail(flag: Flag) -> dict[str, Any]:
    """What the checks found: the frame's verdict, or the text signals that added up."""
    if flag.verdict is not None:
        return verdict_json(flag.verdict)
    return {"signals": [[name, score] for name, score in flag.signals]}


class Flags:
    """The automatic flags of the records."""

    def __init__(self, store: Store, cases: Cases, bans: Bans) -> None:
        self._store = store
        self._cases = cases
        self._bans = bans

    async def file(
        self, flag: Flag, *, now: datetime, capture: AddressCapture | None = None
    ) -> FlagOutcome:
        """Commit an automatic video flag (docs/design.md §6, video) in one transaction: its case,
        the ``flags`` row, the evidence, the strike and bans its enforcement asks for, the
        audit. Returns only once all of it is committed; a failure leaves nothing.

        - The case: kind "automatic"; severity :data:`KNOWN_ABUSE_SEVERITY`,
          :data:`ADULT_IN_TEEN_SEVERITY`, :data:`TEXT_RISK_SEVERITY`,
          :data:`TEEN_NUDITY_SEVERITY` (a ``teen-*`` pool) or :data:`NUDITY_SEVERITY`;
          status "escalated" when the enforcement escalates (marked for a report to law
          enforcement, 18 U.S.C. 2258A), else "open" when it asks for a review, else
          "actioned" (acted on automatically, kept for audit).
        - The evidence, encrypted: "frames" (when the flag has any), "transcript" (when
          it has lines) and "identifiers" of both sides; kept 90 days, a year when
          escalated (REPORT Act). The evidence names the sides from the subject:
          "subject" and "other". The flag's frames are in the sampler's view ("own" is
          the sampler's camera) and its transcript is already turned to the subject
          ("reported" is the subject), as the switchboard hands them over; the evidence
          also says whose page sampled (``sampled_by``: "subject" or "viewer").
        - A strike on the subject's device when the enforcement strikes; ``strikes`` in
          the outcome counts its strikes in the last 24 hours (0 without a strike).
        - A device ban for the longer of the enforcement's ban and the one the strikes
          earn (:func:`~strangers.core.video.ban_after_strikes`), for good when
          :data:`~strangers.core.video.PERMANENT`; with ``network_ban_seconds``, the
          subject's network for that long, unless it is the unknown network. The reason is the
          statement shown to the banned chatter (DSA art. 17).
        - An :class:`~strangers.moderation.tables.Action` (actor "system", automatic) for
          the strike, each ban and the escalation, for the transparency report.
        - ``capture``, the subject's raw address, goes into the "identifiers" evidence
          only when the case is critical (:data:`CRITICAL_SEVERITY`) or escalated, and is
          dropped otherwise.
        - A flag with a :class:`~strangers.core.flags.Corroboration` (a frame one viewer
          sampled of the subject, which that viewer's page could have forged) takes the
          corroboration's enforcement instead of its own only when, this flag counted,
          the subject's device was flagged with the same kind from viewers' sampling by
          at least ``viewers`` distinct devices on as many distinct networks (none
          unknown, none the subject's) within the window (docs/safety.md, "Whose word
          counts"); ``corroborated_by`` in the outcome and the audit is that count.
        """
        check_time(now)
        try:
            kind = FlagKind(flag.kind)
        except ValueError:
            raise RecordError("invalid", "unknown flag kind") from None
        check_parties((flag.subject, "subject"), (flag.sampler, "sampler"))
        enforcement = flag.enforcement
        corroboration = flag.corroboration
        held = [enforcement] if corroboration is None else [enforcement, corroboration.enforcement]
        for each in held:
            for seconds in (each.ban_seconds, each.network_ban_seconds):
                if seconds is not None:
                    ban_end(seconds, now)  # refused: not positive, or past the calendar
        if corroboration is not None and corroboration.enforcement.escalate != enforcement.escalate:
            # Escalation decides how long the evidence is sealed for, before the count.
            raise RecordError("invalid", "a corroboration cannot change the escalation")
        if kind is FlagKind.NUDITY:
            # a pool key is "<band>-<mode>" (core.pools)
            teen = flag.pool.startswith("teen")
            severity = TEEN_NUDITY_SEVERITY if teen else NUDITY_SEVERITY
        else:
            severity = {
                FlagKind.KNOWN_ABUSE: KNOWN_ABUSE_SEVERITY,
                FlagKind.ADULT_IN_TEEN: ADULT_IN_TEEN_SEVERITY,
                FlagKind.TEXT_RISK: TEXT_RISK_SEVERITY,
            }[kind]
        escalated = enforcement.escalate
        status = "escalated" if escalated else "open" if enforcement.review else "actioned"
        days = ESCALATED_EVIDENCE_DAYS if escalated else EVIDENCE_DAYS
        # Sessions, not devices, tell the sides apart: one device may be on both (laptop).
        own_page = flag.sampler.session == flag.subject.session
        sampled_by = "subject" if own_page else "viewer"
        # The frames are the sampler's: "own" shows the subject when it sampled itself.
        shows = (
            {FrameSource.OWN: "subject", FrameSource.PARTNER: "other"}
            if own_page
            else {FrameSource.OWN: "other", FrameSource.PARTNER: "subject"}
        )
        store = self._store
        sealed: dict[str, bytes] = {}
        if flag.frames:
            sealed["frames"] = store.seal(frames_json(flag.match, sampled_by, flag.frames, shows))
        about = {
            "match": flag.match,
            "pool": flag.pool,
            "matched_at": flag.matched_at,
            "flagged_at": flag.flagged_at,
        }
        if flag.transcript:
            sides = {"reported": "subject", "reporter": "other"}
            sealed["transcript"] = store.seal(
                {**about, "lines": lines_json(flag.transcript, sides)}
            )
        sealed["identifiers"] = store.seal(
            {
                **about,
                "subject": party_json(flag.subject),
                "sampler": party_json(flag.sampler),
                "sampled_by": sampled_by,
                "hash_hit": hit_json(flag.verdict.hash_hit) if flag.verdict else None,
                **({"signals": _flag_detail(flag)["signals"]} if flag.verdict is None else {}),
                **(
                    {"captures": [capture_json(capture)]}
                    if capture is not None and (escalated or severity >= CRITICAL_SEVERITY)
                    else {}
                ),
            }
        )

        async with store.transaction() as session:
            corroborated_by = 0
            corroborated: dict[str, Any] = {}
            if corroboration is not None:
                corroborated_by = await self._distinct_viewers(session, flag, kind, corroboration)
                corroborated["corroborated_by"] = corroborated_by
                if corroborated_by >= corroboration.viewers:
                    enforcement = corroboration.enforcement
                    flag = replace(flag, enforcement=enforcement)
                    if not escalated:
                        status = "open" if enforcement.review else "actioned"
            case = await self._cases.open_in(
                session,
                kind="automatic",
                severity=severity,
                status=status,
                escalated=escalated,
                pool=flag.pool,
                now=now,
            )
            row = FlagRow(
                case_id=case.id,
                kind=str(kind),
                match=flag.match,
                pool=flag.pool,
                subject_device=flag.subject.device,
                subject_network=flag.subject.network,
                sampler_device=flag.sampler.device,
                sampler_network=flag.sampler.network,
                sampled_by=sampled_by,
                detail=json.dumps(_flag_detail(flag), separators=(",", ":")),
                flagged_at=at(flag.flagged_at),
            )
            session.add_all([row, *evidence_rows(case.id, sealed, days=days, now=now)])
            await session.flush()
            store.audit(
                session,
                at=now,
                action="flag.filed",
                case_id=case.id,
                flag=row.id,
                kind=str(kind),
                pool=flag.pool,
                status=status,
                sampled_by=sampled_by,
                **corroborated,
            )
            strikes = 0
            if enforcement.strike:
                strikes = await self._bans.strike_in(
                    session,
                    device=flag.subject.device,
                    network=flag.subject.network,
                    reason=str(kind),
                    case_id=case.id,
                    now=now,
                )
            ban, network_ban = await self._flag_bans(session, flag, kind, strikes, case, now)
            if strikes:
                store.record_action(session, case.id, "strike", now=now, reason=str(kind))
            for notice, target in ((ban, "device"), (network_ban, "network")):
                if notice is not None:
                    until = None if notice.until is None else notice.until.isoformat()
                    store.record_action(
                        session,
                        case.id,
                        "ban",
                        now=now,
                        target=target,
                        until=until,
                        reason=notice.reason,
                    )
            if escalated:
                store.record_action(session, case.id, "escalate", now=now)
        return FlagOutcome(
            case=case.number,
            strikes=strikes,
            ban=ban,
            network_ban=network_ban,
            corroborated_by=corroborated_by,
        )

    @staticmethod
    async def _distinct_viewers(
        session: AsyncSession, flag: Flag, kind: FlagKind, corroboration: Corroboration
    ) -> int:
        """How many independent viewers flagged ``flag``'s subject device with ``kind``
        within the corroboration's window, ``flag``'s own sampler counted: the size of
        the largest set of (viewer device, viewer network) pairs, among the flags from
        viewers' sampling, in which no device and no network appears twice. The unknown
        network, the subject's own network and the subject's own device do not count
        (one person with many devices, or many addresses, is still one word)."""
        subject = flag.subject
        since = at(flag.flagged_at) - timedelta(seconds=corroboration.window_seconds)
        rows = await session.execute(
            select(FlagRow.sampler_device, FlagRow.sampler_network)
            .where(
                FlagRow.subject_device == subject.device,
                FlagRow.kind == str(kind),
                FlagRow.sampled_by == "viewer",
                FlagRow.flagged_at >= since,
            )
            .distinct()
        )
        pairs = {(device, network) for device, network in rows}
        pairs.add((flag.sampler.device, flag.sampler.network))
        return _matching_size(
            (device, network)
            for device, network in pairs
            if device != subject.device and network not in (UNKNOWN_NETWORK, subject.network)
        )

    async def _flag_bans(
        self,
        session: AsyncSession,
        flag: Flag,
        kind: FlagKind,
        strikes: int,
        case: Case,
        now: datetime,
    ) -> tuple[BanNotice | None, BanNotice | None]:
        """The bans a flag makes (see :meth:`file`): the device ban's notice and the
        network ban's."""
        enforcement = flag.enforcement
        earned = ban_after_strikes(strikes) if enforcement.strike else None
        given = [seconds for seconds in (enforcement.ban_seconds, earned) if seconds is not None]
        reason = FLAG_BAN_REASONS.get(kind, "Broke the safety rules")
        targets: list[tuple[str | None, str | None, float]] = []
        if given:
            seconds = max(given)
            if earned is not None and seconds == earned and earned != enforcement.ban_seconds:
                # The strikes made this ban: say so, it is why this one lasts as it does.
                reason = f"{reason}: {strikes} strikes in 24 hours"
            targets.append((flag.subject.device, None, seconds))
        network_seconds = enforcement.network_ban_seconds
        if network_seconds is not None and flag.subject.network != UNKNOWN_NETWORK:
            targets.append((None, flag.subject.network, network_seconds))
        notices: dict[bool, BanNotice] = {}
        for device, network, seconds in targets:
            until = ban_end(seconds, now)
            await self._bans.add_in(
                session,
                device=device,
                network=network,
                reason=reason,
                case_id=case.id,
                until=until,
                now=now,
            )
            notices[network is not None] = BanNotice(reason=reason, case=case.number, until=until)
        return notices.get(False), notices.get(True)
