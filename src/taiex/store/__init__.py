"""The only gateway to the taiex database (SQLite, MySQL/MariaDB, PostgreSQL).

    facade        Store: the engine, the clock, the repositories, schema upgrades, locks
    schema        metadata and every table (at the newest migration)
    engine        make_engine, SQLite pragmas, storage_errors (every database error becomes a
                  StorageError naming the operation), URLs: build_url, redact_url, url_password
    locks         named locks that die with their process
    migrate       Alembic upgrades (revisions under migrations/)
    prices        weighted_index, staging and merge        loads        etl_loads, load ids
    versions      model versions and champions             forecasts    forecasts
    signals       entry signals                            evaluations  the two monitoring tables
    responses     TWSE's responses, verbatim (the raw cache)  figures   PNGs for the report
    testing       helpers for the test suite (raw reads and deliberate damage)

Nothing outside this package imports SQLAlchemy.
"""

from taiex.frames import PRICE_COLUMNS
from taiex.store.clock import Clock, utcnow
from taiex.store.dialects import insert_missing
from taiex.store.engine import build_url, make_engine, redact_url, storage_errors, url_password
from taiex.store.evaluations import EVALUATION_TABLES
from taiex.store.facade import Store
from taiex.store.figures import Figure
from taiex.store.loads import LoadRecord, MergeResult, load_id_for, new_run
from taiex.store.responses import StoredResponse
from taiex.store.schema import (
    etl_loads,
    forecasts,
    lstm_model_evaluate,
    metadata,
    model_champions,
    model_versions,
    signals,
    svm_model_evaluate,
    weighted_index,
    weighted_index_temp,
)

__all__ = [
    "EVALUATION_TABLES",
    "PRICE_COLUMNS",
    "Clock",
    "Figure",
    "LoadRecord",
    "MergeResult",
    "Store",
    "StoredResponse",
    "build_url",
    "etl_loads",
    "forecasts",
    "insert_missing",
    "load_id_for",
    "lstm_model_evaluate",
    "make_engine",
    "metadata",
    "model_champions",
    "model_versions",
    "new_run",
    "redact_url",
    "signals",
    "storage_errors",
    "svm_model_evaluate",
    "url_password",
    "utcnow",
    "weighted_index",
    "weighted_index_temp",
]
