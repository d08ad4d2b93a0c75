"""Schema migrations on every backend: an empty database, one made by ``create_all`` before
migrations existed (its rows intact), a newer revision, a damaged schema, concurrent upgrades."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from taiex.errors import StorageError
from taiex.store import Store, metadata
from taiex.store.migrate import HEAD, INITIAL, script_head
from taiex.store.testing import (
    alembic,
    create_pre_migration_schema,
    drop_column,
    drop_table,
    insert_rows,
    reset_database,
    rows,
    schema,
    set_revision,
)
from tests.clock import StepClock

STAMP = dt.datetime(2024, 12, 31, 9, 0, 0)
D = dt.date(2024, 12, 31)
# One row in every table of the initial schema, as the code before migrations wrote them.
SCENE: dict[str, list[dict[str, Any]]] = {
    "weighted_index": [
        {"date": D, "open": Decimal("22456.50"), "high": Decimal("22802.53"),
         "low": Decimal("22456.50"), "close": Decimal("22736.93"), "created_at": STAMP,
         "updated_at": STAMP},
    ],
    "weighted_index_temp": [
        {"load_id": "a" * 32, "date": D, "open": Decimal("1.00"), "high": Decimal("2.00"),
         "low": Decimal("0.50"), "close": Decimal("1.50")},
    ],
    "etl_loads": [
        {"load_id": "b" * 32, "source": "twse", "month": "2024-12", "first_date": D,
         "last_date": D, "rows": 1, "inserted": 1, "updated": 0, "loaded_at": STAMP},
    ],
    "model_versions": [
        {"kind": "lstm", "version": "lstm-v1", "status": "champion", "train_start": D,
         "train_end": D, "params": {"hidden": 32}, "metrics": {"val_smape": 1.0},
         "sha256": "0" * 64, "artifact": b"\x00model" * 1000, "created_at": STAMP,
         "promoted_at": STAMP, "decision": "initial", "decision_reason": "first model",
         "score": None, "champion_score": None, "decided_at": STAMP},
    ],
    "forecasts": [
        {"model_version": "lstm-v1", "origin_date": D, "horizon": 1,
         "target_date": dt.date(2025, 1, 2), "forecast": 22800.5, "lower_80": 22500.0,
         "upper_80": 23100.0, "lower_95": 22300.0, "upper_95": 23300.0, "naive": 22736.93,
         "created_at": STAMP},
    ],
    "signals": [
        {"model_version": "classifier-v1", "based_on": D, "target_date": dt.date(2025, 1, 2),
         "probability": 0.7, "signal": 1, "threshold": 0.5, "created_at": STAMP},
    ],
    "lstm_model_evaluate": [
        {"date": STAMP, "sMAPE": 0.8, "naive_sMAPE": 0.9, "sMAPE_by_horizon": {"1": 0.5},
         "naive_sMAPE_by_horizon": {"1": 0.6}, "model_version": "lstm-v1", "data_date": D,
         "window_start": D, "window_end": D, "n_pairs": 5, "reason": None},
    ],
    "svm_model_evaluate": [
        {"date": STAMP, "ROC_AUC": None, "trivial_ROC_AUC": None,
         "model_version": "classifier-v1", "model_family": "svm", "data_date": D,
         "window_start": D, "window_end": D, "n_days": 40, "n_positive": 40, "n_negative": 0,
         "reason": "one class only"},
    ],
}  # fmt: skip


def pre_migration_database(url: str) -> Store:
    """A database as taiex made it before migrations: today's ``create_all``, rows in it."""
    store = Store(url)
    create_pre_migration_schema(store)
    for table, values in SCENE.items():
        insert_rows(store, table, values)
    insert_rows(store, "model_champions", [{"kind": "lstm", "version_id": 1, "since": STAMP}])
    return store


def test_the_head_is_the_newest_revision_on_disk() -> None:
    assert script_head() == HEAD


def test_an_empty_database_is_created_at_the_head(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert store.revision() is None
        assert store.upgrade() == HEAD
        assert store.revision() == HEAD
        assert set(metadata.tables) < set(schema(store))
        assert store.upgrade() == HEAD  # nothing left to do
        store.merge_rows([], source="test")
        assert store.last_load() is not None
    finally:
        store.dispose()


def _digits(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Every real number to 6 significant digits (as MySQL reads a FLOAT column)."""

    def value(v: Any) -> Any:
        return float(f"{v:.6g}") if isinstance(v, float) else v

    return {
        t: [{k: value(v) for k, v in row.items()} for row in rows] for t, rows in tables.items()
    }


def test_a_database_from_before_migrations_is_adopted_with_its_rows(database_url: str) -> None:
    store = pre_migration_database(database_url)
    before = {table: rows(store, table) for table in [*SCENE, "model_champions"]}
    assert store.revision() is None
    clock = StepClock()
    upgraded = Store(store.engine, clock=clock)
    assert upgraded.upgrade() == HEAD
    assert upgraded.revision() == HEAD
    after = {table: rows(store, table) for table in before}
    # The staged row of the load in flight gets the upgrade's time: removed a day later, unless
    # its merge takes it first.
    assert after.pop("weighted_index_temp") == [
        {**row, "staged_at": clock.now} for row in before.pop("weighted_index_temp")
    ]
    # An evaluation measured before the Diebold-Mariano t was kept has none (revision 0004).
    # Nor its day and origin counts (revision 0006).
    counts = {"dm_t": None, "n_days": None, "origins_reused": None, "origins_computed": None}
    before["lstm_model_evaluate"] = [{**row, **counts} for row in before["lstm_model_evaluate"]]
    # Every served and measured row from before the pre-open round is the evening's (0008).
    for table in ("forecasts", "signals", "lstm_model_evaluate", "svm_model_evaluate"):
        if table in before:
            before[table] = [{**row, "round": "evening"} for row in before[table]]
    # MySQL's old FLOAT columns held single precision and were read back to 6 digits: as DOUBLE
    # they show the whole value kept (0.800000011920929 for 0.8), the same to those 6 digits.
    assert _digits(after) == _digits(before)
    assert after["model_versions"][0]["params"] == {"hidden": 32}  # JSON still JSON
    # And the store works on it.
    assert upgraded.read_rows()[0].close == Decimal("22736.93")
    assert upgraded.prices.staged() == {"a" * 32: [D]}
    clock.advance(days=1, seconds=1)
    upgraded.stage_rows([], load_id="c" * 32)
    assert upgraded.prices.staged() == {}
    store.dispose()


def test_every_way_to_the_head_gives_the_same_schema(database_url: str) -> None:
    """create_all + stamp (an empty database), revision by revision from nothing, and adopting
    a database from before migrations: the same tables, columns, constraints and indexes."""
    shapes = []
    for build in ("empty", "revisions", "adopted"):
        reset_database(database_url)
        store = Store(database_url)
        if build == "empty":
            store.upgrade()
        elif build == "revisions":
            alembic(store, "upgrade", "head")
        else:
            create_pre_migration_schema(store)
            store.upgrade()
        assert store.revision() == HEAD
        shapes.append(schema(store))
        store.dispose()
    assert shapes[0] == shapes[1] == shapes[2]
    assert "staged_at" in [c[0] for c in shapes[0]["weighted_index_temp"]["columns"]]
    assert "dm_t" in [c[0] for c in shapes[0]["lstm_model_evaluate"]["columns"]]


def test_the_initial_revision_is_the_schema_from_before_migrations(database_url: str) -> None:
    store = Store(database_url)
    create_pre_migration_schema(store)
    before = schema(store)
    reset_database(database_url)
    alembic(store, "upgrade", INITIAL)
    assert store.revision() == INITIAL
    initial = schema(store)
    initial.pop("alembic_version")
    assert initial == before
    store.upgrade()
    alembic(store, "downgrade", INITIAL)  # and the later revisions go back cleanly
    downgraded = schema(store)
    downgraded.pop("alembic_version")
    assert downgraded == before
    store.dispose()


def test_a_newer_revision_than_this_taiex_knows_is_an_error(database_url: str) -> None:
    store = Store(database_url)
    store.upgrade()
    set_revision(store, "0099_from_the_future")
    with pytest.raises(StorageError, match="revision '0099_from_the_future', which this taiex"):
        store.upgrade()
    assert store.revision() == "0099_from_the_future"
    store.dispose()


def test_a_database_from_before_migrations_lacking_a_column_is_refused(database_url: str) -> None:
    store = pre_migration_database(database_url)
    drop_column(store, "model_versions", "decision")
    with pytest.raises(
        StorageError,
        match=r"^database error while checking the schema: model_versions lacks decision",
    ):
        store.upgrade()
    assert store.revision() is None
    store.dispose()


def test_a_database_from_before_migrations_lacking_a_table_gets_it(database_url: str) -> None:
    store = pre_migration_database(database_url)
    drop_table(store, "signals")
    assert store.upgrade() == HEAD
    assert store.signals.count() == 0 and store.forecasts.count() == 1
    store.dispose()


def test_upgrades_at_once_on_an_empty_database_all_succeed(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(3)]
    results: list[object] = []

    def upgrade(store: Store) -> None:
        try:
            results.append(store.upgrade())
        except Exception as exc:  # reported below: the point is that none fails
            results.append(exc)

    threads = [threading.Thread(target=upgrade, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [HEAD] * 3
    assert stores[0].revision() == HEAD
    for store in stores:
        store.dispose()


def test_a_database_at_the_head_is_opened_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'taiex.db'}"
    Store(url).upgrade()
    code = (
        "import sys; from taiex.store import Store; "
        f"store = Store({url!r}); store.upgrade(); print('alembic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"
