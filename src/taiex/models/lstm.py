"""The forecaster of the next opens (the kind ``lstm``): the opening level of each of the next 5
trading days, with intervals; the overnight-gap level, corrected by an LSTM where that earns it.

Design, and why:

- **Scale-free windows** (:mod:`taiex.windows`): every input is a log-ratio of prices inside the
  window, so the model never sees a price level and does not care that the index doubled.
- **Direct multi-output**: one forward pass gives all horizons; no forecast is fed back as input,
  so errors do not compound over the horizons as in the original recursive system.
- **The overnight-gap level, and a correction that must be earned**: the forecast is
  ``open[t+h] = close[t] * exp(level[t] + lambda[h] * z[h] * vol[t])``. ``level[t]`` is the
  typical overnight gap of the last four years (:mod:`taiex.models.gap_level`; zero where there is
  none, so the forecast falls back to naive, never to a learned drift); ``z[h]`` is the network's
  output, ``vol[t]`` the window's realised daily volatility. The output layer starts at zero and
  early stopping also scores epoch 0, and ``lambda[h]`` (0 to 1) keeps only as much of the
  correction as helped in every validation block spread over the history: see
  :mod:`taiex.models.lstm_training`. On most fits the network earns nothing and the forecast is
  the gap level.
- **Adaptive intervals** around the gap level, from a range-based volatility that reacts within
  a day and conformal quantiles of the last 900 known outcomes (:mod:`taiex.models.intervals`).
  They do not move with the network's correction.
- **Reproducible**: fixed seeds, deterministic algorithms and a fixed thread count make the same
  data and config give the same bytes on one machine (on CPU, with the same library versions);
  another processor picks other kernels, whose figures differ in the last bits.

A forecast from origin t reads the rows up to t only; unlike the window itself, the level and the
intervals read further back (about 1,500 rows reach full strength), so ``predict`` takes the whole
history. Artifacts of the previous method (a re-levelled network with fixed half-widths, format 1
or 2 with ``interval_halfwidths``), written only by development versions before 0.1.0, are refused
in one line (issue 20).

The modules: :mod:`~taiex.models.lstm_config` (hyperparameters and the cut),
:mod:`~taiex.models.lstm_network` (the ``nn.Module``), :mod:`~taiex.models.lstm_training` (fitting
and the shares), :mod:`~taiex.models.gap_level`, :mod:`~taiex.models.intervals` and this one, the
user-facing :class:`GapLevelForecaster` (fit, predict, bytes).
Fitting and predicting set torch's global thread count and deterministic flag for their
duration: do not run two of them at once in threads of one process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from taiex import __version__
from taiex.errors import ArtifactError, DataError, NotFittedError
from taiex.frames import (
    FORECAST_COLUMNS,
    INTERVAL_LEVELS,
    FloatArray,
    IntArray,
    Prices,
    check_history,
    target_dates,
    to_date,
)
from taiex.models import artifact
from taiex.models.gap_level import gap_level
from taiex.models.intervals import (
    adaptive_bounds,
    conformal_scores,
    horizon_scale,
    long_run_variance,
    pool_quantiles,
)
from taiex.models.lstm_config import LSTMConfig, Split, split_origins
from taiex.models.lstm_network import LSTMEnsemble
from taiex.models.lstm_training import (
    LAMBDAS,
    Segment,
    Shares,
    Windows,
    choose_shares,
    fit_ensemble,
)
from taiex.windows import N_FEATURES, realised_volatility, targets, window_features

__all__ = ["ORIGIN_COLUMNS", "PREDICT_COLUMNS", "GapLevelForecaster", "LSTMConfig"]

logger = logging.getLogger(__name__)

ORIGIN_COLUMNS = ["origin_date", "horizon", "target_date", *FORECAST_COLUMNS, "naive"]
PREDICT_COLUMNS = ["horizon", "date", *FORECAST_COLUMNS, "naive"]


class GapLevelForecaster:
    """Forecast the opening level of the next ``horizons`` trading days from the last ``window``.

    Named for what its forecast is: the overnight-gap level (the last close moved by the
    typical overnight gap), plus whatever share of an LSTM's correction earned its place on
    held-out blocks, which on most fits is none (BENCHMARKS.md). It was ``LSTMForecaster``
    until issue 20; the name is in no artifact or registry row (they record the kind,
    ``lstm``), so nothing stored changes.

    ``fit(history)`` learns from a history frame (``date`` datetime64 ascending, ``open, high,
    low, close`` float); ``predict`` forecasts from its last day, ``predict_origins`` from many.

    Learned state: ``network_`` (the :class:`LSTMEnsemble`), ``feature_scale_``, ``lambdas_``
    (the share of the network's correction kept, per horizon), ``shares_`` (the table of share-block
    scores that chose ``lambdas_``, :class:`~taiex.models.lstm_training.Shares`; None for a fit
    from before it was recorded), ``v_long_`` (the training years'
    mean daily variance, the intervals' long-run level), ``fallback_bounds_`` (interval
    multipliers for a history too short to hold its own), ``train_start_``, ``train_end_``,
    ``n_rows_``, ``segments_``, ``epochs_run_``, ``best_epochs_``, ``validation_scores_`` and,
    after a fit, ``fit_seconds_``.
    """

    kind: ClassVar[str] = "lstm"

    def __init__(self, config: LSTMConfig = LSTMConfig()) -> None:
        self.config = config

    # ---------------------------------------------------------------- fit

    def fit(self, history: pd.DataFrame) -> Self:
        """Train on every window of ``history`` whose targets it holds; returns ``self``."""
        cfg = self.config
        prices = check_history(
            history,
            min_rows=cfg.min_fit_rows(),
            purpose=f"fitting the LSTM (window {cfg.window} + horizons {cfg.horizons} + "
            "enough windows to train and validate)",
        )
        split = split_origins(len(prices), cfg)
        assert split is not None  # guaranteed by min_rows
        started = time.perf_counter()
        level = gap_level(prices, cfg.gap_span, cfg.gap_shrink)
        raw = window_features(prices, split.train, cfg.window)
        self.feature_scale_ = np.maximum(raw.reshape(-1, N_FEATURES).std(axis=0), 1e-8)
        train = self._segment(prices, split.train, level)
        validation = self._segment(prices, split.validation, level)
        self.network_, logs = fit_ensemble(train, validation, cfg)
        self.epochs_run_ = [log.epochs_run for log in logs]
        self.best_epochs_ = [log.best_epoch for log in logs]
        blocks = [self._segment(prices, block, level) for block in split.share_blocks]
        shares = choose_shares(self._log_forecast, blocks)
        self.lambdas_, self.validation_scores_ = shares.lambdas, shares.validation
        self.shares_: Shares | None = shares
        self.v_long_ = long_run_variance(prices, cfg.band)
        self.fallback_bounds_ = self._last_pool_bounds(prices, level)
        self._remember_range(prices, split)
        self.fit_seconds_ = time.perf_counter() - started
        logger.info(
            "LSTM fitted on %s..%s: epochs %s (best %s), shares kept %s, validation sMAPE %.4f "
            "vs gap level %.4f vs naive %.4f, %.1f s",
            self.train_start_, self.train_end_, self.epochs_run_, self.best_epochs_,
            self.lambdas_.tolist(), np.mean(self.validation_scores_["smape_model"]),
            np.mean(self.validation_scores_["smape_gap_level"]),
            np.mean(self.validation_scores_["smape_naive"]), self.fit_seconds_,
        )  # fmt: skip
        return self

    def _segment(self, prices: Prices, origins: IntArray, level: FloatArray) -> Segment:
        y = targets(prices, origins, self.config.horizons)
        return Segment(self._windows(prices, origins), y, level[origins])

    def _windows(self, prices: Prices, origins: IntArray) -> Windows:
        cfg = self.config
        x = window_features(prices, origins, cfg.window) / self.feature_scale_
        vol = realised_volatility(prices, origins, cfg.volatility_span)
        return Windows(x=x, vol=vol, close=prices.close[origins])

    def _last_pool_bounds(self, prices: Prices, level: FloatArray) -> FloatArray:
        """The interval multipliers of the last ``band_pool`` training origins with every target:
        what a forecast uses when its history is too short for a pool of its own."""
        cfg = self.config
        scale = horizon_scale(prices, cfg.horizons, self.v_long_, cfg.band)
        scores = conformal_scores(prices, level, scale)
        pool = scores[np.isfinite(scores).all(axis=1)][-cfg.band_pool :]
        return np.stack([pool_quantiles(pool, level) for level in INTERVAL_LEVELS])

    def _remember_range(self, prices: Prices, split: Split) -> None:
        self.train_start_, self.train_end_ = to_date(prices.dates[0]), to_date(prices.dates[-1])
        self.n_rows_ = len(prices)
        segments = {"train": split.train}
        segments.update({f"validation_{i}": block for i, block in enumerate(split.blocks, 1)})
        segments.update({f"shares_{i}": block for i, block in enumerate(split.share_blocks, 1)})
        self.segments_ = {
            name: {
                "first_origin": to_date(prices.dates[idx[0]]).isoformat(),
                "last_origin": to_date(prices.dates[idx[-1]]).isoformat(),
                "windows": len(idx),
            }
            for name, idx in segments.items()
        }

    # ---------------------------------------------------------------- predict

    def _log_forecast(self, windows: Windows) -> FloatArray:
        """``log(open[t+h] / close[t])`` forecasts, shape ``(m, horizons)``, computed on CPU."""
        self._check_fitted()
        if len(windows.x) == 0:
            return np.empty((0, self.config.horizons))
        z = self.network_.forecast(windows.x, self.config.threads)
        return z * windows.vol[:, None]

    def predict(self, history: pd.DataFrame) -> pd.DataFrame:
        """Forecast the ``horizons`` XTAI sessions after the last day of ``history``.

        Columns: ``horizon, date, forecast, lower_80, upper_80, lower_95, upper_95, naive``.
        """
        self._check_fitted()
        prices = self._check_predict_history(history)
        last = np.array([len(prices) - 1], dtype=np.int64)
        frame = self._forecast_frame(prices, last)
        return frame.rename(columns={"target_date": "date"})[PREDICT_COLUMNS]

    def predict_origins(
        self, history: pd.DataFrame, origins: Sequence[dt.date] | None = None
    ) -> pd.DataFrame:
        """Forecasts from many origin days at once, each from the rows up to its origin only.

        ``origins`` are days of ``history`` (default: every day with a full window up to it);
        duplicates are dropped.
        ``target_date`` is the history's row ``origin + h`` when it exists, else an XTAI session
        after the history's last day. Columns: :data:`ORIGIN_COLUMNS`, sorted by origin, horizon.
        """
        self._check_fitted()
        prices = self._check_predict_history(history)
        index = self._origin_index(prices, origins)
        return self._forecast_frame(prices, index)[ORIGIN_COLUMNS]

    def _check_predict_history(self, history: pd.DataFrame) -> Prices:
        return check_history(
            history, min_rows=self.config.window, purpose="an LSTM forecast (one full window)"
        )

    def _origin_index(self, prices: Prices, origins: Sequence[dt.date] | None) -> IntArray:
        first = self.config.window - 1
        if origins is None:
            return np.arange(first, len(prices), dtype=np.int64)
        wanted = pd.to_datetime(pd.Series(list(origins), dtype=object)).to_numpy("datetime64[ns]")
        index = np.searchsorted(prices.dates, wanted)
        found = (index < len(prices)) & (prices.dates[np.minimum(index, len(prices) - 1)] == wanted)
        if not found.all():
            missing = to_date(wanted[~found][0])
            raise DataError(f"origin {missing} is not a day of the history")
        if (index < first).any():
            early = to_date(wanted[index < first][0])
            raise DataError(
                f"origin {early} has fewer than {self.config.window} trading days up to it"
            )
        return np.sort(np.unique(index)).astype(np.int64)

    def _forecast_frame(self, prices: Prices, origins: IntArray) -> pd.DataFrame:
        """One row per (origin, horizon), with levels, intervals and dates."""
        horizons = self.config.horizons
        windows = self._windows(prices, origins)
        centre, lower, upper = self._levels_and_bands(prices, origins, windows)
        columns: dict[str, NDArray[np.generic]] = {
            "origin_date": np.repeat(prices.dates[origins], horizons),
            "horizon": np.tile(np.arange(1, horizons + 1), len(origins)),
            "target_date": target_dates(prices, origins, horizons).ravel(),
            "forecast": np.exp(centre).ravel(),
        }
        for k, level in enumerate(INTERVAL_LEVELS):
            pct = round(level * 100)
            columns[f"lower_{pct}"] = np.exp(lower[k]).ravel()
            columns[f"upper_{pct}"] = np.exp(upper[k]).ravel()
        columns["naive"] = np.repeat(windows.close, horizons)
        return pd.DataFrame(columns)

    def _levels_and_bands(
        self, prices: Prices, origins: IntArray, windows: Windows
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Log forecasts ``(m, H)`` and log bounds ``(levels, m, H)``: the gap level plus the kept
        share of the network's correction; the adaptive bands around the gap level."""
        cfg = self.config
        level = gap_level(prices, cfg.gap_span, cfg.gap_shrink)
        base = np.log(windows.close)[:, None] + level[origins, None]  # (m, 1)
        centre = base + self.lambdas_[None, :] * self._log_forecast(windows)
        scale = horizon_scale(prices, cfg.horizons, self.v_long_, cfg.band)
        scores = conformal_scores(prices, level, scale)
        bounds = adaptive_bounds(scores, origins, cfg.band_pool, self.fallback_bounds_)
        spread = bounds * scale[origins][None, None]  # (levels, 2, m, H)
        return centre, base[None] + spread[:, 0], base[None] + spread[:, 1]

    # ---------------------------------------------------------------- artifact

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "this GapLevelForecaster is not fitted: call fit() or from_bytes()"
            )

    def _description(self) -> dict[str, object]:
        """The model's metadata in the artifact header (everything but tensors)."""
        description: dict[str, object] = {
            "config": dataclasses.asdict(self.config),
            "train_start": self.train_start_.isoformat(),
            "train_end": self.train_end_.isoformat(),
            "rows": self.n_rows_,
            "segments": self.segments_,
            "epochs_run": self.epochs_run_,
            "best_epochs": self.best_epochs_,
            "validation": self.validation_scores_,
            "interval_levels": list(INTERVAL_LEVELS),
            "lambdas": self.lambdas_.tolist(),
            "v_long": self.v_long_,
        }
        if self.shares_ is not None:  # not recorded by a fit from before issue 19
            description["share_ratios"] = {
                f"{share:g}": row.tolist()
                for share, row in zip(LAMBDAS, self.shares_.ratios, strict=True)
            }
            description["share_blocks"] = {
                "sizes": self.shares_.sizes.tolist(),
                "smape": self.shares_.scores.tolist(),
            }
        return description

    def _payload(self) -> bytes:
        """The tensors, for ``torch.load(weights_only=True)``."""
        self._check_fitted()
        state = {
            "weights": {k: v.detach().cpu() for k, v in self.network_.state_dict().items()},
            "feature_scale": torch.from_numpy(self.feature_scale_.copy()),
            "fallback_bounds": torch.from_numpy(self.fallback_bounds_.copy()),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    @staticmethod
    def _libraries() -> dict[str, str]:
        return {"torch": torch.__version__.split("+")[0]}

    def to_bytes(self) -> bytes:
        """The artifact (:mod:`taiex.models.artifact`): the description and the tensors."""
        self._check_fitted()
        header: artifact.Header = {
            "libraries": self._libraries(),
            "metadata": self._description(),
        }
        return artifact.pack(self.kind, header, self._payload())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Load an artifact of :meth:`to_bytes`; :class:`ArtifactError` if it is not one intact,
        or one of the previous method (fixed half-widths), which no release wrote."""
        header, payload = artifact.unpack(data, cls.kind)
        state = _load_payload(payload)
        if "interval_halfwidths" in state:
            raise ArtifactError(
                "LSTM artifact of the previous method (fixed half-widths), written by a "
                f"development version before taiex 0.1.0, which this taiex {__version__} does "
                "not read: train a new model (`taiex train lstm`)"
            )
        try:
            meta: dict[str, Any] = header["metadata"]  # JSON: what does not fit raises below
            # Bands had no falling-trend term before band_fall_weight: such an artifact keeps none.
            config = LSTMConfig(**{"band_fall_weight": 0.0, **meta["config"]})
            model = cls(config)
            network = LSTMEnsemble.of_shape(
                config.ensemble,
                n_features=N_FEATURES,
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                dropout=config.dropout,
                horizons=config.horizons,
            )
            network.load_state_dict(state["weights"])
            model._restore(meta, network, state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ArtifactError(
                f"LSTM artifact has a valid checksum but bad contents: {exc}"
            ) from exc
        return model

    def _restore(self, meta: dict[str, Any], network: LSTMEnsemble, state: dict[str, Any]) -> None:
        self.network_ = network.eval()
        self.feature_scale_ = _array(state["feature_scale"])
        self.train_start_ = dt.date.fromisoformat(meta["train_start"])
        self.train_end_ = dt.date.fromisoformat(meta["train_end"])
        self.n_rows_, self.segments_ = meta["rows"], meta["segments"]
        self.epochs_run_, self.best_epochs_ = meta["epochs_run"], meta["best_epochs"]
        self.validation_scores_ = meta["validation"]
        self.lambdas_ = np.array(meta["lambdas"], dtype=np.float64)
        self.shares_ = _restore_shares(meta, self.lambdas_, self.validation_scores_)
        self.v_long_ = float(meta["v_long"])
        self.fallback_bounds_ = _array(state["fallback_bounds"])

    def metadata(self) -> dict[str, object]:
        """JSON-able description: kind, format, library versions, config, training range,
        scores, epochs, the shares kept, the fallback band multipliers and the payload's
        ``sha256``."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "format_version": artifact.FORMAT_VERSION,
            "libraries": {"taiex": __version__, **self._libraries()},
            **self._description(),
            "fallback_bounds": self.fallback_bounds_.tolist(),
            "sha256": hashlib.sha256(self._payload()).hexdigest(),
        }


def _restore_shares(
    meta: dict[str, Any], lambdas: FloatArray, validation: dict[str, list[float]]
) -> Shares | None:
    """The table the shares were picked from, checked against them; None for an artifact from
    before it was recorded. ValueError when it is there but is not that table."""
    if "share_blocks" not in meta:
        return None
    blocks = meta["share_blocks"]
    scores = np.array(blocks["smape"], dtype=np.float64)
    sizes = np.array(blocks["sizes"], dtype=np.int64)
    if scores.shape != (len(sizes), len(LAMBDAS), len(lambdas)):
        raise ValueError(f"share_blocks has the shape {scores.shape}")
    return Shares(lambdas, scores, sizes, validation)


def _array(tensor: torch.Tensor) -> FloatArray:
    array: FloatArray = tensor.numpy().astype(np.float64)
    return array


def _load_payload(payload: bytes) -> dict[str, Any]:
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad archive; all mean the same here
        raise ArtifactError(f"LSTM artifact payload cannot be read: {exc}") from exc
    if not isinstance(state, dict):
        raise ArtifactError(f"LSTM artifact payload is a {type(state).__name__}, not a dict")
    return state
