"""Scale-free LSTM windows: a checked history (:class:`taiex.frames.Prices`) in, arrays out.

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

import numpy as np

from taiex.frames import FloatArray, IntArray, Prices

FEATURES = ("ret", "gap", "high", "low", "level")
N_FEATURES = len(FEATURES)
# Below this a window's realised volatility is treated as this (a flat synthetic series would
# otherwise divide by zero); real TAIEX daily volatility never went under 0.2 %.
MIN_VOLATILITY = 1e-4


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
