"""The forecaster in every market regime: one table per two-year period, then crashes and averages.

For each period the LSTM is trained on every day before it (``backtest(train_until=day before the
period)``) and forecasts from every origin day of the period with no retraining; only pairs whose
target falls inside the period are scored. Beside it, on the same pairs:

- **naive**: every horizon's open = the origin's close.
- **drift RW**: close[t] * exp(mean over training of log(open[t+h] / close[t])), per horizon.
- **GARCH band**: naive, with a band from a GARCH(1,1) (``arch``, zero mean, normal QMLE) fitted
  once at the period start on every daily close-to-close log return before it; its filter is then
  updated every day with the fitted parameters (the variance forecast from origin t uses returns up
  to t only). The h-step variance is the sum of the 1..h-step variance forecasts; the band is
  +-q * sqrt(that) in log space, q the split-conformal quantile of |log(open[t+h] / close[t])| /
  sqrt(variance) over the last 1,000 training origins (so the band is calibrated to the target, an
  open, as the LSTM's own band is).
- **static band**: naive, with the 2.5/10/90/97.5 % quantiles of log(open[t+h] / close[t]) over
  every training origin as a fixed band.

Figures: sMAPE (percent) and ratio to naive per horizon; the Diebold-Mariano t of the per-pair
sMAPE differences against naive (Newey-West variance with lag h; positive = worse than naive);
coverage (%) and mean interval (Winkler) score of the 80 % and 95 % bands pooled over the horizons,
the score in percent of the origin's close (so periods at 5,000 and at 25,000 points weigh alike).

Periods ("every two-year period from 2003 on", trained on all days before each):
tuning   2004-05, 2006-07, 2010-11, 2012-13, 2016-17, 2018-19, 2020-21 (design choices were made on
         these);
held out 2003 (one year: 1999-2002 are needed to train), 2008-09, 2014-15, 2022-23 and
         2024-01 ... 2026-08 (the last, 32 months);
design   2025-01 ... 2026-08, the original test period (the first model was designed on it).
Crash windows (origins inside them, scored from their period's run): 2011-08-01 ... 2011-10-31
(tuning), 2015-08-01 ... 2015-09-30 (held out), 2020-02-20 ... 2020-04-30 (tuning).

    nice -n 10 python bench/regimes.py [--quick] [--periods 2010-11,2020-21] [--out-csv PATH]
        [--pairs-dir DIR] [--fit-time]

Each period is one fit (5-70 s of CPU here, more wall time on a loaded machine); periods run in
sequence. Needs the ``bench`` extra (``arch``); reads the real history in ``tests/data`` (or
``--csv``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from real_data import REAL_CSV
from taiex.frames import Prices, check_history
from taiex.metrics import coverage, diebold_mariano, interval_scores, smape_terms
from taiex.models.lstm import GapLevelForecaster

HORIZONS = 5
LEVELS = (80, 95)
GARCH_CALIBRATION_ORIGINS = 1000
DM_T_MAX = 1.0


@dataclass(frozen=True)
class Period:
    name: str
    start: dt.date
    end: dt.date
    role: str  # tuning, held-out, design


def _two_years(first: int, role: str) -> Period:
    return Period(
        f"{first}-{str(first + 1)[2:]}", dt.date(first, 1, 1), dt.date(first + 1, 12, 31), role
    )


PERIODS = [
    Period("2003", dt.date(2003, 1, 1), dt.date(2003, 12, 31), "held-out"),
    *(_two_years(y, "tuning") for y in (2004, 2006)),
    _two_years(2008, "held-out"),
    *(_two_years(y, "tuning") for y in (2010, 2012)),
    _two_years(2014, "held-out"),
    *(_two_years(y, "tuning") for y in (2016, 2018, 2020)),
    _two_years(2022, "held-out"),
    Period("2024-26", dt.date(2024, 1, 1), dt.date(2026, 8, 31), "held-out"),
    Period("2025-26", dt.date(2025, 1, 1), dt.date(2026, 8, 31), "design"),
]
AVERAGED = [p for p in PERIODS if p.role != "design"]  # the design period is in no average
QUICK = ("2010-11", "2020-21")
CRASHES = [
    ("crash 2011-08..10", dt.date(2011, 8, 1), dt.date(2011, 10, 31), "2010-11"),
    ("crash 2015-08..09", dt.date(2015, 8, 1), dt.date(2015, 9, 30), "2014-15"),
    ("crash 2020-02..04", dt.date(2020, 2, 20), dt.date(2020, 4, 30), "2020-21"),
]
BAND_COLUMNS = [f"{side}_{pct}" for pct in LEVELS for side in ("lower", "upper")]
GARCH = "GARCH band"


# ------------------------------------------------------------------------ contenders


@dataclass(frozen=True)
class Run:
    """One period's pairs: ``pairs`` has origin_date, horizon, target_date, naive, actual and,
    per contender, ``<name>:forecast`` and its band columns (NaN when it has none)."""

    period: Period
    pairs: pd.DataFrame
    contenders: list[str]
    fit_seconds: float
    fit_cpu_seconds: float
    note: str


def _log_targets(history: pd.DataFrame, horizons: int = HORIZONS) -> np.ndarray:
    """log(open[t+h] / close[t]) per row t, shape (n, horizons), NaN past the end."""
    close = np.log(history["close"].to_numpy())
    opens = np.log(history["open"].to_numpy())
    n = len(history)
    y = np.full((n, horizons), np.nan)
    for h in range(1, horizons + 1):
        y[: n - h, h - 1] = opens[h:] - close[: n - h]
    return y


def lstm_contender(history: pd.DataFrame, period: Period) -> tuple[pd.DataFrame, float, float, str]:
    """The taiex LSTM through its own backtest: rows, fit wall and CPU seconds, a note."""
    from taiex.models.backtest import backtest_lstm

    train_until = period.start - dt.timedelta(days=1)
    cpu = time.process_time()
    result = backtest_lstm(history, train_until=train_until, start=period.start, end=period.end)
    cpu = time.process_time() - cpu  # fit + forecasts; the forecasts take about a second
    model = result.model
    note = f"epochs {model.epochs_run_} (best {model.best_epochs_}), {share_note(model)}"
    return result.rows, model.fit_seconds_, cpu, note


def share_note(model: GapLevelForecaster, draws: int = 1000) -> str:
    """The shares kept, the best share's pooled ratio to the gap level per horizon on the share
    blocks, and how often the same shares come out when every block score is wobbled by ±1 %."""
    from taiex.models.lstm_training import pick_shares

    lambdas = "/".join(f"{v:g}" for v in model.lambdas_)
    shares = model.shares_
    if shares is None:
        return f"correction kept {lambdas}"
    best = "/".join(f"{v:.3f}" for v in shares.ratios[1:].min(axis=0))
    rng = np.random.default_rng(0)
    same = sum(
        np.array_equal(
            pick_shares(shares.scores * rng.uniform(0.99, 1.01, shares.scores.shape), shares.sizes),
            shares.lambdas,
        )
        for _ in range(draws)
    )
    return (
        f"correction kept {lambdas} (best share's ratio to the gap level {best}; "
        f"the same shares in {100 * same / draws:.1f} % of ±1 % wobbles)"
    )


def served_offsets(model: GapLevelForecaster, history: pd.DataFrame, origins: int = 250) -> str:
    """The fit's forecast against the last close over the last ``origins`` origins of
    ``history``, per horizon: its mean offset (percent), and the gap level's alone."""
    from taiex.models.gap_level import gap_level

    cfg = model.config
    days = list(history["date"].iloc[-origins:].dt.date)
    rows = model.predict_origins(history, days)
    offset = (rows["forecast"] / rows["naive"] - 1.0).groupby(rows["horizon"]).mean() * 100
    level = gap_level(check_history(history), cfg.gap_span, cfg.gap_shrink)[-origins:]
    level_offset = float(np.mean(np.expm1(level)) * 100)
    by_h = "/".join(f"{v:+.3f}" for v in offset)
    return (
        f"mean offset from the last close over the last {origins} origins, h1..h5: {by_h} %; "
        f"the gap level's alone: {level_offset:+.3f} %"
    )


def drift_forecast(history: pd.DataFrame, n_train: int, origins: np.ndarray) -> np.ndarray:
    """close[t] * exp(training mean of log(open[t+h] / close[t])), shape (m, horizons)."""
    y = _log_targets(history.iloc[:n_train])
    drift = np.nanmean(y, axis=0)
    close = history["close"].to_numpy()[origins]
    return close[:, None] * np.exp(drift[None, :])


def static_band(history: pd.DataFrame, n_train: int, origins: np.ndarray) -> dict[str, np.ndarray]:
    """Fixed quantiles of the training log-targets, around each origin's close."""
    y = _log_targets(history.iloc[:n_train])
    close = history["close"].to_numpy()[origins][:, None]
    bands = {}
    for pct in LEVELS:
        tail = (100 - pct) / 200
        lo, hi = np.nanquantile(y, tail, axis=0), np.nanquantile(y, 1 - tail, axis=0)
        bands[f"lower_{pct}"] = close * np.exp(lo[None, :])
        bands[f"upper_{pct}"] = close * np.exp(hi[None, :])
    return bands


def garch_band(history: pd.DataFrame, n_train: int, origins: np.ndarray) -> dict[str, np.ndarray]:
    """A GARCH(1,1) band around naive (see the module docstring), shape (m, horizons) each."""
    from arch import arch_model

    close = np.log(history["close"].to_numpy())
    returns = 100.0 * np.diff(close)  # returns[k] = close k -> k+1, known at row k+1
    model = arch_model(returns, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    fitted = model.fit(last_obs=n_train - 1, disp="off")  # returns up to the last training row
    # Variance forecasts from every row k (data up to row k), with the training parameters.
    forecast = fitted.forecast(horizon=HORIZONS, start=0, reindex=True, method="analytic")
    variance = forecast.variance.to_numpy()  # row j: returns[:j+1] known, i.e. close up to row j+1
    cumulative = np.full((len(history), HORIZONS), np.nan)
    cumulative[1:] = np.cumsum(variance, axis=1) / 1e4  # row t = return index t - 1
    scale = np.sqrt(cumulative)
    y = _log_targets(history)
    calibration = np.arange(
        max(n_train - HORIZONS - GARCH_CALIBRATION_ORIGINS, 1), n_train - HORIZONS
    )
    standardised = np.abs(y[calibration]) / scale[calibration]
    bands = {}
    base = close[origins][:, None]
    for pct in LEVELS:
        q = _conformal(standardised, pct / 100)
        bands[f"lower_{pct}"] = np.exp(base - q[None, :] * scale[origins])
        bands[f"upper_{pct}"] = np.exp(base + q[None, :] * scale[origins])
    return bands


def _conformal(residuals: np.ndarray, level: float) -> np.ndarray:
    n = len(residuals)
    rank = min(math.ceil((n + 1) * level), n)
    return np.sort(residuals, axis=0)[rank - 1]


def run_period(history: pd.DataFrame, period: Period) -> Run:
    """Fit the LSTM before ``period``, forecast its origins, and add the peers on the same pairs."""
    rows, fit_s, cpu_s, note = lstm_contender(history, period)
    rows = rows[pd.to_datetime(rows["target_date"]) <= pd.Timestamp(period.end)]
    rows = rows.dropna(subset=["actual"]).reset_index(drop=True)
    dates = history["date"].to_numpy("datetime64[ns]")
    n_train = int((dates < np.datetime64(period.start)).sum())
    origin_dates = np.sort(rows["origin_date"].unique())
    origin_index = np.searchsorted(dates, origin_dates.astype("datetime64[ns]"))
    pairs = rows[["origin_date", "horizon", "target_date", "naive", "actual"]].copy()
    pairs["lstm:forecast"] = rows["forecast"]
    for column in BAND_COLUMNS:
        pairs[f"lstm:{column}"] = rows[column]
    locate = _locator(origin_dates, rows)
    pairs["naive:forecast"] = rows["naive"]
    pairs["drift RW:forecast"] = locate(drift_forecast(history, n_train, origin_index))
    for name, build in ((GARCH, garch_band), ("static band", static_band)):
        pairs[f"{name}:forecast"] = rows["naive"]
        for column, values in build(history, n_train, origin_index).items():
            pairs[f"{name}:{column}"] = locate(values)
    contenders = ["lstm", "naive", "drift RW", GARCH, "static band"]
    return Run(period, pairs, contenders, fit_s, cpu_s, note)


def period_rows(
    history: pd.DataFrame, period: Period
) -> tuple[pd.DataFrame, Prices, int, np.ndarray]:
    """The history up to the period's end, checked as prices, the number of rows before the
    period (its training rows) and the period's origin rows: what a contender without a fit
    needs."""
    part = history[history["date"] <= pd.Timestamp(period.end)].reset_index(drop=True)
    n_train = int((part["date"] < pd.Timestamp(period.start)).sum())
    return part, check_history(part), n_train, np.arange(n_train, len(part))


def long_values(values: np.ndarray, origins: np.ndarray, n_rows: int) -> np.ndarray:
    """``(len(origins), HORIZONS)`` values in the order of :func:`pairs_frame`'s rows: horizon by
    horizon, the origins whose target lies within the ``n_rows`` rows."""
    return np.concatenate([values[origins + h < n_rows, h - 1] for h in range(1, HORIZONS + 1)])


def pairs_frame(
    part: pd.DataFrame, origins: np.ndarray, columns: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Pairs as :func:`score` reads them: origin_date, horizon, naive and actual, and each
    ``(len(origins), HORIZONS)`` array of ``columns``, for the origins whose target is in
    ``part``."""
    n = len(part)
    per_horizon = [origins[origins + h < n] for h in range(1, HORIZONS + 1)]  # with a target
    rows = np.concatenate(per_horizon)
    frame = {
        "origin_date": part["date"].to_numpy()[rows],
        "horizon": np.concatenate([np.full(len(o), h) for h, o in enumerate(per_horizon, 1)]),
        "naive": part["close"].to_numpy()[rows],
        "actual": np.concatenate(
            [part["open"].to_numpy()[o + h] for h, o in enumerate(per_horizon, 1)]
        ),
    }
    frame |= {name: long_values(values, origins, n) for name, values in columns.items()}
    return pd.DataFrame(frame)


def _locator(origin_dates: np.ndarray, rows: pd.DataFrame) -> Callable[[np.ndarray], np.ndarray]:
    """Pick each row's (origin, horizon) cell out of a (origins, horizons) array."""
    i = np.searchsorted(origin_dates, rows["origin_date"].to_numpy())
    j = rows["horizon"].to_numpy() - 1
    return lambda values: values[i, j]


# ------------------------------------------------------------------------ scoring


def score(pairs: pd.DataFrame, name: str) -> dict[str, float]:
    """sMAPE, ratio and DM t per horizon; pooled coverage and interval score."""
    out: dict[str, float] = {}
    for h in range(1, HORIZONS + 1):
        part = pairs[pairs["horizon"] == h].sort_values("origin_date")
        if part.empty:
            continue
        model = smape_terms(part[f"{name}:forecast"], part["actual"])
        naive = smape_terms(part["naive"], part["actual"])
        out[f"smape_h{h}"] = float(model.mean())
        out[f"ratio_h{h}"] = float(model.mean() / naive.mean())
        t = diebold_mariano(model, naive, lag=h)
        out[f"dm_h{h}"] = math.nan if t is None else t
    if f"{name}:lower_80" in pairs and pairs[f"{name}:lower_80"].notna().all():
        scale = 100.0 / pairs["naive"].to_numpy()
        actual = pairs["actual"].to_numpy() * scale

        def bounds(band: str, pct: int) -> tuple[np.ndarray, np.ndarray]:
            lower = pairs[f"{band}:lower_{pct}"].to_numpy() * scale
            return lower, pairs[f"{band}:upper_{pct}"].to_numpy() * scale

        for pct in LEVELS:
            lo, hi = bounds(name, pct)
            out[f"cover_{pct}"] = 100.0 * coverage(lo, hi, actual)
            scores = interval_scores(lo, hi, actual, pct / 100)
            out[f"score_{pct}"] = float(scores.mean())
            if name != GARCH and f"{GARCH}:lower_{pct}" in pairs:
                garch = interval_scores(*bounds(GARCH, pct), actual, pct / 100)
                origins = pairs["origin_date"].to_numpy()
                out[f"score_dm_{pct}"] = score_dm(origins, scores, garch)
    return out


def score_dm(origins: np.ndarray, scores: np.ndarray, garch_scores: np.ndarray) -> float:
    """The Diebold-Mariano t of the interval scores against the GARCH band's on the same pairs
    (positive: GARCH's are lower): per origin, the scores averaged over its horizons, in origin
    order, Newey-West variance at lag ``HORIZONS`` (an origin's targets overlap the next four's)."""

    def per_origin(values: np.ndarray) -> np.ndarray:
        return pd.Series(values).groupby(origins).mean().sort_index().to_numpy()

    t = diebold_mariano(per_origin(scores), per_origin(garch_scores), lag=HORIZONS)
    return math.nan if t is None else t


def _f(value: float | None, fmt: str) -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else format(value, fmt)
    )


def table(figures: dict[str, dict[str, float]], *, smape_cells: bool = True) -> str:
    hs = range(1, HORIZONS + 1)
    head = ["model"]
    if smape_cells:
        head += [f"sMAPE h{h}" for h in hs]
    head += [f"ratio h{h}" for h in hs] + [f"DM t h{h}" for h in hs]
    head += ["cover 80", "cover 95", "score 80", "score 95"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in figures.items():
        cells = [name]
        if smape_cells:
            cells += [_f(s.get(f"smape_h{h}"), ".3f") for h in hs]
        cells += [_f(s.get(f"ratio_h{h}"), ".3f") for h in hs]
        cells += [_f(s.get(f"dm_h{h}"), "+.2f") if name != "naive" else "—" for h in hs]
        cells += [_f(s.get(f"cover_{p}"), ".1f") for p in LEVELS]
        cells += [_f(s.get(f"score_{p}"), ".3f") for p in LEVELS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def weekly_coverage(part: pd.DataFrame, names: Sequence[str] = ("lstm", GARCH)) -> str:
    """80 % coverage per week of origins (pooled over the horizons): where in a crash window the
    misses fall."""
    week = pd.to_datetime(part["origin_date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    head = ["week from", "origins"] + [f"{name} cover 80" for name in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for start, rows in part.groupby(week):
        actual = rows["actual"].to_numpy()
        cells = [str(start), str(rows["origin_date"].nunique())]
        for name in names:
            lo, hi = rows[f"{name}:lower_80"].to_numpy(), rows[f"{name}:upper_80"].to_numpy()
            cells.append(f"{100.0 * coverage(lo, hi, actual):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def averages(scored: Scored, periods: Sequence[Period]) -> str:
    """Per contender and role: mean ratio per horizon, worst DM t, worst coverage miss, mean
    interval scores."""
    hs = range(1, HORIZONS + 1)
    head = ["model", "periods", *(f"mean ratio h{h}" for h in hs), "max DM t (where)",
            "worst cover 80", "worst cover 95", "mean score 80", "mean score 95"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    roles = [("tuning", ["tuning"]), ("held-out", ["held-out"]), ("all 12", ["tuning", "held-out"])]
    contenders = list(next(iter(scored.values())).keys())
    for name in contenders:
        for label, wanted in roles:
            chosen = [p.name for p in periods if p.role in wanted and p.name in scored]
            if not chosen:
                continue
            figs = [scored[p][name] for p in chosen]
            cells = [name, f"{label} ({len(chosen)})"]
            cells += [f"{np.mean([f[f'ratio_h{h}'] for f in figs]):.4f}" for h in hs]
            if all(math.isnan(f.get(f"dm_h{h}", math.nan)) for f in figs for h in hs):
                cells.append("—")
            else:
                worst = max(
                    (
                        (f.get(f"dm_h{h}", math.nan), p, h)
                        for f, p in zip(figs, chosen, strict=True)
                        for h in hs
                    ),
                    key=lambda item: -math.inf if math.isnan(item[0]) else item[0],
                )
                cells.append(f"{worst[0]:+.2f} ({worst[1]} h{worst[2]})")
            for pct in LEVELS:
                covers = [f.get(f"cover_{pct}", math.nan) for f in figs]
                if all(math.isnan(c) for c in covers):
                    cells.append("—")
                else:
                    k = int(np.nanargmax([abs(c - pct) for c in covers]))
                    cells.append(f"{covers[k]:.1f} ({chosen[k]})")
            for pct in LEVELS:
                cells.append(
                    _f(float(np.mean([f.get(f"score_{pct}", math.nan) for f in figs])), ".3f")
                )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


Scored = dict[str, dict[str, dict[str, float]]]  # period -> contender -> figure -> value


def _verdict(label: str, failures: list[str]) -> str:
    return f"  {label}: " + ("yes" if not failures else "NO: " + "; ".join(failures))


def goals(scored: Scored, crashes: Scored, periods: Sequence[Period]) -> list[str]:
    """The issue's goals 1-3 for the LSTM, over the tuning, held-out and all periods run."""
    hs = range(1, HORIZONS + 1)
    lines = []
    for label, roles in (("tuning", {"tuning"}), ("held-out", {"held-out"}),
                         ("all", {"tuning", "held-out"})):  # fmt: skip
        chosen = [p.name for p in periods if p.role in roles and p.name in scored]
        if not chosen:
            continue
        model = {p: scored[p]["lstm"] for p in chosen}
        bad_dm = [
            f"{p} h{h} {f[f'dm_h{h}']:+.2f}"
            for p, f in model.items()
            for h in hs
            if f.get(f"dm_h{h}", -math.inf) > DM_T_MAX
        ]
        bad_ratio = []
        for h in hs:
            ratio = np.mean([f[f"ratio_h{h}"] for f in model.values()])
            drift = np.mean([scored[p]["drift RW"][f"ratio_h{h}"] for p in chosen])
            if not ratio < min(1.0, drift):
                bad_ratio.append(f"h{h} {ratio:.4f} (drift RW {drift:.4f})")
        bad_cover = [
            f"{p} {pct}: {f[f'cover_{pct}']:.1f}"
            for p, f in model.items()
            for pct in LEVELS
            if abs(f[f"cover_{pct}"] - pct) > 3.0
        ]
        bad_sharp = [
            f"{p} {pct}: {f[f'score_{pct}']:.3f} vs {peer} {scored[p][peer][f'score_{pct}']:.3f}"
            + (f" (DM t {f[f'score_dm_{pct}']:+.2f})" if peer == GARCH else "")
            for p, f in model.items()
            for pct in LEVELS
            for peer in (GARCH, "static band")
            if f[f"score_{pct}"] >= scored[p][peer][f"score_{pct}"]
        ]
        lines += [
            f"goals over {label} periods ({len(chosen)}):",
            _verdict(f"1. DM t <= {DM_T_MAX} at every horizon in every period", bad_dm),
            _verdict("1. mean ratio < 1 and < drift RW's at every horizon", bad_ratio),
            _verdict("2. pooled coverage within 3 points in every period", bad_cover),
            _verdict("3. interval score below the GARCH and static bands", bad_sharp),
        ]
    floors = ((80, 75.0), (95, 90.0))
    bad_crash = [
        f"{name} {pct}: {figs['lstm'][f'cover_{pct}']:.1f}"
        for name, figs in crashes.items()
        for pct, floor in floors
        if figs["lstm"][f"cover_{pct}"] < floor
    ]
    if crashes:
        lines.append(_verdict("2. coverage >= 75 / 90 % in the crash windows", bad_crash))
    return lines


def long_rows(
    section: str, name: str, role: str, figures: dict[str, dict[str, float]]
) -> list[dict[str, object]]:
    where = {"section": section, "period": name, "role": role}
    return [
        {**where, "model": model, "metric": metric, "value": value}
        for model, figs in figures.items()
        for metric, value in figs.items()
    ]


def fit_time(history: pd.DataFrame) -> str:
    """One fit on the whole history with the default config: wall and CPU seconds (goal: 60 s
    of CPU on 2 cores; the fit uses one thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = GapLevelForecaster().fit(history)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return (
        f"fit on the whole history ({len(history)} days): {cpu:.1f} s CPU, {wall:.1f} s wall; "
        f"epochs {model.epochs_run_} (best {model.best_epochs_}), {share_note(model)}; "
        f"{served_offsets(model, history)}"
    )


def real_history(csv: Path = REAL_CSV) -> pd.DataFrame | None:
    """The real daily history; None, said on stdout, where ``csv`` names no file."""
    if not csv.exists():
        print(f"skipped: the real history is not at {csv}")
        return None
    return pd.read_csv(csv, parse_dates=["date"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL_CSV, help="the real daily history")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--periods", help="comma-separated period names (default: all)")
    parser.add_argument("--out-csv", type=Path, help="write every figure here (long format)")
    parser.add_argument(
        "--fit-time", action="store_true", help="also time one fit on the whole history"
    )
    parser.add_argument("--pairs-dir", type=Path, help="also keep each period's pairs as CSV here")
    args = parser.parse_args(argv)
    history = real_history(args.csv)
    if history is None:
        return 0
    names = {p.name for p in PERIODS}
    wanted = (
        QUICK
        if args.quick
        else (args.periods.split(",") if args.periods else [p.name for p in PERIODS])
    )
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(
            f"error: unknown period(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}",
            file=sys.stderr,
        )
        return 2
    periods = [p for p in PERIODS if p.name in wanted]
    first, last = history["date"].iloc[0].date(), history["date"].iloc[-1].date()
    print(f"history {first} .. {last} ({len(history)} days)")
    scored: Scored = {}
    crash_scored: Scored = {}
    crash_weeks: dict[str, str] = {}
    records: list[dict[str, object]] = []
    for period in periods:
        run = run_period(history, period)
        if args.pairs_dir:
            args.pairs_dir.mkdir(parents=True, exist_ok=True)
            run.pairs.to_csv(args.pairs_dir / f"{period.name}.csv", index=False)
        figures = {name: score(run.pairs, name) for name in run.contenders}
        scored[period.name] = figures
        records += long_rows("period", period.name, period.role, figures)
        n1 = int((run.pairs["horizon"] == 1).sum())
        print(
            f"\n### {period.name} ({period.role}): origins {period.start} .. {period.end}, "
            f"{n1} pairs at h1; trained on every day before; fit {run.fit_seconds:.1f} s wall, "
            f"{run.fit_cpu_seconds:.1f} s CPU; {run.note}"
        )
        print(table(figures))
        sys.stdout.flush()
        for crash, first, last, home in CRASHES:
            if home != period.name:
                continue
            origin = pd.to_datetime(run.pairs["origin_date"])
            part = run.pairs[(origin >= pd.Timestamp(first)) & (origin <= pd.Timestamp(last))]
            crash_scored[crash] = {name: score(part, name) for name in run.contenders}
            crash_weeks[crash] = weekly_coverage(part)
            records += long_rows("crash", crash, period.role, crash_scored[crash])
    if crash_scored:
        for crash, figures in crash_scored.items():
            print(f"\n### {crash} (origins in the window, from the run of its period)")
            print(table(figures, smape_cells=False))
            print(f"\n{crash}, 80 % coverage by week of origin:")
            print(crash_weeks[crash])
    print("\n### averages over periods (design period excluded)")
    print(averages(scored, periods))
    print()
    print("\n".join(goals(scored, crash_scored, periods)))
    if args.fit_time:
        print("\n" + fit_time(history))
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.out_csv:
        pd.DataFrame.from_records(records).to_csv(args.out_csv, index=False)
        print(f"figures written to {args.out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
