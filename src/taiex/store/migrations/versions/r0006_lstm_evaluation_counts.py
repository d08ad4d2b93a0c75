"""lstm_model_evaluate.n_days, origins_reused, origins_computed: what the LSTM evaluation said
besides its figures, so that the row alone gives back the whole evaluation (a rerun of the
evaluation for the same data day then answers from the row, without the model).

Rows measured before this revision keep NULL: their evaluation is computed again when asked for.

Revision ID: 0006_lstm_evaluation_counts
Revises: 0005_double_floats
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lstm_evaluation_counts"
down_revision = "0005_double_floats"
branch_labels = None
depends_on = None

COLUMNS = ("n_days", "origins_reused", "origins_computed")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("lstm_model_evaluate", sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lstm_model_evaluate") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
