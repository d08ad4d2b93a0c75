"""Benchmark the LSTM forecaster against naive and the original system's recipe.

Protocol: train on the real history up to 2024-12-31, then forecast from every origin day from
2025-01-01 to the end of the data with no retraining; sMAPE per horizon on the rows whose target
is in the data. Each contender runs in a fresh process so that its peak memory (getrusage
``ru_maxrss`` of that process, torch import included) is its own.

    PYTHONPATH=src python bench/forecast.py [--csv PATH] [--original-epochs 3] [--skip-original]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import multiprocessing
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from real_data import REAL_CSV

TRAIN_UNTIL = dt.date(2024, 12, 31)
TEST_START = dt.date(2025, 1, 1)
WINDOW, HORIZONS = 60, 5


@dataclass
class Outcome:
    """One contender's per-horizon summary and costs."""

    name: str
    summary: pd.DataFrame  # horizon, smape_model, smape_naive, ratio, coverage_80, coverage_95
    train_seconds: float
    predict_seconds: float
    peak_rss_mb: float
    note: str = ""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_lstm(csv: Path) -> Outcome:
    """The taiex LSTM with its default config, through ``backtest``."""
    from taiex.models.backtest import backtest_lstm as backtest
    from taiex.models.lstm import LSTMConfig

    history = pd.read_csv(csv, parse_dates=["date"])
    started = time.perf_counter()
    result = backtest(history, train_until=TRAIN_UNTIL, start=TEST_START, config=LSTMConfig())
    total = time.perf_counter() - started
    fit = result.model.fit_seconds_
    model = result.model
    note = f"{len(model.epochs_run_)} nets, epochs {model.epochs_run_} (best {model.best_epochs_})"
    return Outcome("taiex LSTM", result.summary, fit, total - fit, _peak_rss_mb(), note)


def run_original(csv: Path, epochs: int) -> Outcome:
    """The original recipe: univariate open, MinMaxScaler on the training range, 2 x 602 LSTM,
    one step ahead, applied recursively for 5 steps."""
    import torch
    from sklearn.preprocessing import MinMaxScaler
    from torch import nn

    from taiex.metrics import smape

    torch.manual_seed(0)
    torch.set_num_threads(2)
    history = pd.read_csv(csv, parse_dates=["date"])
    opens = history["open"].to_numpy(dtype=np.float64)
    n_train = int((history["date"] <= pd.Timestamp(TRAIN_UNTIL)).sum())
    scaler = MinMaxScaler().fit(opens[:n_train, None])
    scaled = scaler.transform(opens[:, None])[:, 0].astype(np.float32)

    class Original(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(1, 602, 2, batch_first=True)
            self.out = nn.Linear(602, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.lstm(x)[0][:, -1, :])

    ends = np.arange(WINDOW - 1, n_train - 1)  # window ends; target is the next open
    x = torch.from_numpy(np.stack([scaled[e - WINDOW + 1 : e + 1] for e in ends]))[:, :, None]
    y = torch.from_numpy(scaled[ends + 1])[:, None]
    model = Original()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x)).split(32):  # Keras' default batch size
            loss = nn.functional.mse_loss(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    dates = history["date"].to_numpy()
    origins = np.flatnonzero(dates >= np.datetime64(TEST_START))
    window = torch.from_numpy(np.stack([scaled[o - WINDOW + 1 : o + 1] for o in origins]))
    window = window[:, :, None]
    steps = []
    model.eval()
    with torch.no_grad():
        for _ in range(HORIZONS):  # recursive: each forecast becomes the next input
            step = model(window)
            steps.append(step[:, 0].numpy())
            window = torch.cat([window[:, 1:, :], step[:, None, :]], dim=1)
    forecast = scaler.inverse_transform(np.stack(steps, axis=1).reshape(-1, 1))
    forecast = forecast.reshape(len(origins), HORIZONS)
    predict_seconds = time.perf_counter() - started

    records = []
    closes = history["close"].to_numpy()
    for h in range(1, HORIZONS + 1):
        keep = origins + h < len(history)
        actual = opens[origins[keep] + h]
        model_s = smape(forecast[keep, h - 1], actual)
        naive_s = smape(closes[origins[keep]], actual)
        records.append((h, model_s, naive_s, model_s / naive_s, np.nan, np.nan, int(keep.sum())))
    columns = ["horizon", "smape_model", "smape_naive", "ratio", "coverage_80", "coverage_95", "n"]
    summary = pd.DataFrame.from_records(records, columns=columns)
    note = f"{epochs} epochs, {train_seconds / epochs:.0f} s each"
    return Outcome("original recipe", summary, train_seconds, predict_seconds, _peak_rss_mb(), note)


def import_baseline_mb() -> float:
    """Peak RSS of a process that only imports what the contenders import."""
    import sklearn.preprocessing  # noqa: F401
    import torch  # noqa: F401

    import taiex.models.lstm  # noqa: F401

    return _peak_rss_mb()


def _in_fresh_process(function: object, *args: object) -> Any:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()  # type: ignore[arg-type]


def naive_outcome(lstm: Outcome) -> Outcome:
    summary = lstm.summary.copy()
    summary["smape_model"] = summary["smape_naive"]
    summary["ratio"] = 1.0
    summary[["coverage_80", "coverage_95"]] = np.nan
    return Outcome("naive (last close)", summary, 0.0, 0.0, float("nan"))


def table(outcomes: list[Outcome]) -> str:
    """A Markdown table: sMAPE and ratio per horizon, coverage per horizon, costs."""
    hs = range(1, HORIZONS + 1)
    costs = ["cover 80 % h1-h5", "cover 95 % h1-h5", "train s", "peak RSS MB", "notes"]
    head = ["model", *(f"sMAPE h{h}" for h in hs), *(f"ratio h{h}" for h in hs), *costs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in outcomes:
        s = o.summary.set_index("horizon")
        cells = [o.name]
        cells += [f"{s.loc[h, 'smape_model']:.3f}" for h in hs]
        cells += [f"{s.loc[h, 'ratio']:.3f}" for h in hs]
        for column in ("coverage_80", "coverage_95"):
            values = s[column]
            cells.append("—" if values.isna().all() else "/".join(f"{v:.1f}" for v in values))
        cells.append(f"{o.train_seconds:.1f}")
        cells.append("—" if np.isnan(o.peak_rss_mb) else f"{o.peak_rss_mb:.0f}")
        cells.append(o.note)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL_CSV)
    parser.add_argument("--original-epochs", type=int, default=3)
    parser.add_argument("--skip-original", action="store_true")
    args = parser.parse_args(argv)
    if not args.csv.exists():
        print(f"skipped: the real history is not at {args.csv}")
        return 0
    lstm = _in_fresh_process(run_lstm, args.csv)
    outcomes = [lstm, naive_outcome(lstm)]
    if not args.skip_original:
        outcomes.append(_in_fresh_process(run_original, args.csv, args.original_epochs))
    n = int(lstm.summary["n"].iloc[0])
    print(f"train <= {TRAIN_UNTIL}, origins >= {TEST_START}, {n} scored origins at h1")
    print(table(outcomes))
    print(f"taiex LSTM: forecasts for every origin took {lstm.predict_seconds:.2f} s")
    baseline = _in_fresh_process(import_baseline_mb)
    print(f"peak RSS of a process that only imports torch, sklearn and taiex: {baseline:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
