"""The LSTM forecaster's ``nn.Module``: one network, the ensemble that averages several, and how
the ensemble is run on many windows at once.

The modules know shapes, not data: :mod:`taiex.models.lstm_training` builds them from the shapes of
the training arrays, and :class:`taiex.models.lstm.GapLevelForecaster` wraps them for users.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from taiex.frames import FloatArray

# Every inference forward pass gets exactly this many windows (see LSTMEnsemble.forecast).
PREDICT_BATCH = 512


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
    """The mean of ``members`` :class:`LSTMNetwork` outputs: ``(batch, window, n_features)`` to
    ``(batch, horizons)``."""

    def __init__(self, members: Sequence[LSTMNetwork]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @classmethod
    def of_shape(
        cls,
        size: int,
        *,
        n_features: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        horizons: int,
    ) -> LSTMEnsemble:
        """An untrained ensemble of ``size`` :class:`LSTMNetwork` of that shape, to load a state
        dict into."""
        shape = (n_features, hidden_size, num_layers, dropout, horizons)
        return cls([LSTMNetwork(*shape) for _ in range(size)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)

    def forecast(self, x: FloatArray, threads: int) -> FloatArray:
        """``z`` of windows ``x`` ``(m, window, n_features)``: shape ``(m, horizons)``, float64.

        Run on CPU with ``threads`` threads, every forward pass on exactly :data:`PREDICT_BATCH`
        windows (the last one padded with zeros): CPU matrix kernels sum in another order for
        another batch size, and a window's forecast must not depend on which other windows were
        asked for in the same call.
        """
        m = len(x)
        padded = np.zeros((-(-m // PREDICT_BATCH) * PREDICT_BATCH, *x.shape[1:]))
        padded[:m] = x
        inputs = torch.from_numpy(padded).float()
        with fixed_threads(threads), torch.inference_mode():
            outputs = [self(chunk) for chunk in torch.split(inputs, PREDICT_BATCH)]
        z: FloatArray = torch.cat(outputs).double().numpy()[:m]
        return z


@contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """A fixed thread count, restored after: inference needs no seed nor deterministic flag
    (no dropout in eval mode, and CPU kernels are deterministic), and switching that flag on
    costs a second the first time in a process, which the daily run would pay for nothing."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
