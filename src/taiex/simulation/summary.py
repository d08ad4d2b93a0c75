"""The figures of a simulation, computed from its CSV files alone (so anyone can recompute them).

- **Forecasts**, per horizon, over the served rows whose actual open is known: sMAPE of the served
  forecast beside the naive one (last close) and the drift random walk's, the ratios, the
  Diebold–Mariano t of the per-pair sMAPE terms against each baseline (Newey–West lag h), and the
  80 % / 95 % intervals' coverage and interval score.
- **Signal**, over the days whose label is known: ROC AUC of the probability and the trivial
  close/MA20 - 1 score; Brier score of the probability, of the trivial rule (close above MA20 as a
  0/1 forecast) and of the base rate (the share of 1 labels known before the day); accuracy.
- **Strategy**: hold the index from close t to close t+1 when day t's signal is 1, flat otherwise;
  beside buy-and-hold from the first close and the trivial rule followed the same way. Each entry
  pays the fee, each exit the fee and the tax (:class:`Costs`). Total and annualised return,
  annualised volatility, Sharpe ratio (no risk-free rate), maximum drawdown, switches, share of
  days in the market. The equity is marked at the last close: no final exit is charged.
- **The loop**: per kind, the days judged, the retrains decided, the challengers tried, the
  promotions, the models trained and their seconds; the CPU and wall seconds of the whole run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import numpy as np
import pandas as pd

from taiex.errors import InputError
from taiex.frames import FloatArray
from taiex.metrics import coverage, diebold_mariano, interval_score, roc_auc, smape_terms
from taiex.simulation.records import DAYS, DECISIONS, FORECASTS, SIGNALS, VERSIONS, RunFolder

# Trading sessions a year on the TWSE (about 245-250); used to annualise daily figures.
SESSIONS_PER_YEAR = 245
INTERVAL_LEVELS = (80, 95)


@dataclass(frozen=True)
class Costs:
    """Trading costs in percent of the value traded: the broker's fee on each side (0.1425 % in
    Taiwan) and the tax on each sale (0.1 %, the rate of ETFs; 0.3 % for single stocks)."""

    fee_pct: float = 0.1425
    exit_tax_pct: float = 0.1

    def __post_init__(self) -> None:
        # NaN would run the whole replay and then fail to write summary.json; 100 % or more of
        # the value traded is no cost a market charges.
        for option, value in (("--fee", self.fee_pct), ("--exit-tax", self.exit_tax_pct)):
            if not (math.isfinite(value) and 0 <= value < 100):
                raise InputError(f"{option} {value} is not a percentage within [0, 100)")

    @property
    def entry(self) -> float:
        return self.fee_pct / 100.0

    @property
    def exit(self) -> float:
        return (self.fee_pct + self.exit_tax_pct) / 100.0


# ---------------------------------------------------------------- the summary's shape


class Period(TypedDict):
    first: str  # ISO dates
    last: str


class About(TypedDict):
    """What a simulation is (its folder's ``simulation.json``)."""

    policy: str
    period: Period
    costs: dict[str, float]
    thresholds: dict[str, float]  # by kind
    settings: dict[str, object]  # the settings that decide, and each kind's params
    taiex_version: str


class HorizonFigures(TypedDict):
    horizon: int
    n: int
    first_origin: str
    last_origin: str
    smape: float
    naive_smape: float
    drift_smape: float
    ratio_naive: float | None
    ratio_drift: float | None
    dm_t_naive: float | None
    dm_t_drift: float | None
    coverage_80: float
    interval_score_80: float
    coverage_95: float
    interval_score_95: float


class ForecastFigures(TypedDict):
    pairs: int
    horizons: list[HorizonFigures]


class SignalFigures(TypedDict):
    n: int  # labelled days; the rest only when there is one
    positives: int
    roc_auc: NotRequired[float | None]
    roc_auc_undefined: NotRequired[str | None]
    trivial_roc_auc: NotRequired[float | None]
    brier: NotRequired[float]
    trivial_rule_brier: NotRequired[float]
    base_rate_brier: NotRequired[float]
    accuracy: NotRequired[float]
    trivial_rule_accuracy: NotRequired[float]


class Performance(TypedDict):
    total_return: float
    annual_return: float
    annual_volatility: float | None
    sharpe: float | None
    max_drawdown: float
    switches: int
    days_in_market: float


class StrategyFigures(TypedDict):
    costs: dict[str, float]
    days: int  # the strategies below only when there is one
    signal: NotRequired[Performance]
    trivial_rule: NotRequired[Performance]
    buy_and_hold: NotRequired[Performance]


class KindLoop(TypedDict):
    days_judged: int
    mean_metric: float | None
    mean_baseline: float | None
    retrain_decisions: int
    challengers: int
    promotions: int
    models_trained: int
    training_seconds: float
    versions_served: list[str]


class LoopFigures(TypedDict):
    kinds: dict[str, KindLoop]
    cpu_seconds: float
    wall_seconds: float


class Summary(About):
    """``summary.json``: what the simulation is, then its figures."""

    days: int
    forecast: ForecastFigures
    signal: SignalFigures
    strategy: StrategyFigures
    loop: LoopFigures


def summarise(folder: RunFolder, costs: Costs, about: About) -> Summary:
    """Every figure of the simulation in ``folder``, from its CSV files; ``about`` (the period,
    the policy, the settings) is copied in front."""
    forecasts = folder.read(FORECASTS)
    signals = folder.read(SIGNALS)
    return {
        **about,
        "days": len(folder.read(DAYS)),
        "forecast": forecast_figures(forecasts),
        "signal": signal_figures(signals),
        "strategy": strategy_figures(signals, costs),
        "loop": loop_figures(folder.read(DECISIONS), folder.read(VERSIONS), folder.read(DAYS)),
    }


# ---------------------------------------------------------------- forecasts


def drift_forecast(closes: Sequence[float] | FloatArray, horizons: int) -> list[float]:
    """The drift random walk's forecasts for horizons 1..``horizons`` from a series of closes
    (oldest first): the last close plus h times the average change over the series (Hyndman &
    Athanasopoulos, *Forecasting: Principles and Practice*, 5.2)."""
    series = np.asarray(closes, dtype=float)
    last = float(series[-1])
    slope = (last - float(series[0])) / (len(series) - 1) if len(series) > 1 else 0.0
    return [last + h * slope for h in range(1, horizons + 1)]


def forecast_figures(forecasts: pd.DataFrame) -> ForecastFigures:
    """Per-horizon figures over the served rows with a known actual (see the module's text)."""
    scored = forecasts.dropna(subset=["actual"]).sort_values(["horizon", "origin_date"])
    horizons = []
    for horizon in sorted(scored["horizon"].unique()):
        horizons.append(_horizon_figures(int(horizon), scored[scored["horizon"] == horizon]))
    return {"pairs": len(scored), "horizons": horizons}


def _horizon_figures(horizon: int, part: pd.DataFrame) -> HorizonFigures:
    actual = part["actual"].to_numpy(float)
    loss = smape_terms(part["forecast"], actual)
    naive = smape_terms(part["naive"], actual)
    drift = smape_terms(part["drift"], actual)
    bands = {level: (part[f"lower_{level}"], part[f"upper_{level}"]) for level in INTERVAL_LEVELS}
    return {
        "horizon": horizon,
        "n": len(part),
        "first_origin": part["origin_date"].iloc[0].date().isoformat(),
        "last_origin": part["origin_date"].iloc[-1].date().isoformat(),
        "smape": float(loss.mean()),
        "naive_smape": float(naive.mean()),
        "drift_smape": float(drift.mean()),
        "ratio_naive": _ratio(loss.mean(), naive.mean()),
        "ratio_drift": _ratio(loss.mean(), drift.mean()),
        "dm_t_naive": diebold_mariano(loss, naive, horizon),
        "dm_t_drift": diebold_mariano(loss, drift, horizon),
        "coverage_80": coverage(*bands[80], actual),
        "interval_score_80": interval_score(*bands[80], actual, 80 / 100),
        "coverage_95": coverage(*bands[95], actual),
        "interval_score_95": interval_score(*bands[95], actual, 95 / 100),
    }


def _ratio(value: float, baseline: float) -> float | None:
    return float(value / baseline) if baseline > 0 else None


# ---------------------------------------------------------------- the signal


def signal_figures(signals: pd.DataFrame) -> SignalFigures:
    """ROC AUC, Brier score and accuracy of the served signal beside the trivial ones."""
    ordered = signals.sort_values("date").reset_index(drop=True)
    known = ordered["label"].notna()
    labelled = ordered[known]
    label = labelled["label"].to_numpy(float)
    if labelled.empty:
        return {"n": 0, "positives": 0}
    auc, auc_reason = roc_auc(label, labelled["probability"])
    trivial_auc, _ = roc_auc(label, labelled["trivial"])
    rule = (labelled["trivial"].to_numpy(float) > 0).astype(float)
    return {
        "n": len(labelled),
        "positives": int(label.sum()),
        "roc_auc": auc,
        "roc_auc_undefined": auc_reason,
        "trivial_roc_auc": trivial_auc,
        "brier": _brier(labelled["probability"], label),
        "trivial_rule_brier": _brier(rule, label),
        "base_rate_brier": _brier(_base_rate(ordered["label"])[known.to_numpy()], label),
        "accuracy": float(np.mean(labelled["signal"].to_numpy(float) == label)),
        "trivial_rule_accuracy": float(np.mean(rule == label)),
    }


def _brier(probability: pd.Series | FloatArray, label: FloatArray) -> float:
    return float(np.mean((np.asarray(probability, dtype=float) - label) ** 2))


def _base_rate(labels: pd.Series) -> FloatArray:
    """Each day's share of 1 among the labels known by its evening (those of the days before
    it: day s's label needs the close of day s + 1); 0.5 before any is known."""
    known = labels.astype(float)
    seen = known.notna().astype(float).cumsum().shift(1, fill_value=0.0)
    ones = known.fillna(0.0).cumsum().shift(1, fill_value=0.0)
    rate = np.divide(ones, seen, out=np.full(len(known), 0.5), where=seen.to_numpy() > 0)
    return np.asarray(rate, dtype=float)


# ---------------------------------------------------------------- the strategy


STRATEGIES: tuple[Literal["signal", "trivial_rule", "buy_and_hold"], ...] = (
    "signal",
    "trivial_rule",
    "buy_and_hold",
)


def strategy_returns(signals: pd.DataFrame, costs: Costs) -> pd.DataFrame:
    """Each day's net return, close to close, of the signal, the trivial rule and buy-and-hold.

    Row t + 1 holds the return from close t to close t + 1 of the position taken at close t
    (from day t's signal), net of the cost of changing the position at close t. Columns:
    ``date``, then for each of :data:`STRATEGIES` its return and ``<name>_position`` (1 held).
    """
    ordered = signals.sort_values("date").reset_index(drop=True)
    close = ordered["close"].to_numpy(float)
    frame = pd.DataFrame({"date": ordered["date"].iloc[1:].to_numpy()})
    if len(close) < 2:
        return frame
    change = close[1:] / close[:-1] - 1.0
    positions = {
        "signal": ordered["signal"].to_numpy(float)[:-1],
        "trivial_rule": (ordered["trivial"].to_numpy(float)[:-1] > 0).astype(float),
        "buy_and_hold": np.ones(len(change)),
    }
    for name, held in positions.items():
        frame[name] = _net_returns(held, change, costs)
        frame[f"{name}_position"] = held
    return frame


def _net_returns(held: FloatArray, change: FloatArray, costs: Costs) -> FloatArray:
    before = np.concatenate([[0.0], held[:-1]])  # flat before the first day
    cost = np.where(held > before, costs.entry, 0.0) + np.where(held < before, costs.exit, 0.0)
    return np.asarray((1.0 - cost) * (1.0 + held * change) - 1.0, dtype=float)


def strategy_figures(signals: pd.DataFrame, costs: Costs) -> StrategyFigures:
    returns = strategy_returns(signals, costs)
    figures: StrategyFigures = {"costs": asdict(costs), "days": len(returns)}
    if returns.empty:
        return figures
    for name in STRATEGIES:
        figures[name] = _performance(
            returns[name].to_numpy(float), returns[f"{name}_position"].to_numpy(float)
        )
    return figures


def _performance(net: FloatArray, held: FloatArray) -> Performance:
    equity = np.cumprod(1.0 + net)
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    total = float(equity[-1] - 1.0)
    std = float(np.std(net, ddof=1)) if len(net) > 1 else math.nan
    figures: Performance = {
        "total_return": total,
        "annual_return": float((1.0 + total) ** (SESSIONS_PER_YEAR / len(net)) - 1.0),
        "annual_volatility": _finite(std * math.sqrt(SESSIONS_PER_YEAR)),
        "sharpe": _finite(float(np.mean(net)) / std * math.sqrt(SESSIONS_PER_YEAR))
        if std > 0
        else None,
        "max_drawdown": float(np.min(equity / peak - 1.0)),
        "switches": int(np.sum(held != np.concatenate([[0.0], held[:-1]]))),
        "days_in_market": float(np.mean(held)),
    }
    return figures


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


# ---------------------------------------------------------------- the loop


def loop_figures(
    decisions: pd.DataFrame, versions: pd.DataFrame, days: pd.DataFrame
) -> LoopFigures:
    kinds: dict[str, KindLoop] = {}
    for kind in sorted(set(decisions["kind"]) | set(versions["kind"])):
        mine = decisions[decisions["kind"] == kind]
        trained = versions[versions["kind"] == kind]
        kinds[kind] = {
            "days_judged": int(mine["metric"].notna().sum()),
            "mean_metric": _mean(mine["metric"]),
            "mean_baseline": _mean(mine["baseline"]),
            "retrain_decisions": int(mine["retrain"].sum()),
            # Challengers trained (a day that found its challenger tried already trained none).
            "challengers": int(trained["version"].isin(set(mine["challenger"])).sum()),
            "promotions": int(mine["promoted"].sum()),
            "models_trained": len(trained),
            "training_seconds": float(trained["seconds"].sum()),
            "versions_served": sorted(set(mine["served_by"]) - {""}),
        }
    return {
        "kinds": kinds,
        "cpu_seconds": float(days["cpu_seconds"].sum()),
        "wall_seconds": float(days["seconds"].sum()),
    }


def _mean(values: pd.Series) -> float | None:
    known = values.dropna()
    return float(known.mean()) if len(known) else None


# ---------------------------------------------------------------- side by side


@dataclass(frozen=True)
class Comparison:
    """Finished simulations side by side: their folders as given, and one (label, one text per
    folder) row per figure."""

    names: list[str]
    rows: list[tuple[str, list[str]]]


def compare_folders(folders: Sequence[Path]) -> Comparison:
    """The :func:`comparison` of the simulations in ``folders``, from their ``summary.json``;
    an InputError names a folder that holds no finished simulation or an unreadable summary."""
    if not folders:
        raise InputError("name one or more simulation folders to compare")
    summaries = {str(folder): _read_summary(folder) for folder in folders}
    return Comparison(list(summaries), comparison(summaries))


# A summary.json is a few kilobytes; a file beyond this is not one (or is /dev/zero behind a link).
MAX_SUMMARY_BYTES = 10_000_000


def _read_summary(folder: Path) -> dict[str, object]:
    path = folder / RunFolder.SUMMARY
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SUMMARY_BYTES + 1)
        if len(data) > MAX_SUMMARY_BYTES:
            raise InputError(f"{path}: larger than {MAX_SUMMARY_BYTES:,} bytes: not a summary")
        summary = json.loads(data.decode("utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no summary (is {folder} a finished simulation?)") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from exc
    except RecursionError as exc:  # JSON nested deeper than Python's stack
        raise InputError(f"{path}: cannot be read (nested too deeply)") from exc
    if not isinstance(summary, dict):
        raise InputError(f"{path}: cannot be read (not a JSON object)")
    return summary


def comparison(summaries: Mapping[str, Mapping[str, object]]) -> list[tuple[str, list[str]]]:
    """The figures a user compares runs by: one (label, one text per run) row each, every
    label once."""
    runs = list(summaries.values())
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, get: Sequence[str | int], fmt: str = "{:.4f}") -> None:
        rows.append((label, [_text(_dig(s, get), fmt) for s in runs]))

    add("policy", ("policy",), "{}")
    add("period", ("period",), "period")
    add("days", ("days",), "{}")
    horizons = max((_length(_dig(s, ("forecast", "horizons"))) for s in runs), default=0)
    for i in range(horizons):
        h = f"h{i + 1}"
        add(f"sMAPE {h} (%)", ("forecast", "horizons", i, "smape"))
        add(f"{h}: ratio to naive", ("forecast", "horizons", i, "ratio_naive"))
        add(f"{h}: DM t vs naive", ("forecast", "horizons", i, "dm_t_naive"), "{:+.2f}")
        add(f"{h}: ratio to drift", ("forecast", "horizons", i, "ratio_drift"))
        add(f"{h}: 80 % / 95 % coverage", ("forecast", "horizons", i), "coverage")
    add("signal ROC AUC", ("signal", "roc_auc"))
    add("trivial score's ROC AUC", ("signal", "trivial_roc_auc"))
    add("signal Brier", ("signal", "brier"))
    add("trivial rule's Brier", ("signal", "trivial_rule_brier"))
    for name, label in (
        ("signal", "strategy"),
        ("trivial_rule", "trivial rule"),
        ("buy_and_hold", "buy-and-hold"),
    ):
        add(f"{label}: total return", ("strategy", name, "total_return"), "{:+.1%}")
        add(f"{label}: annual volatility", ("strategy", name, "annual_volatility"), "{:.1%}")
        add(f"{label}: Sharpe", ("strategy", name, "sharpe"), "{:.2f}")
        add(f"{label}: max drawdown", ("strategy", name, "max_drawdown"), "{:.1%}")
        if name != "buy_and_hold":
            add(f"{label}: switches", ("strategy", name, "switches"), "{}")
    kinds = sorted({k for s in runs for k in _keys(_dig(s, ("loop", "kinds")))})
    for kind in kinds:
        add(f"{kind}: retrains decided", ("loop", "kinds", kind, "retrain_decisions"), "{}")
        add(f"{kind}: challengers / promotions", ("loop", "kinds", kind), "trials")
        add(f"{kind}: mean metric", ("loop", "kinds", kind, "mean_metric"))
    add("CPU seconds", ("loop", "cpu_seconds"), "{:,.0f}")
    return rows


def _dig(data: object, path: Sequence[str | int]) -> object:
    """The value at ``path`` in a summary read from JSON (keys of objects, indices of lists);
    None where there is none."""
    for key in path:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
            continue
        if isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
            continue
        return None
    return data


def _length(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _keys(value: object) -> list[str]:
    return [str(key) for key in value] if isinstance(value, Mapping) else []


def _text(value: object, fmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, Mapping) and fmt in ("coverage", "period", "trials"):
        if fmt == "coverage":
            low, high = value.get("coverage_80", math.nan), value.get("coverage_95", math.nan)
            return f"{low:.1%} / {high:.1%}"
        if fmt == "period":
            return f"{value.get('first', '?')} … {value.get('last', '?')}"
        return f"{value.get('challengers', 0)} / {value.get('promotions', 0)}"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)
