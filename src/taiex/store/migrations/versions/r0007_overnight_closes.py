"""overnight_closes: the US closes of the pre-open round (docs/design.md, "Overnight data"),
one row per symbol and US trading date, with when it was fetched and last revised.

Revision ID: 0007_overnight_closes
Revises: 0006_lstm_evaluation_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_overnight_closes"
down_revision = "0006_lstm_evaluation_counts"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "overnight_closes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("close", sa.Numeric(16, 4, asdecimal=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("symbol", "date", name="uq_overnight_closes_symbol_date"),
    )


def downgrade() -> None:
    op.drop_table("overnight_closes")
