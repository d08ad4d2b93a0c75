"""Every table of the taiex database, as SQLAlchemy Core metadata (the schema at the newest
migration: a change here goes with a new revision under ``migrations/versions/``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
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

metadata = MetaData()
# SQLite only autoincrements an INTEGER PRIMARY KEY; the others get a 64-bit id.
Id = BigInteger().with_variant(Integer(), "sqlite")
# Index points as TWSE publishes them: exact to the cent, whatever the backend.
Price = Numeric(12, 2, asdecimal=True)
# Artifacts are a few hundred kB: MySQL's BLOB stops at 64 kB.
Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
KIND = String(20)
VERSION = String(40)
LOAD_ID = String(32)
# The round that served or measured a row (revision 0008): "evening" or "pre-open"
# (taiex.rounds.Round); rows from before it are the evening's.
ROUND = String(10)


def round_column() -> Column[str]:
    return Column("round", ROUND, nullable=False, server_default="evening")


weighted_index = Table(
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
weighted_index_temp = Table(
    "weighted_index_temp",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("load_id", LOAD_ID, nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("open", Price, nullable=False),
    Column("high", Price, nullable=False),
    Column("low", Price, nullable=False),
    Column("close", Price, nullable=False),
    # When the rows were staged: a load that never merged is removed a day later (revision 0002).
    Column("staged_at", DateTime, nullable=False),
    UniqueConstraint("load_id", "date", name="uq_weighted_index_temp_load_date"),
)

# One row per merged load id: what was loaded, from where, and what its latest merge changed.
etl_loads = Table(
    "etl_loads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("load_id", LOAD_ID, nullable=False, unique=True),
    Column("source", String(200), nullable=False),
    Column("month", String(7)),
    Column("first_date", Date),
    Column("last_date", Date),
    Column("rows", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("loaded_at", DateTime, nullable=False),
)

model_versions = Table(
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
    Column("score", Double),
    Column("champion_score", Double),
    Column("decided_at", DateTime),
    UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),
)

# One row per kind: the primary key is what makes "exactly one champion" hold on every backend.
model_champions = Table(
    "model_champions",
    metadata,
    Column("kind", KIND, primary_key=True),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("since", DateTime, nullable=False),
)

lstm_model_evaluate = Table(
    "lstm_model_evaluate",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("date", DateTime, nullable=False),
    Column("sMAPE", Double),  # NULL when the window holds no day the model did not train on
    Column("naive_sMAPE", Double),
    Column("sMAPE_by_horizon", JSON),
    Column("naive_sMAPE_by_horizon", JSON),
    Column("model_version", VERSION, nullable=False),
    Column("data_date", Date, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("n_pairs", Integer, nullable=False),
    Column("reason", Text),
    # Diebold-Mariano t of the model against naive over the window (revision 0004); NULL when
    # undefined or measured before it.
    Column("dm_t", Double),
    # The target days scored, and the origins taken from the served forecasts or computed
    # (revision 0006; NULL when measured before it, and the row then cannot stand for a rerun).
    Column("n_days", Integer),
    Column("origins_reused", Integer),
    Column("origins_computed", Integer),
    round_column(),
    UniqueConstraint("model_version", "data_date", name="uq_lstm_model_evaluate_run"),
)

svm_model_evaluate = Table(
    "svm_model_evaluate",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("date", DateTime, nullable=False),
    Column("ROC_AUC", Double),  # NULL when undefined (one class in the window)
    Column("trivial_ROC_AUC", Double),
    Column("model_version", VERSION, nullable=False),
    Column("model_family", String(60)),
    Column("data_date", Date, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("n_days", Integer, nullable=False),
    Column("n_positive", Integer, nullable=False),
    Column("n_negative", Integer, nullable=False),
    Column("reason", Text),
    round_column(),
    UniqueConstraint("model_version", "data_date", name="uq_svm_model_evaluate_run"),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_version", VERSION, nullable=False),
    Column("origin_date", Date, nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("forecast", Double, nullable=False),
    Column("lower_80", Double, nullable=False),
    Column("upper_80", Double, nullable=False),
    Column("lower_95", Double, nullable=False),
    Column("upper_95", Double, nullable=False),
    Column("naive", Double, nullable=False),
    Column("created_at", DateTime, nullable=False),
    round_column(),
    UniqueConstraint("model_version", "origin_date", "horizon", name="uq_forecasts_run"),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_version", VERSION, nullable=False),
    Column("based_on", Date, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("probability", Double, nullable=False),
    Column("signal", Integer, nullable=False),
    Column("threshold", Double, nullable=False),
    Column("created_at", DateTime, nullable=False),
    round_column(),
    UniqueConstraint("model_version", "based_on", name="uq_signals_run"),
)

# US closes for the pre-open round (revision 0007): one row per symbol and US trading date.
UsPrice = Numeric(16, 4, asdecimal=True)
overnight_closes = Table(
    "overnight_closes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("symbol", String(20), nullable=False),
    Column("date", Date, nullable=False),  # the US trading date (New York)
    Column("close", UsPrice, nullable=False),
    Column("fetched_at", DateTime, nullable=False),  # when this close was last fetched as it is
    Column("updated_at", DateTime, nullable=False),  # when it was stored or last revised
    UniqueConstraint("symbol", "date", name="uq_overnight_closes_symbol_date"),
)

# What one task leaves for a later one on another worker (nothing is shared but the database).

twse_responses = Table(
    "twse_responses",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM: the month's latest response
    Column("url", Text, nullable=False),
    Column("body", Blob, nullable=False),  # verbatim, as TWSE sent it
    Column("sha256", String(64), nullable=False),
    Column("fetched_on", Date, nullable=False),  # the data day it was fetched for
    Column("fetched_at", DateTime, nullable=False),
)

figures = Table(
    "figures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # evaluation-<kind> or forecast
    Column("model_version", VERSION),
    Column("data_date", Date, nullable=False),
    Column("png", Blob, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("name", name="uq_figures_name"),
)
