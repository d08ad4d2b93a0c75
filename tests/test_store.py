"""The store on SQLite, MariaDB and PostgreSQL: exact prices, idempotent merges, locks."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from taiex.errors import LockedError, StorageError
from taiex.source import DailyRow
from taiex.store import (
    Store,
    etl_loads,
    insert_missing,
    signals,
    weighted_index,
    weighted_index_temp,
)


def day(date: str, o: str, h: str, low: str, c: str) -> DailyRow:
    return DailyRow(dt.date.fromisoformat(date), *(Decimal(v) for v in (o, h, low, c)))


D2 = dt.date(2025, 1, 2)
ROWS = [
    day("2024-12-02", "22456.50", "22802.53", "22456.50", "22736.93"),
    day("2024-12-03", "22800.01", "22900.99", "22700.10", "22850.00"),
    day("2024-12-04", "0.01", "99999999.99", "0.01", "12345678.91"),  # the column's extremes
]


def timestamps(store: Store) -> dict[dt.date, tuple[dt.datetime, dt.datetime]]:
    query = select(weighted_index.c.date, weighted_index.c.created_at, weighted_index.c.updated_at)
    with store.engine.connect() as conn:
        return {d: (c, u) for d, c, u in conn.execute(query)}


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))  # type: ignore[arg-type]


def test_prices_round_trip_to_the_cent(store: Store) -> None:
    result = store.merge_rows(ROWS, source="test", month="2024-12")
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert store.read_rows() == ROWS
    frame = store.read_history()
    assert list(frame.columns) == ["date", "open", "high", "low", "close"]
    assert frame["close"].tolist() == [22736.93, 22850.00, 12345678.91]


def test_a_rerun_changes_nothing(store: Store) -> None:
    store.merge_rows(ROWS, source="test")
    before = store.fingerprint()
    time.sleep(1.1)  # a touched row would get a later updated_at
    result = store.merge_rows(ROWS, source="test")
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert store.fingerprint() == before
    assert count(store, weighted_index_temp) == 0


def test_a_revision_updates_only_that_row(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.merge_rows(ROWS, source="test")
    before = timestamps(store)
    time.sleep(1.1)
    revised = [ROWS[0], day("2024-12-03", "22800.01", "22900.99", "22700.10", "22850.01"), ROWS[2]]
    with caplog.at_level("INFO", logger="taiex.store"):
        result = store.merge_rows(revised, source="test")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    assert store.read_rows() == revised
    after = timestamps(store)
    changed = dt.date(2024, 12, 3)
    assert after[changed][0] == before[changed][0]  # created_at kept
    assert after[changed][1] > before[changed][1]  # updated_at moved
    assert {d: t for d, t in after.items() if d != changed} == {
        d: t for d, t in before.items() if d != changed
    }
    assert "revised 2024-12-03" in caplog.text and "22850.00" in caplog.text


def test_new_and_old_dates_in_one_merge(store: Store) -> None:
    store.merge_rows(ROWS[:2], source="test")
    result = store.merge_rows(ROWS[1:], source="test")
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)
    assert store.read_rows() == ROWS


def test_every_merge_is_on_record(store: Store) -> None:
    store.merge_rows(ROWS, source="twse", month="2024-12")
    store.merge_rows([], source="twse", month="2025-01")
    last = store.last_load()
    assert last is not None and (last.source, last.month, last.rows) == ("twse", "2025-01", 0)
    assert count(store, etl_loads) == 2


def test_a_failed_merge_leaves_nothing_behind(store: Store) -> None:
    store.merge_rows(ROWS[:1], source="test")
    before = store.fingerprint()
    duplicate = [ROWS[1], ROWS[1]]  # breaks the staging table's unique (load, date)
    with pytest.raises(StorageError, match="merging 2 rows from test"):
        store.merge_rows(duplicate, source="test")
    assert store.fingerprint() == before
    assert count(store, weighted_index_temp) == 0
    assert count(store, etl_loads) == 1


def test_summary(store: Store) -> None:
    assert store.summary() == {"rows": 0, "first_date": None, "last_date": None}
    store.merge_rows(ROWS, source="test")
    assert store.summary() == {
        "rows": 3,
        "first_date": dt.date(2024, 12, 2),
        "last_date": dt.date(2024, 12, 4),
    }
    assert store.read_rows(start=dt.date(2024, 12, 3), end=dt.date(2024, 12, 3)) == ROWS[1:2]


def test_the_lock_admits_one_holder(store: Store) -> None:
    other = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        with store.lock("etl"):
            with pytest.raises(LockedError, match="already running 'etl'"), other.lock("etl"):
                pass
            with other.lock("something-else"):
                pass
        with other.lock("etl"):  # released on exit
            pass
    finally:
        other.dispose()


def test_concurrent_merges_never_duplicate(store: Store) -> None:
    errors: list[Exception] = []

    def merge() -> None:
        try:
            store.merge_rows(ROWS, source="thread")
        except StorageError as exc:  # a lost race is an error, never a duplicate
            errors.append(exc)

    threads = [threading.Thread(target=merge) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read_rows() == ROWS
    assert count(store, weighted_index) == 3
    assert len(errors) < 4


def test_insert_missing_skips_stored_keys_only(store: Store) -> None:
    now = dt.datetime(2025, 1, 2, 8, 0)
    row = {
        "model_version": "classifier-v1",
        "based_on": dt.date(2024, 12, 31),
        "target_date": dt.date(2025, 1, 2),
        "probability": 0.7,
        "signal": 1,
        "threshold": 0.5,
        "created_at": now,
    }
    with store.engine.begin() as conn:
        insert_missing(conn, signals, [row])
    with store.engine.begin() as conn:  # a rerun, even with another value, adds nothing
        insert_missing(conn, signals, [{**row, "probability": 0.1}, {**row, "based_on": D2}])
    with store.engine.connect() as conn:
        stored = conn.execute(select(signals.c.based_on, signals.c.probability)).all()
    assert sorted(stored) == [(dt.date(2024, 12, 31), 0.7), (D2, 0.7)]
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        insert_missing(conn, signals, [{**row, "based_on": dt.date(2025, 1, 3), "signal": None}])


def test_staging_and_merging_as_separate_steps(store: Store) -> None:
    load_id = store.stage_rows(ROWS)
    assert store.summary()["rows"] == 0  # staged only
    assert count(store, weighted_index_temp) == 3
    result = store.merge_staged(load_id, source="dag", month="2024-12")
    assert (result.rows, result.inserted) == (3, 3)
    assert store.read_rows() == ROWS
    again = store.merge_staged(load_id, source="dag", month="2024-12")  # a retried task
    assert (again.rows, again.inserted, again.updated) == (0, 0, 0)
    assert count(store, weighted_index_temp) == 0


# ---------------------------------------------------------------- bad URLs and lost connections


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgressql://me:s3cret@h/x", "no such database dialect"),
        ("postgresql+asyncpg://me:s3cret@h/x", "No module named 'asyncpg'"),
        ("mysql+pymysql://me:s3cret@h:notaport/x", "is not a database URL"),
    ],
)
def test_a_bad_url_is_a_storage_error_without_its_password(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as caught:
        Store(url)
    assert "s3cret" not in str(caught.value) and "me:***@" in str(caught.value)


def test_a_database_in_a_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot create the folder"):
        Store(f"sqlite:///{tmp_path / 'file' / 'taiex.db'}")


def _kill_lock_connection(store: Store) -> None:
    """End the server session that holds the lock, as a server restart would."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                )
            )
        else:
            holder = conn.scalar(text("SELECT IS_USED_LOCK('taiex:etl')"))
            conn.execute(text(f"KILL {int(holder)}"))
        conn.commit()


def test_a_job_error_after_the_lock_connection_died_is_the_one_reported(store: Store) -> None:
    if store.engine.dialect.name == "sqlite":
        pytest.skip("a file lock has no connection to lose")
    with pytest.raises(StorageError, match="while merging") as caught, store.lock("etl"):
        _kill_lock_connection(store)
        raise StorageError("database error while merging 3 rows from twse: server closed")
    assert "lock" not in str(caught.value)
    # Ending normally, the lost lock is reported as lost while releasing, never "taking".
    with pytest.raises(StorageError, match="while releasing lock 'etl'"), store.lock("etl"):
        _kill_lock_connection(store)
    with store.lock("etl"):  # and the lock is free again
        pass
