"""Which variance filter should the band stand on? Band rules of issue 10, compared in minutes.

The forecaster's band is centred on the gap level, not on the network's correction
(``GapLevelForecaster._levels_and_bands``), so a band rule can be judged without training a network:
this script builds the band of ``models/intervals.py`` (signed conformal quantiles of the last
900 known outcomes over a variance filter) with other filters, on the same periods and pairs as
``regimes.py``, beside the GARCH band, for:

- ``now``: the filter as served (reaction 0.15, persistence 0.995; each day's range-based
  variance plus 0.75 times the daily variance of the fall of the last 5 sessions);
- ``before``: the filter until issue 10's fourth round (the daily variance alone); the rules
  below up to ``rise 0.4 / decay 0.1`` are variations of it (the third round's);
- ``leverage w``: a day whose close fell feeds the filter ``w`` times its variance (the leverage
  effect of GJR-GARCH), and the long-run variance is the training mean of the weighted variance;
- ``rise a / decay b``: reaction ``a`` when the day's variance is above the filter, ``b`` below
  (widen fast, narrow slowly);
- ``falls over k days, weight c``: the served shape with other k and c (the fourth round's grid;
  ``now`` is the smallest weight that holds 75 % in both tuning crash windows at the best k);
- ``rises and falls``: the same term fed by rises too.

Per rule: the 80 % and 95 % coverage of the three crash windows, the range of pooled coverage
over the 12 periods, the mean interval score over the tuning and the held-out periods, and the
period-levels where GARCH's score is lower (with its DM t). See BENCHMARKS.md.

    python bench/band_rules.py        # about 30 s
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regimes import (
    AVERAGED,
    CRASHES,
    GARCH,
    HORIZONS,
    LEVELS,
    Period,
    garch_band,
    long_values,
    pairs_frame,
    period_rows,
    real_history,
    score,
)
from taiex.frames import INTERVAL_LEVELS, Prices
from taiex.models.gap_level import gap_level
from taiex.models.intervals import (
    BandConfig,
    adaptive_bounds,
    conformal_scores,
    daily_variance,
    horizon_scale,
    long_run_variance,
)
from taiex.windows import MIN_VOLATILITY

SERVED = BandConfig()


@dataclass(frozen=True)
class Filter:
    """A variance filter: reaction ``rise`` above the filter and ``decay`` below it, a falling
    day's variance weighted by ``leverage``, plus ``fall_weight`` times the daily variance of the
    fall over ``fall_days`` sessions (of the move either way with ``rises_too``)."""

    rise: float = SERVED.reaction
    decay: float = SERVED.reaction
    leverage: float = 1.0
    fall_days: int = SERVED.fall_days
    fall_weight: float = SERVED.fall_weight
    rises_too: bool = False

    def scale(self, prices: Prices, n_train: int) -> np.ndarray:
        """``S[t, h-1]`` as :func:`~taiex.models.intervals.horizon_scale` builds it."""
        fell = np.r_[False, np.diff(prices.close) < 0]
        x = daily_variance(prices) * np.where(fell, self.leverage, 1.0)
        k = self.fall_days
        log_close = np.log(prices.close)
        moved = np.r_[np.zeros(k), log_close[k:] - log_close[:-k]]
        trend = moved if self.rises_too else np.minimum(moved, 0.0)
        x = x + self.fall_weight * trend**2 / k
        v_long = max(float(x[:n_train].mean()), MIN_VOLATILITY**2)
        p = SERVED.persistence
        v_next, v = np.empty(len(x)), v_long
        for t, x_t in enumerate(x):
            a = self.rise if x_t > v else self.decay
            v = (1.0 - p) * v_long + a * x_t + (p - a) * v
            v_next[t] = v
        steps = np.array([v_long + p**j * (v_next - v_long) for j in range(HORIZONS)])
        scale: np.ndarray = np.sqrt(np.maximum(np.cumsum(steps, axis=0).T, MIN_VOLATILITY**2))
        return scale


BEFORE = 0.0  # the falling-trend weight before issue 10's fourth round: daily variance alone
RULES = {
    "now": Filter(),
    "before (no fall term)": Filter(fall_weight=BEFORE),
    "leverage 1.5": Filter(leverage=1.5, fall_weight=BEFORE),
    "leverage 2": Filter(leverage=2.0, fall_weight=BEFORE),
    "leverage 2.5": Filter(leverage=2.5, fall_weight=BEFORE),
    "leverage 2, reaction 0.1": Filter(0.1, 0.1, 2.0, fall_weight=BEFORE),
    "leverage 2, reaction 0.2": Filter(0.2, 0.2, 2.0, fall_weight=BEFORE),
    "rise 0.3 / decay 0.1": Filter(0.3, 0.1, fall_weight=BEFORE),
    "rise 0.3 / decay 0.15": Filter(0.3, 0.15, fall_weight=BEFORE),
    "rise 0.4 / decay 0.1": Filter(0.4, 0.1, fall_weight=BEFORE),
    **{
        f"falls over {k} days, weight {c:g}": Filter(fall_days=k, fall_weight=c)
        for k in (5, 10, 15, 20)
        for c in (0.25, 0.5, 0.75, 1.0)
    },
    "rises and falls over 5 days, weight 0.75": Filter(rises_too=True),
    "rises and falls over 10 days, weight 1": Filter(fall_days=10, fall_weight=1.0, rises_too=True),
}


Built = tuple[Prices, int, np.ndarray, pd.DataFrame]


def period_pairs(history: pd.DataFrame, period: Period) -> Built:
    """The period's prices, first origin row, origins, and its pairs with the GARCH band."""
    part, prices, n_train, origins = period_rows(history, period)
    # score() reads a point forecast per contender; the bands are what is compared here.
    naive = np.repeat(prices.close[origins, None], HORIZONS, axis=1)
    columns = {"rule:forecast": naive, f"{GARCH}:forecast": naive}
    columns |= {f"{GARCH}:{c}": v for c, v in garch_band(part, n_train, origins).items()}
    return prices, n_train, origins, pairs_frame(part, origins, columns)


def with_band(prices: Prices, n_train: int, origins: np.ndarray, pairs: pd.DataFrame,
              rule: Filter) -> pd.DataFrame:  # fmt: skip
    """``pairs`` with the rule's band as ``rule:lower_80`` ... (the served method around it)."""
    level = gap_level(prices)
    scale = rule.scale(prices, n_train)
    scores = conformal_scores(prices, level, scale)
    bounds = adaptive_bounds(scores, origins, SERVED.pool, np.zeros((2, 2, HORIZONS)))
    base = np.log(prices.close[origins]) + level[origins]
    out = pairs.copy()
    for k, level_ in enumerate(INTERVAL_LEVELS):
        pct = round(100 * level_)
        for j, side in enumerate(("lower", "upper")):
            band = np.exp(base[:, None] + bounds[k, j] * scale[origins])  # (m, H)
            out[f"rule:{side}_{pct}"] = long_values(band, origins, len(prices))
    return out


def check_now_is_served(prices: Prices, n_train: int) -> None:
    """The ``now`` rule must be the served filter, or every row below compares the wrong thing."""
    training = Prices(prices.dates[:n_train], prices.ohlc[:n_train])
    served = horizon_scale(prices, HORIZONS, long_run_variance(training), SERVED)
    np.testing.assert_allclose(RULES["now"].scale(prices, n_train), served, rtol=1e-12)


def summary(name: str, scored: dict[str, dict[str, float]], roles: dict[str, str]) -> str:
    periods = [k for k in roles if not k.startswith("crash")]
    crash = ", ".join(
        f"{scored[c[0]]['cover_80']:.1f} / {scored[c[0]]['cover_95']:.1f}" for c in CRASHES
    )
    cover = " / ".join(
        f"{min(scored[k][f'cover_{p}'] for k in periods):.1f}–"
        f"{max(scored[k][f'cover_{p}'] for k in periods):.1f}"
        for p in LEVELS
    )
    means = [
        " / ".join(
            f"{np.mean([scored[k][f'score_{p}'] for k in periods if roles[k] == r]):.3f}"
            for p in LEVELS
        )
        for r in ("tuning", "held-out")
    ]
    lower = [
        f"{k} {p} (t {scored[k][f'score_dm_{p}']:+.2f})"
        for k in periods
        for p in LEVELS
        if scored[k][f"score_{p}"] >= scored[k][f"garch_{p}"]
    ]
    return f"| {name} | {crash} | {cover} | {means[0]} | {means[1]} | {', '.join(lower)} |"


def main() -> int:
    history = real_history()
    if history is None:
        return 0
    periods = AVERAGED
    roles = {p.name: p.role for p in periods}
    built = {p.name: period_pairs(history, p) for p in periods}
    check_now_is_served(*built["2020-21"][:2])
    print("| rule | crash 2011, 2015, 2020 at 80 / 95 % | coverage range 80 / 95 % "
          "| mean score 80 / 95, tuning | held-out | GARCH's score lower in (DM t) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, rule in RULES.items():
        scored: dict[str, dict[str, float]] = {}
        for period, (prices, n_train, origins, pairs) in built.items():
            banded = with_band(prices, n_train, origins, pairs, rule)
            scored[period] = _score(banded)
            for crash, first, last, home in CRASHES:
                if home == period:
                    when = pd.to_datetime(banded["origin_date"])
                    inside = (when >= pd.Timestamp(first)) & (when <= pd.Timestamp(last))
                    scored[crash] = _score(banded[inside])
        print(summary(name, scored, roles), flush=True)
    return 0


def _score(pairs: pd.DataFrame) -> dict[str, float]:
    figures = score(pairs, "rule")
    garch = score(pairs, GARCH)
    return figures | {f"garch_{p}": garch[f"score_{p}"] for p in LEVELS}


if __name__ == "__main__":
    sys.exit(main())
