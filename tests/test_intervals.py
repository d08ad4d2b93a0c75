"""Adaptive intervals and the overnight-gap level: adaptation to a volatility jump, no look-ahead,
the conformal order statistics, and a level that is zero where there is no gap effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taiex.frames import INTERVAL_LEVELS, Prices, check_history
from taiex.metrics import coverage
from taiex.models.gap_level import gap_level
from taiex.models.intervals import (
    MIN_POOL,
    BandConfig,
    adaptive_bounds,
    conformal_scores,
    daily_variance,
    falling_trend_variance,
    filter_input,
    horizon_scale,
    long_run_variance,
    pool_quantiles,
)
from tests.series import regime_history

HORIZONS = 5


def _prices(frame: pd.DataFrame) -> Prices:
    return check_history(frame, min_rows=1, purpose="a test")


def _coverage_from(prices: Prices, first: int, last: int, v_long: float) -> list[float]:
    """Pooled coverage (%) of each level over origins first..last, bands centred on 0."""
    scale = horizon_scale(prices, HORIZONS, v_long)
    centre = np.zeros(len(prices))
    scores = conformal_scores(prices, centre, scale)
    origins = np.arange(first, last + 1)
    bounds = adaptive_bounds(scores, origins, BandConfig().pool, np.zeros((2, 2, HORIZONS)))
    y = scores[origins] * scale[origins]  # the targets themselves (centre 0)
    result = []
    for k in range(len(INTERVAL_LEVELS)):
        lower, upper = bounds[k, 0] * scale[origins], bounds[k, 1] * scale[origins]
        result.append(100.0 * coverage(lower.ravel(), upper.ravel(), y.ravel()))
    return result


JUMP, AFTER = 1500, 500  # the volatility triples at row JUMP; coverage is read over AFTER origins


def test_coverage_returns_to_nominal_within_20_origins_after_volatility_triples() -> None:
    frame = regime_history(JUMP + AFTER + 100, jump_at=JUMP)
    prices = _prices(frame)
    v_long = long_run_variance(_prices(frame.iloc[:JUMP]))  # fitted before the jump
    before = _coverage_from(prices, JUMP - AFTER, JUMP - HORIZONS - 1, v_long)
    after = _coverage_from(prices, JUMP + 20, JUMP + 20 + AFTER, v_long)
    for level, was, now in zip(INTERVAL_LEVELS, before, after, strict=True):
        assert abs(was - 100 * level) <= 5.0, (level, was)
        assert abs(now - 100 * level) <= 5.0, (level, now)


def test_a_band_that_does_not_adapt_fails_the_same_jump() -> None:
    """The same check with the scale frozen at the jump misses badly (the rolling pool alone
    adapts too slowly): the test above measures the adaptive scale, not luck."""
    prices = _prices(regime_history(JUMP + AFTER + 100, jump_at=JUMP))
    scale = horizon_scale(prices, HORIZONS, long_run_variance(prices))
    frozen = np.where(np.arange(len(prices))[:, None] >= JUMP, scale[JUMP - 1], scale)
    scores = conformal_scores(prices, np.zeros(len(prices)), frozen)
    origins = np.arange(JUMP + 20, JUMP + 20 + AFTER + 1)
    bounds = adaptive_bounds(scores, origins, 900, np.zeros((2, 2, HORIZONS)))
    y = scores[origins] * frozen[origins]
    lower, upper = bounds[0, 0] * frozen[origins], bounds[0, 1] * frozen[origins]
    assert 100.0 * coverage(lower.ravel(), upper.ravel(), y.ravel()) < 60.0


def test_the_scale_triples_within_a_few_days_of_the_jump() -> None:
    jump = 1500
    prices = _prices(regime_history(2000, jump_at=jump))
    scale = horizon_scale(prices, HORIZONS, long_run_variance(prices))
    calm = np.median(scale[jump - 200 : jump, 0])
    assert 2.0 < np.median(scale[jump + 10 : jump + 30, 0]) / calm < 4.0
    # Longer horizons are wider.
    assert (np.diff(scale[100:], axis=1) > 0).all()


def test_bands_use_rows_up_to_their_origin_only() -> None:
    frame = regime_history(1500, jump_at=1000)
    changed = frame.copy()
    cut = 1200
    changed.loc[cut + 1 :, ["open", "high", "low", "close"]] *= 1.5
    results = []
    for version in (frame, changed):
        prices = _prices(version)
        scale = horizon_scale(prices, HORIZONS, 1e-4)
        scores = conformal_scores(prices, gap_level(prices), scale)
        origins = np.arange(1000, cut + 1)
        bounds = adaptive_bounds(scores, origins, 900, np.zeros((2, 2, HORIZONS)))
        results.append((scale[: cut + 1], gap_level(prices)[: cut + 1], bounds))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pool_quantiles_are_the_split_conformal_order_statistics() -> None:
    scores = np.arange(1.0, 100.0)[:, None]  # 1 .. 99, m = 99
    # 80 %: floor(100 * 0.1) = 10th and ceil(100 * 0.9) = 90th smallest.
    np.testing.assert_array_equal(pool_quantiles(scores, 0.80)[:, 0], [10.0, 90.0])
    # 95 %: floor(100 * 0.025) = 2nd and ceil(100 * 0.975) = 98th smallest.
    np.testing.assert_array_equal(pool_quantiles(scores, 0.95)[:, 0], [2.0, 98.0])


def test_a_short_pool_takes_the_fallback_bounds() -> None:
    prices = _prices(regime_history(MIN_POOL + 20))
    scale = horizon_scale(prices, HORIZONS, 1e-4)
    scores = conformal_scores(prices, np.zeros(len(prices)), scale)
    fallback = np.arange(2 * 2 * HORIZONS, dtype=float).reshape(2, 2, HORIZONS)
    # At origin t, horizon h knows the scores of origins 0 .. t - h: fewer than MIN_POOL here.
    bounds = adaptive_bounds(scores, np.array([MIN_POOL - 1, MIN_POOL + 10]), 900, fallback)
    np.testing.assert_array_equal(bounds[:, :, 0, :], fallback)
    assert not np.isin(bounds[:, :, 1, :], fallback).all()


def test_band_config_rejects_nonsense() -> None:
    for reaction, persistence, pool in ((0.0, 0.9, 900), (0.5, 0.4, 900), (0.1, 1.0, 900),
                                        (0.1, 0.9, MIN_POOL - 1)):  # fmt: skip
        with pytest.raises(ValueError, match="BandConfig"):
            BandConfig(reaction, persistence, pool)
    for days, weight in ((0, 0.75), (5, -0.1), (5, float("nan")), (5, float("inf"))):
        with pytest.raises(ValueError, match="BandConfig"):
            BandConfig(fall_days=days, fall_weight=weight)


# ------------------------------------------------------------------ the falling-trend term


def test_falling_trend_variance_by_hand() -> None:
    closes = [100.0, 110.0, 99.0, 121.0, 90.0]
    frame = pd.DataFrame(
        {"date": pd.bdate_range("2020-01-01", periods=5), "open": closes, "high": closes,
         "low": closes, "close": closes}
    )  # fmt: skip
    # Over 2 sessions: rows 0-1 have no close 2 back; row 2: 99 / 100 fell, row 3: 121 / 110
    # rose (0), row 4: 90 / 99 fell. Each squared log fall spread over 2 days.
    expected = [0.0, 0.0, np.log(0.99) ** 2 / 2, 0.0, np.log(90 / 99) ** 2 / 2]
    prices = _prices(frame)
    np.testing.assert_allclose(falling_trend_variance(prices, 2), expected, rtol=1e-12)
    config = BandConfig(fall_days=2, fall_weight=0.5)
    np.testing.assert_allclose(
        filter_input(prices, config), daily_variance(prices) + 0.5 * np.array(expected)
    )
    # The long-run variance is the mean of what the filter is fed (no price moves by less than
    # the volatility floor here: the closes move by 9-20 % a day).
    assert long_run_variance(prices, config) == pytest.approx(filter_input(prices, config).mean())
    assert long_run_variance(prices, config) > long_run_variance(prices, BandConfig(fall_weight=0))


def _slide(frame: pd.DataFrame, start: int, days: int, step: float) -> pd.DataFrame:
    """``frame`` with ``days`` sessions from ``start`` moving the close by ``step`` (log) each,
    every session opening at the previous close with a range of 1 % around its open and close:
    the same daily variance whether ``step`` is up or down."""
    out = frame.copy()
    close = float(frame.loc[start - 1, "close"])
    for day in range(start, start + days):
        new = close * np.exp(step)
        out.loc[day, ["open", "close"]] = [close, new]
        out.loc[day, ["high", "low"]] = [max(close, new) * 1.005, min(close, new) / 1.005]
        close = new
    return out.iloc[: start + days].reset_index(drop=True)


def test_a_slide_widens_the_next_bands_and_a_rally_of_the_same_size_does_not() -> None:
    frame = regime_history(400, seed=2)
    slide, rally = _slide(frame, 300, 5, -0.02), _slide(frame, 300, 5, 0.02)
    day = len(slide) - 1
    np.testing.assert_allclose(daily_variance(_prices(slide)), daily_variance(_prices(rally)))
    plain = BandConfig(fall_weight=0.0)
    scale = {
        (name, config): horizon_scale(_prices(version), HORIZONS, 1e-4, config)[day]
        for name, version in (("slide", slide), ("rally", rally))
        for config in (plain, BandConfig())
    }
    np.testing.assert_allclose(scale["slide", plain], scale["rally", plain], rtol=1e-12)
    # The last day closes 10 % below (above) its close 5 sessions before: 0.1^2 / 5 for the
    # slide, nothing for the rally.
    assert falling_trend_variance(_prices(slide), 5)[day] == pytest.approx(0.1**2 / 5)
    assert falling_trend_variance(_prices(rally), 5)[day] == 0.0
    assert (scale["slide", BandConfig()] > 1.3 * scale["rally", BandConfig()]).all()


# ------------------------------------------------------------------ the overnight-gap level


def test_gap_level_is_zero_without_a_gap_effect() -> None:
    level = gap_level(_prices(regime_history(3000, seed=1)))
    assert np.median(np.abs(level)) == 0.0
    assert np.abs(level).max() < 0.0005  # 0.05 %


def test_gap_level_finds_a_steady_positive_gap() -> None:
    level = gap_level(_prices(regime_history(3000, gap_mean=0.002, seed=4)))
    assert 0.0015 < np.median(level[600:]) < 0.0025
    assert (level[600:] > 0).all()
