"""Series the tests generate, and the real history (tests/data)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

# The real data is the repository's own test data (sources in tests/data/SOURCES.md).
REAL_DATA = Path(__file__).resolve().parent / "data"
REAL_CSV = REAL_DATA / "taiex_daily.csv"
TWSE_SAMPLES = REAL_DATA / "twse_samples"


# Tiny models for tests of the wiring (the daily job, the DAG, monitoring), not of the forecasts:
# the `config.toml` of a test's TAIEX_HOME, also parsed into Settings by TINY_SETTINGS.
TINY_CONFIG = """\
[lstm]
max_epochs = 2
hidden_size = 4
patience = 1
ensemble = 1

[classifier]
candidates = ["logistic_regression"]
grids = { logistic_regression = { C = [1.0] } }

[preopen_classifier]
candidates = ["logistic_regression"]
grids = { logistic_regression = { C = [1.0] } }
"""
TINY_MODELS = tomllib.loads(TINY_CONFIG)


def synthetic_history(
    n: int = 400, start: str = "2020-01-02", seed: int = 0, level: float = 10_000.0
) -> pd.DataFrame:
    """A plausible daily OHLC series on business days, 2 decimals, low <= open, close <= high.

    Columns: date (datetime64), open, high, low, close (float64).
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    close = level * np.exp(np.cumsum(rng.normal(0.0003, 0.011, n)))
    prev = np.concatenate([[level], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    frame = pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close})
    cols = ["open", "high", "low", "close"]
    frame[cols] = frame[cols].round(2)
    # Rounding can break the ordering by a cent; restore it.
    frame["high"] = frame[cols].max(axis=1)
    frame["low"] = frame[cols].min(axis=1)
    return frame


def regime_history(
    n: int,
    *,
    jump_at: int | None = None,
    factor: float = 3.0,
    gap_mean: float | np.ndarray = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A driftless OHLC random walk on business days: daily volatility 1 % (times ``factor``
    from row ``jump_at``), overnight gaps of a third of it around ``gap_mean`` (one number, or
    one per row; the close-to-close return stays driftless), highs and lows a little beyond the
    open and the close."""
    rng = np.random.default_rng(seed)
    sigma = np.full(n, 0.01)
    if jump_at is not None:
        sigma[jump_at:] *= factor
    gap = gap_mean + rng.normal(0.0, 1.0, n) * sigma / 3.0
    intraday = rng.normal(0.0, 1.0, n) * sigma * 0.94 - gap_mean
    return ohlc_of_moves(gap, intraday, sigma, rng)


def ohlc_of_moves(
    gap: np.ndarray, intraday: np.ndarray, sigma: float | np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Daily OHLC on business days from 2001-01-02, from 10,000: each day opens ``gap`` (log)
    from the close before and closes ``intraday`` from its open; highs and lows a little beyond
    the open and the close (``sigma``: the daily volatility, one number or one per row)."""
    n = len(gap)
    log_close = np.cumsum(gap + intraday) + np.log(10_000.0)
    log_open = np.concatenate([[np.log(10_000.0)], log_close[:-1]]) + gap
    top = np.maximum(log_open, log_close) + np.abs(rng.normal(0.0, 0.4, n)) * sigma
    bottom = np.minimum(log_open, log_close) - np.abs(rng.normal(0.0, 0.4, n)) * sigma
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2001-01-02", periods=n),
            "open": np.exp(log_open),
            "high": np.exp(top),
            "low": np.exp(bottom),
            "close": np.exp(log_close),
        }
    )


def real_history() -> pd.DataFrame:
    """The real TAIEX history, 1999-01-05 … 2026-08-18."""
    return pd.read_csv(REAL_CSV, parse_dates=["date"])
