"""The LSTM forecaster: the opening level of each of the next 5 trading days, with intervals.

Design, and why:

- **Scale-free windows** (:mod:`taiex.windows`): every input is a log-ratio of prices inside the
  window, so the model never sees a price level and does not care that the index doubled.
- **Direct multi-output**: one forward pass gives all horizons; no forecast is fed back as input,
  so errors do not compound over the horizons as in the original recursive system.
- **Naive at zero**: the network outputs ``z[h]``, and the forecast is
  ``open[t+h] = close[t] * exp(z[h] * vol[t])`` where ``vol[t]`` is the window's realised daily
  volatility. The output layer starts at zero, so training starts from the naive forecast, and
  early stopping (which also scores epoch 0) only keeps a model that beat naive on validation
  (on average over the horizons, each relative to naive).
- **A small ensemble, re-levelled, with split conformal intervals**: see
  :mod:`taiex.models.lstm_training`.
- **Reproducible**: fixed seeds, deterministic algorithms and a fixed thread count make the same
  data and config give the same bytes (on CPU).

The modules: :mod:`~taiex.models.lstm_config` (hyperparameters and the time-ordered cut),
:mod:`~taiex.models.lstm_network` (the ``nn.Module``), :mod:`~taiex.models.lstm_training` (fitting
and calibration) and this one, the user-facing :class:`LSTMForecaster` (fit, predict, bytes).
Fitting and predicting set torch's global thread count and deterministic flag for their
duration: do not run two of them at once in threads of one process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from taiex import __version__
from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, NotFittedError
from taiex.frames import (
    FORECAST_COLUMNS,
    INTERVAL_LEVELS,
    FloatArray,
    IntArray,
    Prices,
    check_history,
    to_date,
)
from taiex.models import artifact
from taiex.models.lstm_config import LSTMConfig, Split, split_origins
from taiex.models.lstm_network import LSTMEnsemble
from taiex.models.lstm_training import Segment, Windows, calibrate, fit_ensemble
from taiex.windows import N_FEATURES, realised_volatility, targets, window_features

__all__ = ["ORIGIN_COLUMNS", "PREDICT_COLUMNS", "LSTMConfig", "LSTMForecaster"]

logger = logging.getLogger(__name__)

ORIGIN_COLUMNS = ["origin_date", "horizon", "target_date", *FORECAST_COLUMNS, "naive"]
PREDICT_COLUMNS = ["horizon", "date", *FORECAST_COLUMNS, "naive"]


class LSTMForecaster:
    """Forecast the opening level of the next ``horizons`` trading days from the last ``window``.

    ``fit(history)`` learns from a history frame (``date`` datetime64 ascending, ``open, high,
    low, close`` float); ``predict`` forecasts from its last day, ``predict_origins`` from many.

    Learned state: ``network_`` (the :class:`LSTMEnsemble`), ``feature_scale_``,
    ``interval_halfwidths_``, ``train_start_``, ``train_end_``, ``n_rows_``, ``segments_``,
    ``epochs_run_``, ``best_epochs_``, ``validation_scores_``, ``calibration_scores_`` and, after a
    fit, ``fit_seconds_``.
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
            "enough windows to train, validate and calibrate)",
        )
        split = split_origins(len(prices), cfg)
        assert split is not None  # guaranteed by min_rows
        started = time.perf_counter()
        raw = window_features(prices, split.train, cfg.window)
        self.feature_scale_ = np.maximum(raw.reshape(-1, N_FEATURES).std(axis=0), 1e-8)
        train, validation, calibration = (
            self._segment(prices, origins)
            for origins in (split.train, split.validation, split.calibration)
        )
        self.network_, logs = fit_ensemble(train, validation, cfg)
        self.epochs_run_ = [log.epochs_run for log in logs]
        self.best_epochs_ = [log.best_epoch for log in logs]
        result = calibrate(self._log_forecast, validation, calibration)
        self.interval_halfwidths_ = result.halfwidths
        self.validation_scores_ = result.validation
        self.calibration_scores_ = result.calibration
        self._remember_range(prices, split)
        self.fit_seconds_ = time.perf_counter() - started
        logger.info(
            "LSTM fitted on %s..%s: epochs %s (best %s), validation sMAPE %.4f vs naive %.4f, "
            "%.1f s",
            self.train_start_, self.train_end_, self.epochs_run_, self.best_epochs_,
            np.mean(self.validation_scores_["smape_model"]),
            np.mean(self.validation_scores_["smape_naive"]), self.fit_seconds_,
        )  # fmt: skip
        return self

    def _segment(self, prices: Prices, origins: IntArray) -> Segment:
        return Segment(
            self._windows(prices, origins), targets(prices, origins, self.config.horizons)
        )

    def _windows(self, prices: Prices, origins: IntArray) -> Windows:
        cfg = self.config
        x = window_features(prices, origins, cfg.window) / self.feature_scale_
        vol = realised_volatility(prices, origins, cfg.volatility_span)
        return Windows(x=x, vol=vol, close=prices.close[origins])

    def _remember_range(self, prices: Prices, split: Split) -> None:
        self.train_start_, self.train_end_ = to_date(prices.dates[0]), to_date(prices.dates[-1])
        self.n_rows_ = len(prices)
        self.segments_ = {
            name: {
                "first_origin": to_date(prices.dates[idx[0]]).isoformat(),
                "last_origin": to_date(prices.dates[idx[-1]]).isoformat(),
                "windows": len(idx),
            }
            for name, idx in dataclasses.asdict(split).items()
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
        y_hat = self._log_forecast(windows)  # (m, horizons)
        center = np.log(windows.close)[:, None] + y_hat
        spread = self.interval_halfwidths_[:, None, :] * windows.vol[None, :, None]  # (2, m, H)
        columns: dict[str, Any] = {
            "origin_date": np.repeat(prices.dates[origins], horizons),
            "horizon": np.tile(np.arange(1, horizons + 1), len(origins)),
            "target_date": _target_dates(prices, origins, horizons).ravel(),
            "forecast": np.exp(center).ravel(),
        }
        for level, width in zip(INTERVAL_LEVELS, spread, strict=True):
            pct = round(level * 100)
            columns[f"lower_{pct}"] = np.exp(center - width).ravel()
            columns[f"upper_{pct}"] = np.exp(center + width).ravel()
        columns["naive"] = np.repeat(windows.close, horizons)
        return pd.DataFrame(columns)

    # ---------------------------------------------------------------- artifact

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError("this LSTMForecaster is not fitted: call fit() or from_bytes()")

    def _description(self) -> dict[str, Any]:
        """The model's metadata in the artifact header (everything but tensors)."""
        return {
            "config": dataclasses.asdict(self.config),
            "train_start": self.train_start_.isoformat(),
            "train_end": self.train_end_.isoformat(),
            "rows": self.n_rows_,
            "segments": self.segments_,
            "epochs_run": self.epochs_run_,
            "best_epochs": self.best_epochs_,
            "validation": self.validation_scores_,
            "calibration": self.calibration_scores_,
            "interval_levels": list(INTERVAL_LEVELS),
        }

    def _payload(self) -> bytes:
        """The tensors, for ``torch.load(weights_only=True)``."""
        self._check_fitted()
        state = {
            "weights": {k: v.detach().cpu() for k, v in self.network_.state_dict().items()},
            "feature_scale": torch.from_numpy(self.feature_scale_.copy()),
            "interval_halfwidths": torch.from_numpy(self.interval_halfwidths_.copy()),
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
        header = {"libraries": self._libraries(), "metadata": self._description()}
        return artifact.pack(self.kind, header, self._payload())

    @classmethod
    def from_bytes(cls, data: bytes) -> LSTMForecaster:
        """Load an artifact of :meth:`to_bytes` (or of format 1); :class:`ArtifactError` if it is
        not one intact."""
        header, payload = artifact.unpack(data, cls.kind)
        state = _load_payload(payload)
        try:
            # Format 1 kept the description inside the torch state.
            meta = (
                header["metadata"] if header["metadata"] is not None else json.loads(state["meta"])
            )
            config = LSTMConfig(**meta["config"])
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
        self.feature_scale_ = state["feature_scale"].numpy().astype(np.float64)
        self.interval_halfwidths_ = state["interval_halfwidths"].numpy().astype(np.float64)
        self.train_start_ = dt.date.fromisoformat(meta["train_start"])
        self.train_end_ = dt.date.fromisoformat(meta["train_end"])
        self.n_rows_, self.segments_ = meta["rows"], meta["segments"]
        self.epochs_run_, self.best_epochs_ = meta["epochs_run"], meta["best_epochs"]
        self.validation_scores_ = meta["validation"]
        self.calibration_scores_ = meta["calibration"]

    def metadata(self) -> dict[str, Any]:
        """JSON-able description: kind, format, library versions, config, training range,
        scores, epochs, interval half-widths and the payload's ``sha256``."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "format_version": artifact.FORMAT_VERSION,
            "libraries": {"taiex": __version__, **self._libraries()},
            **self._description(),
            "interval_halfwidths": self.interval_halfwidths_.tolist(),
            "sha256": hashlib.sha256(self._payload()).hexdigest(),
        }


def _load_payload(payload: bytes) -> dict[str, Any]:
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad archive; all mean the same here
        raise ArtifactError(f"LSTM artifact payload cannot be read: {exc}") from exc
    if not isinstance(state, dict):
        raise ArtifactError(f"LSTM artifact payload is a {type(state).__name__}, not a dict")
    return state


def _target_dates(prices: Prices, origins: IntArray, horizons: int) -> NDArray[np.datetime64]:
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
