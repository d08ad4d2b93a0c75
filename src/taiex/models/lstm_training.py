"""Training the LSTM forecaster: the ensemble, early stopping, and how much of it to keep.

- The networks learn only the **residual around the overnight-gap level** (:mod:`taiex.models.
  gap_level`): ``z = (y - level) / vol``. There is no re-levelling on validation any more: a level
  read off recent data is a learned drift, which won in rising markets and lost in falling ones
  (issue 10).
- Each of ``ensemble`` networks trains from its own seed, reproducibly (fixed seed, deterministic
  kernels, a fixed thread count), minimising a horizon-balanced L1 error of ``z``.
- **Early stopping** scores every epoch on the validation blocks, epoch 0 (the gap level alone)
  included, and keeps the best: a network that never beats the gap level stays at zero.
- **How much to keep**: per horizon, a share ``lambda`` in :data:`LAMBDAS` of the ensemble's
  correction, chosen on the *share blocks*, which chose nothing else (the epoch was chosen on the
  stopping blocks: :mod:`taiex.models.lstm_config`). A share is kept only when it beats the gap
  level alone by a margin, :data:`SHARE_MARGIN` of its pooled sMAPE, and loses in no share block;
  none does: 0, the gap level alone. The rule (:func:`pick_shares`) reads a small table of block
  scores, so that it can be checked by hand.

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

from taiex.frames import FloatArray, IntArray
from taiex.metrics import smape, smape_terms
from taiex.models.lstm_config import LSTMConfig
from taiex.models.lstm_network import LSTMEnsemble, LSTMNetwork

logger = logging.getLogger(__name__)

LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the shares of the network's correction on offer
# A share must cut the gap level's pooled sMAPE on the share blocks by at least 3 %. With no
# margin, gains of 0.1 % decided, and the served fit's shares flipped with numerical noise (issue
# 19). A ±1 % wobble of every block score moves a pooled ratio by at most about 2 %, so a
# correction no better than the gap level (ratio about 1) stays out under any such wobble.
SHARE_MARGIN = 0.03
# Shares whose pooled ratios are within this of the best kept one count as tied; the smallest
# of them wins, so that a shade of gain does not buy more of the network.
SHARE_TIE = 0.01


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
    """``lambdas`` (horizons,) from :data:`LAMBDAS`; the table they were picked from, ``scores``
    (blocks, len(LAMBDAS), horizons) and the blocks' ``sizes`` (:func:`block_scores`); and
    ``validation``, per-horizon sMAPE over the share blocks of the model (with the shares kept),
    of the gap level alone and of naive (flattering where a share was kept: it was chosen there)."""

    lambdas: FloatArray
    scores: FloatArray
    sizes: IntArray
    validation: dict[str, list[float]]

    @property
    def ratios(self) -> FloatArray:
        """Each share's pooled sMAPE ratio to the gap level: (len(LAMBDAS), horizons)."""
        return share_ratios(self.scores, self.sizes)


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


def block_scores(
    correction: Callable[[Windows], FloatArray], blocks: Sequence[Segment]
) -> tuple[FloatArray, IntArray, list[FloatArray]]:
    """sMAPE of the gap level plus each share in :data:`LAMBDAS` of the ensemble's
    ``correction`` (windows to log-return), per block: shape (blocks, len(LAMBDAS), horizons);
    the blocks' sizes (blocks,); and the corrections, one (m, horizons) array a block."""
    corrections = [correction(block.windows) for block in blocks]
    scores = np.empty((len(blocks), len(LAMBDAS), blocks[0].y.shape[1]))
    for b, (block, corr) in enumerate(zip(blocks, corrections, strict=True)):
        actual, base = np.exp(block.y), block.level[:, None]
        for i, share in enumerate(LAMBDAS):
            scores[b, i] = smape_terms(np.exp(base + share * corr), actual).mean(axis=0)
    sizes = np.array([len(block.y) for block in blocks], dtype=np.int64)
    return scores, sizes, corrections


def share_ratios(scores: FloatArray, sizes: IntArray) -> FloatArray:
    """Each share's sMAPE pooled over the blocks (weighted by their sizes) divided by the gap
    level's (share 0): shape (len(LAMBDAS), horizons)."""
    pooled = np.einsum("b,blh->lh", sizes.astype(np.float64), scores)
    ratios: FloatArray = pooled / np.maximum(pooled[0], 1e-300)
    return ratios


def pick_shares(
    scores: FloatArray, sizes: IntArray, margin: float = SHARE_MARGIN, tie: float = SHARE_TIE
) -> FloatArray:
    """The rule: per horizon, among the shares whose pooled ratio to the gap level is at most
    ``1 - margin`` and that lose in no block, the smallest one within ``tie`` of the best
    ratio; 0 when there is none. ``scores`` (blocks, len(LAMBDAS), horizons) as
    :func:`block_scores` gives them, share 0 (the gap level alone) first."""
    ratios = share_ratios(scores, sizes)
    loses_somewhere = (scores > scores[:, :1]).any(axis=0)  # (len(LAMBDAS), horizons)
    eligible = (ratios <= 1.0 - margin) & ~loses_somewhere
    eligible[0] = False
    lambdas = np.zeros(scores.shape[2])
    for h in range(scores.shape[2]):
        if eligible[:, h].any():
            best = ratios[eligible[:, h], h].min()
            lambdas[h] = LAMBDAS[int(np.argmax(eligible[:, h] & (ratios[:, h] <= best + tie)))]
    return lambdas


def choose_shares(correction: Callable[[Windows], FloatArray], blocks: Sequence[Segment]) -> Shares:
    """Per horizon, how much of the ensemble's ``correction`` to keep (:func:`pick_shares`),
    judged on the share ``blocks``, with the figures it was chosen on."""
    scores, sizes, corrections = block_scores(correction, blocks)
    lambdas = pick_shares(scores, sizes)
    y = np.concatenate([block.y for block in blocks])
    level = np.concatenate([block.level for block in blocks])[:, None]
    y_hat = level + lambdas[None, :] * np.concatenate(corrections)
    validation = _scores(y_hat, y)
    validation["smape_gap_level"] = _scores(np.broadcast_to(level, y.shape), y)["smape_model"]
    return Shares(lambdas, scores, sizes, validation)


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
