"""What the records tests share: a look at the tables and the evidence as committed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import cv2
import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.bans import BanIndex
from strangers.moderation import BanNotice, Records
from strangers.moderation.tables import Base, Case, Evidence


def gradient_jpeg(shift: int = 0) -> bytes:
    """A benign frame: a small grey gradient as JPEG. The records never decode images,
    so the bytes only have to come back exactly as they went in."""
    row = (np.arange(32, dtype=np.uint16) * 8 + shift) % 256
    ok, encoded = cv2.imencode(".jpg", np.tile(row.astype(np.uint8), (24, 1)))
    assert ok
    return encoded.tobytes()


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            for name, table in Base.metadata.tables.items()
        }


async def all_rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    async with engine.connect() as conn:
        return {
            name: [dict(row._mapping) for row in await conn.execute(select(table))]
            for name, table in Base.metadata.tables.items()
        }


async def sealed_evidence(
    engine: AsyncEngine, key: bytes, case: str
) -> dict[str, tuple[dict[str, Any], datetime, datetime]]:
    """A case's evidence rows by kind: (decrypted payload, created_at, retain_until)."""
    fernet = Fernet(key)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Evidence.kind, Evidence.ciphertext, Evidence.created_at, Evidence.retain_until)
            .join(Case, Case.id == Evidence.case_id)
            .where(Case.number == case)
            .order_by(Evidence.id)
        )
        found: dict[str, tuple[dict[str, Any], datetime, datetime]] = {}
        for kind, blob, created, retain in rows:
            assert kind not in found, f"two {kind} evidence rows"
            found[kind] = (json.loads(fernet.decrypt(bytes(blob))), created, retain)
        return found


async def ban_for(
    records: Records, *, device: str, network: str, now: datetime
) -> BanNotice | None:
    """What the gateway does at hello: index the bans in force, look the chatter up."""
    index = BanIndex()
    index.replace(await records.bans.active(now=now))
    return index.lookup(device, network, now)
