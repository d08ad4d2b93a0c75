"""The initial schema: the tables as ``create_all`` made them before migrations existed.

A database made by that ``create_all`` (tables present, no ``alembic_version``) is checked
against :func:`initial_metadata` and stamped at this revision (see ``taiex.store.migrate``).
The definitions are frozen here on purpose: later revisions change the schema, never this file.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

revision = "0001_initial"
down_revision: str | None = None
branch_labels = None
depends_on = None

Id = BigInteger().with_variant(Integer(), "sqlite")
Price = Numeric(12, 2, asdecimal=True)
Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
KIND = String(20)
VERSION = String(40)


def initial_metadata() -> MetaData:
    """Every table of the initial schema, on a MetaData of its own."""
    metadata = MetaData()
    Table(
        "weighted_index",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("date", Date, nullable=False, unique=True),
        Column("open", Price, nullable=False),
        Column("high", Price, nullable=False),
        Column("low", Price, nullable=False),
        Column("close", Price, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )

    # Rows of one load, tagged with the load's id so that loads never see each other's rows.
    Table(
        "weighted_index_temp",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("load_id", String(32), nullable=False, index=True),
        Column("date", Date, nullable=False),
        Column("open", Price, nullable=False),
        Column("high", Price, nullable=False),
        Column("low", Price, nullable=False),
        Column("close", Price, nullable=False),
        UniqueConstraint("load_id", "date", name="uq_weighted_index_temp_load_date"),
    )

    # One row per merge: what was loaded, from where, and what it changed.
    Table(
        "etl_loads",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("load_id", String(32), nullable=False, unique=True),
        Column("source", String(200), nullable=False),
        Column("month", String(7)),
        Column("first_date", Date),
        Column("last_date", Date),
        Column("rows", Integer, nullable=False),
        Column("inserted", Integer, nullable=False),
        Column("updated", Integer, nullable=False),
        Column("loaded_at", DateTime, nullable=False),
    )

    Table(
        "model_versions",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("kind", KIND, nullable=False),
        Column("version", VERSION, nullable=False),
        Column("status", String(12), nullable=False),  # champion, challenger, retired
        Column("train_start", Date, nullable=False),
        Column("train_end", Date, nullable=False),
        Column("params", JSON, nullable=False),
        Column("metrics", JSON, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("artifact", Blob, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("promoted_at", DateTime),
        # The challenger's trial: what was decided, why, and both scores on the same days.
        Column("decision", String(20)),
        Column("decision_reason", Text),
        Column("score", Float),
        Column("champion_score", Float),
        Column("decided_at", DateTime),
        UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),
    )

    # One row per kind: the primary key is what makes "exactly one champion" hold on every backend.
    Table(
        "model_champions",
        metadata,
        Column("kind", KIND, primary_key=True),
        Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
        Column("since", DateTime, nullable=False),
    )

    Table(
        "lstm_model_evaluate",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("date", DateTime, nullable=False),
        Column("sMAPE", Float),  # NULL when the window holds no day the model did not train on
        Column("naive_sMAPE", Float),
        Column("sMAPE_by_horizon", JSON),
        Column("naive_sMAPE_by_horizon", JSON),
        Column("model_version", VERSION, nullable=False),
        Column("data_date", Date, nullable=False),
        Column("window_start", Date),
        Column("window_end", Date),
        Column("n_pairs", Integer, nullable=False),
        Column("reason", Text),
        UniqueConstraint("model_version", "data_date", name="uq_lstm_model_evaluate_run"),
    )

    Table(
        "svm_model_evaluate",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("date", DateTime, nullable=False),
        Column("ROC_AUC", Float),  # NULL when undefined (one class in the window)
        Column("trivial_ROC_AUC", Float),
        Column("model_version", VERSION, nullable=False),
        Column("model_family", String(60)),
        Column("data_date", Date, nullable=False),
        Column("window_start", Date),
        Column("window_end", Date),
        Column("n_days", Integer, nullable=False),
        Column("n_positive", Integer, nullable=False),
        Column("n_negative", Integer, nullable=False),
        Column("reason", Text),
        UniqueConstraint("model_version", "data_date", name="uq_svm_model_evaluate_run"),
    )

    Table(
        "forecasts",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("model_version", VERSION, nullable=False),
        Column("origin_date", Date, nullable=False),
        Column("horizon", Integer, nullable=False),
        Column("target_date", Date, nullable=False),
        Column("forecast", Float, nullable=False),
        Column("lower_80", Float, nullable=False),
        Column("upper_80", Float, nullable=False),
        Column("lower_95", Float, nullable=False),
        Column("upper_95", Float, nullable=False),
        Column("naive", Float, nullable=False),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("model_version", "origin_date", "horizon", name="uq_forecasts_run"),
    )

    Table(
        "signals",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("model_version", VERSION, nullable=False),
        Column("based_on", Date, nullable=False),
        Column("target_date", Date, nullable=False),
        Column("probability", Float, nullable=False),
        Column("signal", Integer, nullable=False),
        Column("threshold", Float, nullable=False),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("model_version", "based_on", name="uq_signals_run"),
    )
    return metadata


def upgrade() -> None:
    initial_metadata().create_all(op.get_bind())


def downgrade() -> None:
    initial_metadata().drop_all(op.get_bind())
