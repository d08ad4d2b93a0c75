"""The frames the package passes between modules: the daily history and the forecast.

A **history** is a DataFrame with columns ``date`` (datetime64, one row per trading day, unique and
ascending) and ``open, high, low, close`` (positive floats, with low <= open, close <= high on
every day). :func:`check_history` is the one validator of that contract: the LSTM windows, the
classifier's features and the backtests all call it, so a history one model accepts is a history
every model accepts, and the first problem is named the same way everywhere.

A **forecast** row carries :data:`FORECAST_VALUES`: the forecast, its interval bounds at each of
:data:`INTERVAL_LEVELS`, and the naive forecast (the origin's close).

This module sits at the bottom with settings, errors and calendar: anything may import it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taiex.calendar import next_sessions
from taiex.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
HISTORY_COLUMNS = ("date", *PRICE_COLUMNS)

# The interval levels and the column names that spell them (lower_80 is the 80 % interval's bound).
INTERVAL_LEVELS = (0.80, 0.95)
FORECAST_COLUMNS = ("forecast", "lower_80", "upper_80", "lower_95", "upper_95")
FORECAST_VALUES = (*FORECAST_COLUMNS, "naive")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Prices:
    """A checked history as arrays: ``dates`` (n,) datetime64[ns], ``ohlc`` (n, 4) float64 > 0."""

    dates: NDArray[np.datetime64]
    ohlc: FloatArray

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def close(self) -> FloatArray:
        return self.ohlc[:, 3]

    @property
    def open(self) -> FloatArray:
        return self.ohlc[:, 0]


def to_date(value: Any) -> dt.date:
    """A date from a ``datetime.date``, ``Timestamp``, ``datetime64`` or ISO string."""
    return value if type(value) is dt.date else pd.Timestamp(value).date()


def check_history(history: pd.DataFrame, *, min_rows: int = 0, purpose: str = "this") -> Prices:
    """Validate ``history`` against the contract above and return it as arrays.

    Raises :class:`DataError` naming the first problem, in this order: not a DataFrame, a missing
    column, a date column that is not datetime64, a missing, duplicate or unsorted date, prices
    that are not numbers, NaN, infinite or non-positive, a day whose low and high do not bound its
    open and close, fewer than ``min_rows`` rows (``purpose`` says what needs them).
    """
    if not isinstance(history, pd.DataFrame):
        raise DataError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise DataError(f"history lacks column(s) {', '.join(missing)}")
    dates = _check_dates(history["date"])
    ohlc = _check_prices(history, dates)
    if len(history) < min_rows:
        raise DataError(
            f"history has {len(history)} rows; {purpose} needs at least {min_rows} trading days"
        )
    return Prices(dates=dates, ohlc=ohlc)


def _check_dates(column: pd.Series) -> NDArray[np.datetime64]:
    # datetime64 only: the models compare and index the column itself, and strings or Python dates
    # would pass a parse here and then fail there.
    if not pd.api.types.is_datetime64_any_dtype(column):
        raise DataError(f"history column date must hold datetime64 values, got {column.dtype}")
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_localize(None)
    if column.isna().any():
        raise DataError(f"history has a missing date at row {int(np.argmax(column.isna()))}")
    dates = column.to_numpy(dtype="datetime64[ns]")
    step = np.diff(dates)
    if (step == np.timedelta64(0)).any():
        row = int(np.argmax(step == np.timedelta64(0))) + 1
        raise DataError(f"history has a duplicate date {to_date(dates[row])} (row {row})")
    if (step < np.timedelta64(0)).any():
        row = int(np.argmax(step < np.timedelta64(0))) + 1
        raise DataError(
            f"history dates are not sorted ascending: {to_date(dates[row])} (row {row}) "
            f"comes after {to_date(dates[row - 1])}"
        )
    return dates


def _check_prices(history: pd.DataFrame, dates: NDArray[np.datetime64]) -> FloatArray:
    try:
        ohlc = history[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"history prices are not numbers: {exc}") from exc
    for j, name in enumerate(PRICE_COLUMNS):
        values = ohlc[:, j]
        for bad, what in ((~np.isfinite(values), "NaN or infinite"), (values <= 0, "non-positive")):
            if bad.any():
                row = int(np.argmax(bad))
                raise DataError(
                    f"history column {name} has {int(bad.sum())} {what} value(s), "
                    f"the first on {to_date(dates[row])} (row {row}): {values[row]}"
                )
    open_, high, low, close = ohlc.T
    # The rule TWSE rows are checked by when they are stored (taiex.source).
    unordered = (low > np.minimum(open_, close)) | (high < np.maximum(open_, close))
    if unordered.any():
        row = int(np.argmax(unordered))
        o, h, lo, c = ohlc[row]
        raise DataError(
            f"history has {int(unordered.sum())} day(s) whose low and high do not bound the open "
            f"and close, the first on {to_date(dates[row])} (row {row}): "
            f"open {o}, high {h}, low {lo}, close {c}"
        )
    return ohlc


def target_dates(prices: Prices, origins: IntArray, horizons: int) -> NDArray[np.datetime64]:
    """Target dates, shape ``(m, horizons)``: row ``origin + h`` of the history, or the XTAI
    sessions after its last day for the steps past it."""
    steps = origins[:, None] + np.arange(1, horizons + 1)[None, :]
    beyond = int(steps.max() - len(prices) + 1) if steps.size else 0
    future: list[np.datetime64] = []
    if beyond > 0:
        sessions = next_sessions(to_date(prices.dates[-1]), beyond)
        future = [np.datetime64(day, "ns") for day in sessions]
    known = np.concatenate([prices.dates, np.array(future, dtype="datetime64[ns]")])
    dates: NDArray[np.datetime64] = known[steps]
    return dates
