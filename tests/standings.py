"""Bans, cases and appeals written to a server's records as the console would, for the
tests of ``GET /v1/standing`` and of the ban screen (issue 19)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from strangers.core.device import DeviceClaims, DeviceTokens
from strangers.core.network import network_hash
from strangers.core.reports import Filing, Line, Party, ReportReason
from strangers.gateway.settings import Settings
from strangers.moderation.records import Records
from strangers.moderation.tables import Appeal


def device_token(settings: Settings, device: str) -> str:
    """A device token signed with the server's own key."""
    return DeviceTokens(settings.subkey("device-tokens")).issue(DeviceClaims(device))


def loopback_network(settings: Settings, address: str = "127.0.0.1") -> str:
    """The keyed hash the server makes of a loopback client's address."""
    return network_hash(settings.subkey("network-hash"), address)


@dataclass(frozen=True)
class BannedCase:
    case: str
    until: datetime | None


async def ban_with_case(
    settings: Settings,
    device: str | None,
    *,
    network: str | None = None,
    reason: str = "Harassment",
    days: float | None = 3,
    appeal: str | None = None,
    decided: tuple[str, str] | None = None,
) -> BannedCase:
    """A reported case against ``device`` (a short, non-graphic transcript), a ban of
    ``device`` and/or ``network`` with it, and optionally ``device``'s appeal of it
    (``appeal``: its text) decided as ``decided`` = (status, statement)."""
    now = datetime.now(UTC)
    reported = device or "dev-someone-else"
    filing = Filing(
        match="m-standing",
        pool="adult-text",
        reason=ReportReason.HARASSMENT,
        note="Rude.",
        reporter=Party(device="dev-reporter", network="net-" + "a" * 60, session="s-1"),
        reported=Party(device=reported, network="net-" + "b" * 60, session="s-2"),
        matched_at=now.timestamp() - 120,
        reported_at=now.timestamp() - 60,
        transcript=(Line(at=1.0, side="reported", text="go away"),),
        frames=(),
    )
    until = None if days is None else now + timedelta(days=days)
    records = await Records.open(settings.records_url(), settings.evidence_secret())
    try:
        case = await records.reports.file(filing, now=now)
        await records.bans.add(
            device=device, network=network, reason=reason, case=case, until=until, now=now
        )
        if appeal is not None and device is not None:
            appeal_id = await records.appeals.submit(case=case, device=device, text=appeal, now=now)
            if decided is not None:
                status, statement = decided
                async with records.transaction() as session:
                    await session.execute(
                        update(Appeal)
                        .where(Appeal.id == appeal_id)
                        .values(
                            status=status,
                            statement=statement,
                            decided_by="ana",
                            decided_at=now + timedelta(minutes=5),
                        )
                    )
    finally:
        await records.close()
    return BannedCase(case, until)


async def standing_once_banned(
    http: httpx.AsyncClient, token: str, *, within: float = 10.0
) -> httpx.Response:
    """``GET /v1/standing`` for ``token`` once the ban the test just stored has reached
    the server's index (refreshed from the records every few seconds): the answer that
    says banned."""
    async with asyncio.timeout(within):
        while True:
            answer = await http.get("/v1/standing", headers={"authorization": f"Bearer {token}"})
            if answer.json().get("banned"):
                return answer
            await asyncio.sleep(0.05)
