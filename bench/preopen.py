"""The pre-open round (issue 21): the next 5 opens, knowing the night's US closes, year by year.

Origin t is a TAIEX session; its pre-open round is issued at 07:30 Taipei on the next stored
session and forecasts ``open[t+h]``, h = 1..5. It knows TAIEX up to close[t] and the night's log
moves of ``^GSPC, ^IXIC, ^SOX, TSM`` from ``taiex.overnight`` (``nights`` and ``night_moves``,
the functions the live round calls: the last US close usable at 07:30 against the last usable at
13:30 on t; 0 on a quiet night). Targets ``log(open[t+h] / close[t])``; naive: open = close[t].

**Walk-forward by year**, 2018 ... 2024: year Y holds the rounds issued in Y (origins from the
last session of Y-1) and the pairs whose target is in Y. The models are refitted on the first
round of every month on everything known then (an h-step target only when it lies before that
round: ``open[j+h]`` with j + h <= t), so each is trained on every day before its year and more.
Nothing after 2024-12-31 is read: the US closes after it are the hold-out.

Contenders, on the same pairs:

- **naive**.
- **evening**: the product's evening forecast, ``close * exp(gap level)`` (``models/gap_level``,
  the default LSTMConfig's span and shrink; the network earns no share, BENCHMARKS.md) with its
  adaptive band (``models/intervals``, as ``GapLevelForecaster._levels_and_bands``: the long-run
  variance of the rows before the year, the conformal pool of the last 900 known outcomes).
  ``--check-evening`` compares it with ``backtest_lstm`` for the first year.
- **OLS peer**, as issue 21 describes it: OLS of ``log(open[t+h] / close[t])`` on the night's 4
  log moves with an intercept, refitted monthly on an expanding window; its bands are the plain
  10/90 and 2.5/97.5 % quantiles of its training residuals.
- **pre-open**: ``taiex.models.preopen.PreopenForecaster`` with its default config (the chosen
  method; the module's docstring says what it is and why).

Figures per year and pooled over 2018-2024: sMAPE ratio to naive per horizon; Diebold-Mariano t
(``metrics.diebold_mariano``, lag h, negative = the model is better) of each model against
naive, the OLS peer and the evening forecast; 80 / 95 % coverage and interval score (percent of
the origin's close) per horizon; the direction hit rate of the h1 gap (sign of forecast - close
against sign of open - close, over the days whose open differs from the close; a forecast equal
to the close counts as a miss). Then the goals of issue 21, met or not, and the cost of a fit.

**Discipline.** Every choice of the method and its settings was made on the tuning years
2018-2020 (walk-forward, as here), the drift question also on TAIEX alone 2003-2015 (no US data
needed); 2021-2024 were run once, after, and are reported as not tuned on.
``--variants`` prints the alternatives on the tuning years, beside the chosen method (the
generic linear layer of this script reproduces the module's forecasts, checked there).

    nice -n 10 python bench/preopen.py [--years 2018,2019] [--quick] [--variants]
        [--check-evening] [--csv PATH] [--us-csv PATH]

``--quick``: the tuning years only. Deterministic: no random numbers anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from real_data import REAL_CSV, US_CSV
from taiex.frames import INTERVAL_LEVELS, Prices, check_history
from taiex.metrics import coverage, diebold_mariano, interval_scores, smape_terms
from taiex.models.gap_level import gap_level
from taiex.models.intervals import (
    BandConfig,
    adaptive_bounds,
    conformal_scores,
    horizon_scale,
    long_run_variance,
    pool_quantiles,
)
from taiex.models.lstm_config import LSTMConfig
from taiex.models.preopen import (
    SYMBOLS,
    PreopenConfig,
    PreopenForecaster,
    conformal_width,
    day_features,
    lad,
    log_targets,
)
from taiex.overnight import night_moves_frame

HORIZONS = 5
LEVELS = (80, 95)
YEARS = tuple(range(2018, 2025))
TUNING = (2018, 2019, 2020)
LAST_DAY = dt.date(2024, 12, 31)  # US closes after it are withheld: nothing after it is read
FIRST_NIGHT = dt.date(2016, 6, 1)
EVENING_POOL = LSTMConfig().band_pool
DM_LIMIT = 1.645
PEER, EVENING, NAIVE, PREOPEN = "OLS peer", "evening", "naive", "pre-open"
# Issue 21's table of the peer: sMAPE ratio h1..h5 and its 80 % band's coverage (%).
ISSUE_PEER = {
    2018: (0.673, 0.892, 0.938, 0.966, 0.966, 66.7),
    2019: (0.676, 0.932, 0.966, 0.936, 0.946, 80.2),
    2020: (0.733, 0.949, 0.943, 0.945, 0.962, 67.3),
    2021: (0.788, 0.951, 0.897, 0.935, 0.949, 78.6),
    2022: (0.602, 0.855, 0.894, 0.930, 0.975, 72.3),
    2023: (0.701, 0.835, 0.931, 0.930, 0.936, 89.2),
    2024: (0.667, 0.909, 0.905, 0.923, 0.948, 71.5),
}


# ------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Data:
    """The history up to :data:`LAST_DAY` and, per row t, the night before its pre-open round."""

    history: pd.DataFrame
    prices: Prices
    moves: pd.DataFrame  # date, the symbols (NaN where a close is not stored), quiet, sessions
    y: np.ndarray  # (n, H) log(open[t+h] / close[t])
    round_year: np.ndarray  # (n,) the year of the round after row t (0 for the last row)
    target_year: np.ndarray  # (n, H) the year of row t + h (0 past the end)

    @property
    def n(self) -> int:
        return len(self.prices)

    def x(self) -> np.ndarray:
        """The moves as an (n, 4) array aligned to the rows (NaN where unknown)."""
        return self.moves[list(SYMBOLS)].to_numpy()


def read_history(csv: Path) -> pd.DataFrame:
    """The TAIEX history up to :data:`LAST_DAY` (the pre-open benches read nothing after it)."""
    history = pd.read_csv(csv, parse_dates=["date"])
    return history[history["date"] <= pd.Timestamp(LAST_DAY)].reset_index(drop=True)


def read_moves(history: pd.DataFrame, us_csv: Path) -> pd.DataFrame:
    """The night's moves after every day of ``history`` (``night_moves_frame``: date, the
    symbols, quiet, sessions) from the US closes up to :data:`LAST_DAY`; NaN before
    :data:`FIRST_NIGHT`."""
    us = pd.read_csv(us_csv, parse_dates=["date"])
    us = us[us["date"] <= pd.Timestamp(LAST_DAY)]
    closes = {
        symbol: dict(zip(rows["date"].dt.date, rows["close"], strict=True))
        for symbol, rows in us.groupby("symbol")
    }
    days = list(history["date"].dt.date)
    # The same question as the live round, through the product's function: which closes are
    # usable at 07:30 on the next session.
    moves = night_moves_frame(days, closes, SYMBOLS)
    early = moves["date"] < pd.Timestamp(FIRST_NIGHT)
    moves.loc[early, list(SYMBOLS)] = np.nan
    moves.loc[early, ["quiet", "sessions"]] = [False, 0]
    return moves


def load(csv: Path, us_csv: Path) -> Data:
    history = read_history(csv)
    prices = check_history(history)
    moves = read_moves(history, us_csv)
    n = len(history)
    years = history["date"].dt.year.to_numpy()
    round_year = np.zeros(n, dtype=int)
    round_year[:-1] = years[1:]
    target_year = np.zeros((n, HORIZONS), dtype=int)
    for h in range(1, HORIZONS + 1):
        target_year[: n - h, h - 1] = years[h:]
    y = log_targets(prices, HORIZONS)
    return Data(history, prices, moves, y, round_year, target_year)


def months(data: Data, year: int) -> list[np.ndarray]:
    """The origins of ``year``'s rounds with the night's moves, grouped by the month of the
    round (each group is forecast by a fit made at its first round)."""
    x = data.x()
    rows = np.flatnonzero((data.round_year == year) & np.isfinite(x).all(axis=1))
    month = data.history["date"].to_numpy("datetime64[M]")[np.minimum(rows + 1, data.n - 1)]
    return [rows[month == m] for m in np.unique(month)]


# ------------------------------------------------------------------------ contenders


@dataclass
class Forecasts:
    """Log offsets from the origin's close: ``centre`` (n, H) and, per level, lower and upper
    bounds (n, H); NaN where the contender did not forecast."""

    centre: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int, banded: bool = True) -> Forecasts:
        def blank() -> np.ndarray:
            return np.full((n, HORIZONS), np.nan)

        bands = {pct: (blank(), blank()) for pct in LEVELS} if banded else {}
        return cls(blank(), bands)


def naive(data: Data, years: Sequence[int]) -> Forecasts:
    return Forecasts(np.zeros((data.n, HORIZONS)))


def evening(data: Data, years: Sequence[int]) -> Forecasts:
    """The product's evening forecast and band (see the module docstring)."""
    cfg = LSTMConfig()
    prices = data.prices
    level = gap_level(prices, cfg.gap_span, cfg.gap_shrink)
    out = Forecasts.empty(data.n)
    out.centre[:] = level[:, None]
    years_of = data.history["date"].dt.year.to_numpy()
    for year in years:
        n_train = int((years_of < year).sum())
        train = Prices(prices.dates[:n_train], prices.ohlc[:n_train])
        v_long = long_run_variance(train, cfg.band)
        scale = horizon_scale(prices, HORIZONS, v_long, cfg.band)
        scores = conformal_scores(prices, level, scale)
        origins = np.flatnonzero(data.round_year == year).astype(np.int64)
        fallback = np.zeros((len(INTERVAL_LEVELS), 2, HORIZONS))  # never used: pools are full
        bounds = adaptive_bounds(scores, origins, cfg.band_pool, fallback)
        for k, pct in enumerate(LEVELS):
            for side in (0, 1):
                out.bands[pct][side][origins] = (
                    level[origins, None] + bounds[k, side] * scale[origins]
                )
    return out


def ols_peer(data: Data, years: Sequence[int]) -> Forecasts:
    """Issue 21's peer: monthly OLS on the 4 moves with an intercept, expanding window, bands
    from the plain quantiles of its training residuals."""
    x = data.x()
    known = np.isfinite(x).all(axis=1)
    design = np.column_stack([np.ones(data.n), np.nan_to_num(x)])
    out = Forecasts.empty(data.n)
    for year in years:
        for group in months(data, year):
            origin = group[0]
            for h in range(1, HORIZONS + 1):
                rows = np.flatnonzero(known & (np.arange(data.n) + h <= origin))
                coef = np.linalg.lstsq(design[rows], data.y[rows, h - 1], rcond=None)[0]
                residual = data.y[rows, h - 1] - design[rows] @ coef
                centre = design[group] @ coef
                out.centre[group, h - 1] = centre
                for pct in LEVELS:
                    tail = (1 - pct / 100) / 2
                    low, high = np.quantile(residual, [tail, 1 - tail])
                    out.bands[pct][0][group, h - 1] = centre + low
                    out.bands[pct][1][group, h - 1] = centre + high
    return out


def preopen(
    data: Data, years: Sequence[int], config: PreopenConfig | None = None
) -> tuple[Forecasts, list[float]]:
    """The chosen method through the product's module: fitted at each month's first round on
    the rows up to its origin, forecasting the month's origins. Also the CPU seconds per fit."""
    out = Forecasts.empty(data.n)
    fit_cpu = []
    for year in years:
        for group in months(data, year):
            first, last = group[0], group[-1]
            cpu = time.process_time()
            model = PreopenForecaster(config).fit(
                data.history.iloc[: first + 1], data.moves.iloc[: first + 1]
            )
            fit_cpu.append(time.process_time() - cpu)
            rows = model.predict_origins(
                data.history.iloc[: last + 1],
                data.moves.iloc[: last + 1],
                origins=list(data.history["date"].iloc[group].dt.date),
            )
            _store(out, group, rows)
    return out, fit_cpu


def _store(out: Forecasts, group: np.ndarray, rows: pd.DataFrame) -> None:
    def grid(column: str) -> np.ndarray:
        values = np.log(rows[column].to_numpy() / rows["naive"].to_numpy())
        return values.reshape(len(group), HORIZONS)

    out.centre[group] = grid("forecast")
    for pct in LEVELS:
        out.bands[pct][0][group] = grid(f"lower_{pct}")
        out.bands[pct][1][group] = grid(f"upper_{pct}")


# ------------------------------------------------------------------------ variants


@dataclass(frozen=True)
class Variant:
    """A linear layer on the night's moves, written out here so that one setting can change at
    a time; ``chosen`` reproduces :class:`PreopenForecaster`'s default."""

    name: str
    loss: str = "lad"  # lad or ols
    day: bool = True  # TAIEX's own day t (gap, intra) as features
    intercept: bool = False  # a fitted intercept (the training years' drift) instead of the level
    tied: bool = True  # h >= 2: only the scale of h1's night combination (else free betas)
    half_life: float = 2.0  # years, the h1 fit; math.inf for equal weights
    later_half_life: float = math.inf  # years, the fits of h >= 2
    refit: str = "month"  # month or year
    residuals: str = "out-of-fold"  # or in-sample
    pool: int | None = 250  # the last this many scores (None: all)
    scale: str = "evening"  # evening (S), sqrt (S ** 0.5) or none
    night_weight: float = 0.7  # k in sqrt(scale^2 + k m^2), m the night's predicted move at h
    folds: int = 5
    signed: bool = False  # signed quantiles of the scores (else of their absolute values)
    pool_half_life: float | None = None  # origins; a score's weight in the quantile halves with it


CHOSEN = Variant("chosen (the module's default)")
BEFORE = Variant(
    "before (first version: S alone, 2-year half-life at every h)",
    later_half_life=2.0,
    night_weight=0.0,
)
VARIANTS = [
    CHOSEN,
    BEFORE,
    replace(CHOSEN, name="least squares", loss="ols"),
    replace(CHOSEN, name="no TAIEX day features (moves only)", day=False),
    replace(CHOSEN, name="fitted intercept (drift), no level", intercept=True),
    replace(CHOSEN, name="free betas per horizon", tied=False),
    replace(CHOSEN, name="equal weights (no half-life)", half_life=math.inf),
    replace(CHOSEN, name="half-life 1 year", half_life=1.0),
    replace(CHOSEN, name="half-life 4 years", half_life=4.0),
    replace(CHOSEN, name="h >= 2 half-life 2 years (as h1)", later_half_life=2.0),
    replace(CHOSEN, name="h >= 2 half-life 4 years", later_half_life=4.0),
    replace(CHOSEN, name="refit once a year", refit="year"),
    replace(CHOSEN, name="band: in-sample residuals", residuals="in-sample"),
    replace(CHOSEN, name="band: every residual (no pool)", pool=None),
    replace(CHOSEN, name="band: pool 500", pool=500),
    replace(CHOSEN, name="band: pool 125", pool=125),
    replace(
        CHOSEN, name="band: recency-weighted, half-life 60 of 500", pool=500, pool_half_life=60.0
    ),
    replace(
        CHOSEN, name="band: recency-weighted, half-life 125 of 500", pool=500, pool_half_life=125.0
    ),
    replace(CHOSEN, name="band: plain quantiles (no scale)", scale="none", night_weight=0.0),
    replace(CHOSEN, name="band: scale S ** 0.5", scale="sqrt", night_weight=0.0),
    replace(CHOSEN, name="band: S alone (night weight 0)", night_weight=0.0),
    replace(CHOSEN, name="band: night weight 0.3", night_weight=0.3),
    replace(CHOSEN, name="band: night weight 1", night_weight=1.0),
    replace(CHOSEN, name="band: night weight 2", night_weight=2.0),
    replace(CHOSEN, name="band: signed quantiles", signed=True),
]
# The band variants shown by terciles of the night's size (the choice of the night weight).
TERCILE_VARIANTS = [
    "band: S alone (night weight 0)",
    "band: night weight 0.3",
    CHOSEN.name,
    "band: night weight 1",
    "band: night weight 2",
]


def variant(data: Data, years: Sequence[int], spec: Variant) -> Forecasts:
    x = data.x()
    prices = data.prices
    level = np.zeros(data.n) if spec.intercept else gap_level(prices)
    features = [np.nan_to_num(x)]
    if spec.day:
        features.append(day_features(prices))
    if spec.intercept:
        features.insert(0, np.ones((data.n, 1)))
    a = np.column_stack(features)
    moves = slice(1, 5) if spec.intercept else slice(0, 4)
    y = data.y - level[:, None]
    known = np.isfinite(x).all(axis=1)
    dates = prices.dates
    out = Forecasts.empty(data.n)
    for year in years:
        groups = months(data, year)
        if spec.refit == "year":
            groups = [np.concatenate(groups)]
        for group in groups:
            origin = group[0]
            rows = [
                np.flatnonzero(known & (np.arange(data.n) + h <= origin))
                for h in range(1, HORIZONS + 1)
            ]
            age = (dates[origin] - dates).astype("timedelta64[D]").astype(float) / 365.25
            w = np.stack([0.5 ** (age / spec.half_life), 0.5 ** (age / spec.later_half_life)])
            coef = _variant_coef(a, y, w, rows, spec, moves)
            v_long = long_run_variance(Prices(dates[: origin + 1], prices.ohlc[: origin + 1]))
            scale = _variant_scale(prices, v_long, spec, a, coef, moves)
            bounds = _variant_bounds(a, y, w, rows, spec, moves, coef, scale)
            centre = a[group] @ coef.T
            out.centre[group] = level[group, None] + centre
            for k, pct in enumerate(LEVELS):
                for side in (0, 1):
                    out.bands[pct][side][group] = (
                        level[group, None] + centre + bounds[k, side] * scale[group]
                    )
    return out


def _variant_coef(
    a: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    rows: list[np.ndarray],
    spec: Variant,
    moves: slice,
    only: int | None = None,
) -> np.ndarray:
    def fit(design: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if spec.loss == "lad":
            return lad(design, target, weights)
        root = np.sqrt(weights)
        return np.linalg.lstsq(design * root[:, None], target * root, rcond=None)[0]

    coef = np.zeros((HORIZONS, a.shape[1]))
    r = rows[0]
    coef[0] = fit(a[r], y[r, 0], w[0, r])
    night = a[:, moves] @ coef[0, moves]
    others = [j for j in range(a.shape[1]) if j not in range(*moves.indices(a.shape[1]))]
    for h in range(1, HORIZONS) if only is None else range(max(only, 1), only + 1):
        r = rows[h]
        if not spec.tied:
            coef[h] = fit(a[r], y[r, h], w[1, r])
            continue
        fitted = fit(np.column_stack([night[r], a[r][:, others]]), y[r, h], w[1, r])
        coef[h, moves] = fitted[0] * coef[0, moves]
        coef[h, others] = fitted[1:]
    return coef


def _variant_scale(
    prices: Prices, v_long: float, spec: Variant, a: np.ndarray, coef: np.ndarray, moves: slice
) -> np.ndarray:
    s = horizon_scale(prices, HORIZONS, v_long, BandConfig())
    if spec.scale == "none":
        s = np.ones_like(s)
    elif spec.scale == "sqrt":
        s = np.sqrt(s)
    if not spec.night_weight:
        return s
    night = a[:, moves] @ coef[:, moves].T  # (n, H): the night's predicted move per horizon
    return np.sqrt(s**2 + spec.night_weight * np.nan_to_num(night) ** 2)


def _variant_bounds(
    a: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    rows: list[np.ndarray],
    spec: Variant,
    moves: slice,
    coef: np.ndarray,
    scale: np.ndarray,
) -> np.ndarray:
    bounds = np.empty((len(LEVELS), 2, HORIZONS))
    for h in range(HORIZONS):
        pool = rows[h] if spec.pool is None else rows[h][-spec.pool :]
        if spec.residuals == "in-sample":
            residual = y[pool, h] - a[pool] @ coef[h]
        else:
            residual = np.empty(len(pool))
            for fold in np.array_split(np.arange(len(pool)), spec.folds):
                first, last = pool[fold[0]] - HORIZONS, pool[fold[-1]] + HORIZONS
                kept = [r[(r < first) | (r > last)] for r in rows]
                fold_coef = _variant_coef(a, y, w, kept, spec, moves, only=h)
                residual[fold] = y[pool[fold], h] - a[pool[fold]] @ fold_coef[h]
        scores = residual / scale[pool, h]
        for k, pct in enumerate(LEVELS):
            if spec.signed:
                bounds[k, :, h] = pool_quantiles(scores[:, None], pct / 100)[:, 0]
            elif spec.pool_half_life is not None:
                age = np.arange(len(scores))[::-1]
                width = weighted_width(np.abs(scores), 0.5 ** (age / spec.pool_half_life), pct)
                bounds[k, :, h] = (-width, width)
            else:
                width = conformal_width(np.abs(scores), pct / 100)
                bounds[k, :, h] = (-width, width)
    return bounds


def weighted_width(scores: np.ndarray, weights: np.ndarray, pct: int) -> float:
    """The weighted split-conformal bound (Barber et al. 2023, non-exchangeable): the level
    quantile of the scores' weighted distribution with the test point's weight (the largest, 1)
    put at infinity; the largest score when that passes them."""
    order = np.argsort(scores, kind="stable")
    share = np.cumsum(weights[order]) / (weights.sum() + 1.0)
    rank = int(np.searchsorted(share, pct / 100 - 1e-12))
    return float(scores[order][min(rank, len(scores) - 1)])


# ------------------------------------------------------------------------ scoring


def pair_rows(data: Data, years: Sequence[int], h: int) -> np.ndarray:
    """The origins scored at horizon ``h`` in ``years``, in time order: the round and the
    target in the same year, the night's moves known."""
    known = np.isfinite(data.x()).all(axis=1)
    wanted = np.isin(data.round_year, years) & (data.round_year == data.target_year[:, h - 1])
    return np.flatnonzero(wanted & known)


@dataclass(frozen=True)
class Pairs:
    close: np.ndarray
    actual: np.ndarray


def pairs(data: Data, years: Sequence[int], h: int) -> tuple[np.ndarray, Pairs]:
    rows = pair_rows(data, years, h)
    close = data.prices.close[rows]
    return rows, Pairs(close, close * np.exp(data.y[rows, h - 1]))


def smape_of(f: Forecasts, rows: np.ndarray, h: int, p: Pairs) -> np.ndarray:
    return smape_terms(p.close * np.exp(f.centre[rows, h - 1]), p.actual)


Scores = dict[str, float]


def score(data: Data, contenders: dict[str, Forecasts], years: Sequence[int]) -> dict[str, Scores]:
    """Per contender: ratio_h, dm_<peer>_h, cover_<pct>_h, score_<pct>_h, hit (h1), n_h."""
    out: dict[str, Scores] = {name: {} for name in contenders}
    for h in range(1, HORIZONS + 1):
        rows, p = pairs(data, years, h)
        if len(rows) == 0:
            continue
        losses = {name: smape_of(f, rows, h, p) for name, f in contenders.items()}
        naive_loss = smape_terms(p.close, p.actual)
        for name, f in contenders.items():
            s = out[name]
            s[f"n_{h}"] = len(rows)
            s[f"ratio_{h}"] = float(losses[name].mean() / naive_loss.mean())
            for peer in (NAIVE, PEER, EVENING):
                base = naive_loss if peer == NAIVE else losses.get(peer)
                if base is None or peer == name:
                    continue
                t = diebold_mariano(losses[name], base, lag=h)
                s[f"dm_{peer}_{h}"] = math.nan if t is None else t
            for pct in LEVELS if f.bands else ():
                lo = p.close * np.exp(f.bands[pct][0][rows, h - 1])
                hi = p.close * np.exp(f.bands[pct][1][rows, h - 1])
                s[f"cover_{pct}_{h}"] = 100.0 * coverage(lo, hi, p.actual)
                per = 100.0 / p.close
                s[f"score_{pct}_{h}"] = float(
                    interval_scores(lo * per, hi * per, p.actual * per, pct / 100).mean()
                )
            if h == 1:
                moved = p.actual != p.close
                call = np.sign(p.close * np.exp(f.centre[rows, 0]) - p.close)
                truth = np.sign(p.actual - p.close)
                s["hit"] = float(np.mean((call * truth)[moved] > 0)) * 100.0
    return out


# ------------------------------------------------------------------------ tables


def _f(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _label(key: int | str) -> str:
    return f"{key}" if isinstance(key, int) else key


def peer_table(scored: dict[int | str, dict[str, Scores]]) -> str:
    hs = range(1, HORIZONS + 1)
    head = ["year", *(f"h{h} (issue)" for h in hs), "cover 80 h1 / pooled h1-h5 (issue)"]
    rows = []
    for key, figures in scored.items():
        s = figures[PEER]
        issue = ISSUE_PEER.get(key) if isinstance(key, int) else None
        cells = [_label(key)]
        for h in hs:
            mine = _f(s.get(f"ratio_{h}"), ".3f")
            cells.append(mine + (f" ({issue[h - 1]:.3f})" if issue else ""))
        pooled = _pooled_cover(s, 80)
        cover = f"{_f(s.get('cover_80_1'), '.1f')} / {_f(pooled, '.1f')}"
        cells.append(cover + (f" ({issue[5]:.1f})" if issue else ""))
        rows.append(cells)
    return _table(head, rows)


def _pooled_cover(s: Scores, pct: int) -> float:
    pairs_ = [(s[f"cover_{pct}_{h}"], s[f"n_{h}"]) for h in range(1, HORIZONS + 1)
              if f"cover_{pct}_{h}" in s]  # fmt: skip
    if not pairs_:
        return math.nan
    return float(sum(c * n for c, n in pairs_) / sum(n for _, n in pairs_))


def ratio_table(scored: dict[int | str, dict[str, Scores]], names: Sequence[str]) -> str:
    hs = range(1, HORIZONS + 1)
    head = ["year", "model", *(f"ratio h{h}" for h in hs), "hit h1 %", "pairs h1"]
    rows = []
    for key, figures in scored.items():
        for name in names:
            s = figures[name]
            rows.append(
                [_label(key), name]
                + [_f(s.get(f"ratio_{h}"), ".3f") for h in hs]
                + [_f(s.get("hit"), ".1f") if name != NAIVE else "—", str(s.get("n_1", 0))]
            )
    return _table(head, rows)


def dm_table(scored: dict[int | str, dict[str, Scores]], names: Sequence[str]) -> str:
    hs = range(1, HORIZONS + 1)
    head = ["year", "model", "against", *(f"DM t h{h}" for h in hs)]
    rows = []
    for key, figures in scored.items():
        for name in names:
            for peer in (NAIVE, PEER, EVENING):
                s = figures[name]
                if f"dm_{peer}_1" not in s:
                    continue
                rows.append(
                    [_label(key), name, peer] + [_f(s.get(f"dm_{peer}_{h}"), "+.2f") for h in hs]
                )
    return _table(head, rows)


def band_table(scored: dict[int | str, dict[str, Scores]], names: Sequence[str]) -> str:
    hs = range(1, HORIZONS + 1)
    head = ["year", "model", *(f"cover 80/95 h{h}" for h in hs), *(f"score 80/95 h{h}" for h in hs)]
    rows = []
    for key, figures in scored.items():
        for name in names:
            s = figures[name]
            cells = [_label(key), name]
            cells += [
                f"{_f(s.get(f'cover_80_{h}'), '.1f')} / {_f(s.get(f'cover_95_{h}'), '.1f')}"
                for h in hs
            ]
            cells += [
                f"{_f(s.get(f'score_80_{h}'), '.3f')} / {_f(s.get(f'score_95_{h}'), '.3f')}"
                for h in hs
            ]
            rows.append(cells)
    return _table(head, rows)


# ------------------------------------------------------------------------ goals


@dataclass(frozen=True)
class Goal:
    text: str
    value: str
    met: bool


def goals(
    scored: dict[int | str, dict[str, Scores]], years: Sequence[int], cost: dict[str, float]
) -> list[Goal]:
    model = PREOPEN
    pooled = scored["pooled"][model]
    per_year = {y: scored[y][model] for y in years}
    out = []

    def worst(key: str, reverse: bool = True) -> tuple[float, int]:
        values = [(per_year[y][key], y) for y in years if key in per_year[y]]
        return max(values) if reverse else min(values)

    out.append(
        Goal("h1 ratio <= 0.66 pooled", f"{pooled['ratio_1']:.3f}", pooled["ratio_1"] <= 0.66)
    )
    value, year = worst("ratio_1")
    out.append(Goal("h1 ratio <= 0.80 in every year", f"worst {value:.3f} ({year})", value <= 0.80))
    out.append(
        Goal("h2 ratio <= 0.88 pooled", f"{pooled['ratio_2']:.3f}", pooled["ratio_2"] <= 0.88)
    )
    for h in (3, 4, 5):
        r = pooled[f"ratio_{h}"]
        out.append(Goal(f"h{h} ratio <= 0.93 pooled", f"{r:.4f}", r <= 0.93))
    for h in (1, 2):
        t = pooled.get(f"dm_{PEER}_{h}", math.nan)
        out.append(Goal(f"h{h} DM t vs the OLS peer < -1.645 pooled", f"{t:+.2f}", t < -DM_LIMIT))
    for peer in (NAIVE, PEER, EVENING):
        cells = [
            (per_year[y].get(f"dm_{peer}_{h}", math.nan), y, h)
            for y in years
            for h in range(1, HORIZONS + 1)
        ]
        t, y, h = max(cells, key=lambda c: -math.inf if math.isnan(c[0]) else c[0])
        out.append(
            Goal(
                f"never significantly worse than {peer} (every year, horizon: t <= 1.645)",
                f"largest t {t:+.2f} ({y} h{h})",
                not t > DM_LIMIT,
            )
        )
    for pct in LEVELS:
        misses = [
            f"{y} h{h} {per_year[y][f'cover_{pct}_{h}']:.1f}"
            for y in years
            for h in (1, 2)
            if abs(per_year[y][f"cover_{pct}_{h}"] - pct) > 3.0
        ]
        span = [per_year[y][f"cover_{pct}_{h}"] for y in years for h in (1, 2)]
        out.append(
            Goal(
                f"{pct} % coverage within ±3 points in every year at h1 and h2",
                f"{min(span):.1f} … {max(span):.1f}"
                + (f"; off: {', '.join(misses)}" if misses else ""),
                not misses,
            )
        )
        late = [pooled[f"cover_{pct}_{h}"] for h in (3, 4, 5)]
        out.append(
            Goal(
                f"{pct} % coverage within ±3 points pooled at h3-h5",
                " / ".join(f"{c:.1f}" for c in late),
                all(abs(c - pct) <= 3.0 for c in late),
            )
        )
    for pct in LEVELS:
        cells = [(binomial_p(per_year[y], pct, h), y, h) for y in years for h in (1, 2)]
        limit = 0.05 / len(cells)
        p, y, h = min(cells)
        out.append(
            Goal(
                f"proposed: {pct} % coverage per year at h1 and h2 not rejected by an exact "
                f"binomial test at family-wise 5 % (p >= 0.05 / {len(cells)})",
                f"smallest p {p:.4f} ({y} h{h}: {per_year[y][f'cover_{pct}_{h}']:.1f}); "
                f"p < 0.05 in {sum(c[0] < 0.05 for c in cells)} of {len(cells)}",
                p >= limit,
            )
        )
    for pct in LEVELS:
        mine, theirs = pooled[f"score_{pct}_1"], scored["pooled"][EVENING][f"score_{pct}_1"]
        cut = 1 - mine / theirs
        out.append(
            Goal(
                f"h1 {pct} % interval score >= 25 % below the evening band's (pooled)",
                f"{mine:.3f} vs {theirs:.3f}: {100 * cut:.1f} % below",
                cut >= 0.25,
            )
        )
    if cost:
        out.append(
            Goal(
                "fit under 60 s of CPU (all data up to 2024)",
                f"{cost['fit_cpu']:.2f} s CPU",
                cost["fit_cpu"] < 60.0,
            )
        )
        out.append(
            Goal(
                "a forecast with the data loaded well under a second",
                f"{1000 * cost['predict']:.1f} ms",
                cost["predict"] < 0.25,
            )
        )
    return out


def binomial_p(s: Scores, pct: int, h: int) -> float:
    """The two-sided exact binomial p-value of the coverage of one year-cell at its nominal
    rate (twice the smaller tail, at most 1)."""
    from scipy.stats import binom

    n = int(s[f"n_{h}"])
    hits = round(s[f"cover_{pct}_{h}"] * n / 100)
    tail = min(binom.cdf(hits, n, pct / 100), binom.sf(hits - 1, n, pct / 100))
    return float(min(1.0, 2 * tail))


def calibration_chance(scored: dict[int | str, dict[str, Scores]], years: Sequence[int]) -> str:
    """How often a perfectly calibrated band would meet the per-year coverage goal: each year's
    h1 and h2 hits as independent Bernoulli draws at the nominal rate (overlapping h2 pairs make
    the real spread wider still)."""
    from scipy.stats import binom

    parts = []
    for pct in LEVELS:
        p = pct / 100
        inside = []
        for y in years:
            for h in (1, 2):
                n = int(scored[y][PREOPEN][f"n_{h}"])
                low, high = (
                    math.ceil(round(n * (p - 0.03), 9)),
                    math.floor(round(n * (p + 0.03), 9)),
                )
                inside.append(float(binom.cdf(high, n, p) - binom.cdf(low - 1, n, p)))
        expected = sum(1 - q for q in inside)
        parts.append(
            f"at {pct} %, {expected:.1f} of the {len(inside)} year-cells are expected off by "
            f"more than 3 points and all are within with probability {np.prod(inside):.2f}"
        )
    return (
        "A perfectly calibrated band (independent hits at the nominal rate, these pairs per "
        "year): " + "; ".join(parts) + "."
    )


def goal_table(found: list[Goal]) -> str:
    return _table(
        ["goal", "value", "met"], [[g.text, g.value, "met" if g.met else "NOT met"] for g in found]
    )


# ------------------------------------------------------------------------ cost


def fit_cost(data: Data) -> dict[str, float]:
    """One fit on every day up to 2024-12-31, and one forecast from the last day."""
    cpu, wall = time.process_time(), time.perf_counter()
    model = PreopenForecaster().fit(data.history, data.moves)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    night = data.moves.iloc[-2][list(SYMBOLS)].to_dict()  # any night: the cost is the same
    started = time.perf_counter()
    model.predict(data.history, night)
    return {"fit_cpu": cpu, "fit_wall": wall, "predict": time.perf_counter() - started,
            "rows": model.n_rows_}  # fmt: skip


# ------------------------------------------------------------------------ main


def check_evening(data: Data, year: int, mine: Forecasts) -> str:
    """The evening contender against the product's own backtest for ``year``."""
    from taiex.models.backtest import backtest_lstm

    result = backtest_lstm(
        data.history, train_until=dt.date(year - 1, 12, 31), start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
    )  # fmt: skip
    rows = result.rows.dropna(subset=["actual"])
    index = np.searchsorted(data.prices.dates, rows["origin_date"].to_numpy("datetime64[ns]"))
    # The year's last origin belongs to the next year's rounds here (fitted on this year too).
    same = data.round_year[index] == year
    rows, index = rows[same], index[same]
    j = rows["horizon"].to_numpy() - 1
    naive_ = rows["naive"].to_numpy()
    worst = 0.0
    for column, values in (("forecast", mine.centre), *(
        (f"{side}_{pct}", mine.bands[pct][k]) for pct in LEVELS
        for k, side in enumerate(("lower", "upper"))
    )):  # fmt: skip
        theirs = np.log(rows[column].to_numpy() / naive_)
        worst = max(worst, float(np.nanmax(np.abs(theirs - values[index, j]))))
    return (
        f"evening contender vs backtest_lstm({year}), on the {len(rows)} pairs of the rounds "
        f"issued in {year}: largest difference "
        f"{worst:.2e} in log units (forecast and bands; the network's shares kept "
        f"{result.model.lambdas_.tolist()})"
    )


def variants_section(data: Data, years: Sequence[int], chosen: Forecasts) -> None:
    print(f"\n### Variants on the tuning years {', '.join(map(str, years))} (pooled)")
    runs = {}
    for spec in VARIANTS:
        runs[spec.name] = variant(data, years, spec)
    same = np.nanmax(np.abs(runs[CHOSEN.name].centre - chosen.centre))
    same_band = max(
        np.nanmax(np.abs(runs[CHOSEN.name].bands[p][k] - chosen.bands[p][k]))
        for p in LEVELS for k in (0, 1)
    )  # fmt: skip
    print(
        f"\nthe chosen variant against the module: largest difference {same:.1e} (centre), "
        f"{same_band:.1e} (bands), in log units"
    )
    pooled = score(data, {**runs, PEER: ols_peer(data, years)}, years)
    chosen_loss = {}
    hs = range(1, HORIZONS + 1)
    for h in hs:
        rows, p = pairs(data, years, h)
        chosen_loss[h] = (rows, p, smape_of(runs[CHOSEN.name], rows, h, p))
    head = ["variant", *(f"ratio h{h}" for h in hs), *(f"DM t vs chosen h{h}" for h in hs)]
    table = []
    for spec in VARIANTS:
        s = pooled[spec.name]
        cells = [spec.name] + [_f(s.get(f"ratio_{h}"), ".3f") for h in hs]
        for h in hs:
            rows, p, base = chosen_loss[h]
            if spec is CHOSEN:
                cells.append("—")
                continue
            t = diebold_mariano(smape_of(runs[spec.name], rows, h, p), base, lag=h)
            cells.append(_f(t, "+.2f"))
        table.append(cells)
    print(_table(head, table))
    per_year = {y: score(data, runs, [y]) for y in years}
    head = ["variant", *(f"{y} cover 80/95 h1, h2" for y in years), "pooled cover 80/95 h3-h5",
            "score 80/95 h1"]  # fmt: skip
    table = []
    for spec in VARIANTS:
        cells = [spec.name]
        for y in years:
            s = per_year[y][spec.name]
            cells.append(
                ", ".join(f"{s[f'cover_80_{h}']:.0f}/{s[f'cover_95_{h}']:.0f}" for h in (1, 2))
            )
        s = pooled[spec.name]
        cells.append(
            ", ".join(f"{s[f'cover_80_{h}']:.0f}/{s[f'cover_95_{h}']:.0f}" for h in (3, 4, 5))
        )
        cells.append(f"{s['score_80_1']:.3f} / {s['score_95_1']:.3f}")
        table.append(cells)
    print()
    print(_table(head, table))
    print(
        "\nCoverage (%) by terciles of the night's size (|h1 forecast - gap level|: small, "
        "middle, large), h1 and h2; z2: the mean squared binomial z of the 12 cells (1 when "
        "calibrated)"
    )
    print(tercile_table(data, {name: runs[name] for name in TERCILE_VARIANTS}, years))


def tercile_table(data: Data, runs: dict[str, Forecasts], years: Sequence[int]) -> str:
    """Coverage by terciles of the night's size, how the night weight of the band was chosen."""
    head = ["variant", *(f"cover {pct} h{h}" for h in (1, 2) for pct in LEVELS), "z2"]
    table = []
    for name, f in runs.items():
        cells, z2 = [name], []
        for h in (1, 2):
            rows, p = pairs(data, years, h)
            size = np.abs(f.centre[rows, 0] - gap_level(data.prices)[rows])
            tercile = np.digitize(size, np.quantile(size, [1 / 3, 2 / 3]))
            for pct in LEVELS:
                lo = p.close * np.exp(f.bands[pct][0][rows, h - 1])
                hi = p.close * np.exp(f.bands[pct][1][rows, h - 1])
                hit = (p.actual >= lo) & (p.actual <= hi)
                share = [float(hit[tercile == k].mean()) for k in range(3)]
                q = pct / 100
                z2 += [
                    (c - q) ** 2 / (q * (1 - q) / int((tercile == k).sum()))
                    for k, c in enumerate(share)
                ]
                cells.append(" / ".join(f"{100 * c:.1f}" for c in share))
        cells.append(f"{np.mean(z2):.2f}")
        table.append(cells)
    return _table(head, table)


def oracle_table(data: Data, model: Forecasts, years: Sequence[int]) -> str:
    """What h2-h5 could reach if the open of t + 1 were known exactly at 07:30: the h-step
    target is the h1 gap plus the moves from open[t+1] to open[t+h], which nothing known at
    07:30 sees. ``oracle``: the actual h1 offset and nothing after it; ``oracle + the model's
    continuation``: the actual h1 offset plus the model's own forecast of the rest (its
    h-step forecast less its h1 forecast). Also the share of the target's variance that the
    later days' moves hold."""
    known_h1 = data.y[:, [0]]
    oracles = {
        "the model": model.centre,
        "oracle: the open of t+1 known, nothing after": np.repeat(known_h1, HORIZONS, axis=1),
        "oracle + the model's continuation": known_h1 + model.centre - model.centre[:, [0]],
    }
    hs = range(2, HORIZONS + 1)
    groups = {
        "tuning": [y for y in years if y in TUNING],
        "not tuned": [y for y in years if y not in TUNING],
        "pooled": list(years),
    }
    head = ["years", "forecast", *(f"ratio h{h}" for h in hs)]
    table = []
    for label, chosen in groups.items():
        if not chosen:
            continue
        for name, centre in oracles.items():
            cells = [label, name]
            for h in hs:
                rows, p = pairs(data, chosen, h)
                loss = smape_terms(p.close * np.exp(centre[rows, h - 1]), p.actual).mean()
                cells.append(f"{loss / smape_terms(p.close, p.actual).mean():.3f}")
            table.append(cells)
        cells = [label, "share of var(target) after open[t+1]"]
        for h in hs:
            rows, _ = pairs(data, chosen, h)
            target = data.y[rows, h - 1]
            cells.append(f"{np.var(target - data.y[rows, 0]) / np.var(target):.3f}")
        table.append(cells)
    return _table(head, table)


DRIFT_YEARS = tuple(range(2003, 2016))  # TAIEX alone: no US data, and before every test year


def drift_check(data: Data, half_life: float = CHOSEN.half_life) -> str:
    """The intercept question on TAIEX alone, 2003-2015: each year forecast from the gap level,
    or from the gap level plus the weighted median of ``log(open[t+h] / close[t]) - level`` over
    every origin before the year (half-life ``half_life`` years): the drift a fitted intercept
    learns. No overnight data is needed, so these years can answer it."""
    prices = data.prices
    level = gap_level(prices)
    dates = prices.dates
    years_of = data.history["date"].dt.year.to_numpy()
    loss: dict[str, list[np.ndarray]] = {"level": [], "level + drift": [], "naive": []}
    hs = range(1, HORIZONS + 1)
    per_h = {h: {name: [] for name in loss} for h in hs}
    for year in DRIFT_YEARS:
        start = int(np.argmax(years_of == year))
        age = (dates[start] - dates).astype("timedelta64[D]").astype(float) / 365.25
        for h in hs:
            train = np.arange(0, start - h)  # j + h < start: targets before the year
            test = np.flatnonzero((years_of == year) & (data.target_year[:, h - 1] == year))
            offset = data.y[train, h - 1] - level[train]
            order = np.argsort(offset, kind="stable")
            cumulative = np.cumsum((0.5 ** (age[train] / half_life))[order])
            drift = offset[order][np.searchsorted(cumulative, cumulative[-1] / 2)]
            close = prices.close[test]
            actual = close * np.exp(data.y[test, h - 1])
            for name, centre in (("level", level[test]), ("level + drift", level[test] + drift),
                                 ("naive", np.zeros(len(test)))):  # fmt: skip
                per_h[h][name].append(smape_terms(close * np.exp(centre), actual))
    head = ["TAIEX alone, 2003-2015", *(f"ratio h{h}" for h in hs),
            *(f"DM t vs level h{h}" for h in hs)]  # fmt: skip
    rows = []
    for name in ("level", "level + drift"):
        cells = [name]
        for h in hs:
            model, naive_ = np.concatenate(per_h[h][name]), np.concatenate(per_h[h]["naive"])
            cells.append(f"{model.mean() / naive_.mean():.4f}")
        for h in hs:
            if name == "level":
                cells.append("—")
                continue
            t = diebold_mariano(
                np.concatenate(per_h[h][name]), np.concatenate(per_h[h]["level"]), lag=h
            )
            cells.append(_f(t, "+.2f"))
        rows.append(cells)
    return _table(head, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL_CSV, help="the TAIEX daily history")
    parser.add_argument("--us-csv", type=Path, default=US_CSV, help="the US closes")
    parser.add_argument("--years", help="comma-separated years (default: 2018-2024)")
    parser.add_argument("--quick", action="store_true", help="the tuning years 2018-2020 only")
    parser.add_argument("--variants", action="store_true", help="the alternatives, tuning years")
    parser.add_argument(
        "--check-evening", action="store_true", help="the evening contender vs backtest_lstm"
    )
    args = parser.parse_args(argv)
    for path in (args.csv, args.us_csv):
        if not path.exists():
            print(f"skipped: no data at {path}")
            return 0
    years = list(TUNING) if args.quick else list(YEARS)
    if args.years:
        years = sorted(int(y) for y in args.years.split(","))
        bad = [y for y in years if y not in YEARS]
        if bad:
            print(f"error: years must be within 2018-2024, got {bad}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    data = load(args.csv, args.us_csv)
    known = data.moves[np.isfinite(data.x()).all(axis=1)]
    print(
        f"history {data.history['date'].iloc[0].date()} .. {data.history['date'].iloc[-1].date()} "
        f"({data.n} days); nights with moves {known['date'].iloc[0].date()} .. "
        f"{known['date'].iloc[-1].date()} ({len(known)}; {int(known['quiet'].sum())} quiet, "
        f"{int((known['sessions'] > 1).sum())} over several US sessions)"
    )
    contenders = {NAIVE: naive(data, years), EVENING: evening(data, years),
                  PEER: ols_peer(data, years)}  # fmt: skip
    contenders[PREOPEN], fit_cpu = preopen(data, years)
    names = [NAIVE, EVENING, PEER, PREOPEN]
    scored: dict[int | str, dict[str, Scores]] = {y: score(data, contenders, [y]) for y in years}
    scored["pooled"] = score(data, contenders, years)
    tuned = [y for y in years if y in TUNING]
    held = [y for y in years if y not in TUNING]
    if tuned and held:
        scored["tuning"] = score(data, contenders, tuned)
        scored["not tuned"] = score(data, contenders, held)
    print("\n### The OLS peer against issue 21's table (sMAPE ratio to naive; issue's in brackets)")
    print(peer_table(scored))
    print("\n### sMAPE ratio to naive and direction hit rate of the h1 gap")
    print(ratio_table(scored, names))
    print("\n### Diebold-Mariano t per horizon (lag h; negative: the model is better)")
    print(dm_table(scored, [EVENING, PEER, PREOPEN]))
    print("\n### Bands: coverage (%) and interval score (% of the origin's close)")
    print(band_table(scored, [EVENING, PEER, PREOPEN]))
    print("\n### What h2-h5 can reach: the open of t+1 known exactly (an oracle)")
    print(oracle_table(data, contenders[PREOPEN], years))
    cost = fit_cost(data)
    print(
        f"\ncost: a fit on every day up to {LAST_DAY} ({cost['rows']} origins with moves at h1): "
        f"{cost['fit_cpu']:.2f} s CPU, {cost['fit_wall']:.2f} s wall; a forecast from the last "
        f"day: {1000 * cost['predict']:.1f} ms; the walk-forward's {len(fit_cpu)} monthly fits: "
        f"median {np.median(fit_cpu):.2f} s CPU, largest {max(fit_cpu):.2f} s"
    )
    if args.check_evening:
        print(check_evening(data, years[0], contenders[EVENING]))
    if args.variants:
        variants_section(data, tuned or years, contenders[PREOPEN])
        print("\n### The drift question on TAIEX alone (no overnight data; before the test years)")
        print(drift_check(data))
    label = ", ".join(map(str, years))
    print(f"\n### Goals of issue 21 (pre-open, {label})")
    print(goal_table(goals(scored, years, cost)))
    print("\n" + calibration_chance(scored, years))
    print(
        f"\nruntime {time.perf_counter() - started:.0f} s wall; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
