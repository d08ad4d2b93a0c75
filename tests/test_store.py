"""The store on SQLite, MariaDB and PostgreSQL: exact prices, idempotent merges and loads, locks."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from taiex.calendar import Month
from taiex.errors import InputError, LockedError, StorageError
from taiex.source import DailyRow
from taiex.store import Store, build_url, load_id_for, redact_url, url_password
from taiex.store.engine import check_connection, make_engine
from taiex.store.testing import count, end_lock_holder, insert_rows, rows
from tests.clock import StepClock, with_clock


def day(date: str, o: str, h: str, low: str, c: str) -> DailyRow:
    return DailyRow(dt.date.fromisoformat(date), *(Decimal(v) for v in (o, h, low, c)))


ROWS = [
    day("2024-12-02", "22456.50", "22802.53", "22456.50", "22736.93"),
    day("2024-12-03", "22800.01", "22900.99", "22700.10", "22850.00"),
    # The column's extremes, after a hole (the session of 2024-12-05 missing): no daily limit
    # between days that are not consecutive sessions.
    day("2024-12-06", "0.01", "99999999.99", "0.01", "12345678.91"),
]
REVISED = day("2024-12-03", "22800.01", "22900.99", "22700.10", "22850.01")
LOAD = load_id_for(dt.date(2024, 12, 31), [Month(2024, 12)])


def timestamps(store: Store) -> dict[dt.date, tuple[dt.datetime, dt.datetime]]:
    return {r["date"]: (r["created_at"], r["updated_at"]) for r in rows(store, "weighted_index")}


def test_prices_round_trip_to_the_cent(store: Store) -> None:
    result = store.merge_rows(ROWS, source="test", month="2024-12")
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert store.read_rows() == ROWS
    frame = store.read_history()
    assert list(frame.columns) == ["date", "open", "high", "low", "close"]
    assert frame["close"].tolist() == [22736.93, 22850.00, 12345678.91]


def test_a_rerun_changes_nothing(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    store.merge_rows(ROWS, source="test")
    before = store.fingerprint()
    clock.advance(hours=1)  # a touched row would get this later updated_at
    result = store.merge_rows(ROWS, source="test")
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert store.fingerprint() == before
    assert count(store, "weighted_index_temp") == 0


def test_a_revision_updates_only_that_row(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    store.merge_rows(ROWS, source="test")
    before = timestamps(store)
    assert set(before.values()) == {(clock.now, clock.now)}  # the store's clock, nothing else
    later = clock.advance(hours=1)
    revised = [ROWS[0], REVISED, ROWS[2]]
    with caplog.at_level("INFO", logger="taiex.store"):
        result = store.merge_rows(revised, source="test")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    assert store.read_rows() == revised
    after = timestamps(store)
    assert after.pop(REVISED.date) == (before.pop(REVISED.date)[0], later)  # created_at kept
    assert after == before
    assert "revised 2024-12-03" in caplog.text and "22850.00" in caplog.text


def test_new_and_old_dates_in_one_merge(store: Store) -> None:
    store.merge_rows(ROWS[:2], source="test")
    result = store.merge_rows(ROWS[1:], source="test")
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)
    assert store.read_rows() == ROWS


def test_every_merge_is_on_record(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    store.merge_rows(ROWS, source="twse", month="2024-12")
    clock.advance(seconds=1)
    store.merge_rows([], source="twse", month="2025-01")
    last = store.last_load()
    assert last is not None
    assert (last.source, last.month, last.rows, last.loaded_at) == ("twse", "2025-01", 0, clock.now)
    assert store.loads.count() == 2


def test_a_failed_merge_leaves_nothing_behind(store: Store) -> None:
    store.merge_rows(ROWS[:1], source="test")
    before = store.fingerprint()
    duplicate = [ROWS[1], ROWS[1]]  # breaks the staging table's unique (load, date)
    with pytest.raises(StorageError, match=r"^database error while merging 2 rows from test: "):
        store.merge_rows(duplicate, source="test")
    assert store.fingerprint() == before
    assert count(store, "weighted_index_temp") == 0
    assert store.loads.count() == 1


def test_summary(store: Store) -> None:
    assert store.summary() == {"rows": 0, "first_date": None, "last_date": None}
    store.merge_rows(ROWS, source="test")
    assert store.summary() == {
        "rows": 3,
        "first_date": dt.date(2024, 12, 2),
        "last_date": dt.date(2024, 12, 6),
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


def test_a_lock_covers_its_database_not_the_whole_server(store: Store, tmp_path: Path) -> None:
    """Two databases on one server (two installs, two test workers) never block each other:
    MySQL's GET_LOCK names are server-wide, so the database is part of the key."""
    from taiex.store.testing import worker_database

    url = store.engine.url.render_as_string(hide_password=False)
    if store.engine.dialect.name == "sqlite":
        sibling = f"sqlite:///{tmp_path / 'sibling.db'}"
    else:
        sibling = worker_database(url, "sibling")
    other = Store(sibling)
    try:
        with store.lock("etl"), other.lock("etl"):
            pass
    finally:
        other.dispose()


def test_a_waiting_lock_is_taken_once_released(store: Store) -> None:
    other = Store(store.engine.url.render_as_string(hide_password=False))
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.lock("schema"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(LockedError), other.lock("schema"):  # a wait of 0 gives up at once
            pass
        threading.Timer(0.2, release.set).start()
        with other.lock("schema", wait=30):  # taken when the holder lets go
            assert release.is_set()
    finally:
        release.set()
        thread.join()
        other.dispose()


def test_an_error_inside_a_held_lock_is_not_blamed_on_the_lock(store: Store) -> None:
    with pytest.raises(Exception) as caught, store.lock("etl"):
        rows(store, "no_such_table")
    assert "lock" not in str(caught.value)


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
    assert count(store, "weighted_index") == 3
    assert len(errors) < 4


# ---------------------------------------------------------------- staged loads (the DAG's steps)


def test_load_ids_come_from_the_run() -> None:
    day_, months = dt.date(2026, 8, 18), [Month(2026, 7), Month(2026, 8)]
    assert load_id_for(day_, months) == load_id_for(day_, ["2026-08", "2026-07"])
    assert load_id_for(day_, months).startswith("20260818-")
    assert len(load_id_for(day_, months)) <= 32  # weighted_index_temp.load_id is String(32)
    others = {
        load_id_for(dt.date(2026, 8, 19), months),
        load_id_for(day_, months[1:]),
        load_id_for(day_, months),
    }
    assert len(others) == 3


def test_staging_and_merging_as_separate_steps(store: Store) -> None:
    assert store.stage_rows(ROWS, load_id=LOAD) == LOAD
    assert store.summary()["rows"] == 0  # staged only
    assert store.prices.staged() == {LOAD: [r.date for r in ROWS]}
    result = store.merge_staged(LOAD, source="dag", month="2024-12")
    assert (result.rows, result.inserted) == (3, 3)
    assert store.read_rows() == ROWS
    # A retried merge task (its rows merged and gone) says what the merge did, and adds nothing.
    again = store.merge_staged(LOAD, source="dag", month="2024-12")
    assert again == result
    assert store.loads.count() == 1
    assert count(store, "weighted_index_temp") == 0


def test_merging_an_unknown_load_id_is_an_error_that_records_nothing(store: Store) -> None:
    with pytest.raises(InputError, match=r"^no staged rows for load id 'nothing-here'"):
        store.merge_staged("nothing-here", source="dag")
    assert store.loads.count() == 0
    assert store.loads.get("nothing-here") is None


def test_a_retried_save_replaces_its_own_rows(store: Store) -> None:
    store.stage_rows(ROWS, load_id=LOAD)
    # The retry sees TWSE's revised day and one day less: its rows replace the first attempt's.
    retry = [ROWS[0], REVISED]
    store.stage_rows(retry, load_id=LOAD)
    assert store.prices.staged() == {LOAD: [r.date for r in retry]}
    result = store.merge_staged(LOAD, source="dag")
    assert (result.rows, result.inserted, result.updated) == (2, 2, 0)
    assert store.read_rows() == retry
    assert store.prices.staged() == {}


def test_a_cleared_run_merges_again_under_its_id(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    store.stage_rows(ROWS, load_id=LOAD)
    store.merge_staged(LOAD, source="dag")
    clock.advance(hours=2)
    store.stage_rows([ROWS[0], REVISED, ROWS[2]], load_id=LOAD)  # the day's save and merge, again
    result = store.merge_staged(LOAD, source="dag")
    assert (result.rows, result.inserted, result.updated) == (3, 0, 1)
    assert store.read_rows() == [ROWS[0], REVISED, ROWS[2]]
    record = store.loads.get(LOAD)
    assert record is not None and (record.updated, record.loaded_at) == (1, clock.now)
    assert store.loads.count() == 1  # one row per load id: what its latest merge did


def test_a_failed_loads_rows_are_removed_by_the_next_load(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    failed = load_id_for(dt.date(2024, 12, 30), ["2024-12"])
    store.stage_rows(ROWS, load_id=failed)  # its merge never ran
    clock.advance(hours=23)
    in_flight = load_id_for(dt.date(2024, 12, 31), ["2024-11"])
    store.stage_rows(ROWS[:1], load_id=in_flight)  # another run's save, its merge still to come
    assert set(store.prices.staged()) == {failed, in_flight}  # a day has not passed yet

    clock.advance(hours=2)
    store.stage_rows(ROWS[1:], load_id=LOAD)
    assert store.prices.staged() == {in_flight: [ROWS[0].date], LOAD: [ROWS[1].date, ROWS[2].date]}
    assert store.merge_staged(in_flight, source="dag").inserted == 1  # untouched, still merges
    with pytest.raises(InputError, match="no staged rows"):
        store.merge_staged(failed, source="dag")


def test_rows_staged_under_an_id_before_its_merge_are_removed(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    # Staged by a zombie retry while the merge ran: the merge took what it saw, then recorded.
    staged_at = clock.now - dt.timedelta(minutes=5)
    insert_rows(
        store,
        "weighted_index_temp",
        [{"load_id": "zombie", "date": ROWS[0].date, "open": 1, "high": 1, "low": 1, "close": 1,
          "staged_at": staged_at}],
    )  # fmt: skip
    insert_rows(
        store,
        "etl_loads",
        [{"load_id": "zombie", "source": "dag", "rows": 3, "inserted": 3, "updated": 0,
          "loaded_at": clock.now}],
    )  # fmt: skip
    store.merge_rows(ROWS, source="test")  # any load cleans up
    assert store.prices.staged() == {}
    assert store.read_rows() == ROWS


# ---------------------------------------------------------------- URLs


def test_urls_are_built_escaped_and_shown_without_their_password() -> None:
    url = build_url(
        "postgresql+psycopg", username="taiex", password="p@ss/w:rd", host="db", port=5432,
        database="taiex",
    )  # fmt: skip
    assert url_password(url) == "p@ss/w:rd"
    assert redact_url(url) == "postgresql+psycopg://taiex:***@db:5432/taiex"
    assert build_url("sqlite", database="/srv/taiex.db") == "sqlite:////srv/taiex.db"
    assert url_password("sqlite:////srv/taiex.db") is None
    assert url_password(url, raw=True) == "p%40ss%2Fw%3Ard"
    # A URL that does not parse is shown as it is, its password hidden all the same.
    assert redact_url("not a url") == "not a url"
    assert redact_url("mysql://me:p@ss:word@db:port/x") == "mysql://me:***@db:port/x"


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


def test_connections_opening_a_new_sqlite_file_at_once_all_open_it(tmp_path: Path) -> None:
    # Switching a new file to WAL needs it alone, and SQLite refuses at once (no busy wait)
    # when another connection opens it in that instant: before the retry, about 3 % of these
    # rounds of six failed with "database is locked" (CI saw it as a failed upgrade).
    for round_ in range(150):
        url = f"sqlite:///{tmp_path / f'{round_}.db'}"
        failures: list[Exception] = []

        def open_it(url: str = url, failures: list[Exception] = failures) -> None:
            engine = make_engine(url)
            try:
                check_connection(engine)
            except StorageError as exc:
                failures.append(exc)
            engine.dispose()

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
    with sqlite3.connect(tmp_path / "0.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_job_error_after_the_lock_connection_died_is_the_one_reported(store: Store) -> None:
    if store.engine.dialect.name == "sqlite":
        pytest.skip("a file lock has no connection to lose")
    with pytest.raises(StorageError, match="while merging") as caught, store.lock("etl"):
        end_lock_holder(store, "etl")
        raise StorageError("database error while merging 3 rows from twse: server closed")
    assert "lock" not in str(caught.value)
    # Ending normally, the lost lock is reported as lost while releasing, never "taking".
    with pytest.raises(StorageError, match="while releasing lock 'etl'"), store.lock("etl"):
        end_lock_holder(store, "etl")
    with store.lock("etl"):  # and the lock is free again
        pass


def test_the_history_follows_every_change_another_writer_makes(
    store: Store, database_url: str
) -> None:
    """The reader keeps the history it read; a second store adds, revises (within the same
    second) and inserts days before the last one, and every read sees the table as it is."""
    moment = dt.datetime(2024, 12, 31, 10, 0, 0)
    writer = Store(database_url, clock=lambda: moment)
    try:
        writer.merge_rows(ROWS[:2], source="test")
        assert store.read_history()["close"].tolist() == [22736.93, 22850.00]
        writer.merge_rows(ROWS[2:], source="test")  # after the last day read
        assert store.read_history()["close"].tolist() == [22736.93, 22850.00, 12345678.91]
        writer.merge_rows([REVISED], source="test")  # same count, same last day, same second
        assert store.read_history()["close"].tolist()[1] == 22850.01
        early = day("2024-11-29", "22000.00", "22100.00", "21900.00", "22050.00")
        writer.merge_rows([early], source="test")  # before the last day read
        history = store.read_history()
        assert [d.date() for d in history["date"]] == [early.date, *(r.date for r in ROWS)]
        assert history.equals(Store(database_url).read_history())  # as a fresh read gives
        part = store.read_history(start=ROWS[0].date, end=ROWS[1].date)
        assert part["close"].tolist() == [22736.93, 22850.01]
        part.loc[0, "close"] = -1.0  # the caller's own frame
        assert store.read_history(end=ROWS[0].date)["close"].iloc[-1] == 22736.93
    finally:
        writer.dispose()
