"""weighted_index_temp.staged_at: when a load's rows were staged, so that the rows of a load that
never merged can be removed a day later.

Rows staged before this revision get the time of the upgrade (they may belong to a load still
on its way), so they too are removed a day later if nothing merges them.

Revision ID: 0002_staged_at
Revises: 0001_initial
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import context, op

revision = "0002_staged_at"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = context.config.attributes.get("now") or dt.datetime.now(dt.UTC).replace(
        tzinfo=None, microsecond=0
    )
    op.add_column("weighted_index_temp", sa.Column("staged_at", sa.DateTime(), nullable=True))
    staged = sa.table("weighted_index_temp", sa.column("staged_at", sa.DateTime()))
    op.execute(staged.update().values(staged_at=now))
    with op.batch_alter_table("weighted_index_temp") as batch:
        batch.alter_column("staged_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("weighted_index_temp") as batch:
        batch.drop_column("staged_at")
