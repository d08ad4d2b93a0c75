"""Training the LSTM forecaster: the ensemble, early stopping, and how much of it to keep.

- The networks learn only the **residual around the overnight-gap level** (:mod:`taiex.models.
  gap_level`): ``z = (y - level) / vol``. There is no re-levelling on validation any more: a level
  read off recent data is a learned drift, which won in rising markets and lost in falling ones
  (issue 10).
- Each of ``ensemble`` networks trains from its own seed, reproducibly (fixed seed, deterministic
  kernels, a fixed thread count), minimising a horizon-balanced L1 error of ``z``.
- **Early stopping** scores every epoch on the validation blocks, epoch 0 (the gap level alone)
  included, and keeps the best: a network that never beats the gap level stays at zero.
- **How much to keep**: per horizon, the share ``lambda`` in :data:`LAMBDAS` of the ensemble's
  correction with the largest pooled sMAPE gain over the gap level, among the shares that lose in
  no validation block; none of them gains: 0, the gap level alone.

The functions take arrays (:class:`Segment`) and a config; they know nothing of frames, dates or
artifacts.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from taiex.frames import FloatArray
from taiex.metrics import smape, smape_terms
from taiex.models.lstm_config import LSTMConfig
from taiex.models.lstm_network import LSTMEnsemble, LSTMNetwork

logger = logging.getLogger(__name__)

LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the shares of the network's correction on offer


@dataclass(frozen=True)
class Windows:
    """Model-ready arrays for a set of origins: ``x`` (m, window, F) scaled features,
    ``vol`` (m,) realised volatility, ``close`` (m,) origin close."""

    x: FloatArray
    vol: FloatArray
    close: FloatArray


@dataclass(frozen=True)
class Segment:
    """Windows, their targets ``y`` (m, horizons): ``log(open[t+h] / close[t])``, and the
    overnight-gap ``level`` (m,) at each origin; the networks learn ``y - level``."""

    windows: Windows
    y: FloatArray
    level: FloatArray

    @property
    def residual(self) -> FloatArray:
        residual: FloatArray = self.y - self.level[:, None]
        return residual


@dataclass(frozen=True)
class TrainLog:
    epochs_run: int
    best_epoch: int
    best_score: float


@dataclass(frozen=True)
class Shares:
    """``lambdas`` (horizons,) from :data:`LAMBDAS`, and per-horizon sMAPE over all validation
    blocks of the model (with those shares), of the gap level alone and of naive (flattering: the
    epoch and the shares were chosen there)."""

    lambdas: FloatArray
    validation: dict[str, list[float]]


_Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def device_for(config: LSTMConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def fit_ensemble(
    train: Segment, validation: Segment, cfg: LSTMConfig
) -> tuple[LSTMEnsemble, list[TrainLog]]:
    """Train ``cfg.ensemble`` networks on the residuals around the gap level; returned on CPU.

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
        members.append(network.cpu())
    return LSTMEnsemble(members).eval(), logs


def choose_shares(correction: Callable[[Windows], FloatArray], blocks: Sequence[Segment]) -> Shares:
    """Per horizon, the share of the ensemble's ``correction`` (windows to log-return, added to
    the gap level) that gains most over the gap level alone, pooled over the ``blocks``, among
    the shares that are no worse in any block; 0 when none gains."""
    horizons = blocks[0].y.shape[1]
    gains = np.zeros((len(LAMBDAS), horizons))
    worst = np.full((len(LAMBDAS), horizons), -np.inf)
    corrections = [correction(block.windows) for block in blocks]
    for block, corr in zip(blocks, corrections, strict=True):
        actual, base = np.exp(block.y), block.level[:, None]
        level_loss = smape_terms(np.exp(np.broadcast_to(base, actual.shape)), actual)
        for i, share in enumerate(LAMBDAS):
            loss = smape_terms(np.exp(base + share * corr), actual)
            excess = (loss - level_loss).mean(axis=0)  # (horizons,), positive = worse
            gains[i] -= excess * len(actual)
            worst[i] = np.maximum(worst[i], excess)
    gains[worst > 0.0] = -np.inf
    gains[0] = 0.0
    lambdas = np.array([LAMBDAS[int(np.argmax(gains[:, h]))] for h in range(horizons)])
    y = np.concatenate([block.y for block in blocks])
    level = np.concatenate([block.level for block in blocks])[:, None]
    y_hat = level + lambdas[None, :] * np.concatenate(corrections)
    validation = _scores(y_hat, y)
    validation["smape_gap_level"] = _scores(np.broadcast_to(level, y.shape), y)["smape_model"]
    return Shares(lambdas, validation)


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
    """``x`` (m, window, F), ``y`` (m, H) residual log-returns around the gap level and ``vol``
    (m, 1), float32 on device."""
    return (
        torch.from_numpy(segment.windows.x).float().to(device),
        torch.from_numpy(segment.residual).float().to(device),
        torch.from_numpy(segment.windows.vol[:, None]).float().to(device),
    )


def _train(
    network: LSTMNetwork, train: _Tensors, validation: _Tensors, cfg: LSTMConfig, seed: int
) -> TrainLog:
    """Minimise a horizon-balanced L1 error of ``z`` on ``train``; keep the epoch with the best
    validation score (:func:`_ratio_to_level`), epoch 0 (the gap level alone) included."""
    x, y, vol = train
    z = y / vol
    # Each horizon's error is taken relative to naive's on train (mean |z|): otherwise the long
    # horizons, whose moves are larger, would drown the first one.
    weight = 1.0 / z.abs().mean(dim=0).clamp_min(1e-8)  # (horizons,)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    best_score, best_epoch = _ratio_to_level(network, *validation), 0
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
        score = _ratio_to_level(network, *validation)
        logger.debug("epoch %d: last loss %.4f, validation ratio %.5f", epoch, loss.item(), score)
        if score < best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(network.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    network.load_state_dict(best_state)
    return TrainLog(epochs_run=epoch, best_epoch=best_epoch, best_score=best_score)


def _ratio_to_level(
    network: LSTMNetwork, x: torch.Tensor, y: torch.Tensor, vol: torch.Tensor
) -> float:
    """Mean over horizons of sMAPE(model) / sMAPE(zero): 1.0 is no correction, lower is better.

    ``y`` is the residual around the gap level; sMAPE is scale-free, so the ratio is that of the
    gap level plus the correction against the gap level alone (computed with close[t] = 1).
    """
    network.eval()
    with torch.no_grad():
        actual = torch.exp(y)  # (m, horizons)
        forecast = torch.exp(network(x) * vol)
        model = ((forecast - actual).abs() / (forecast + actual)).mean(dim=0)
        naive = ((1.0 - actual).abs() / (1.0 + actual)).mean(dim=0).clamp_min(1e-12)
        return float((model / naive).mean())


def _scores(y_hat: FloatArray, y: FloatArray) -> dict[str, list[float]]:
    """Per-horizon sMAPE of ``y_hat`` and of naive (``y_hat = 0``), on log-returns."""
    actual = np.exp(y)
    return {
        "smape_model": [smape(np.exp(y_hat[:, h]), actual[:, h]) for h in range(y.shape[1])],
        "smape_naive": [smape(np.ones(len(y)), actual[:, h]) for h in range(y.shape[1])],
    }
