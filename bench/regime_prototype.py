"""Prototype of the regime-robust forecaster, as a subclass of the current LSTMForecaster.

It exists so that ``bench/regimes.py`` can measure the method before the model modules are split
(issue 13); it is ported into ``src/taiex/models`` then, and this file goes. What it changes:

- **Level**: the forecast is ``close * exp(gap_level + lambda_h * network)``. ``gap_level`` is the
  typical overnight gap (:mod:`taiex.models.gap_level`), the network learns only the residual
  around it (no re-levelling on validation: that was a learned drift), and ``lambda_h`` in
  {0, .25, .5, .75, 1} is the largest gain on validation blocks spread over the whole history that
  loses in none of them; with no such gain it is 0 and the forecast is the gap level.
- **Intervals**: :mod:`taiex.models.intervals` around the gap level (independent of the network).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Self

import numpy as np
import pandas as pd
import torch

from taiex.metrics import smape_terms
from taiex.models import lstm
from taiex.models.gap_level import gap_level
from taiex.models.intervals import (
    INTERVAL_LEVELS,
    BandConfig,
    adaptive_bounds,
    conformal_scores,
    horizon_scale,
    long_run_variance,
    pool_quantiles,
)
from taiex.windows import FloatArray, IntArray, Prices, check_history, targets

LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BLOCKS = 5


@dataclasses.dataclass(frozen=True)
class BlockSplit:
    train: IntArray
    blocks: list[IntArray]

    @property
    def validation(self) -> IntArray:
        return np.concatenate(self.blocks)


def block_split(n_rows: int, config: lstm.LSTMConfig, blocks: int = BLOCKS) -> BlockSplit:
    """Validation: ``blocks`` runs of origins, one at the end of each of ``blocks`` equal chunks
    of the origins (the last one the most recent), together ``validation_fraction +
    calibration_fraction`` of them; training: the rest, purged of ``horizons`` origins on each
    side of every block so that no training target is a validation target."""
    origins = np.arange(config.window - 1, n_rows - config.horizons, dtype=np.int64)
    share = config.validation_fraction + config.calibration_fraction
    per_block = max(round(len(origins) * share / blocks), 1)
    keep = np.ones(len(origins), dtype=bool)
    runs = []
    for chunk in np.array_split(np.arange(len(origins)), blocks):
        run = chunk[-per_block:]
        runs.append(origins[run])
        keep[max(run[0] - config.horizons, 0) : run[-1] + config.horizons + 1] = False
    return BlockSplit(train=origins[keep], blocks=runs)


class RegimeForecaster(lstm.LSTMForecaster):
    band = BandConfig(reaction=0.15)

    def fit(self, history: pd.DataFrame) -> Self:
        cfg = self.config
        prices = check_history(history, min_rows=cfg.min_fit_rows(), purpose="fitting")
        started, cpu = time.perf_counter(), time.process_time()
        split = block_split(len(prices), cfg)
        self.level_ = gap_level(prices)
        raw = lstm.window_features(prices, split.train, cfg.window)
        self.feature_scale_ = np.maximum(raw.reshape(-1, lstm.N_FEATURES).std(axis=0), 1e-8)
        device = lstm._device(cfg)
        train = lstm._tensors(*self._residual_segment(prices, split.train), device)
        validation = lstm._tensors(*self._residual_segment(prices, split.validation), device)
        members, logs = [], []
        for k in range(cfg.ensemble):
            seed = int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
            with lstm._reproducible(seed, cfg.threads):
                network = lstm._network(cfg).to(device)
                logs.append(lstm._train(network, train, validation, cfg, seed))
            members.append(network.cpu())
        self.network_ = lstm.LSTMEnsemble(members).eval()
        self.epochs_run_ = [log.epochs_run for log in logs]
        self.best_epochs_ = [log.best_epoch for log in logs]
        self.lambdas_ = self._choose_lambdas(prices, split)
        self.v_long_ = long_run_variance(prices)
        self._fallback_bounds(prices, split)
        self.train_start_ = lstm._to_date(prices.dates[0])
        self.train_end_ = lstm._to_date(prices.dates[-1])
        self.fit_seconds_ = time.perf_counter() - started
        self.fit_cpu_seconds_ = time.process_time() - cpu
        return self

    def _residual_segment(self, prices: Prices, origins: IntArray) -> tuple[Any, FloatArray]:
        y = targets(prices, origins, self.config.horizons) - gap_level(prices)[origins, None]
        return self._windows(prices, origins), y

    def _choose_lambdas(self, prices: Prices, split: BlockSplit) -> FloatArray:
        """Per horizon, the lambda of the largest pooled sMAPE gain over lambda = 0 among those
        that are no worse in any block."""
        level = gap_level(prices)
        gains = np.zeros((len(LAMBDAS), self.config.horizons))
        worst = np.full((len(LAMBDAS), self.config.horizons), -np.inf)
        for block in split.blocks:
            windows = self._windows(prices, block)
            correction = self._log_forecast(windows)  # (m, H), z * vol
            actual = np.exp(targets(prices, block, self.config.horizons))
            base = level[block, None]
            anchor_loss = smape_terms(np.exp(np.broadcast_to(base, actual.shape)), actual)
            for i, lam in enumerate(LAMBDAS):
                loss = smape_terms(np.exp(base + lam * correction), actual)
                diff = (loss - anchor_loss).mean(axis=0)  # (H,) positive = worse
                gains[i] -= diff * len(block)
                worst[i] = np.maximum(worst[i], diff)
        allowed = worst <= 0.0
        gains[~allowed] = -np.inf
        gains[0] = 0.0
        self.lambda_gains_ = gains
        return np.array([LAMBDAS[int(np.argmax(gains[:, h]))] for h in range(gains.shape[1])])

    def _fallback_bounds(self, prices: Prices, split: BlockSplit) -> None:
        """Bounds for a history too short to hold its own pool: the fit's last ``pool`` scores."""
        scale = horizon_scale(prices, self.config.horizons, self.v_long_, self.band)
        scores = conformal_scores(prices, gap_level(prices), scale)
        tail = scores[np.isfinite(scores).all(axis=1)][-self.band.pool :]
        self.fallback_bounds_ = np.stack([pool_quantiles(tail, lv) for lv in INTERVAL_LEVELS])

    def _forecast_frame(self, prices: Prices, origins: IntArray) -> pd.DataFrame:
        horizons = self.config.horizons
        windows = self._windows(prices, origins)
        correction = self._log_forecast(windows)
        level = gap_level(prices)[origins, None]
        base = np.log(windows.close)[:, None] + level
        centre = base + self.lambdas_[None, :] * correction
        scale = horizon_scale(prices, horizons, self.v_long_, self.band)
        scores = conformal_scores(prices, gap_level(prices), scale)
        bounds = adaptive_bounds(scores, origins, self.band.pool, self.fallback_bounds_)
        columns: dict[str, Any] = {
            "origin_date": np.repeat(prices.dates[origins], horizons),
            "horizon": np.tile(np.arange(1, horizons + 1), len(origins)),
            "target_date": lstm._target_dates(prices, origins, horizons).ravel(),
            "forecast": np.exp(centre).ravel(),
        }
        for k, lv in enumerate(INTERVAL_LEVELS):
            pct = round(lv * 100)
            columns[f"lower_{pct}"] = np.exp(base + bounds[k, 0] * scale[origins]).ravel()
            columns[f"upper_{pct}"] = np.exp(base + bounds[k, 1] * scale[origins]).ravel()
        columns["naive"] = np.repeat(windows.close, horizons)
        return pd.DataFrame(columns)


def backtest(history: pd.DataFrame, *, train_until: Any, start: Any, end: Any) -> Any:
    """``lstm.backtest`` with the prototype model."""
    original = lstm.LSTMForecaster
    lstm.LSTMForecaster = RegimeForecaster  # type: ignore[misc]
    try:
        return lstm.backtest(history, train_until=train_until, start=start, end=end)
    finally:
        lstm.LSTMForecaster = original  # type: ignore[misc]


torch.set_num_threads(1)
