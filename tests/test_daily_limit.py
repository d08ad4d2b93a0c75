"""TWSE's daily limit: no stored price lies further from the previous session's close than the
limit of its day (7 % before 2015-06-01, 10 % from then), on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.calendar import Month
from taiex.errors import InputError, PriceMoveError, UpstreamFormatError
from taiex.etl import (
    Loader,
    RawCache,
    backfill_months,
    data_status,
    delete_days,
    import_csv,
    load_months,
)
from taiex.settings import Settings
from taiex.source import DailyRow, TwseClient, daily_limit, move_problem
from taiex.store import Store, load_id_for, metadata
from taiex.store.testing import insert_rows, rows
from tests.series import REAL_CSV
from tests.twse_server import TwseServer

TODAY = dt.date(2024, 12, 31)


def day(date: str, o: str, h: str, low: str, c: str) -> DailyRow:
    return DailyRow(dt.date.fromisoformat(date), *(Decimal(v) for v in (o, h, low, c)))


def write_csv(path: Path, days: list[DailyRow]) -> Path:
    lines = ["date,open,high,low,close"]
    lines += [f"{d.date},{d.open},{d.high},{d.low},{d.close}" for d in days]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def every_table(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table: equal snapshots, an untouched database."""
    return {table.name: rows(store, table.name) for table in metadata.sorted_tables}


# Four consecutive sessions (Fri 2024-11-01 … Wed 2024-11-06 without 11-05 would be a hole).
NOVEMBER = [
    day("2024-11-01", "23400.00", "23500.00", "23300.00", "23450.00"),
    day("2024-11-04", "23460.00", "23520.00", "23380.00", "23456.78"),
    day("2024-11-05", "23470.00", "23600.00", "23400.00", "23550.00"),
    day("2024-11-06", "23560.00", "23700.00", "23500.00", "23650.00"),
]


def test_the_limit_switches_from_7_to_10_percent_on_2015_06_01() -> None:
    assert daily_limit(dt.date(1999, 1, 5)) == daily_limit(dt.date(2015, 5, 29)) == 7
    assert daily_limit(dt.date(2015, 6, 1)) == daily_limit(dt.date(2026, 8, 18)) == 10
    friday = day("2015-05-29", "10000.00", "10000.00", "10000.00", "10000.00")
    # 7 % plus the 0.05-point rounding tolerance, and not a cent more.
    assert move_problem(friday, day("2015-06-01", *["10990.00"] * 4)) is None
    assert move_problem(day("2015-05-28", *["10000.00"] * 4), friday) is None
    within = day("2015-05-29", "10705.00", "10705.00", "10705.00", "10705.00")
    beyond = day("2015-05-29", "10000.00", "10705.01", "10000.00", "10000.00")
    thursday = day("2015-05-28", *["10000.00"] * 4)
    assert move_problem(thursday, within) is None
    assert move_problem(thursday, beyond) == (
        "2015-05-29 high 10705.01 is 7.1 % above the previous session's close 10000.00 "
        "(2015-05-28); TAIEX moves at most 7 % a day"
    )


def test_an_8_percent_move_is_accepted_after_the_switch_and_refused_before(store: Store) -> None:
    thursday = day("2015-05-28", "10000.00", "10000.00", "10000.00", "10000.00")
    friday = day("2015-05-29", "10800.00", "10800.00", "10800.00", "10800.00")  # +8 %
    monday = day("2015-06-01", "11664.00", "11664.00", "11664.00", "11664.00")  # +8 % again
    with pytest.raises(PriceMoveError, match=r"2015-05-29 open 10800.00 is 8.0 % above .* 7 %"):
        store.merge_rows([thursday, friday], source="test")
    assert store.read_rows() == []
    store.merge_rows([friday, monday], source="test")
    assert store.read_rows() == [friday, monday]


def test_a_csv_with_one_price_beyond_the_limit_loads_nothing_and_names_the_line(
    store: Store, tmp_path: Path
) -> None:
    store.merge_rows(NOVEMBER[:1], source="test")
    before = every_table(store)
    typo = day("2024-11-05", "2345.60", "23600.00", "2345.60", "23550.00")  # 23456 -> 2345.6
    path = write_csv(tmp_path / "data.csv", [*NOVEMBER[1:2], typo, *NOVEMBER[3:]])
    with pytest.raises(InputError) as caught:
        import_csv(store, path, today=TODAY)
    assert str(caught.value) == (
        f"{path}: line 3: 2024-11-05 open 2345.60 is 90.0 % below the previous session's close "
        "23456.78 (2024-11-04); TAIEX moves at most 10 % a day"
    )
    assert every_table(store) == before
    import_csv(store, write_csv(tmp_path / "good.csv", NOVEMBER[1:]), today=TODAY)
    assert store.read_rows() == NOVEMBER


@pytest.mark.parametrize(
    ("revision", "message"),
    [
        # The close alone revised, within 10 % of Friday: it is the next stored day that breaks.
        (
            day("2024-11-04", "23460.00", "23520.00", "21200.00", "21200.00"),
            "stored 2024-11-05 open 23470.00 is 10.7 % above the previous session's close "
            "21200.00 (2024-11-04)",
        ),
        # A stored 23,456.78 revised to 5 (the whole row).
        (
            day("2024-11-04", "5.00", "5.00", "5.00", "5.00"),
            "2024-11-04 open 5.00 is 100.0 % below the previous session's close 23450.00 "
            "(2024-11-01)",
        ),
    ],
)
def test_a_revision_that_breaks_a_neighbour_changes_nothing(
    store: Store, tmp_path: Path, revision: DailyRow, message: str
) -> None:
    import_csv(store, write_csv(tmp_path / "all.csv", NOVEMBER), today=TODAY)
    before = every_table(store)
    fingerprint = store.fingerprint()
    path = write_csv(tmp_path / "fix.csv", [revision])
    with pytest.raises(
        InputError, match=re.escape(f"fix.csv: line 2: {message}; TAIEX moves at most 10 % a day")
    ):
        import_csv(store, path, today=TODAY)
    assert every_table(store) == before and store.fingerprint() == fingerprint
    # A staged load (the daily job's save, then merge) is refused alike and stays staged.
    load_id = load_id_for(TODAY, [Month(2024, 11)])
    store.stage_rows([revision], load_id=load_id)
    with pytest.raises(PriceMoveError, match=re.escape(message)):
        store.merge_staged(load_id, source="twse")
    assert store.fingerprint() == fingerprint
    assert store.prices.staged() == {load_id: [revision.date]}


def test_a_hole_in_the_data_is_not_compared_across(store: Store) -> None:
    friday, monday, tuesday, _ = NOVEMBER
    jump = day("2024-11-06", "26000.00", "26100.00", "25900.00", "26000.00")  # +10.8 % on Monday
    store.merge_rows([friday, monday, jump], source="test")  # Tuesday is missing: not compared
    assert [r.date for r in store.read_rows()] == [friday.date, monday.date, jump.date]
    # Tuesday filled in later: both its neighbours are compared now.
    with pytest.raises(PriceMoveError, match=r"stored 2024-11-06 open 26000.00 is 10.4 % above"):
        store.merge_rows([tuesday], source="test")
    store.merge_rows(
        [day("2024-11-05", "23470.00", "24500.00", "23400.00", "24400.00")], source="test"
    )
    assert len(store.read_rows()) == 4


def test_status_lists_stored_breaks_and_a_delete_clears_them(store: Store, tmp_path: Path) -> None:
    import_csv(store, write_csv(tmp_path / "all.csv", NOVEMBER[:2]), today=TODAY)
    assert data_status(store).limit_breaks == []
    # A day stored before the rule (or by hand): a later load is not blocked by it...
    bad = day("2024-11-05", "2355.00", "2360.00", "2340.00", "2355.00")
    stamp = dt.datetime(2024, 11, 5, 12)
    values = {c: getattr(bad, c) for c in ("date", "open", "high", "low", "close")}
    insert_rows(store, "weighted_index", [{**values, "created_at": stamp, "updated_at": stamp}])
    assert data_status(store).limit_breaks == [
        "2024-11-05 open 2355.00 is 90.0 % below the previous session's close 23456.78 "
        "(2024-11-04); TAIEX moves at most 10 % a day"
    ]
    # ... but a day next to it is checked against it.
    with pytest.raises(PriceMoveError, match=r"2024-11-06 open 23560\.00 is 900\.4 % above"):
        store.merge_rows(NOVEMBER[3:], source="test")
    assert delete_days(store, bad.date) == [bad.date]
    assert data_status(store).limit_breaks == []
    store.merge_rows(NOVEMBER[3:], source="test")  # across the hole now


@pytest.fixture
def spoiled(history: pd.DataFrame) -> pd.DataFrame:
    """The synthetic history with one mistyped open (and low) in 2024-05: a tenth of it."""
    frame = history.copy()
    index = frame.index[frame["date"] == pd.Timestamp("2024-05-14")][0]
    frame.loc[index, ["open", "low"]] = (frame.loc[index, "low"] / 10).round(2)
    return frame


def test_a_twse_month_beyond_the_limit_is_refused_naming_it_and_keeps_the_months_before(
    env: Settings, twse: TwseServer, history: pd.DataFrame, spoiled: pd.DataFrame
) -> None:
    twse.set_history(spoiled, today=TODAY)
    store = Store.from_settings(env)
    loader = Loader(
        store, TwseClient.from_settings(env), RawCache(store), today=TODAY, clock=lambda: TODAY
    )
    with pytest.raises(UpstreamFormatError) as caught:
        load_months(loader, backfill_months(Month(2023, 11), None, TODAY))
    url = f"{twse.url}?date=20240501&response=json"
    message = str(caught.value)
    assert message.startswith(f"TWSE 2024-05 ({url}): 2024-05-14 open ")
    assert "below the previous session's close" in message and "(2024-05-13)" in message
    kept = history[history["date"] < "2024-05-01"]
    assert [r.date for r in store.read_rows()] == [d.date() for d in kept["date"]]


@pytest.mark.realdata
def test_the_real_history_imports_cleanly(store: Store) -> None:
    result = import_csv(store, REAL_CSV, today=dt.date(2026, 8, 18))
    assert result.inserted == len(store.read_rows()) > 6_800
    assert data_status(store).limit_breaks == []


def test_the_cli_refuses_a_move_beyond_the_limit_in_one_line(env: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taiex.cli import app
    from tests.conftest import on_taipei_day

    typo = day("2024-11-05", "2345.60", "23600.00", "2345.60", "23550.00")
    path = write_csv(tmp_path / "data.csv", [*NOVEMBER[:2], typo])
    with on_taipei_day(TODAY):
        result = CliRunner().invoke(app, ["import-csv", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: line 4: 2024-11-05 open 2345.60 is 90.0 % below the previous session's "
        "close 23456.78 (2024-11-04); TAIEX moves at most 10 % a day"
    ]
    store = Store.from_settings(env)
    assert store.read_rows() == []
    # A break stored before the rule: `status` shows it, in the table and in the JSON.
    store.merge_rows(NOVEMBER[:2], source="test")
    stamp = dt.datetime(2024, 11, 5, 12)
    values = {c: getattr(typo, c) for c in ("date", "open", "high", "low", "close")}
    insert_rows(store, "weighted_index", [{**values, "created_at": stamp, "updated_at": stamp}])
    with on_taipei_day(TODAY):
        table = CliRunner().invoke(app, ["status"])
        facts = CliRunner().invoke(app, ["status", "--json"])
    assert table.exit_code == 0 and "moves beyond the daily limit" in table.stdout
    assert "2024-11-05 open 2345.60" in table.stdout
    assert json.loads(facts.stdout)["limit_breaks"] == [
        "2024-11-05 open 2345.60 is 90.0 % below the previous session's close 23456.78 "
        "(2024-11-04); TAIEX moves at most 10 % a day"
    ]
