"""Age state that outlives a process: devices' locks, cooldowns and teen-pool bars, and
networks held after a minor's answer (docs/safety.md, "Age").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

New tables only. Their rows expire on their own (``expires_at``, ``until``) and hold
no evidence, so a downgrade may drop them: the gateways then hold the state in memory
only, as before this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "device_ages",
        sa.Column("device", sa.String(ID), primary_key=True),
        sa.Column("stage", sa.Integer, nullable=True),
        _time("locked_until", nullable=True),
        _time("recheck_until", nullable=True),
        _time("teen_barred_until", nullable=True),
        _time("expires_at"),
        sa.CheckConstraint("stage IS NULL OR stage IN (0, 1, 2)", name="stage"),
    )
    op.create_index(None, "device_ages", ["expires_at"])
    op.create_table(
        "network_holds",
        sa.Column("network", sa.String(ID), primary_key=True),
        _time("since"),
        _time("until"),
    )
    op.create_index(None, "network_holds", ["until"])


def downgrade() -> None:
    op.drop_table("network_holds")
    op.drop_table("device_ages")
