"""The records: cases, reports, evidence, bans, strikes, blocks, appeals, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128  # length of an opaque identifier (device id, keyed network hash)


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _case_fk(nullable: bool) -> sa.Column[object]:
    return sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("opened_at"),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.CheckConstraint("kind IN ('report', 'automatic')", name="kind"),
        sa.CheckConstraint(
            "status IN ('open', 'dismissed', 'actioned', 'escalated')", name="status"
        ),
    )
    op.create_index(None, "cases", ["status", "severity", "opened_at"])

    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        _case_fk(nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("match", sa.String(128), nullable=False),
        sa.Column("reporter_device", sa.String(ID), nullable=False),
        sa.Column("reporter_network", sa.String(ID), nullable=False),
        sa.Column("reported_device", sa.String(ID), nullable=False),
        sa.Column("reported_network", sa.String(ID), nullable=False),
        _time("matched_at"),
        _time("reported_at"),
        sa.CheckConstraint("length(note) <= 500", name="note_length"),
    )
    op.create_index(None, "reports", ["case_id"])
    op.create_index(None, "reports", ["reported_device"])
    op.create_index(None, "reports", ["reported_network"])

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True),
        _case_fk(nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        _time("created_at"),
        _time("retain_until"),
        sa.CheckConstraint("kind IN ('transcript')", name="kind"),
    )
    op.create_index(None, "evidence", ["case_id"])
    op.create_index(None, "evidence", ["retain_until"])

    op.create_table(
        "bans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device", sa.String(ID), nullable=True),
        sa.Column("network", sa.String(ID), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        _case_fk(nullable=True),
        _time("created_at"),
        _time("until", nullable=True),
        sa.CheckConstraint("device IS NOT NULL OR network IS NOT NULL", name="target"),
    )
    op.create_index(None, "bans", ["device"])
    op.create_index(None, "bans", ["network"])

    op.create_table(
        "strikes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device", sa.String(ID), nullable=False),
        sa.Column("network", sa.String(ID), nullable=False),
        _case_fk(nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        _time("at"),
    )
    op.create_index(None, "strikes", ["device", "at"])

    op.create_table(
        "blocks",
        sa.Column("device_a", sa.String(ID), primary_key=True),
        sa.Column("device_b", sa.String(ID), primary_key=True),
        _time("created_at"),
        _case_fk(nullable=True),
        sa.CheckConstraint("device_a < device_b", name="sorted"),
    )

    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer, primary_key=True),
        _case_fk(nullable=False),
        sa.Column("device", sa.String(ID), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _time("submitted_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        _time("decided_at", nullable=True),
        sa.CheckConstraint("status IN ('pending', 'upheld', 'overturned')", name="status"),
    )
    op.create_index(None, "appeals", ["case_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        _time("at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        _case_fk(nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index(None, "audit", ["at"])
    op.create_index(None, "audit", ["case_id"])


def downgrade() -> None:
    for table in ("audit", "appeals", "blocks", "strikes", "bans", "evidence", "reports"):
        op.drop_table(table)
    op.drop_table("cases")
