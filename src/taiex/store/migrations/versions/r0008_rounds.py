"""forecasts, signals, lstm_model_evaluate, svm_model_evaluate: ``round``, the round that served or
measured the row (docs/design.md, "Two rounds a day": ``evening`` or ``pre-open``).

Every row stored before this revision is the evening round's, the only one there was: the column's
server default says so. The unique keys stay as they are: each round's kinds register versions of
their own (``lstm-v3``, ``preopen-forecaster-v1``), so a version's rows are one round's.

Revision ID: 0008_rounds
Revises: 0007_overnight_closes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_rounds"
down_revision = "0007_overnight_closes"
branch_labels = None
depends_on = None

TABLES = ("forecasts", "signals", "lstm_model_evaluate", "svm_model_evaluate")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("round", sa.String(10), nullable=False, server_default="evening"),
        )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("round")
