"""MA20, the entry label and the classifier's features, as docs/design.md defines them
("Definitions").

Every function takes a daily history, checked by :func:`taiex.frames.check_history`: columns
``date`` (datetime64) and ``open, high, low, close`` (float), one row per trading day, sorted
ascending. Outputs are indexed like the history. Rows are trading days, so "the next day" is the
next row, not the next calendar day.

Label of day t: 1 when ``close[t+1] > MA20[t]``, else 0, with ``MA20[t]`` the mean close of days
t-19..t. The last day has no label (its next close is unknown); the first 19 days have none either
(no MA20).

Features of day t use days <= t only, and only open, high, low, close and MA20 of day t. They are
scale-free: the index went from about 4,000 to above 20,000 points, and a model fed raw levels would
meet levels in production it never saw in training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taiex.frames import PRICE_COLUMNS, check_history

MA_WINDOW = 20
# The day's range is a one-day, noisy estimate of volatility. Adding a floor of about the median
# daily range of TAIEX (1999-2024: 1.04 %) shrinks it toward its typical level, so a quiet day
# with a tiny range does not blow the distance up.
RANGE_FLOOR = 0.01
FEATURE_COLUMNS = (
    "open_vs_ma20",
    "high_vs_ma20",
    "low_vs_ma20",
    "close_vs_ma20",
    "day_range",
    "close_vs_ma20_in_ranges",
)


def moving_average_20(close: pd.Series) -> pd.Series:
    """Mean close of days t-19..t; NaN for the first 19 days.

    Each day's mean is computed from its own 20 closes (not by a running sum, as pandas'
    rolling mean does), so it is the same to the last bit whichever day the series starts on:
    a classifier scores the last days of a history alike on the whole history or on its tail.
    """
    values = close.to_numpy(dtype=float)
    means = np.full(len(values), np.nan)
    if len(values) >= MA_WINDOW:
        means[MA_WINDOW - 1 :] = np.lib.stride_tricks.sliding_window_view(values, MA_WINDOW).mean(
            axis=1
        )
    return pd.Series(means, index=close.index)


def entry_labels(history: pd.DataFrame) -> pd.Series:
    """1.0 when ``close[t+1] > MA20[t]``, 0.0 when not, NaN when undefined (float Series)."""
    check_history(history)
    close = history["close"].astype(float)
    ma20 = moving_average_20(close)
    next_close = close.shift(-1)
    defined = ma20.notna() & next_close.notna()
    labels = (next_close > ma20).astype(float).where(defined)
    return labels.rename("label")


def trivial_score(history: pd.DataFrame) -> pd.Series:
    """The trivial classifier of docs/design.md: ``close[t] / MA20[t] - 1`` (NaN without MA20)."""
    check_history(history)
    close = history["close"].astype(float)
    return (close / moving_average_20(close) - 1.0).rename("trivial_score")


def classifier_features(history: pd.DataFrame) -> pd.DataFrame:
    """The features of every day (columns ``FEATURE_COLUMNS``); all NaN where MA20 is undefined.

    - ``open/high/low/close_vs_ma20``: the price of day t divided by MA20[t], minus 1.
    - ``day_range``: high / low - 1 of day t, a one-day volatility estimate.
    - ``close_vs_ma20_in_ranges``: ``close_vs_ma20 / (day_range + RANGE_FLOOR)``. The label asks
      whether tomorrow's close stays above MA20[t]; how likely that is depends on today's distance
      to MA20 measured in units of daily moves, not in percent.
    """
    check_history(history)
    ma20 = moving_average_20(history["close"])
    ratios = {f"{c}_vs_ma20": history[c].astype(float) / ma20 - 1.0 for c in PRICE_COLUMNS}
    day_range = history["high"].astype(float) / history["low"].astype(float) - 1.0
    features = pd.DataFrame(ratios, index=history.index)
    features["day_range"] = day_range.where(ma20.notna(), np.nan)
    features["close_vs_ma20_in_ranges"] = features["close_vs_ma20"] / (day_range + RANGE_FLOOR)
    return features.loc[:, list(FEATURE_COLUMNS)]
