"""The history contract: the one validator, its rules in order, and the shared column names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from taiex.errors import DataError
from taiex.features import classifier_features, entry_labels
from taiex.frames import (
    FORECAST_COLUMNS,
    FORECAST_VALUES,
    INTERVAL_LEVELS,
    PRICE_COLUMNS,
    check_history,
    to_date,
)
from taiex.models.lstm import GapLevelForecaster, LSTMConfig
from tests.series import real_history, synthetic_history


def _with(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    changed = frame.copy()
    changed.loc[changed.index[row], column] = value
    return changed


def test_a_good_history_becomes_arrays() -> None:
    history = synthetic_history(30)
    prices = check_history(history, min_rows=30, purpose="a test")
    assert len(prices) == 30
    assert prices.dates.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(prices.ohlc, history[list(PRICE_COLUMNS)].to_numpy())
    np.testing.assert_array_equal(prices.open, history["open"].to_numpy())
    np.testing.assert_array_equal(prices.close, history["close"].to_numpy())


def test_timezone_aware_dates_are_read_as_local_days() -> None:
    history = synthetic_history(30)
    aware = history.assign(date=history["date"].dt.tz_localize("Asia/Taipei"))
    np.testing.assert_array_equal(check_history(aware).dates, check_history(history).dates)


def _strings(h: pd.DataFrame) -> pd.DataFrame:
    return h.assign(date=h["date"].dt.strftime("%Y-%m-%d"))


def _unordered(h: pd.DataFrame) -> pd.DataFrame:
    return _with(h, 12, "open", h["high"].iloc[12] + 1.0)


# Each damage, and the words of the one message that names it (row numbers included).
DAMAGES: list[tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    (lambda h: h.drop(columns=["low", "close"]), r"lacks column\(s\) low, close"),
    (_strings, r"column date must hold datetime64 values, got (object|str)"),
    (lambda h: _with(h, 5, "date", pd.NaT), r"missing date at row 5"),
    (lambda h: _with(h, 9, "date", h["date"].iloc[8]), r"duplicate date \S+ \(row 9\)"),
    (lambda h: h.iloc[::-1].reset_index(drop=True), r"not sorted ascending: .* \(row 1\)"),
    (lambda h: _with(h, 7, "close", np.nan), r"column close has 1 NaN or infinite value\(s\)"),
    (lambda h: _with(h, 7, "high", np.inf), r"column high has 1 NaN or infinite"),
    (lambda h: _with(h, 8, "low", 0.0), r"column low has 1 non-positive value\(s\), .*\(row 8\)"),
    (lambda h: h.assign(open="n/a"), r"prices are not numbers"),
    (_unordered, r"1 day\(s\) whose low and high do not bound the open and close, .*\(row 12\)"),
    (lambda h: _with(h, 3, "low", h["high"].iloc[3] + 1.0), r"do not bound .*\(row 3\)"),
]


@pytest.mark.parametrize(("damage", "message"), DAMAGES)
def test_each_rule_names_the_problem_and_where(
    damage: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        check_history(damage(synthetic_history(40)))


@pytest.mark.parametrize(("damage", "message"), DAMAGES)
def test_both_models_refuse_what_the_validator_refuses(
    damage: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    bad = damage(synthetic_history(400))
    with pytest.raises(DataError, match=message):
        classifier_features(bad)
    with pytest.raises(DataError, match=message):
        entry_labels(bad)
    with pytest.raises(DataError, match=message):
        GapLevelForecaster(LSTMConfig()).fit(bad)


def test_too_few_rows_names_the_purpose() -> None:
    with pytest.raises(DataError, match=r"history has 10 rows; a test needs at least 11 trading"):
        check_history(synthetic_history(10), min_rows=11, purpose="a test")


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(DataError, match="must be a pandas DataFrame, got list"):
        check_history([1, 2, 3])  # type: ignore[arg-type]


@pytest.mark.realdata
def test_the_real_history_passes() -> None:
    history = real_history()
    assert len(check_history(history)) == len(history)


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2025, 3, 4),
        dt.datetime(2025, 3, 4, 13, 30),
        pd.Timestamp("2025-03-04"),
        np.datetime64("2025-03-04T00:00:00", "ns"),
        "2025-03-04",
    ],
)
def test_to_date(value: object) -> None:
    day = to_date(value)
    assert type(day) is dt.date and day == dt.date(2025, 3, 4)


def test_forecast_columns_spell_the_interval_levels() -> None:
    bounds = [
        f"{side}_{round(level * 100)}" for level in INTERVAL_LEVELS for side in ("lower", "upper")
    ]
    assert ("forecast", *bounds) == FORECAST_COLUMNS
    assert (*FORECAST_COLUMNS, "naive") == FORECAST_VALUES
