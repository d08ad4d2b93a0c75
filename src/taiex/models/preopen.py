"""The pre-open forecaster: the next 5 opens, knowing the night's US closes (issue 21).

The evening forecast (:mod:`taiex.models.lstm`) is ``close[t] * exp(level[t])``, the typical
overnight gap (:mod:`taiex.models.gap_level`), with the adaptive band of
:mod:`taiex.models.intervals`. The pre-open round, issued at 07:30 Taipei before session t + 1,
also knows the night's log moves of four US closes (:mod:`taiex.overnight`, ``night_moves``:
``^GSPC, ^IXIC, ^SOX, TSM``). This model adds a linear layer to the evening level::

    h = 1:   log(open[t+1] / close[t]) = level[t] + b . x[t] + g_1 gap[t] + d_1 intra[t]
    h >= 2:  log(open[t+h] / close[t]) = level[t] + c_h (b . x[t]) + g_h gap[t] + d_h intra[t]

``x[t]`` the night's 4 moves, ``gap[t] = log(open[t] / close[t-1])`` and ``intra[t] =
log(close[t] / open[t])`` TAIEX's own day t. Why this shape (``bench/preopen.py``, chosen on the
tuning years 2018-2020 only; figures in BENCHMARKS.md, "The pre-open round"):

- **Least absolute deviations**, not least squares: sMAPE is an absolute error, and the night's
  large moves have heavy tails. Fitted by iteratively reweighted least squares (numpy only).
- **TAIEX's own day t** (``gap``, ``intra``): the US close-to-close move of the night includes
  what US futures did during TAIEX's session, which the close of day t has already priced; with
  the day's intraday return in the regression the night's coefficients measure the news TAIEX has
  not seen yet. It takes the h1 ratio to naive from 0.686 to 0.636 on the tuning years.
- **One night coefficient vector** ``b``, fitted at h1 where the signal is strong; at h >= 2 only
  its scale ``c_h`` is fitted (the night's news is permanent; per-horizon betas of four
  collinear moves fitted on a target whose variance is mostly later days are noise).
- **No intercept**: the offset is the evening's gap level, the same at every horizon. A fitted
  intercept is the median drift of the training years; on TAIEX alone (2003-2015, no overnight
  data needed) such a drift loses to the gap level at every horizon.
- **Betas that drift**: the h1 fit (the night's vector ``b``) weights its rows
  ``0.5 ** (age / half_life_years)`` (2 years; TSMC's weight in the index keeps rising). The fits
  of h >= 2 (``c_h`` and the day's coefficients) weight every year alike
  (``later_half_life_years``, infinite): their targets are mostly later days' moves, and more rows
  help there more than recency (2018-2020: h4 0.941 to 0.940, h5 0.955 to 0.953; h1 unchanged).
- **Bands**: ``centre +- q * V[t, h]``, ``V = sqrt(S^2 + k m^2)``: ``S`` the evening band's
  volatility scale (:func:`taiex.models.intervals.horizon_scale`, so a rough market widens the
  band at once), ``m`` the night's predicted move at h (``c_h b . x``) and ``k``
  ``band_night_weight`` (0.7): how much of a large night's news the open takes is itself
  uncertain. With ``S`` alone the band covered large nights less than small ones; ``k`` was
  chosen on 2018-2020 as the value that evens the coverage over terciles of the night's size (it
  also narrows the h1 interval score by 2-5 %). ``q`` is the split-conformal quantile of
  ``|residual| / V`` over the last ``band_pool`` (250) training origins. The residuals there
  are out of fold (``band_folds`` contiguous folds, purged by ``horizons`` rows on each side):
  in-sample residuals of a fit are smaller than those of its forecasts. Symmetric, unlike the
  evening band: once the night's move is in the centre, the residuals' skew changes sign from
  year to year, and signed quantiles carried 2018's falls into 2019's upper bound (80 % covered
  74.8 % at h1 there).

State (:meth:`PreopenForecaster.state`): the config, the coefficients ``(horizons, 6)`` in the
order of :attr:`PreopenForecaster.features`, the band multipliers ``(levels, 2, horizons)`` of
``V``, the long-run variance of the scale filter and the training range: plain numbers. A
forecast reads the history up to its origin (the gap level and the scale look back about 1,500
sessions) and the night's 4 moves; nothing else. A state written before ``band_night_weight``
and ``later_half_life_years`` existed is read as what it was fitted with (0, and
``half_life_years``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from taiex.errors import DataError, NotFittedError
from taiex.frames import INTERVAL_LEVELS, FloatArray, IntArray, Prices, check_history, to_date
from taiex.models.gap_level import GAP_SHRINK, GAP_SPAN, gap_level
from taiex.models.intervals import BandConfig, horizon_scale, long_run_variance

__all__ = [
    "DAY_FEATURES",
    "SYMBOLS",
    "PreopenConfig",
    "PreopenForecaster",
    "lad",
]

SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")
DAY_FEATURES = ("gap", "intra")
PREDICT_COLUMNS = ["horizon", "forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive"]
ORIGIN_COLUMNS = ["origin_date", *PREDICT_COLUMNS]
_DAYS_PER_YEAR = 365.25
# IRLS for least absolute deviations: a residual counts as at least this (log units, 0.1 basis
# point), and the loop stops when no coefficient moves by more than the tolerance.
_LAD_FLOOR = 1e-5
_LAD_TOLERANCE = 1e-10
_LAD_ITERATIONS = 200
# A state written before these fields existed was fitted and banded without them.
_BEFORE_LATER_FIELDS = {"band_night_weight": 0.0}


@dataclass(frozen=True)
class PreopenConfig:
    """Settings of the pre-open forecaster; the defaults are the benchmarked ones.

    ``symbols``: the night's moves, in this order. ``half_life_years``: a training row's weight
    halves with every this many years of age (``math.inf``: equal weights) in the fit of h1 (the
    night's vector ``b``); ``later_half_life_years`` the same for the fits of h >= 2 (the scale
    ``c_h`` and the day's coefficients). ``gap_span`` and ``gap_shrink``: the evening's gap level.
    ``band_pool``: the most recent training origins whose out-of-fold residuals give the band's
    quantiles, cut into ``band_folds`` folds. ``band``: the evening band's scale filter.
    ``band_night_weight``: the weight ``k`` of the night's predicted move in the band's scale,
    ``sqrt(S^2 + k m^2)`` (0: the evening's ``S`` alone). ``min_rows``: origins with moves and
    targets that a fit needs.
    """

    horizons: int = 5
    symbols: tuple[str, ...] = SYMBOLS
    half_life_years: float = 2.0
    later_half_life_years: float = math.inf
    gap_span: int = GAP_SPAN
    gap_shrink: float = GAP_SHRINK
    band_pool: int = 250
    band_folds: int = 5
    band: BandConfig = field(default_factory=BandConfig)
    band_night_weight: float = 0.7
    min_rows: int = 250

    def __post_init__(self) -> None:
        if self.horizons < 1 or self.gap_span < 1 or self.band_folds < 2:
            raise ValueError(
                "PreopenConfig needs horizons >= 1, gap_span >= 1 and band_folds >= 2, got "
                f"{self.horizons}, {self.gap_span} and {self.band_folds}"
            )
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError(
                f"PreopenConfig.symbols must be distinct and not empty: {self.symbols}"
            )
        if not self.half_life_years > 0 or not self.later_half_life_years > 0:
            raise ValueError(
                "PreopenConfig needs half_life_years > 0 and later_half_life_years > 0, got "
                f"{self.half_life_years} and {self.later_half_life_years}"
            )
        if self.gap_shrink < 0 or not 0 <= self.band_night_weight < math.inf:
            raise ValueError(
                "PreopenConfig needs gap_shrink >= 0 and a finite band_night_weight >= 0, got "
                f"{self.gap_shrink} and {self.band_night_weight}"
            )
        if not 40 <= self.band_pool <= self.min_rows:  # 40: 95 % bounds inside the sample
            raise ValueError(
                f"PreopenConfig needs 40 <= band_pool <= min_rows, got {self.band_pool} and "
                f"{self.min_rows}"
            )


def lad(design: FloatArray, target: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted least absolute deviations, ``argmin_b sum w |y - A b|``, by iteratively
    reweighted least squares from the least-squares start (deterministic; numpy only).

    Each step solves the normal equations of a few columns: LAPACK's least squares on the whole
    design cost 13 times as much here and spread over every core for nothing. The floor of a
    residual's weight makes this the LAD fit of residuals above 0.1 basis point; within the
    iteration cap the objective is within a few millionths of the exact (linear-programming)
    optimum on the real data."""

    def weighted_solve(w: FloatArray) -> FloatArray:
        gram = design.T @ (design * w[:, None])
        try:
            solved = np.asarray(np.linalg.solve(gram, design.T @ (w * target)), dtype=np.float64)
        except np.linalg.LinAlgError as exc:
            raise DataError(
                "the pre-open design is singular (a feature that never moves, or fewer "
                f"origins than features): {exc}"
            ) from exc
        return solved

    coef = weighted_solve(weights)
    for _ in range(_LAD_ITERATIONS):
        residual = np.abs(target - design @ coef)
        step = weighted_solve(weights / np.maximum(residual, _LAD_FLOOR))
        done = float(np.max(np.abs(step - coef))) < _LAD_TOLERANCE
        coef = step
        if done:
            break
    return coef


def conformal_width(scores: FloatArray, level: float) -> float:
    """The split-conformal bound of absolute scores at ``level``: their
    ``ceil((m + 1) level)``-th smallest (the largest when that rank passes m)."""
    m = len(scores)
    if m == 0:
        raise ValueError("a conformal bound of no scores is undefined")
    # round(): (m + 1) * level is often an integer that floating point misses by a hair.
    rank = min(math.ceil(round((m + 1) * level, 9)), m)
    return float(np.sort(scores)[rank - 1])


def day_features(prices: Prices) -> FloatArray:
    """Per row t, TAIEX's own day: ``gap`` log(open[t] / close[t-1]) (0 on row 0) and ``intra``
    log(close[t] / open[t]); shape ``(n, 2)``."""
    log_open, log_close = np.log(prices.open), np.log(prices.close)
    gap = np.concatenate([[0.0], log_open[1:] - log_close[:-1]])
    day: FloatArray = np.column_stack([gap, log_close - log_open])
    return day


def log_targets(prices: Prices, horizons: int) -> FloatArray:
    """``log(open[t+h] / close[t])`` per row t and horizon, NaN past the history; ``(n, H)``."""
    n = len(prices)
    log_open, log_close = np.log(prices.open), np.log(prices.close)
    y = np.full((n, horizons), np.nan)
    for h in range(1, horizons + 1):
        y[: n - h, h - 1] = log_open[h:] - log_close[: n - h]
    return y


class PreopenForecaster:
    """Fit on a TAIEX history and the night's moves of its origins; forecast the next opens.

    ``history``: the frame of :func:`taiex.frames.check_history` (``date`` datetime64 ascending,
    ``open, high, low, close``). ``moves``: a frame with ``date`` (the origin: the TAIEX session
    before the round) and one column per symbol of the config, the night's log moves
    (:func:`taiex.overnight.night_moves`; 0 on a quiet night). In a fit, an origin whose moves are
    missing (NaN) or absent is skipped; a forecast refuses them.

    Learned state: ``coef_`` ``(horizons, len(features))``, ``bounds_`` (band multipliers of
    the scale, ``(levels, 2, horizons)``), ``v_long_``, ``train_start_``, ``train_end_`` (the
    history's range), ``n_rows_`` (origins fitted at h1).
    """

    def __init__(self, config: PreopenConfig | None = None) -> None:
        self.config = config or PreopenConfig()

    @property
    def features(self) -> tuple[str, ...]:
        """The columns of ``coef_``: the symbols' moves, then TAIEX's own day."""
        return (*self.config.symbols, *DAY_FEATURES)

    # ---------------------------------------------------------------- fit

    def fit(self, history: pd.DataFrame, moves: pd.DataFrame) -> Self:
        """Fit on every origin of ``history`` with moves and targets inside ``history``: an
        h-step target is the open ``h`` rows later, so the last origins serve the short horizons
        only. Returns ``self``."""
        cfg = self.config
        prices = check_history(history, purpose="fitting the pre-open forecaster")
        x = self._moves_matrix(prices, moves)
        level = gap_level(prices, cfg.gap_span, cfg.gap_shrink)
        y = log_targets(prices, cfg.horizons) - level[:, None]
        features = np.column_stack([x, day_features(prices)])
        usable = np.isfinite(features).all(axis=1)
        rows = [np.flatnonzero(usable & np.isfinite(y[:, h])) for h in range(cfg.horizons)]
        if len(rows[-1]) < cfg.min_rows:
            raise DataError(
                f"the pre-open forecaster needs at least {cfg.min_rows} origins with the night's "
                f"moves and all {cfg.horizons} targets in the history; it has {len(rows[-1])}"
            )
        age = (prices.dates[-1] - prices.dates).astype("timedelta64[D]").astype(float)
        weights = np.stack(
            [
                0.5 ** (age / _DAYS_PER_YEAR / cfg.half_life_years),
                0.5 ** (age / _DAYS_PER_YEAR / cfg.later_half_life_years),
            ]
        )
        self.coef_ = _fit_coefficients(features, y, weights, rows)
        self.v_long_ = long_run_variance(prices, cfg.band)
        scale = self._scale(prices, features, self.coef_)
        self.bounds_ = self._band_bounds(features, y, weights, rows, scale)
        self.train_start_, self.train_end_ = to_date(prices.dates[0]), to_date(prices.dates[-1])
        self.n_rows_ = len(rows[0])
        return self

    def _scale(self, prices: Prices, features: FloatArray, coef: FloatArray) -> FloatArray:
        """The band's scale ``(n, horizons)``: ``sqrt(S[t, h]^2 + k m[t, h]^2)``, ``S`` the
        evening band's scale, ``m`` the night's predicted move at h (its moves times ``coef``'s
        night columns) and ``k`` ``band_night_weight``. A large night makes a wide band: how
        much of its news the open takes is itself uncertain."""
        cfg = self.config
        scale = horizon_scale(prices, cfg.horizons, self.v_long_, cfg.band)
        if not cfg.band_night_weight:
            return scale
        n_moves = len(cfg.symbols)
        night = features[:, :n_moves] @ coef[:, :n_moves].T
        widened: FloatArray = np.sqrt(scale**2 + cfg.band_night_weight * night**2)
        return widened

    def _band_bounds(
        self,
        features: FloatArray,
        y: FloatArray,
        weights: FloatArray,
        rows: list[IntArray],
        scale: FloatArray,
    ) -> FloatArray:
        """Conformal multipliers ``(levels, 2, horizons)`` from out-of-fold residuals of the last
        ``band_pool`` origins of each horizon, each divided by its band scale (:meth:`_scale`)."""
        cfg = self.config
        bounds = np.empty((len(INTERVAL_LEVELS), 2, cfg.horizons))
        for h in range(cfg.horizons):
            pool = rows[h][-cfg.band_pool :]
            scores = np.empty(len(pool))
            for fold in np.array_split(np.arange(len(pool)), cfg.band_folds):
                first, last = pool[fold[0]] - cfg.horizons, pool[fold[-1]] + cfg.horizons
                kept = [r[(r < first) | (r > last)] for r in rows]
                coef = _fit_coefficients(features, y, weights, kept, only=h)
                held = pool[fold]
                residual = y[held, h] - features[held] @ coef[h]
                scores[fold] = residual / scale[held, h]
            for k, level in enumerate(INTERVAL_LEVELS):
                width = conformal_width(np.abs(scores), level)
                bounds[k, :, h] = (-width, width)
        return bounds

    # ---------------------------------------------------------------- predict

    def predict(
        self, history: pd.DataFrame, moves: Mapping[str, float] | Sequence[float]
    ) -> pd.DataFrame:
        """The forecast of the ``horizons`` sessions after the last day of ``history``, made at
        the pre-open round with the night's ``moves`` (symbol -> log move, or a sequence in the
        config's order). Columns: :data:`PREDICT_COLUMNS`, one row per horizon."""
        self._check_fitted()
        prices = check_history(history, min_rows=1, purpose="a pre-open forecast")
        x = self._night(moves)
        last = np.array([len(prices) - 1], dtype=np.int64)
        frame = self._forecast(prices, x[None, :], last)
        return frame[PREDICT_COLUMNS]

    def predict_origins(
        self,
        history: pd.DataFrame,
        moves: pd.DataFrame,
        origins: Sequence[dt.date] | None = None,
    ) -> pd.DataFrame:
        """Forecasts from many origins at once, each from the rows up to its origin and its
        night's moves (default: every origin of ``moves``). Columns: :data:`ORIGIN_COLUMNS`."""
        self._check_fitted()
        prices = check_history(history, min_rows=1, purpose="a pre-open forecast")
        x = self._moves_matrix(prices, moves)
        if origins is None:
            index = np.flatnonzero(np.isfinite(x).all(axis=1))
        else:
            index = _rows_of(prices, origins)
        unknown = ~np.isfinite(x[index]).all(axis=1)
        if unknown.any():
            day = to_date(prices.dates[index[unknown][0]])
            raise DataError(f"no night's moves for origin {day}: the pre-open round needs them")
        return self._forecast(prices, x[index], index)[ORIGIN_COLUMNS]

    def _forecast(self, prices: Prices, x: FloatArray, origins: IntArray) -> pd.DataFrame:
        cfg = self.config
        level = gap_level(prices, cfg.gap_span, cfg.gap_shrink)[origins]
        features = np.column_stack([x, day_features(prices)[origins]])
        centre = level[:, None] + features @ self.coef_.T  # (m, H) log offsets from the close
        every = np.full((len(prices), features.shape[1]), np.nan)
        every[origins] = features  # the scale filter runs over the whole history
        scale = self._scale(prices, every, self.coef_)[origins]
        close = prices.close[origins]
        columns: dict[str, Any] = {
            "origin_date": np.repeat(prices.dates[origins], cfg.horizons),
            "horizon": np.tile(np.arange(1, cfg.horizons + 1), len(origins)),
            "forecast": (close[:, None] * np.exp(centre)).ravel(),
        }
        for k, interval in enumerate(INTERVAL_LEVELS):
            pct = round(interval * 100)
            for side, name in enumerate(("lower", "upper")):
                bound = centre + self.bounds_[k, side][None, :] * scale
                columns[f"{name}_{pct}"] = (close[:, None] * np.exp(bound)).ravel()
        columns["naive"] = np.repeat(close, cfg.horizons)
        return pd.DataFrame(columns)

    # ---------------------------------------------------------------- inputs

    def _moves_matrix(self, prices: Prices, moves: pd.DataFrame) -> FloatArray:
        """The moves aligned to the history's rows, ``(n, symbols)``, NaN where not given."""
        symbols = list(self.config.symbols)
        if not isinstance(moves, pd.DataFrame):
            raise DataError(f"moves must be a pandas DataFrame, got {type(moves).__name__}")
        missing = [c for c in ("date", *symbols) if c not in moves.columns]
        if missing:
            raise DataError(f"moves lack column(s) {', '.join(missing)}")
        if not pd.api.types.is_datetime64_any_dtype(moves["date"]):
            raise DataError(
                f"moves column date must hold datetime64 values, got {moves['date'].dtype}"
            )
        dates = moves["date"].to_numpy(dtype="datetime64[ns]")
        if pd.Series(dates).duplicated().any():
            first = to_date(dates[pd.Series(dates).duplicated().to_numpy()][0])
            raise DataError(f"moves have two rows for origin {first}")
        try:
            values = moves[symbols].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"moves are not numbers: {exc}") from exc
        if np.isinf(values).any():
            raise DataError("moves hold an infinite value")
        position = np.searchsorted(prices.dates, dates)
        inside = (position < len(prices)) & (
            prices.dates[np.minimum(position, len(prices) - 1)] == dates
        )
        if not inside.all():
            raise DataError(f"moves for {to_date(dates[~inside][0])}, not a day of the history")
        x = np.full((len(prices), len(symbols)), np.nan)
        x[position] = values
        return x

    def _night(self, moves: Mapping[str, float] | Sequence[float]) -> FloatArray:
        symbols = self.config.symbols
        if isinstance(moves, Mapping):
            absent = [s for s in symbols if s not in moves]
            if absent:
                raise DataError(f"the night's moves lack {', '.join(absent)}")
            values = [moves[s] for s in symbols]
        else:
            values = list(moves)
            if len(values) != len(symbols):
                raise DataError(
                    f"the night's moves must be {len(symbols)} numbers ({', '.join(symbols)}), "
                    f"got {len(values)}"
                )
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"the night's moves are not numbers: {exc}") from exc
        if not np.isfinite(x).all():
            raise DataError(f"the night's moves must be finite, got {x.tolist()}")
        return x

    # ---------------------------------------------------------------- state

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this PreopenForecaster is not fitted: call fit() or from_state()")

    def state(self) -> dict[str, Any]:
        """Everything a forecast needs, as plain numbers, lists and strings (JSON-ready)."""
        self._check_fitted()
        config = asdict(self.config)
        config["symbols"] = list(self.config.symbols)
        # JSON has no infinity: an equal-weights half-life (math.inf) is written as null.
        for name in _HALF_LIVES:
            if math.isinf(config[name]):
                config[name] = None
        return {
            "config": config,
            "features": list(self.features),
            "coef": self.coef_.tolist(),
            "bounds": self.bounds_.tolist(),
            "interval_levels": list(INTERVAL_LEVELS),
            "v_long": self.v_long_,
            "train_start": self.train_start_.isoformat(),
            "train_end": self.train_end_.isoformat(),
            "rows": self.n_rows_,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """The forecaster :meth:`state` describes."""
        config = {**_BEFORE_LATER_FIELDS, **state["config"]}
        config["symbols"] = tuple(config["symbols"])
        if "later_half_life_years" not in state["config"]:  # a state of the first version
            config["later_half_life_years"] = config["half_life_years"]
        for name in _HALF_LIVES:
            if config[name] is None:
                config[name] = math.inf
        config["band"] = BandConfig(**config["band"])
        model = cls(PreopenConfig(**config))
        if list(state["features"]) != list(model.features):
            raise DataError(f"a pre-open state for features {state['features']}, not these")
        model.coef_ = np.asarray(state["coef"], dtype=np.float64)
        model.bounds_ = np.asarray(state["bounds"], dtype=np.float64)
        model.v_long_ = float(state["v_long"])
        model.train_start_ = dt.date.fromisoformat(state["train_start"])
        model.train_end_ = dt.date.fromisoformat(state["train_end"])
        model.n_rows_ = int(state["rows"])
        return model


_HALF_LIVES = ("half_life_years", "later_half_life_years")


def _fit_coefficients(
    features: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    rows: list[IntArray],
    only: int | None = None,
) -> FloatArray:
    """Coefficients ``(horizons, features)`` in the raw features' order: at h1 every feature
    freely; at h >= 2 the scale of h1's night combination and the day features (with ``only``,
    h1 and that horizon's index alone, the other rows left 0). ``weights``: per row, or
    ``(2, n)``: the rows' weights at h1, then at h >= 2."""
    weights = np.atleast_2d(weights)
    first_weights, later_weights = weights[0], weights[-1]
    horizons = y.shape[1]
    n_moves = features.shape[1] - len(DAY_FEATURES)
    coef = np.zeros((horizons, features.shape[1]))
    first = rows[0]
    coef[0] = lad(features[first], y[first, 0], first_weights[first])
    night = features[:, :n_moves] @ coef[0, :n_moves]
    later = range(1, horizons) if only is None else range(max(only, 1), only + 1)
    for h in later:
        r = rows[h]
        design = np.column_stack([night[r], features[r, n_moves:]])
        fitted = lad(design, y[r, h], later_weights[r])
        coef[h, :n_moves] = fitted[0] * coef[0, :n_moves]
        coef[h, n_moves:] = fitted[1:]
    return coef


def _rows_of(prices: Prices, origins: Sequence[dt.date]) -> IntArray:
    wanted = pd.to_datetime(pd.Series(list(origins), dtype=object)).to_numpy("datetime64[ns]")
    position = np.searchsorted(prices.dates, wanted)
    found = (position < len(prices)) & (
        prices.dates[np.minimum(position, len(prices) - 1)] == wanted
    )
    if not found.all():
        raise DataError(f"origin {to_date(wanted[~found][0])} is not a day of the history")
    return position.astype(np.int64)
