"""The LSTM forecaster's hyperparameters, and how they cut a history into time-ordered segments.

Both live here because the fewest rows a fit accepts (:meth:`LSTMConfig.min_fit_rows`) is a
question about the cut: the training, validation and calibration windows must each reach
:data:`MIN_SEGMENTS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from taiex.frames import IntArray

# Smallest segments fit accepts. 40 calibration residuals make the 95 % half-width an order
# statistic below the maximum (split conformal needs n >= 19 for that).
MIN_SEGMENTS = (50, 20, 40)  # train, validation, calibration windows


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
        while split_origins(rows, self) is None:
            rows += 1
        return rows


@dataclass(frozen=True)
class Split:
    """Origin row indices of the three time-ordered segments, each purged of ``horizons``
    origins at its start so that no target of one segment is a target of the next."""

    train: IntArray
    validation: IntArray
    calibration: IntArray


def split_origins(n_rows: int, config: LSTMConfig) -> Split | None:
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
    if any(s < m for s, m in zip(sizes, MIN_SEGMENTS, strict=True)):
        return None
    return Split(train=train, validation=validation, calibration=calibration)
