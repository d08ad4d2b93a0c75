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
- **A small ensemble, re-levelled**: a few networks from different seeds are averaged (at
  horizon 1 one network's seed noise is as large as what it learns), and each network's output
  level is re-read on validation, the most recent data calibration does not need (drift and
  overnight gap, most of what is learnable, move over the decades).
- **Split conformal intervals**: residuals ``|y - y_hat| / vol`` on a calibration tail that neither
  training nor early stopping used give per-horizon half-widths; dividing by the window's
  volatility lets the intervals widen when the market gets rough.
- **Reproducible**: fixed seeds, deterministic algorithms and a fixed thread count make the same
  data and config give the same bytes (on CPU).

The user-facing :class:`LSTMForecaster` (hyperparameters, fit, predict, bytes) is separate from the
``nn.Module`` (:class:`LSTMEnsemble` of :class:`LSTMNetwork`), which ``fit`` builds from the data's
shapes. Fitting and predicting set torch's global thread count and deterministic flag for their
duration: do not run two of them at once in threads of one process.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import math
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from taiex import __version__
from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, NotFittedError
from taiex.frames import FloatArray, IntArray, Prices, check_history
from taiex.metrics import smape
from taiex.windows import N_FEATURES, realised_volatility, targets, window_features

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARTIFACT_KIND = "taiex-lstm"
INTERVAL_LEVELS = (0.80, 0.95)
_MAGIC = b"TAIEX-LSTM\n"
_HEADER = struct.Struct(f">{len(_MAGIC)}sH32s")  # magic, format version, sha256 of the payload
# Smallest segments fit accepts. 40 calibration residuals make the 95 % half-width an order
# statistic below the maximum (split conformal needs n >= 19 for that).
_MIN_SEGMENTS = (50, 20, 40)  # train, validation, calibration windows
_PREDICT_BATCH = 512

FORECAST_COLUMNS = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
ORIGIN_COLUMNS = ["origin_date", "horizon", "target_date", *FORECAST_COLUMNS, "naive"]
PREDICT_COLUMNS = ["horizon", "date", *FORECAST_COLUMNS, "naive"]
BACKTEST_COLUMNS = ["origin_date", "horizon", "target_date", *FORECAST_COLUMNS, "actual", "naive"]
SUMMARY_COLUMNS = [
    "horizon", "smape_model", "smape_naive", "ratio", "coverage_80", "coverage_95", "n"
]  # fmt: skip


@dataclass(frozen=True)
class LSTMConfig:
    """Hyperparameters of the forecaster; the defaults are the benchmarked ones.

    ``validation_fraction`` and ``calibration_fraction`` are the shares of the training windows
    kept, in time order, for early stopping and for the conformal intervals (the most recent
    ones). ``ensemble`` networks, trained from different seeds on the same windows, are averaged:
    one network's forecast carries seed noise that is as large as the signal at horizon 1.
    ``threads`` is fixed because CPU results can change in the last bits with it.
    ``device`` is ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; bit-for-bit
    reproducibility is promised on CPU only.
    """

    window: int = 60
    horizons: int = 5
    hidden_size: int = 32
    num_layers: int = 2
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 40
    patience: int = 6
    seed: int = 0
    ensemble: int = 3
    validation_fraction: float = 0.15
    calibration_fraction: float = 0.15
    volatility_span: int = 20
    threads: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        positive = (
            "horizons", "hidden_size", "num_layers", "batch_size", "max_epochs", "ensemble",
            "threads",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"LSTMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.volatility_span < self.window:
            raise ValueError(
                f"LSTMConfig.volatility_span must be within [2, window), got {self.volatility_span}"
            )
        if self.patience < 0 or not 0 <= self.dropout < 1 or self.learning_rate <= 0:
            raise ValueError("LSTMConfig needs patience >= 0, 0 <= dropout < 1, learning_rate > 0")
        fractions = (self.validation_fraction, self.calibration_fraction)
        if min(fractions) <= 0 or sum(fractions) >= 0.8:
            raise ValueError(
                "LSTMConfig validation and calibration fractions must be > 0 and leave at least "
                f"20 % for training, got {fractions}"
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"LSTMConfig.device must be auto, cpu or cuda, got {self.device!r}")

    def min_fit_rows(self) -> int:
        """The fewest history rows :meth:`LSTMForecaster.fit` accepts with this config."""
        rows = self.window + self.horizons
        while _split_origins(rows, self) is None:
            rows += 1
        return rows


class LSTMNetwork(nn.Module):
    """Stacked LSTM and a linear head read from the last time step.

    Input ``(batch, window, n_features)`` float32; output ``(batch, horizons)``: the
    volatility-normalised log-returns ``z[h] = log(open[t+h] / close[t]) / vol[t]``.
    The head starts at zero, so a fresh network is the naive forecast.
    """

    def __init__(
        self, n_features: int, hidden_size: int, num_layers: int, dropout: float, horizons: int
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, horizons)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (batch, window, hidden)
        return self.head(self.dropout(out[:, -1, :]))  # type: ignore[no-any-return]


class LSTMEnsemble(nn.Module):
    """The mean of ``members`` :class:`LSTMNetwork` outputs: ``(batch, window, F)`` to
    ``(batch, horizons)``."""

    def __init__(self, members: Sequence[LSTMNetwork]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @classmethod
    def build(cls, config: LSTMConfig) -> LSTMEnsemble:
        """An untrained ensemble of the config's shape (to load a state dict into)."""
        return cls([_network(config) for _ in range(config.ensemble)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


def _network(config: LSTMConfig) -> LSTMNetwork:
    return LSTMNetwork(
        N_FEATURES, config.hidden_size, config.num_layers, config.dropout, config.horizons
    )


@dataclass(frozen=True)
class _Split:
    """Origin row indices of the three time-ordered segments, each purged of ``horizons``
    origins at its start so that no target of one segment is a target of the next."""

    train: IntArray
    validation: IntArray
    calibration: IntArray


def _split_origins(n_rows: int, config: LSTMConfig) -> _Split | None:
    """Split the origins that have every target (``window-1 .. n_rows-1-horizons``), or None
    when a segment would be smaller than fit accepts."""
    origins = np.arange(config.window - 1, n_rows - config.horizons, dtype=np.int64)
    n_cal = round(len(origins) * config.calibration_fraction)
    n_val = round(len(origins) * config.validation_fraction)
    gap = config.horizons
    calibration = origins[len(origins) - n_cal :]
    val_end = len(origins) - n_cal - gap
    validation = origins[max(val_end - n_val, 0) : max(val_end, 0)]
    train = origins[: max(val_end - n_val - gap, 0)]
    sizes = (len(train), len(validation), len(calibration))
    if any(s < m for s, m in zip(sizes, _MIN_SEGMENTS, strict=True)):
        return None
    return _Split(train=train, validation=validation, calibration=calibration)


@dataclass(frozen=True)
class _Windows:
    """Model-ready arrays for a set of origins: ``x`` (m, window, F) scaled features,
    ``vol`` (m,) realised volatility, ``close`` (m,) origin close."""

    x: FloatArray
    vol: FloatArray
    close: FloatArray


@dataclass(frozen=True)
class _TrainLog:
    epochs_run: int
    best_epoch: int
    best_score: float


class LSTMForecaster:
    """Forecast the opening level of the next ``horizons`` trading days from the last ``window``.

    ``fit(history)`` learns from a history frame (``date`` datetime64 ascending, ``open, high,
    low, close`` float); ``predict`` forecasts from its last day, ``predict_origins`` from many.
    """

    def __init__(self, config: LSTMConfig = LSTMConfig()) -> None:
        self.config = config

    # ---------------------------------------------------------------- fit

    def fit(self, history: pd.DataFrame) -> Self:
        """Train on every window of ``history`` whose targets it holds; returns ``self``."""
        cfg = self.config
        min_rows = cfg.min_fit_rows()
        prices = check_history(
            history,
            min_rows=min_rows,
            purpose=f"fitting the LSTM (window {cfg.window} + horizons {cfg.horizons} + "
            "enough windows to train, validate and calibrate)",
        )
        split = _split_origins(len(prices), cfg)
        assert split is not None  # guaranteed by min_rows
        started = time.perf_counter()
        raw = window_features(prices, split.train, cfg.window)
        self.feature_scale_ = np.maximum(raw.reshape(-1, N_FEATURES).std(axis=0), 1e-8)
        device = _device(cfg)
        train = _tensors(*self._segment(prices, split, "train"), device)
        validation = _tensors(*self._segment(prices, split, "validation"), device)
        self.network_, logs = _fit_ensemble(train, validation, cfg, device)
        self.epochs_run_ = [log.epochs_run for log in logs]
        self.best_epochs_ = [log.best_epoch for log in logs]
        self._calibrate(prices, split)
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

    def _segment(self, prices: Prices, split: _Split, name: str) -> tuple[_Windows, FloatArray]:
        origins: IntArray = getattr(split, name)
        return self._windows(prices, origins), targets(prices, origins, self.config.horizons)

    def _windows(self, prices: Prices, origins: IntArray) -> _Windows:
        cfg = self.config
        x = window_features(prices, origins, cfg.window) / self.feature_scale_
        vol = realised_volatility(prices, origins, cfg.volatility_span)
        return _Windows(x=x, vol=vol, close=prices.close[origins])

    def _calibrate(self, prices: Prices, split: _Split) -> None:
        """Score validation and calibration; set the conformal half-widths from calibration.

        Validation scores flatter the model (it chose the epoch and the level there); the
        calibration scores are the out-of-sample ones.

        ``interval_halfwidths_`` has shape ``(len(INTERVAL_LEVELS), horizons)`` in units of the
        window's volatility: the interval is ``y_hat +- halfwidth * vol`` in log space.
        """
        scores: dict[str, dict[str, list[float]]] = {}
        for name in ("validation", "calibration"):
            windows, y = self._segment(prices, split, name)
            y_hat = self._log_forecast(windows)
            scores[name] = _scores(y_hat, y)
            if name == "calibration":
                residuals = np.abs(y - y_hat) / windows.vol[:, None]  # (m, horizons)
                self.interval_halfwidths_ = np.stack(
                    [_conformal_quantile(residuals, level) for level in INTERVAL_LEVELS]
                )
        self.validation_scores_, self.calibration_scores_ = (
            scores["validation"],
            scores["calibration"],
        )

    def _remember_range(self, prices: Prices, split: _Split) -> None:
        day = _to_date
        self.train_start_, self.train_end_ = day(prices.dates[0]), day(prices.dates[-1])
        self.n_rows_ = len(prices)
        self.segments_ = {
            name: {
                "first_origin": day(prices.dates[idx[0]]).isoformat(),
                "last_origin": day(prices.dates[idx[-1]]).isoformat(),
                "windows": len(idx),
            }
            for name, idx in dataclasses.asdict(split).items()
        }

    # ---------------------------------------------------------------- predict

    def _log_forecast(self, windows: _Windows) -> FloatArray:
        """``log(open[t+h] / close[t])`` forecasts, shape ``(m, horizons)``, computed on CPU.

        Every forward pass gets exactly ``_PREDICT_BATCH`` windows (the last one padded with
        zeros): CPU matrix kernels sum in another order for another batch size, and a window's
        forecast must not depend on which other origins were asked for in the same call.
        """
        self._check_fitted()
        m = len(windows.x)
        if m == 0:
            return np.empty((0, self.config.horizons))
        padded = np.zeros((-(-m // _PREDICT_BATCH) * _PREDICT_BATCH, *windows.x.shape[1:]))
        padded[:m] = windows.x
        inputs = torch.from_numpy(padded).float()
        with _threads(self.config.threads), torch.inference_mode():
            outputs = [self.network_(chunk) for chunk in torch.split(inputs, _PREDICT_BATCH)]
        z = torch.cat(outputs).double().numpy()[:m]
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
            missing = _to_date(wanted[~found][0])
            raise DataError(f"origin {missing} is not a day of the history")
        if (index < first).any():
            early = _to_date(wanted[index < first][0])
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

    def _meta(self) -> dict[str, Any]:
        """The JSON part of the artifact (everything but tensors and the checksum)."""
        return {
            "kind": ARTIFACT_KIND,
            "format_version": FORMAT_VERSION,
            "taiex_version": __version__,
            "torch_version": torch.__version__.split("+")[0],
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
        self._check_fitted()
        state = {
            "meta": json.dumps(self._meta(), sort_keys=True),
            "weights": {k: v.detach().cpu() for k, v in self.network_.state_dict().items()},
            "feature_scale": torch.from_numpy(self.feature_scale_.copy()),
            "interval_halfwidths": torch.from_numpy(self.interval_halfwidths_.copy()),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def to_bytes(self) -> bytes:
        """The versioned artifact: a header (magic, format version, sha256) and the payload."""
        payload = self._payload()
        digest = hashlib.sha256(payload).digest()
        return _HEADER.pack(_MAGIC, FORMAT_VERSION, digest) + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> LSTMForecaster:
        """Load an artifact of :meth:`to_bytes`; :class:`ArtifactError` if it is not one intact."""
        state = _load_payload(_open_envelope(data))
        try:
            meta = json.loads(state["meta"])
            config = LSTMConfig(**meta["config"])
            model = cls(config)
            network = LSTMEnsemble.build(config)
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
        """JSON-able description: versions, config, training range, scores, epochs, sha256."""
        meta = self._meta()
        meta["interval_halfwidths"] = self.interval_halfwidths_.tolist()
        meta["sha256"] = hashlib.sha256(self._payload()).hexdigest()
        return meta


def _open_envelope(data: bytes) -> bytes:
    """Check the header of an artifact and return its payload."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ArtifactError(f"an LSTM artifact is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEADER.size or not data.startswith(_MAGIC):
        raise ArtifactError(
            f"not a taiex LSTM artifact ({len(data)} bytes starting {data[:16]!r}); "
            f"expected the header {_MAGIC!r}"
        )
    _, version, digest = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"LSTM artifact format version {version} is not supported "
            f"(this taiex {__version__} reads version {FORMAT_VERSION})"
        )
    payload = data[_HEADER.size :]
    actual = hashlib.sha256(payload).digest()
    if actual != digest:
        raise ArtifactError(
            f"LSTM artifact fails its checksum (sha256 {actual.hex()[:16]}... of {len(payload)} "
            f"payload bytes, header says {digest.hex()[:16]}...): it is corrupt or truncated"
        )
    return payload


def _load_payload(payload: bytes) -> dict[str, Any]:
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad archive; all mean the same here
        raise ArtifactError(f"LSTM artifact payload cannot be read: {exc}") from exc
    if not isinstance(state, dict):
        raise ArtifactError(f"LSTM artifact payload is a {type(state).__name__}, not a dict")
    return state


# -------------------------------------------------------------------- training


@contextmanager
def _threads(threads: int) -> Iterator[None]:
    """A fixed thread count, restored after: inference needs no seed nor deterministic flag
    (no dropout in eval mode, and CPU kernels are deterministic), and switching that flag on
    costs a second the first time in a process, which the daily run would pay for nothing."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _reproducible(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore all after.

    The global RNG is forked so that fitting does not disturb the caller's random state.
    """
    previous = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        # warn_only: some CUDA kernels have no deterministic version; CPU ones all do.
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous[0])
            torch.set_num_threads(previous[1])


_Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _device(config: LSTMConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def _tensors(windows: _Windows, y: FloatArray, device: torch.device) -> _Tensors:
    """``x`` (m, window, F), ``y`` (m, H) log-returns and ``vol`` (m, 1), float32 on device."""
    return (
        torch.from_numpy(windows.x).float().to(device),
        torch.from_numpy(y).float().to(device),
        torch.from_numpy(windows.vol[:, None]).float().to(device),
    )


def _fit_ensemble(
    train: _Tensors, validation: _Tensors, cfg: LSTMConfig, device: torch.device
) -> tuple[LSTMEnsemble, list[_TrainLog]]:
    """Train ``cfg.ensemble`` networks, each re-levelled on validation; returned on CPU."""
    members, logs = [], []
    for k in range(cfg.ensemble):
        # Each member gets its own seed, independent of the others and of config.seed + k.
        seed = int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
        with _reproducible(seed, cfg.threads):
            network = _network(cfg).to(device)
            logs.append(_train(network, train, validation, cfg, seed))
            _recentre(network, *validation)
        members.append(network.cpu())
    return LSTMEnsemble(members).eval(), logs


def _train(
    network: LSTMNetwork, train: _Tensors, validation: _Tensors, cfg: LSTMConfig, seed: int
) -> _TrainLog:
    """Minimise a horizon-balanced L1 error of ``z`` on ``train``; keep the epoch with the best
    validation score (:func:`_naive_ratio`), epoch 0 (the naive forecast) included."""
    x, y, vol = train
    z = y / vol
    # Each horizon's error is taken relative to naive's on train (mean |z|): otherwise the long
    # horizons, whose moves are larger, would drown the first one.
    weight = 1.0 / z.abs().mean(dim=0).clamp_min(1e-8)  # (horizons,)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    best_score, best_epoch = _naive_ratio(network, *validation), 0
    best_state = copy.deepcopy(network.state_dict())
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        network.train()
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for batch in torch.split(order, cfg.batch_size):
            loss = ((network(x[batch]) - z[batch]).abs() * weight).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
        score = _naive_ratio(network, *validation)
        logger.debug("epoch %d: last loss %.4f, validation ratio %.5f", epoch, loss.item(), score)
        if score < best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(network.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    network.load_state_dict(best_state)
    return _TrainLog(epochs_run=epoch, best_epoch=best_epoch, best_score=best_score)


def _recentre(network: LSTMNetwork, x: torch.Tensor, y: torch.Tensor, vol: torch.Tensor) -> None:
    """Shift the head's bias by the median validation residual of ``z``, per horizon.

    Most of what a network learns at short horizons is a level (drift, overnight gap), and that
    level moves over the decades; validation is the most recent data that calibration does not
    need, so the level is re-read there.
    """
    network.eval()
    with torch.no_grad():
        residual = y / vol - network(x)  # (m, horizons)
        network.head.bias.add_(residual.median(dim=0).values)


def _naive_ratio(
    network: LSTMNetwork, x: torch.Tensor, y: torch.Tensor, vol: torch.Tensor
) -> float:
    """Mean over horizons of sMAPE(model) / sMAPE(naive): 1.0 is naive, lower is better.

    sMAPE is scale-free, so it is computed on ``exp(log-return)``, i.e. with close[t] = 1.
    """
    network.eval()
    with torch.no_grad():
        actual = torch.exp(y)  # (m, horizons)
        forecast = torch.exp(network(x) * vol)
        model = ((forecast - actual).abs() / (forecast + actual)).mean(dim=0)
        naive = ((1.0 - actual).abs() / (1.0 + actual)).mean(dim=0).clamp_min(1e-12)
        return float((model / naive).mean())


def _scores(y_hat: FloatArray, y: FloatArray) -> dict[str, list[float]]:
    """Per-horizon sMAPE of the model and of naive (``y_hat = 0``), on log-returns."""
    actual = np.exp(y)
    return {
        "smape_model": [smape(np.exp(y_hat[:, h]), actual[:, h]) for h in range(y.shape[1])],
        "smape_naive": [smape(np.ones(len(y)), actual[:, h]) for h in range(y.shape[1])],
    }


def _conformal_quantile(residuals: FloatArray, level: float) -> FloatArray:
    """Split-conformal half-width per column: the ceil((n+1) level)-th smallest residual."""
    n = len(residuals)
    rank = min(math.ceil((n + 1) * level), n)
    halfwidth: FloatArray = np.sort(residuals, axis=0)[rank - 1]
    return halfwidth


def _target_dates(prices: Prices, origins: IntArray, horizons: int) -> NDArray[np.datetime64]:
    """Target dates, shape ``(m, horizons)``: row ``origin + h`` of the history, or the XTAI
    sessions after its last day for the steps past it."""
    steps = origins[:, None] + np.arange(1, horizons + 1)[None, :]
    beyond = int(steps.max() - len(prices) + 1) if steps.size else 0
    future: list[np.datetime64] = []
    if beyond > 0:
        sessions = next_sessions(_to_date(prices.dates[-1]), beyond)
        future = [np.datetime64(day, "ns") for day in sessions]
    known = np.concatenate([prices.dates, np.array(future, dtype="datetime64[ns]")])
    dates: NDArray[np.datetime64] = known[steps]
    return dates


def _to_date(value: np.datetime64) -> dt.date:
    return pd.Timestamp(value).date()


# -------------------------------------------------------------------- backtest


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts from every origin of a test period by one model trained before it.

    ``rows``: :data:`BACKTEST_COLUMNS`, ``actual`` NaN where the target is past the data.
    ``summary``: :data:`SUMMARY_COLUMNS` per horizon, over rows with an actual; coverage in %.
    """

    rows: pd.DataFrame
    summary: pd.DataFrame
    model: LSTMForecaster


def backtest(
    history: pd.DataFrame,
    *,
    train_until: dt.date,
    start: dt.date,
    end: dt.date | None = None,
    config: LSTMConfig = LSTMConfig(),
) -> BacktestResult:
    """Train on rows dated <= ``train_until``, then forecast from every origin in [start, end].

    ``start`` must be after ``train_until``, so no target was seen in training. The model is not
    retrained during the test period; its inputs there are the real rows up to each origin.
    """
    if start <= train_until:
        raise DataError(f"backtest start {start} must be after train_until {train_until}")
    prices = check_history(history, min_rows=config.window, purpose="a backtest")
    dates = pd.DatetimeIndex(prices.dates)
    model = LSTMForecaster(config).fit(history.loc[dates <= pd.Timestamp(train_until)])
    last = pd.Timestamp(end) if end is not None else dates[-1]
    in_test = (dates >= pd.Timestamp(start)) & (dates <= last)
    if not in_test.any():
        raise DataError(f"history has no day between {start} and {last.date()} to forecast from")
    rows = model.predict_origins(history, [d.date() for d in dates[in_test]])
    actual_index = np.searchsorted(prices.dates, rows["target_date"].to_numpy("datetime64[ns]"))
    in_data = actual_index < len(prices)
    rows["actual"] = np.where(
        in_data, prices.open[np.minimum(actual_index, len(prices) - 1)], np.nan
    )
    rows = rows[BACKTEST_COLUMNS]
    return BacktestResult(rows=rows, summary=summarise(rows), model=model)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-horizon sMAPE of model and naive, their ratio, interval coverage (%) and count,
    over the rows of a backtest frame that have an ``actual``."""
    scored = rows.dropna(subset=["actual"])
    records = []
    for horizon in sorted(int(h) for h in scored["horizon"].unique()):
        part = scored[scored["horizon"] == horizon]
        actual = part["actual"].to_numpy()
        model, naive = smape(part["forecast"], actual), smape(part["naive"], actual)
        records.append(
            {
                "horizon": horizon,
                "smape_model": model,
                "smape_naive": naive,
                "ratio": model / naive if naive > 0 else math.nan,
                "coverage_80": _coverage(part, actual, 80),
                "coverage_95": _coverage(part, actual, 95),
                "n": len(part),
            }
        )
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def _coverage(part: pd.DataFrame, actual: FloatArray, pct: int) -> float:
    inside = (part[f"lower_{pct}"].to_numpy() <= actual) & (
        actual <= part[f"upper_{pct}"].to_numpy()
    )
    return float(100.0 * np.mean(inside))
