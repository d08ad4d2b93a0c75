"""The typical overnight gap: the one level a TAIEX forecast can count on.

The index opens above the previous close on most days: the median overnight gap
log(open[t] / close[t-1]) was positive in 25 of the 26 years 1999-2024 (up to +0.4 %), while the
close-to-close drift changed sign with the market. A forecast that adds the drift of its training
years wins in rising markets and loses in falling ones; one that adds the typical gap wins at
horizon 1 in every tuning period of ``bench/regimes.py`` and never loses significantly after.

``gap_level[t]`` is the median gap over the last ``span`` sessions up to t, soft-thresholded by
``shrink`` standard errors of that median (from the interquartile range): a median that is not
clearly away from zero counts as zero, so a market without a gap effect gets the naive forecast.
It is computed from rows up to t only.

Why 1,000 sessions (about four years; it was 500 until issue 10's second round): on the tuning
periods of ``bench/regimes.py`` the two spans are within 0.001 of each other in mean ratio to
naive (500 ahead at horizon 1, 1,000 at horizons 2-5), and in 2022-23, the one period whose gaps
turned negative, the longer median sat lower (Diebold-Mariano t at h1 +1.33 against +1.40, at h4
+0.58 against +1.63). A quick check that sets the level to zero while the recent gaps disagree was
tried and not kept: its effect on 2022-23 swung from t +0.79 to +2.72 with the check's span
(30 to 120 gaps), noise, not a rule (``bench/gap_levels.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from taiex.frames import FloatArray, Prices

GAP_SPAN = 1000
GAP_SHRINK = 1.0
# Fewer gaps than this give no level (a median of a handful of days is noise).
MIN_GAPS = 20
_IQR_TO_SIGMA = 1.349  # interquartile range of a standard normal
_MEDIAN_SE = math.sqrt(math.pi / 2.0)  # se(median) = this * sigma / sqrt(n) for a normal sample


def overnight_gaps(prices: Prices) -> FloatArray:
    """log(open[t] / close[t-1]) for t >= 1 (length n - 1)."""
    gaps: FloatArray = np.log(prices.open[1:]) - np.log(prices.close[:-1])
    return gaps


def gap_level(prices: Prices, span: int = GAP_SPAN, shrink: float = GAP_SHRINK) -> FloatArray:
    """Per row t, the soft-thresholded median of the last ``span`` overnight gaps up to t (0 with
    fewer than :data:`MIN_GAPS`); shape ``(n,)``."""
    gaps = pd.Series(np.concatenate([[np.nan], overnight_gaps(prices)]))
    return thresholded_median(gaps, span, shrink)


def thresholded_median(values: pd.Series, span: int, shrink: float) -> FloatArray:
    """The rolling median of the last ``span`` ``values``, moved ``shrink`` standard errors of it
    towards zero and no further; 0 where the window holds fewer than :data:`MIN_GAPS` values."""
    rolling = values.rolling(span, min_periods=MIN_GAPS)
    median = rolling.median().to_numpy()
    spread = (rolling.quantile(0.75) - rolling.quantile(0.25)).to_numpy() / _IQR_TO_SIGMA
    count = rolling.count().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        se = _MEDIAN_SE * spread / np.sqrt(count)
    level = np.sign(median) * np.maximum(np.abs(median) - shrink * se, 0.0)
    result: FloatArray = np.nan_to_num(level, nan=0.0)
    return result
