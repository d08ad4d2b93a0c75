"""The LSTM forecaster's hyperparameters, and how they cut a history into training and validation.

Both live here because the fewest rows a fit accepts (:meth:`LSTMConfig.min_fit_rows`) is a
question about the cut: the training and validation windows must each reach :data:`MIN_SEGMENTS`.

Validation is not the most recent tail but ``validation_blocks`` runs of origins spread over the
whole history, one at the end of each of as many equal chunks (the last one the most recent): what
the network may add to the overnight-gap level must hold in several market regimes, not in the
last one only (issue 10; ``bench/regimes.py``).

Each run is cut in two, with ``horizons`` origins purged between the halves so that no target is
in both: the first half (a *stopping block*) chooses the early-stopping epoch, the second (a *share
block*) chooses how much of the network's correction to keep. Choosing both on the same blocks let
the shares ride on the epoch's luck: the served fit kept a correction that no held-out period had
validated (issue 19).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from taiex.frames import IntArray
from taiex.models.intervals import BandConfig

# The fewest train, stopping and share windows (the blocks of a kind together).
MIN_SEGMENTS = (50, 10, 10)


@dataclass(frozen=True)
class LSTMConfig:
    """Hyperparameters of the forecaster; the defaults are the benchmarked ones.

    ``validation_fraction`` of the training windows, in ``validation_blocks`` runs spread over the
    history, serve early stopping (the first half of each run) and the choice of how much of the
    network's correction to keep (the second half).
    ``ensemble`` networks, trained from different seeds on the same windows, are averaged:
    one network's forecast carries seed noise that is as large as the signal at horizon 1.
    ``gap_span`` and ``gap_shrink``: the overnight-gap level (:mod:`taiex.models.gap_level`; an
    artifact keeps the span it was fitted with, so one of 500 gaps forecasts as it did).
    ``max_epochs`` bounds the fit: 3 networks of at most 12 epochs on the whole history are about
    50 s of CPU here at most (``bench/regimes.py --fit-time``; issue 10 asks for 60).
    ``band_reaction``, ``band_persistence``, ``band_pool``, ``band_fall_days`` and
    ``band_fall_weight``: the adaptive intervals (:mod:`taiex.models.intervals`; an artifact from
    before the falling-trend term keeps a weight of 0, so its bands are as they were).
    ``threads`` is fixed because CPU results can change in the last bits with it.
    ``device`` is ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; bit-for-bit
    reproducibility is promised on CPU only, on one machine (another processor picks other
    kernels, whose figures differ in the last bits).
    """

    window: int = 60
    horizons: int = 5
    hidden_size: int = 32
    num_layers: int = 2
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 12
    patience: int = 6
    seed: int = 0
    ensemble: int = 3
    validation_fraction: float = 0.30
    validation_blocks: int = 5
    volatility_span: int = 20
    gap_span: int = 1000
    gap_shrink: float = 1.0
    band_reaction: float = 0.15
    band_persistence: float = 0.995
    band_pool: int = 900
    band_fall_days: int = 5
    band_fall_weight: float = 0.75
    threads: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        positive = (
            "horizons", "hidden_size", "num_layers", "batch_size", "max_epochs", "ensemble",
            "threads", "validation_blocks", "gap_span",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"LSTMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.volatility_span < self.window:
            raise ValueError(
                f"LSTMConfig.volatility_span must be within [2, window), got {self.volatility_span}"
            )
        if self.seed < 0:  # torch takes no negative seed
            raise ValueError(f"LSTMConfig.seed must be >= 0, got {self.seed}")
        if self.patience < 0 or not 0 <= self.dropout < 1 or self.learning_rate <= 0:
            raise ValueError("LSTMConfig needs patience >= 0, 0 <= dropout < 1, learning_rate > 0")
        if not 0 < self.validation_fraction < 0.8:
            raise ValueError(
                "LSTMConfig.validation_fraction must be > 0 and leave at least 20 % for training, "
                f"got {self.validation_fraction}"
            )
        if self.gap_shrink < 0:
            raise ValueError(f"LSTMConfig.gap_shrink must be >= 0, got {self.gap_shrink}")
        try:
            self.band  # noqa: B018 (BandConfig checks its own settings)
        except ValueError as exc:
            names = "band_reaction/band_persistence/band_pool/band_fall_days/band_fall_weight"
            raise ValueError(f"LSTMConfig {names}: {exc}") from exc
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"LSTMConfig.device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (what the registry keeps as a version's params); ``from_dict`` reads
        it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Self:
        """The config with ``values`` in place of the defaults (TypeError for an unknown key).

        The values come from a config file or an artifact's JSON: their types are checked at
        run time (the kind spec checks a config file's; ``__post_init__`` the ranges)."""
        loose: dict[str, Any] = dict(values)
        return cls(**loose)

    @property
    def band(self) -> BandConfig:
        """The interval settings as :class:`~taiex.models.intervals.BandConfig`."""
        return BandConfig(
            self.band_reaction,
            self.band_persistence,
            self.band_pool,
            self.band_fall_days,
            self.band_fall_weight,
        )

    def min_fit_rows(self) -> int:
        """The fewest history rows :meth:`GapLevelForecaster.fit` accepts with this config."""
        rows = self.window + self.horizons
        while split_origins(rows, self) is None:
            rows += 1
        return rows


@dataclass(frozen=True)
class Split:
    """Origin row indices: ``train``, the stopping ``blocks`` and the ``share_blocks``, each in
    time order (share block i follows stopping block i). Training is purged of ``horizons``
    origins on each side of every validation run, and each run between its two halves, so that no
    target serves two of them."""

    train: IntArray
    blocks: tuple[IntArray, ...]
    share_blocks: tuple[IntArray, ...]

    @property
    def validation(self) -> IntArray:
        """The stopping blocks' origins: what early stopping scores."""
        return np.concatenate(self.blocks)


def split_origins(n_rows: int, config: LSTMConfig) -> Split | None:
    """Split the origins that have every target (``window-1 .. n_rows-1-horizons``), or None
    when a segment would be smaller than fit accepts."""
    origins = np.arange(config.window - 1, n_rows - config.horizons, dtype=np.int64)
    if len(origins) < config.validation_blocks:
        return None
    per_block = max(round(len(origins) * config.validation_fraction / config.validation_blocks), 1)
    keep = np.ones(len(origins), dtype=bool)
    blocks, share_blocks = [], []
    for chunk in np.array_split(np.arange(len(origins)), config.validation_blocks):
        run = chunk[-per_block:]
        stop_end = (len(run) - config.horizons) // 2  # the halves, with the purge between them
        blocks.append(origins[run[:stop_end]])
        share_blocks.append(origins[run[stop_end + config.horizons :]])
        keep[max(run[0] - config.horizons, 0) : run[-1] + config.horizons + 1] = False
    if any(len(block) == 0 for block in (*blocks, *share_blocks)):
        return None
    split = Split(train=origins[keep], blocks=tuple(blocks), share_blocks=tuple(share_blocks))
    sizes = (len(split.train), len(split.validation), sum(map(len, share_blocks)))
    if any(s < m for s, m in zip(sizes, MIN_SEGMENTS, strict=True)):
        return None
    return split
