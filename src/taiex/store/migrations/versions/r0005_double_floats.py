"""Real numbers in double precision on every backend.

``Float`` without a precision is ``FLOAT`` on MySQL and MariaDB: 4 bytes, about 7 significant
digits, so a forecast of 23,456.78 came back as 23,456.8 (and a probability lost its last
digits). ``DOUBLE`` keeps what Python holds, as SQLite's REAL and PostgreSQL's FLOAT already did.

Revision ID: 0005_double_floats
Revises: 0004_lstm_dm_t
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_double_floats"
down_revision = "0004_lstm_dm_t"
branch_labels = None
depends_on = None

# Each table's real-number columns, and whether they may be NULL.
COLUMNS: dict[str, dict[str, bool]] = {
    "model_versions": {"score": True, "champion_score": True},
    "lstm_model_evaluate": {"sMAPE": True, "naive_sMAPE": True, "dm_t": True},
    "svm_model_evaluate": {"ROC_AUC": True, "trivial_ROC_AUC": True},
    "forecasts": {
        name: False
        for name in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive")
    },
    "signals": {"probability": False, "threshold": False},
}


def _retype(old: sa.types.TypeEngine[float], new: sa.types.TypeEngine[float]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, nullable in columns.items():
                batch.alter_column(name, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade() -> None:
    _retype(sa.Float(), sa.Double())


def downgrade() -> None:
    _retype(sa.Double(), sa.Float())
