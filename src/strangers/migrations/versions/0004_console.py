"""The moderator console: accounts, their sessions, actions on cases, notices for
chatters, and an appeal's statement of reasons (docs/design.md §1, Moderator).

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-03

New tables only, and one nullable column on ``appeals``. A downgrade refuses to run
while actions exist: they are the record of what was decided and by whom (DSA arts. 15
and 24 count them; the audit log refers to them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
ROLES = ("moderator", "admin")
ACTION_KINDS = ("dismiss", "warn", "strike", "ban", "escalate", "note", "unban")
NOTICE_KINDS = ("warning", "appeal_upheld", "appeal_overturned")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary, nullable=True),
        sa.Column("totp_last_step", sa.Integer, nullable=True),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        _time("locked_until", nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _time("created_at"),
        sa.CheckConstraint(_in("role", ROLES), name="role"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("moderator_id", sa.Integer, sa.ForeignKey("moderators.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
    )
    op.create_index(None, "console_sessions", ["moderator_id"])
    op.create_index(None, "console_sessions", ["expires_at"])

    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(ID), nullable=False),
        sa.Column("automatic", sa.Boolean, nullable=False),
        _time("at"),
        sa.Column("detail", sa.Text, nullable=False),
        sa.CheckConstraint(_in("kind", ACTION_KINDS), name="kind"),
    )
    op.create_index(None, "actions", ["case_id"])
    op.create_index(None, "actions", ["at"])

    op.create_table(
        "chatter_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        _time("created_at"),
        _time("delivered_at", nullable=True),
        sa.CheckConstraint(_in("kind", NOTICE_KINDS), name="kind"),
    )
    op.create_index(None, "chatter_notices", ["device", "delivered_at"])

    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("statement", sa.Text, nullable=True))


def downgrade() -> None:
    kept = op.get_bind().scalar(sa.text("SELECT count(*) FROM actions"))
    if kept:
        raise RuntimeError(f"{kept} actions are recorded: downgrading would delete them")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("statement")
    op.drop_table("chatter_notices")
    op.drop_table("actions")
    op.drop_table("console_sessions")
    op.drop_table("moderators")
