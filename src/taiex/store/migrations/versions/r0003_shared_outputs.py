"""twse_responses and figures: what one task leaves for a later one, in the database instead of
files under TAIEX_HOME, so that tasks on different workers share nothing else.

- ``twse_responses``: each month's latest TWSE response, verbatim, with its URL, sha256, the data
  day it was fetched for and when (the raw cache that was ``$TAIEX_HOME/raw``; the files there
  are not read any more: a month not stored here is fetched again when next loaded).
- ``figures``: the PNGs a step draws and the report shows (each evaluation's, the forecast's).

Revision ID: 0003_shared_outputs
Revises: 0002_staged_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_shared_outputs"
down_revision = "0002_staged_at"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "twse_responses",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", Blob, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("fetched_on", sa.Date(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "figures",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("model_version", sa.String(40)),
        sa.Column("data_date", sa.Date(), nullable=False),
        sa.Column("png", Blob, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_figures_name"),
    )


def downgrade() -> None:
    op.drop_table("figures")
    op.drop_table("twse_responses")
