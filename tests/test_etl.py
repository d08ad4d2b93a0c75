"""Loading months from a local TWSE server: exact tables after every fault, the cache, reruns."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from taiex.calendar import Month, month_range
from taiex.errors import FetchError, InputError, LockedError, UpstreamFormatError
from taiex.etl import (
    Loader,
    RawCache,
    backfill_months,
    export_csv,
    import_csv,
    is_final,
    load_months,
    stage_months,
    update_months,
)
from taiex.settings import Settings
from taiex.source import TwseClient
from taiex.store import Store, load_id_for
from taiex.store.testing import count, update_rows
from tests.series import real_history
from tests.twse_server import TwseServer

DEC31 = dt.date(2024, 12, 31)
ALL = month_range(Month(2023, 11), Month(2024, 12))


def expected_rows(
    history: pd.DataFrame,
) -> list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal]]:
    return [
        (
            r.date.date(),
            *(Decimal(f"{getattr(r, c):.2f}") for c in ("open", "high", "low", "close")),
        )
        for r in history.itertuples()
    ]


def stored(store: Store) -> list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal]]:
    return [(r.date, r.open, r.high, r.low, r.close) for r in store.read_rows()]


def make_loader(settings: Settings, today: dt.date = DEC31) -> Loader:
    """A loader living on ``today``: the server's today is the real one (the clock) too."""
    store = Store.from_settings(settings)
    return Loader(
        store,
        TwseClient.from_settings(settings),
        RawCache(store),
        today=today,
        revision_days=settings.revision_days,
        clock=lambda: today,
    )


def backfill(settings: Settings, today: dt.date = DEC31, refresh: bool = False) -> Loader:
    loader = make_loader(settings, today)
    load_months(loader, backfill_months(Month(2023, 11), None, today), refresh=refresh)
    return loader


def test_backfill_reproduces_the_history(env: Settings, history: pd.DataFrame) -> None:
    loader = backfill(env)
    assert stored(loader.store) == expected_rows(history)
    assert loader.store.responses.count() == len(ALL)


@pytest.mark.parametrize(
    "fault", ["500", "403", "html", "drop", "truncated", "malformed", "timeout", "wrong_month"]
)
def test_table_is_exact_after_each_transient_fault(
    env: Settings, twse: TwseServer, history: pd.DataFrame, fault: str
) -> None:
    twse.inject("2024-03", fault, fault)
    twse.inject("2024-09", fault)
    loader = backfill(env)
    assert stored(loader.store) == expected_rows(history)
    assert twse.months_asked().count("2024-03") == 3


@pytest.mark.parametrize("fault", ["500", "html", "drop", "timeout", "wrong_month"])
def test_a_month_that_keeps_failing_stops_the_run_and_a_rerun_continues(
    env: Settings, twse: TwseServer, history: pd.DataFrame, fault: str
) -> None:
    twse.inject("2024-05", *[fault] * (env.twse_retries + 1))
    with pytest.raises(FetchError, match=r"month 2024-05, http://127\.0\.0\.1") as caught:
        backfill(env)
    assert caught.value.url.endswith("date=20240501&response=json")
    store = Store.from_settings(env)
    before_may = history[history["date"] < "2024-05-01"]
    assert stored(store) == expected_rows(before_may)

    asked_before = len(twse.requests)
    loader = backfill(env)
    assert stored(loader.store) == expected_rows(history)
    # The rerun asks only the failed month and those after it: the rest comes from the cache.
    assert twse.months_asked()[asked_before:] == [
        str(m) for m in month_range(Month(2024, 5), Month(2024, 12))
    ]


@pytest.mark.parametrize("fault", ["dash_cell", "bad_ohlc", "duplicate"])
def test_a_bad_row_stops_the_run_naming_it_and_keeps_what_was_stored(
    env: Settings, twse: TwseServer, history: pd.DataFrame, fault: str
) -> None:
    twse.inject("2024-05", fault)
    with pytest.raises(UpstreamFormatError, match=r"TWSE 2024-05 row \d+"):
        backfill(env)
    store = Store.from_settings(env)
    assert stored(store) == expected_rows(history[history["date"] < "2024-05-01"])
    assert RawCache(store).read(Month(2024, 5)) is None  # a bad response is not cached


def test_a_cached_rerun_asks_only_the_current_month(env: Settings, twse: TwseServer) -> None:
    loader = backfill(env)
    before = loader.store.fingerprint()
    asked_before = len(twse.requests)
    backfill(env)
    assert twse.months_asked()[asked_before:] == ["2024-12"]
    assert loader.store.fingerprint() == before


def test_refresh_asks_every_month_again(env: Settings, twse: TwseServer) -> None:
    backfill(env)
    asked_before = len(twse.requests)
    backfill(env, refresh=True)
    assert len(twse.requests) - asked_before == len(ALL)


def test_previous_month_is_asked_again_in_the_first_days(
    env: Settings, twse: TwseServer, history: pd.DataFrame
) -> None:
    twse.set_history(history, today=dt.date(2024, 12, 31))
    backfill(env, today=dt.date(2024, 12, 31))
    # TWSE revises Dec 31 after the fact; the update on Jan 3 must pick it up.
    revised = history.copy()
    revised.loc[revised.index[-1], "close"] = round(revised["close"].iloc[-1] + 1.0, 2)
    revised.loc[revised.index[-1], "high"] = max(
        revised["high"].iloc[-1], revised["close"].iloc[-1]
    )
    twse.set_history(revised, today=dt.date(2025, 1, 3))
    loader = make_loader(env, today=dt.date(2025, 1, 3))
    months = update_months(loader.today, loader.store.summary()["last_date"], env.revision_days)
    asked_before = len(twse.requests)
    loads = load_months(loader, months)
    assert twse.months_asked()[asked_before:] == ["2024-12", "2025-01"]
    assert [load.result.updated for load in loads] == [1, 0]
    assert stored(loader.store) == expected_rows(revised)


def test_update_catches_up_on_missed_months() -> None:
    assert update_months(dt.date(2024, 12, 20), dt.date(2024, 10, 15), 5) == [
        Month(2024, 10),
        Month(2024, 11),
        Month(2024, 12),
    ]
    assert update_months(dt.date(2024, 12, 20), dt.date(2024, 12, 19), 5) == [Month(2024, 12)]
    assert update_months(dt.date(2025, 1, 2), dt.date(2024, 12, 31), 5) == [
        Month(2024, 12),
        Month(2025, 1),
    ]
    assert update_months(dt.date(1999, 2, 20), None, 5)[0] == Month(1999, 1)


def test_finality_of_a_month() -> None:
    dec = Month(2024, 12)
    assert not is_final(dec, dt.date(2024, 12, 31), rows=21, revision_days=5)
    assert not is_final(dec, dt.date(2025, 1, 5), rows=21, revision_days=5)
    assert is_final(dec, dt.date(2025, 1, 6), rows=21, revision_days=5)
    assert not is_final(dec, dt.date(2025, 6, 1), rows=0, revision_days=5)


def test_backfill_months_are_checked() -> None:
    today = dt.date(2024, 12, 31)
    assert backfill_months(None, None, today)[0] == Month(1999, 1)
    with pytest.raises(InputError, match="before 1999-01"):
        backfill_months(Month(1998, 12), None, today)
    with pytest.raises(InputError, match="in the future"):
        backfill_months(None, Month(2025, 1), today)
    with pytest.raises(InputError, match="before --since"):
        backfill_months(Month(2024, 5), Month(2024, 4), today)


def test_a_damaged_cached_response_is_fetched_again(env: Settings, twse: TwseServer) -> None:
    loader = backfill(env)
    cache = RawCache(loader.store)
    damaged = update_rows(
        loader.store, "twse_responses", {"body": b'{"stat": "OK", "data": ['}, month="2024-03"
    )
    assert damaged == 1
    asked_before = len(twse.requests)
    backfill(env)
    assert sorted(twse.months_asked()[asked_before:]) == ["2024-03", "2024-12"]
    assert cache.read(Month(2024, 3)) is not None


def test_raw_cache_holds_the_response_verbatim(env: Settings, twse: TwseServer) -> None:
    loader = backfill(env)
    cached = RawCache(loader.store).read(Month(2024, 2))
    assert cached is not None
    payload = json.loads(cached.body)
    assert payload["title"].startswith("113年02月") and payload["date"] == "20240201"
    assert cached.url == f"{twse.url}?date=20240201&response=json"
    assert cached.fetched_on == DEC31
    stored_response = loader.store.responses.get("2024-02")
    assert stored_response is not None and stored_response.intact
    assert stored_response.sha256 == hashlib.sha256(cached.body).hexdigest()
    assert stored_response.fetched_at is not None
    # Nothing on disk but the SQLite database, its journal and lock files: no cache folder.
    assert {p.name.split(".")[0] for p in env.home.rglob("*")} == {"taiex"}


def test_a_save_on_another_home_reads_what_download_stored(
    env: Settings, twse: TwseServer, tmp_path: Path
) -> None:
    """download and save_to_database on two workers (two homes, one database): TWSE is asked
    for each month once, and a rerun of either asks nothing."""
    from taiex import pipeline

    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    first = pipeline.Context.open(env.replace(db_url=shared, home=tmp_path / "worker-1"))
    months = pipeline.download(first, DEC31)
    months_again = pipeline.download(first, DEC31)
    first.close()
    asked = twse.months_asked()
    second = pipeline.Context.open(env.replace(db_url=shared, home=tmp_path / "worker-2"))
    load_id = pipeline.save_to_database(second, months, DEC31)
    assert pipeline.save_to_database(second, months, DEC31) == load_id
    second.close()
    assert months_again == months and len(months) == len(asked)
    assert twse.months_asked() == asked  # neither the rerun nor the save asked again


def test_empty_future_month_is_an_empty_load(env: Settings, twse: TwseServer) -> None:
    loader = make_loader(env, today=dt.date(2025, 1, 2))
    loads = load_months(loader, [Month(2025, 1)])
    assert loads[0].result.rows == 0
    assert loader.store.summary()["rows"] == 0


def test_two_loads_at_once_the_second_is_refused(env: Settings) -> None:
    loader = make_loader(env)
    with loader.store.lock("etl"), pytest.raises(LockedError, match="already running 'etl'"):
        backfill(env)


# ---------------------------------------------------------------- CSV


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_then_export_round_trips(
    env: Settings, history: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    history.assign(date=history["date"].dt.strftime("%Y-%m-%d")).to_csv(
        source, index=False, float_format="%.2f"
    )
    store = Store.from_settings(env)
    result = import_csv(store, source)
    assert (result.inserted, result.updated) == (len(history), 0)
    assert import_csv(store, source).unchanged == len(history)
    out = tmp_path / "out.csv"
    assert export_csv(store, out) == len(history)
    assert out.read_text() == source.read_text()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2024-01-03,100.00,110.00,90.00,--", r"line 3: close '--' is not a number"),
        ("2024-01-03,100.00,110.00,90.00,", r"line 3: close '' is not a number"),
        ("2024-13-03,100.00,110.00,90.00,95.00", r"line 3: '2024-13-03' is not a date"),
        ("2024-01-03,100.00,99.00,90.00,95.00", r"line 3: high 99.00 is below"),
        ("2024-01-03,100.00,110.00,96.00,95.00", r"line 3: low 96.00 is above"),
        ("2024-01-02,100.00,110.00,90.00,95.00", r"line 3: date 2024-01-02 repeats line 2"),
        ("2024-01-03,100.001,110.00,90.00,95.00", r"line 3: open '100.001' is not a price"),
        ("2024-01-03,100.00,110.00", r"line 3: expected 5 values"),
    ],
)
def test_a_bad_csv_line_is_named_and_nothing_is_loaded(
    env: Settings, tmp_path: Path, line: str, message: str
) -> None:
    good = ["date,open,high,low,close", "2024-01-02,100.00,110.00,90.00,95.00"]
    path = write_csv(tmp_path / "bad.csv", [*good, line, "2024-01-04,1.00,2.00,1.00,2.00"])
    store = Store.from_settings(env)
    with pytest.raises(InputError, match=message) as caught:
        import_csv(store, path)
    assert str(path) in str(caught.value)
    assert store.summary()["rows"] == 0


def test_csv_needs_its_header(env: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["Date,Open", "2024-01-02,1"])
    with pytest.raises(InputError, match="line 1 must be the header"):
        import_csv(Store.from_settings(env), path)


# ---------------------------------------------------------------- processes


def taiex(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "taiex.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def slow_env(settings: Settings, interval: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
    return env | {
        "TAIEX_HOME": str(settings.home),
        "TAIEX_TWSE_URL": settings.twse_url,
        "TAIEX_TWSE_MIN_INTERVAL": interval,
    }


def wait_for_rows(store: Store, at_least: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while store.summary()["rows"] < at_least:
        assert time.monotonic() < deadline, "the backfill did not start loading"
        time.sleep(0.05)


def test_a_backfill_killed_midway_is_completed_exactly_by_a_rerun(
    env: Settings, history: pd.DataFrame
) -> None:
    process_env = slow_env(env, "0.15")
    args = ("backfill", "--since", "2023-11", "--as-of", "2024-12-31")
    first = taiex(*args, env=process_env)
    store = Store.from_settings(env)
    wait_for_rows(store, 100)
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = store.summary()["rows"]
    assert 100 <= partial < len(history)

    second = taiex(*args, env=slow_env(env, "0"))
    assert second.wait(timeout=60) == 0, second.stderr.read() if second.stderr else ""
    assert stored(store) == expected_rows(history)
    assert count(store, "weighted_index_temp") == 0


def test_two_backfills_started_together_neither_corrupt_nor_duplicate(
    env: Settings, history: pd.DataFrame
) -> None:
    args = ("backfill", "--since", "2023-11", "--as-of", "2024-12-31")
    # 14 months 0.3 s apart: the first to take the lock holds it for about 4 s.
    both = [taiex(*args, env=slow_env(env, "0.3")) for _ in range(2)]
    codes = [p.wait(timeout=60) for p in both]
    assert sorted(codes) == [0, 75]
    refused = both[codes.index(75)]
    assert refused.stderr is not None
    message = refused.stderr.read().decode()
    assert "already running 'etl'" in message and "Traceback" not in message
    assert len(message.strip().splitlines()) == 1
    assert stored(Store.from_settings(env)) == expected_rows(history)


@pytest.mark.realdata
def test_full_backfill_of_the_real_history_is_exact_to_the_cent(home: Path) -> None:
    history = real_history()
    with TwseServer(history, today=dt.date(2026, 8, 18)) as server:
        settings = Settings.from_env({"TAIEX_HOME": str(home), "TAIEX_TWSE_URL": server.url})
        settings = settings.replace(twse_min_interval=0.0)
        loader = make_loader(settings, today=dt.date(2026, 8, 18))
        load_months(loader, backfill_months(None, None, loader.today))
        assert len(server.requests) == 332
    assert stored(loader.store) == expected_rows(history)


def test_staging_reads_what_the_download_fetched_the_same_day(
    env: Settings, twse: TwseServer
) -> None:
    loader = make_loader(env)
    loader.rows(Month(2024, 12))  # the download step: the current month, never final
    asked = len(twse.requests)
    rows = make_loader(env).fresh_rows(Month(2024, 12))  # the staging step, same data day
    assert len(twse.requests) == asked and len(rows) == 22
    later = make_loader(env, today=dt.date(2025, 1, 2))  # a later day: the cache is stale
    later.fresh_rows(Month(2024, 12))
    assert len(twse.requests) == asked + 1


def test_a_retried_save_stages_under_the_same_id_and_leaves_no_orphans(
    env: Settings, twse: TwseServer, history: pd.DataFrame
) -> None:
    months = [Month(2024, 11), Month(2024, 12)]
    loader = make_loader(env)
    load_id = stage_months(loader, months)
    assert load_id == load_id_for(DEC31, months)
    assert stage_months(make_loader(env), months) == load_id
    in_months = history[history["date"] >= "2024-11-01"]
    assert {k: len(v) for k, v in loader.store.prices.staged().items()} == {load_id: len(in_months)}
    result = loader.store.merge_staged(load_id, source="twse")
    assert result.inserted == len(in_months)
    assert stored(loader.store) == expected_rows(in_months)
    assert count(loader.store, "weighted_index_temp") == 0


# ---------------------------------------------------------------- days that cannot be (issue 14)


def test_a_future_as_of_is_refused(env: Settings) -> None:
    store = Store.from_settings(env)
    with pytest.raises(InputError, match=r"--as-of 2025-01-15 is after today in Taipei"):
        Loader(
            store,
            TwseClient.from_settings(env),
            RawCache(store),
            today=dt.date(2025, 1, 15),
            clock=lambda: DEC31,
        )


def test_the_cache_records_the_real_day_of_the_fetch_never_the_as_of(
    env: Settings, twse: TwseServer
) -> None:
    """`--as-of` 2024-12-20 on the real 2024-12-22: the month is stamped 2024-12-22, so it is not
    final, and a later update asks TWSE again for the days it lacks."""
    store = Store.from_settings(env)
    loader = Loader(
        store,
        TwseClient.from_settings(env),
        RawCache(store),
        today=dt.date(2024, 12, 20),
        clock=lambda: dt.date(2024, 12, 22),
    )
    loader.rows(Month(2024, 11))
    cached = RawCache(store).read(Month(2024, 11))
    assert cached is not None and cached.fetched_on == dt.date(2024, 12, 22)
    # Fetched 22 days after its end, in real time: final. The same month fetched "as of" a day
    # before its end (the real day being the same) is final too: the as-of day plays no part.
    assert not loader.needs_fetch(Month(2024, 11))
    asked = len(twse.requests)
    loader.rows(Month(2024, 12))
    assert loader.needs_fetch(Month(2024, 12))  # fetched on its 22nd: not final
    assert len(twse.requests) == asked + 1


def write_rows(path: Path, rows: list[tuple[dt.date, str, str, str, str]], tail: str = "") -> Path:
    lines = ["date,open,high,low,close", *(",".join([d.isoformat(), *p]) for d, *p in rows)]
    return write_csv(path, [*lines, *([tail] if tail else [])])


def weekdays(start: dt.date, n: int) -> list[dt.date]:
    days = []
    day = start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


PRICES = ("100.00", "101.00", "99.00", "100.50")


def test_a_late_bad_line_in_a_big_csv_loads_nothing(store: Store, tmp_path: Path) -> None:
    """More rows than one batch, then a bad last line: the batches staged before roll back."""
    from taiex.etl import CSV_BATCH_ROWS

    days = weekdays(dt.date(2005, 1, 3), CSV_BATCH_ROWS * 2 + 10)
    path = write_rows(
        tmp_path / "big.csv", [(d, *PRICES) for d in days], "2030-01-02,1.00,2.00,1.00,2.00"
    )
    with pytest.raises(InputError, match=rf"line {len(days) + 2}: date 2030-01-02 is after"):
        import_csv(store, path, today=DEC31)
    assert store.summary()["rows"] == 0 and store.last_load() is None
    assert count(store, "weighted_index_temp") == 0
    good = write_rows(tmp_path / "good.csv", [(d, *PRICES) for d in days])
    result = import_csv(store, good, today=DEC31)
    assert (result.rows, result.inserted) == (len(days), len(days))
    assert store.summary()["rows"] == len(days)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2024-12-01,1.00,2.00,1.00,2.00", "date 2024-12-01 is a Sunday"),
        ("2025-01-02,1.00,2.00,1.00,2.00", "date 2025-01-02 is after today in Taipei"),
        ("1999-01-04,1.00,2.00,1.00,2.00", "date 1999-01-04 is before 1999-01-05"),
        ("2024-12-03,1.00,1000000.00,1.00,2.00", r"outside \(0, 1,000,000\)"),
        ("2024-12-03,1.00,12345678901234567,1.00,2.00", "outside"),
        ("2024-12-03,1.00," + "9" * 39 + ",1.00,2.00", "outside"),
        ("2024-12-03,1.00," + "9" * 400 + ",1.00,2.00", "high is 400 characters long"),
        ("2024-12-03,1.00,1e308,1.00,2.00", "high '1e308' is not a number"),
        ("2024-12-03,0.00,2.00,0.00,2.00", "open '0.00' is not a price"),
        ("2024-12-03,1.00,2.001,1.00,2.00", "more than 2 decimals"),
        ("2024-12-03,1.00,1_000,1.00,2.00", "is not a number"),
    ],
)
def test_invented_days_and_impossible_prices_are_refused(
    env: Settings, tmp_path: Path, line: str, message: str
) -> None:
    path = write_csv(tmp_path / "x.csv", ["date,open,high,low,close", line])
    store = Store.from_settings(env)
    with pytest.raises(InputError, match=rf"x\.csv: line 2: .*{message}"):
        import_csv(store, path, today=DEC31)
    assert store.summary()["rows"] == 0


def test_saturdays_are_accepted_and_suspects_flagged_then_deleted(
    env: Settings, tmp_path: Path
) -> None:
    from taiex.etl import data_status, delete_days

    rows = [
        (dt.date(2018, 12, 22), *PRICES),  # a known make-up Saturday
        (dt.date(2024, 11, 29), *PRICES),
        (dt.date(2024, 11, 30), *PRICES),  # a Saturday XTAI does not list: accepted, suspect
        (dt.date(2024, 12, 2), *PRICES),
    ]
    store = Store.from_settings(env)
    import_csv(store, write_rows(tmp_path / "x.csv", rows), today=DEC31)
    assert data_status(store).suspect_days == [dt.date(2024, 11, 30)]
    before = store.last_load()
    assert delete_days(store, dt.date(2024, 11, 30)) == [dt.date(2024, 11, 30)]
    assert data_status(store).suspect_days == []
    load = store.last_load()
    assert load is not None and load != before
    assert (load.source, load.rows, load.inserted, load.updated) == (
        "delete 2024-11-30…2024-11-30",
        1,
        0,
        0,
    )
    # Deleting nothing changes nothing, and logs nothing.
    assert delete_days(store, dt.date(2024, 11, 30)) == []
    assert store.last_load() == load
    with pytest.raises(InputError, match="--to 2024-11-01 is before --from 2024-11-30"):
        delete_days(store, dt.date(2024, 11, 30), dt.date(2024, 11, 1))


def test_export_writes_only_regular_files_in_existing_folders(
    env: Settings, tmp_path: Path
) -> None:
    from taiex.errors import OutputError

    store = Store.from_settings(env)
    import_csv(
        store, write_rows(tmp_path / "x.csv", [(dt.date(2024, 12, 2), *PRICES)]), today=DEC31
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.csv"
    target.write_text("keep me\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    for path, message in [
        (fifo, "not a regular file"),
        (link, "not a regular file"),
        (tmp_path, "not a regular file"),
        (tmp_path / "missing" / "out.csv", "the folder .* does not exist"),
    ]:
        with pytest.raises(OutputError, match=message):
            export_csv(store, path)
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "keep me\n"
    assert not (tmp_path / "missing").exists()
    assert export_csv(store, target) == 1 and target.read_text().startswith("date,open")


def test_csv_lines_keep_their_numbers_across_blank_lines_and_chunks(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taiex.etl import NumberedLines

    monkeypatch.setattr(NumberedLines, "CHUNK", 7)  # lines cut across many small chunks
    lines = [
        "date,open,high,low,close",
        "",
        "   ",
        "2024-12-02,100.00,110.00,90.00,95.00",
        *[""] * 20,
        "2024-12-03,100.00,110.00,90.00,95.00\r",
        "2024-12-04,100.00,110.00,90.00,-1",
    ]
    path = write_csv(tmp_path / "x.csv", lines)
    with pytest.raises(InputError, match=r"line 26: close '-1' is not a number"):
        import_csv(Store.from_settings(env), path, today=DEC31)


def test_a_line_too_long_is_refused_before_it_is_split(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_text("date,open,high,low,close\n2024-12-02,1,2,1,2\n" + "," * 5_000_000)
    store = Store.from_settings(env)
    with pytest.raises(InputError, match="line 3 is longer than 1,000 characters"):
        import_csv(store, path, today=DEC31)
    assert store.summary()["rows"] == 0
