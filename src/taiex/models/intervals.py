"""Adaptive forecast intervals: a fast range-based volatility, and conformal quantiles that move.

Why this shape (chosen on the tuning periods of ``bench/regimes.py``; see BENCHMARKS.md):

- **Scale** ``S[t, h]``: the forecast standard deviation of ``log(open[t+h] / close[t])`` from a
  variance filter fed by each day's high/low/open/close, not by close-to-close returns alone::

      x[t]   = Garman-Klass variance of day t + (overnight gap of day t)^2
               + c * min(log(close[t] / close[t-k]), 0)^2 / k
      v[t+1] = (1 - p) * v_long + a * x[t] + (p - a) * v[t]

  ``a`` (reaction, 0.15) makes a rough day widen the next band at once, where a 20-day standard
  deviation needs a week; ``p`` (persistence, 0.995) pulls the forecast back to the long-run
  variance ``v_long`` (the mean of ``x`` over the training years), as GARCH does, so a calm spell
  does not shrink the band to nothing. The h-step variance is the sum of the 1..h-step forecasts
  of the filter. The third term is the variance of a **fall** spread over its ``k`` (5) sessions,
  weighted ``c`` (0.75): a market that slides day after day moves more over a week than its daily
  ranges say (the moves are correlated), and that is the first weeks of a crash, where the band
  fed by daily ranges alone held 67.5 % of the opens at 80 % (2020-02-20 … 04-30). A rise adds
  nothing: rallies are slower, and a term for them cost sharpness in calm years. ``k`` and ``c``
  were chosen on the tuning periods of ``bench/regimes.py`` (``bench/band_rules.py`` has the grid).
- **Signed split-conformal quantiles** of ``(y - centre) / S`` over the last ``pool`` origins whose
  targets are known at the origin (so a forecast uses rows up to its origin only): the band is
  ``centre + q_low * S .. centre + q_high * S``. Signed, because the tails are not symmetric: the
  large moves are falls, and a band centred on a positive overnight gap would otherwise sit too
  high.

Everything here is a function of the price history up to each origin and of two numbers fixed at
fit time (``v_long``, and the fallback pool for a history too short to hold its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from taiex.frames import INTERVAL_LEVELS, FloatArray, IntArray, Prices
from taiex.windows import MIN_VOLATILITY

# Below this many known scores an origin's quantiles come from the fit's pool instead (the 95 %
# bounds must be order statistics inside the sample: split conformal needs n >= 39 for that).
MIN_POOL = 40


@dataclass(frozen=True)
class BandConfig:
    """The interval method's settings: filter ``reaction`` (a) and ``persistence`` (p), the
    sessions (``fall_days``, k) and weight (``fall_weight``, c; 0 for none) of the falling-trend
    term, and the number of most recent known scores (``pool``) the quantiles are read from."""

    reaction: float = 0.15
    persistence: float = 0.995
    pool: int = 900
    fall_days: int = 5
    fall_weight: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 < self.reaction <= self.persistence < 1.0:
            raise ValueError(
                "BandConfig needs 0 < reaction <= persistence < 1, got "
                f"{self.reaction} and {self.persistence}"
            )
        if self.pool < MIN_POOL:
            raise ValueError(f"BandConfig.pool must be >= {MIN_POOL}, got {self.pool}")
        if self.fall_days < 1 or not 0.0 <= self.fall_weight < math.inf:
            raise ValueError(
                "BandConfig needs fall_days >= 1 and a finite fall_weight >= 0, got "
                f"{self.fall_days} and {self.fall_weight}"
            )


def daily_variance(prices: Prices) -> FloatArray:
    """Per day, a close-to-close variance proxy: Garman-Klass (open, high, low, close) plus the
    squared overnight gap (0 on the first day, which has no previous close)."""
    log_ohlc = np.log(prices.ohlc)
    o, hi, lo, cl = log_ohlc.T
    garman_klass = 0.5 * (hi - lo) ** 2 - (2.0 * math.log(2.0) - 1.0) * (cl - o) ** 2
    gap = np.concatenate([[0.0], o[1:] - cl[:-1]])
    x: FloatArray = np.maximum(garman_klass, 0.0) + gap**2
    return x


def falling_trend_variance(prices: Prices, days: int) -> FloatArray:
    """Per day t, ``min(log(close[t] / close[t - days]), 0)^2 / days``: the daily variance of the
    fall of the last ``days`` sessions, 0 after a rise and on the first ``days`` rows."""
    log_close = np.log(prices.close)
    moved = np.zeros(len(log_close))
    moved[days:] = log_close[days:] - log_close[:-days]
    x: FloatArray = np.minimum(moved, 0.0) ** 2 / days
    return x


def filter_input(prices: Prices, config: BandConfig = BandConfig()) -> FloatArray:
    """``x[t]``, what the variance filter is fed per day: :func:`daily_variance` plus the
    weighted :func:`falling_trend_variance`."""
    x = daily_variance(prices)
    if config.fall_weight:
        x = x + config.fall_weight * falling_trend_variance(prices, config.fall_days)
    return x


def long_run_variance(prices: Prices, config: BandConfig = BandConfig()) -> float:
    """The mean of :func:`filter_input`, floored like every volatility in taiex."""
    return max(float(filter_input(prices, config).mean()), MIN_VOLATILITY**2)


def horizon_scale(
    prices: Prices, horizons: int, v_long: float, config: BandConfig = BandConfig()
) -> FloatArray:
    """``S[t, h-1]``: the standard deviation of ``log(open[t+h] / close[t])`` forecast at row t
    from rows up to t, shape ``(n, horizons)``. The filter starts at ``v_long`` on row 0."""
    x = filter_input(prices, config)
    a, p = config.reaction, config.persistence
    b = p - a
    v_next = np.empty(len(x))  # v_next[t]: variance of day t+1 known at t
    v = v_long
    for t, x_t in enumerate(x):
        v = (1.0 - p) * v_long + a * x_t + b * v
        v_next[t] = v
    steps = np.array([v_long + p**j * (v_next - v_long) for j in range(horizons)])  # (H, n)
    scale: FloatArray = np.sqrt(np.maximum(np.cumsum(steps, axis=0).T, MIN_VOLATILITY**2))
    return scale


def conformal_scores(prices: Prices, centre: FloatArray, scale: FloatArray) -> FloatArray:
    """``(log(open[t+h] / close[t]) - centre[t]) / S[t, h]``, shape ``(n, horizons)``; NaN
    where the target lies past the history."""
    n, horizons = scale.shape
    close, opens = np.log(prices.close), np.log(prices.open)
    scores = np.full((n, horizons), np.nan)
    for h in range(1, horizons + 1):
        scores[: n - h, h - 1] = (opens[h:] - close[: n - h] - centre[: n - h]) / scale[
            : n - h, h - 1
        ]
    return scores


def _ranks(m: int, level: float) -> tuple[int, int]:
    """1-based ranks of the signed split-conformal bounds among m scores: floor((m+1) alpha/2)
    and ceil((m+1)(1-alpha/2)), clamped to 1..m."""
    tail = (1.0 - level) / 2.0
    # (m + 1) * tail is often an integer (m = 99, alpha/2 = 0.1), but 1 - 0.8 is not 0.2 in
    # floating point: round off the representation error before flooring.
    low = min(max(math.floor(round((m + 1) * tail, 9)), 1), m)
    high = min(math.ceil(round((m + 1) * (1.0 - tail), 9)), m)
    return low, high


def pool_quantiles(scores: FloatArray, level: float) -> FloatArray:
    """Signed split-conformal bounds of a pool of scores, per column, shape ``(2, columns)``."""
    ordered = np.sort(scores, axis=0)
    low, high = _ranks(len(ordered), level)
    return np.stack([ordered[low - 1], ordered[high - 1]])


def adaptive_bounds(
    scores: FloatArray, origins: IntArray, pool: int, fallback: FloatArray
) -> FloatArray:
    """Per origin and horizon, the conformal bounds of every level from the last ``pool`` scores
    known at that origin (origin j at horizon h is known at t when j + h <= t).

    ``fallback`` ``(len(INTERVAL_LEVELS), 2, horizons)`` serves an origin with fewer than
    :data:`MIN_POOL` known scores. Returns ``(len(INTERVAL_LEVELS), 2, m, horizons)``: lower and
    upper multipliers of the scale.
    """
    horizons = scores.shape[1]
    bounds = np.empty((len(INTERVAL_LEVELS), 2, len(origins), horizons))
    for h in range(1, horizons + 1):
        column = scores[:, h - 1]
        last = np.asarray(origins, dtype=np.int64) - h  # the latest origin known at each origin
        full = last >= pool - 1
        if full.any():  # the usual case, sorted all at once
            windows = np.lib.stride_tricks.sliding_window_view(column, pool)[last[full] - pool + 1]
            ordered = np.sort(windows, axis=1)
            for k, level in enumerate(INTERVAL_LEVELS):
                low, high = _ranks(pool, level)
                bounds[k, 0, full, h - 1] = ordered[:, low - 1]
                bounds[k, 1, full, h - 1] = ordered[:, high - 1]
        for i in np.flatnonzero(~full):  # a history shorter than the pool
            known = column[: max(last[i] + 1, 0)]
            for k, level in enumerate(INTERVAL_LEVELS):
                if len(known) >= MIN_POOL:
                    bounds[k, :, i, h - 1] = pool_quantiles(known[:, None], level)[:, 0]
                else:
                    bounds[k, :, i, h - 1] = fallback[k, :, h - 1]
    return bounds
