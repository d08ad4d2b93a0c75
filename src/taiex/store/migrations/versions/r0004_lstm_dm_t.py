"""lstm_model_evaluate.dm_t: the Diebold-Mariano t of the champion against the naive forecast
over its monitoring window, the evidence of the retrain rule TAIEX_LSTM_DM_T_MAX (issue 10).

Rows measured before this revision keep NULL (their pairs are not stored to recompute it).

Revision ID: 0004_lstm_dm_t
Revises: 0003_shared_outputs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_lstm_dm_t"
down_revision = "0003_shared_outputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lstm_model_evaluate", sa.Column("dm_t", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lstm_model_evaluate") as batch:
        batch.drop_column("dm_t")
