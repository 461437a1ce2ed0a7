"""Casework at volume: who holds a case (a claim, and when it was made) and the
moderator's written reason on a ban (docs/moderation.md, "Claims" and "Actions";
issue 19).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

A new table and one nullable column: every existing case reads as unclaimed, every
existing ban as one without a written reason (the chatter sees the category alone, as
before). A downgrade drops both: a claim lapses within the hour anyway, and a written
reason also stays in its action's detail, which the downgrade keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODERATOR_NAME = 64  # tables.MODERATOR_NAME_MAX
BAN_NOTE = 500  # tables.BAN_NOTE_MAX


def upgrade() -> None:
    op.create_table(
        "case_claims",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("holder", sa.String(MODERATOR_NAME), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(None, "case_claims", ["holder"])
    op.create_index(None, "case_claims", ["claimed_at"])
    with op.batch_alter_table("bans") as batch:
        batch.add_column(sa.Column("note", sa.String(BAN_NOTE), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bans") as batch:
        batch.drop_column("note")
    op.drop_table("case_claims")
