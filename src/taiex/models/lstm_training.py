"""Training the LSTM forecaster: the ensemble, early stopping, re-levelling and the conformal
calibration of its intervals.

- Each of ``ensemble`` networks trains from its own seed, reproducibly (fixed seed, deterministic
  kernels, a fixed thread count), minimising a horizon-balanced L1 error of ``z``.
- **Early stopping** scores every epoch on validation, epoch 0 (the naive forecast) included, and
  keeps the best: a network that never beats naive stays naive.
- **Re-levelling** shifts each network's head by its median validation residual: most of what a
  network learns at short horizons is a level, and the level moves over the decades.
- **Split conformal intervals**: residuals ``|y - y_hat| / vol`` on a calibration tail that neither
  training nor early stopping used give per-horizon half-widths.

The functions take arrays (:class:`Segment`) and a config; they know nothing of frames, dates or
artifacts.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from taiex.frames import INTERVAL_LEVELS, FloatArray
from taiex.metrics import smape
from taiex.models.lstm_config import LSTMConfig
from taiex.models.lstm_network import LSTMEnsemble, LSTMNetwork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """Model-ready arrays for a set of origins: ``x`` (m, window, F) scaled features,
    ``vol`` (m,) realised volatility, ``close`` (m,) origin close."""

    x: FloatArray
    vol: FloatArray
    close: FloatArray


@dataclass(frozen=True)
class Segment:
    """Windows and their targets ``y`` (m, horizons): ``log(open[t+h] / close[t])``."""

    windows: Windows
    y: FloatArray


@dataclass(frozen=True)
class TrainLog:
    epochs_run: int
    best_epoch: int
    best_score: float


@dataclass(frozen=True)
class Calibration:
    """``halfwidths`` ``(len(INTERVAL_LEVELS), horizons)`` in units of the window's volatility
    (the interval is ``y_hat +- halfwidth * vol`` in log space), and per-horizon sMAPE of model
    and naive on validation (flattering: the epoch and the level were chosen there) and on
    calibration (out of sample)."""

    halfwidths: FloatArray
    validation: dict[str, list[float]]
    calibration: dict[str, list[float]]


_Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def device_for(config: LSTMConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def fit_ensemble(
    train: Segment, validation: Segment, cfg: LSTMConfig
) -> tuple[LSTMEnsemble, list[TrainLog]]:
    """Train ``cfg.ensemble`` networks, each re-levelled on validation; returned on CPU.

    The networks' shape comes from the data: ``n_features`` from ``x``, ``horizons`` from ``y``.
    """
    device = device_for(cfg)
    train_t, validation_t = _tensors(train, device), _tensors(validation, device)
    shape = {
        "n_features": train.windows.x.shape[2],
        "hidden_size": cfg.hidden_size,
        "num_layers": cfg.num_layers,
        "dropout": cfg.dropout,
        "horizons": train.y.shape[1],
    }
    members, logs = [], []
    for k in range(cfg.ensemble):
        # Each member gets its own seed, independent of the others and of config.seed + k.
        seed = int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
        with _reproducible(seed, cfg.threads):
            network = LSTMNetwork(**shape).to(device)
            logs.append(_train(network, train_t, validation_t, cfg, seed))
            _recentre(network, *validation_t)
        members.append(network.cpu())
    return LSTMEnsemble(members).eval(), logs


def calibrate(
    forecast: Callable[[Windows], FloatArray], validation: Segment, calibration: Segment
) -> Calibration:
    """Score validation and calibration with ``forecast`` (windows to ``y_hat``); set the
    conformal half-widths from calibration."""
    validation_scores = _scores(forecast(validation.windows), validation.y)
    y_hat = forecast(calibration.windows)
    residuals = np.abs(calibration.y - y_hat) / calibration.windows.vol[:, None]  # (m, horizons)
    halfwidths = np.stack([_conformal_quantile(residuals, level) for level in INTERVAL_LEVELS])
    return Calibration(halfwidths, validation_scores, _scores(y_hat, calibration.y))


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


def _tensors(segment: Segment, device: torch.device) -> _Tensors:
    """``x`` (m, window, F), ``y`` (m, H) log-returns and ``vol`` (m, 1), float32 on device."""
    return (
        torch.from_numpy(segment.windows.x).float().to(device),
        torch.from_numpy(segment.y).float().to(device),
        torch.from_numpy(segment.windows.vol[:, None]).float().to(device),
    )


def _train(
    network: LSTMNetwork, train: _Tensors, validation: _Tensors, cfg: LSTMConfig, seed: int
) -> TrainLog:
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
    return TrainLog(epochs_run=epoch, best_epoch=best_epoch, best_score=best_score)


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
