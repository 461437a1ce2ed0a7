"""Automatic video flags, frame and identifier evidence, known-abuse hash lists.

Revision ID: 0002
Revises: 0001
Create Date: 2025-03-01

The evidence kind constraint is replaced (SQLite rebuilds the table: batch mode, see
``migrations/env.py``). A downgrade refuses to run while evidence of the new kinds
exists: evidence has a retention duty (docs/design.md §6; a year when escalated, REPORT Act),
and silently deleting it to fit the old constraint would break it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128  # length of an opaque identifier (device id, keyed network hash)
OLD_EVIDENCE_KINDS = ("transcript",)
NEW_EVIDENCE_KINDS = ("transcript", "frames", "identifiers")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _evidence_kinds(kinds: Sequence[str]) -> None:
    # The name is the one the naming convention gave in 0001 ("ck_evidence_kind").
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f("ck_evidence_kind"), type_="check")
        batch.create_check_constraint("kind", _in("kind", kinds))


def upgrade() -> None:
    _evidence_kinds(NEW_EVIDENCE_KINDS)

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("match", sa.String(128), nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.Column("subject_device", sa.String(ID), nullable=False),
        sa.Column("subject_network", sa.String(ID), nullable=False),
        sa.Column("sampler_device", sa.String(ID), nullable=False),
        sa.Column("sampler_network", sa.String(ID), nullable=False),
        sa.Column("sampled_by", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("kind", ("nudity", "known_abuse")), name="kind"),
        sa.CheckConstraint(_in("sampled_by", ("subject", "viewer")), name="sampled_by"),
    )
    op.create_index(None, "flags", ["case_id"])
    op.create_index(None, "flags", ["subject_device"])
    op.create_index(None, "flags", ["subject_network"])

    op.create_table(
        "hash_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(hash) = 64", name="hash_length"),
        sa.UniqueConstraint("list", "hash"),
    )


def downgrade() -> None:
    kept = op.get_bind().scalar(
        sa.text(f"SELECT count(*) FROM evidence WHERE NOT ({_in('kind', OLD_EVIDENCE_KINDS)})")
    )
    if kept:
        raise RuntimeError(
            f"{kept} evidence items of kinds 0001 does not know are still kept: "
            "downgrading would have to delete them before their retention ends"
        )
    op.drop_table("hash_entries")
    op.drop_table("flags")
    _evidence_kinds(OLD_EVIDENCE_KINDS)
