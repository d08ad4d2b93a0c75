"""Which level should the forecast stand on? The level rules of issue 10, compared in a minute.

The forecaster's centre is ``close[t] * exp(level[t])`` plus the kept share of the network's
correction, and in most period fits of ``bench/regimes.py`` the kept share is 0 at every horizon:
there the forecast is the level alone. So a level rule can be judged without training a network:
this script scores ``close[t] * exp(level[t])`` on the same periods and pairs as ``regimes.py``
(every origin of the period, targets inside it) against naive and the drift random walk, for:

- ``gap 500``: the median of the last 500 overnight gaps, soft-thresholded (the model of 6010683);
- ``gap 1000``: the same over 1,000 gaps (the model now);
- ``gap 1000, check N``: and zero while the median of the last N gaps has the other sign. Tried
  for 2022-23, the one period whose gaps turned negative, and not kept: its Diebold-Mariano t
  there swings with N, from below 1 to above 2, and it costs on the tuning periods;
- ``gap 1000 + drift``: the gap level plus (h - 1) times a soft-thresholded 1,000-day median
  close-to-close return, itself zero while the last 60 returns' mean has the other sign: an
  earned drift, the one way found to reach the drift random walk's average (not built: it bets on
  the market's direction, which the issue asks the forecast not to do without evidence, and on a
  driftless random walk it moves the forecast off naive; see BENCHMARKS.md).

Per rule: the mean ratio to naive per horizon over the tuning periods and over all 12 (the design
period in neither), and the three largest Diebold-Mariano t (positive = worse than naive). Then,
per period, the mean daily close-to-close return of its training years and its t: what the drift
random walk adds at h2-h5 beyond the gap, and whether the data earned it.

    python bench/gap_levels.py        # about a minute
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regimes import (
    AVERAGED,
    HORIZONS,
    PERIODS,
    Period,
    drift_forecast,
    pairs_frame,
    period_rows,
    real_history,
    score,
)
from taiex.frames import Prices
from taiex.models.gap_level import gap_level, overnight_gaps, thresholded_median

Level = Callable[[Prices], np.ndarray]  # (n,) or (n, horizons) log offsets from the close


def _checked(check_span: int) -> Level:
    """The 1,000-gap level, zero while the median of the last ``check_span`` gaps disagrees."""

    def level(prices: Prices) -> np.ndarray:
        slow = gap_level(prices, 1000)
        gaps = pd.Series(np.r_[np.nan, overnight_gaps(prices)])
        recent = gaps.rolling(check_span, min_periods=1).median().to_numpy()
        checked: np.ndarray = np.where(np.sign(recent) == np.sign(slow), slow, 0.0)
        return checked

    return level


def _earned_drift(prices: Prices) -> np.ndarray:
    returns = pd.Series(np.r_[np.nan, np.diff(np.log(prices.close))])
    drift = thresholded_median(returns, 1000, 1.0)  # the gap level's estimator, on returns
    recent = returns.rolling(60, min_periods=1).mean().to_numpy()
    drift = np.where(np.sign(recent) == np.sign(drift), drift, 0.0)
    steps = np.arange(HORIZONS)[None, :]
    with_drift: np.ndarray = gap_level(prices, 1000)[:, None] + steps * drift[:, None]
    return with_drift


RULES: dict[str, Level] = {
    "gap 500": lambda p: gap_level(p, 500),
    "gap 1000": lambda p: gap_level(p, 1000),
    **{f"gap 1000, check {n}": _checked(n) for n in (30, 40, 50, 60, 70, 80, 90, 100, 120)},
    "gap 1000 + drift": _earned_drift,
}


def period_pairs(history: pd.DataFrame, period: Period, level: Level) -> pd.DataFrame:
    """The rule's and the drift RW's forecasts on the period's pairs, as ``regimes.score`` reads
    them."""
    part, prices, n_train, origins = period_rows(history, period)
    offsets = level(prices)
    offsets = offsets if offsets.ndim == 2 else np.repeat(offsets[:, None], HORIZONS, axis=1)
    columns = {
        "rule:forecast": prices.close[origins, None] * np.exp(offsets[origins]),
        "drift RW:forecast": drift_forecast(part, n_train, origins),
    }
    return pairs_frame(part, origins, columns)


def _print_rows(
    name: str, figures: dict[str, dict[str, float]], tuning: list[str], *, worst: bool
) -> None:
    """Two table rows for one contender: its mean ratios over the tuning periods and over all,
    and (``worst``) its three largest Diebold-Mariano t."""
    hs = range(1, HORIZONS + 1)
    largest = sorted(((f[f"dm_h{h}"], k, h) for k, f in figures.items() for h in hs), reverse=True)
    worst_text = ", ".join(f"{t:+.2f} ({k} h{h})" for t, k, h in largest[:3]) if worst else ""
    for label, names in (("tuning", tuning), ("all 12", list(figures))):
        cells = " | ".join(f"{np.mean([figures[k][f'ratio_h{h}'] for k in names]):.4f}" for h in hs)
        print(f"| {name} | {label} | {cells} | {worst_text if label == 'all 12' else ''} |")


def main() -> int:
    history = real_history()
    if history is None:
        return 0
    periods = AVERAGED
    tuning = [p.name for p in periods if p.role == "tuning"]
    header = " | ".join(f"h{h}" for h in range(1, HORIZONS + 1))
    print(f"| level | periods | mean ratio {header} | largest DM t |")
    print("|---|---|" + "---|" * (HORIZONS + 1))
    drift: dict[str, dict[str, float]] = {}
    for name, level in RULES.items():
        pairs = {p.name: period_pairs(history, p, level) for p in periods}
        _print_rows(name, {k: score(v, "rule") for k, v in pairs.items()}, tuning, worst=True)
        # The drift RW does not depend on the rule: scored once, on the first rule's pairs.
        drift = drift or {k: score(v, "drift RW") for k, v in pairs.items()}
    _print_rows("drift RW", drift, tuning, worst=False)
    print()
    print(training_drifts(history, list(PERIODS)))
    return 0


def training_drifts(history: pd.DataFrame, periods: list[Period]) -> str:
    """Per period, what the drift RW adds to the gap at h5: the training years' mean daily
    close-to-close log return, and its t statistic (is it a drift the data earned?)."""
    lines = [
        "| period | training days | mean daily close-to-close | annualised | t |",
        "|---|---|---|---|---|",
    ]
    log_close = np.log(history["close"].to_numpy())
    for period in periods:
        n_train = int((history["date"] < pd.Timestamp(period.start)).sum())
        returns = np.diff(log_close[:n_train])
        t = returns.mean() / (returns.std(ddof=1) / np.sqrt(len(returns)))
        lines.append(
            f"| {period.name} | {n_train} | {100 * returns.mean():+.4f} % "
            f"| {250 * 100 * returns.mean():+.1f} % | {t:+.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
