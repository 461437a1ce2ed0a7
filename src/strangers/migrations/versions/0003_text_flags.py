"""Automatic text flags: grooming signals that added up, adult age statements in the
teen pool (docs/design.md §6, text).

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-02

Only the flag kind constraint changes (SQLite rebuilds the table: batch mode). A
downgrade refuses to run while text flags exist: their cases and evidence have a
retention duty, and 0002's constraint cannot hold them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("nudity", "known_abuse")
NEW_KINDS = ("nudity", "known_abuse", "text_risk", "adult_in_teen")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _flag_kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("flags") as batch:
        batch.drop_constraint(op.f("ck_flags_kind"), type_="check")
        batch.create_check_constraint("kind", _in("kind", kinds))


def upgrade() -> None:
    _flag_kinds(NEW_KINDS)


def downgrade() -> None:
    kept = op.get_bind().scalar(
        sa.text(f"SELECT count(*) FROM flags WHERE NOT ({_in('kind', OLD_KINDS)})")
    )
    if kept:
        raise RuntimeError(
            f"{kept} text flags are still kept: downgrading would have to delete them"
        )
    _flag_kinds(OLD_KINDS)
