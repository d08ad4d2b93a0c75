"""Scale-free LSTM windows: checked OHLC history in, normalised arrays out.

A window is ``window`` consecutive trading days ending on its *origin* day t. Everything in it is a
log-ratio of two prices, so a window of a series at 6,000 and one of the same series at 48,000 are
the same array: no scaler is ever fit on price levels (the index doubled in 2025-2026, past anything
a level scaler would have seen).

Per day i of a window (shape ``(window, N_FEATURES)``, in this order, see :data:`FEATURES`):

- ``ret``:   log(close[i] / close[i-1]), 0 on the window's first day
- ``gap``:   log(open[i] / close[i-1]), 0 on the window's first day
- ``high``:  log(high[i] / close[i])
- ``low``:   log(low[i] / close[i])
- ``level``: log(close[i] / close[t]), where the window stands against its last close

The first day's ``ret`` and ``gap`` are 0 rather than read from the row before the window, so a
window depends on its own rows only: forecasting from the last 60 rows or from the whole history
gives the same numbers.

Targets are ``log(open[t+h] / close[t])`` for h = 1..horizons: a zero target IS the naive forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taiex.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
FEATURES = ("ret", "gap", "high", "low", "level")
N_FEATURES = len(FEATURES)
# Below this a window's realised volatility is treated as this (a flat synthetic series would
# otherwise divide by zero); real TAIEX daily volatility never went under 0.2 %.
MIN_VOLATILITY = 1e-4

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


def check_history(history: pd.DataFrame, *, min_rows: int, purpose: str) -> Prices:
    """Validate ``history`` (columns ``date, open, high, low, close``) and return it as arrays.

    Raises :class:`DataError` naming the first problem, in this order: a missing column,
    missing, unsorted or duplicate dates, NaN / infinite / non-positive prices, fewer than
    ``min_rows`` rows (``purpose`` says what needs them).
    """
    if not isinstance(history, pd.DataFrame):
        raise DataError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in ("date", *PRICE_COLUMNS) if c not in history.columns]
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
    try:
        parsed = pd.to_datetime(column)
    except (TypeError, ValueError) as exc:
        raise DataError(f"history column date is not made of dates: {exc}") from exc
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_localize(None)
    if parsed.isna().any():
        raise DataError(f"history has a missing date at row {int(np.argmax(parsed.isna()))}")
    dates = parsed.to_numpy(dtype="datetime64[ns]")
    step = np.diff(dates)
    if (step == np.timedelta64(0)).any():
        row = int(np.argmax(step == np.timedelta64(0))) + 1
        raise DataError(f"history has a duplicate date {_day(dates[row])} (row {row})")
    if (step < np.timedelta64(0)).any():
        row = int(np.argmax(step < np.timedelta64(0))) + 1
        raise DataError(
            f"history dates are not sorted ascending: {_day(dates[row])} (row {row}) "
            f"comes after {_day(dates[row - 1])}"
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
                    f"the first on {_day(dates[row])} (row {row}): {values[row]}"
                )
    return ohlc


def _day(value: np.datetime64) -> str:
    return str(value.astype("datetime64[D]"))


def window_features(prices: Prices, origins: IntArray, window: int) -> FloatArray:
    """Features of the windows ending on row indices ``origins``.

    Returns shape ``(len(origins), window, N_FEATURES)``; needs ``origins >= window - 1``.
    """
    log_ohlc = np.log(prices.ohlc)
    hi, lo, cl = log_ohlc[:, 1], log_ohlc[:, 2], log_ohlc[:, 3]
    prev_close = np.concatenate([cl[:1], cl[:-1]])
    per_day = np.stack(
        [cl - prev_close, log_ohlc[:, 0] - prev_close, hi - cl, lo - cl], axis=1
    )  # (n, 4): ret, gap, high, low
    rows = origins[:, None] - window + 1 + np.arange(window)[None, :]  # (m, window)
    out = np.empty((len(origins), window, N_FEATURES))
    out[:, :, :4] = per_day[rows]
    out[:, 0, :2] = 0.0  # the first day's ret and gap would reach outside the window
    out[:, :, 4] = cl[rows] - cl[origins][:, None]
    return out


def realised_volatility(prices: Prices, origins: IntArray, span: int) -> FloatArray:
    """Std of the last ``span`` daily close log-returns up to each origin, shape ``(m,)``.

    Floored at :data:`MIN_VOLATILITY`; needs ``origins >= span``.
    """
    cl = np.log(prices.close)
    returns = np.diff(cl)  # returns[k] = log(close[k+1] / close[k])
    rows = origins[:, None] - span + np.arange(span)[None, :]  # return indices ending at origin
    vol: FloatArray = np.maximum(returns[rows].std(axis=1), MIN_VOLATILITY)
    return vol


def targets(prices: Prices, origins: IntArray, horizons: int) -> FloatArray:
    """``log(open[t+h] / close[t])`` for h = 1..horizons, shape ``(m, horizons)``.

    Needs ``origins + horizons < len(prices)``.
    """
    steps = origins[:, None] + np.arange(1, horizons + 1)[None, :]
    y: FloatArray = np.log(prices.open[steps]) - np.log(prices.close[origins])[:, None]
    return y
