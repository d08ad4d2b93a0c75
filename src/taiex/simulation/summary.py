"""The figures of a simulation, computed from its CSV files alone (so anyone can recompute them).

Every figure but the loop's is given per round (docs/design.md, "Two rounds a day"), each round
on its own rows: the evening's, and the pre-open round's when it was replayed (on a day it fell
back, what it served was the evening's answer, and that is what counts for it; ``fallbacks``
says how many).

- **Forecasts**, per horizon, over the served rows whose actual open is known: sMAPE of the served
  forecast beside the naive one (last close) and the drift random walk's, the ratios, the
  Diebold–Mariano t of the per-pair sMAPE terms against each baseline (Newey–West lag h), and the
  80 % / 95 % intervals' coverage and interval score.
- **Signal**, over the days whose label is known: ROC AUC of the probability and the trivial
  close/MA20 - 1 score; Brier score of the probability, of the trivial rule (close above MA20 as a
  0/1 forecast) and of the base rate (the share of 1 labels known before the day); accuracy.
- **Strategy**: the evening round's: hold the index from close t to close t+1 when day t's signal
  is 1, flat otherwise; the pre-open round's: enter at the open of session S on its signal (from
  the night before S), hold to the next session's open, where the next round decides. Beside
  buy-and-hold from the first such price and the trivial rule followed the same way (each row's
  ``trade_price``). Each entry
  pays the fee, each exit the fee and the tax (:class:`Costs`). Total and annualised return,
  annualised volatility, Sharpe ratio (no risk-free rate), maximum drawdown, switches, share of
  days in the market. The equity is marked at the last close: no final exit is charged.
- **The loop**: per kind (each kind belongs to one round), the days judged, the retrains decided,
  the challengers tried, the promotions, the models trained and their seconds; the CPU and wall
  seconds of the whole run, and of each round.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import numpy as np
import pandas as pd

from taiex.errors import InputError
from taiex.frames import FloatArray
from taiex.metrics import coverage, diebold_mariano, interval_score, roc_auc, smape_terms
from taiex.rounds import Round
from taiex.simulation.records import DAYS, DECISIONS, FORECASTS, SIGNALS, VERSIONS, RunFolder

# Trading sessions a year on the TWSE (about 245-250); used to annualise daily figures.
SESSIONS_PER_YEAR = 245
# A span shorter than this (about six months) has no return "a year": 22 sessions compounded to
# a year would turn a month's -3 % into -35 %.
MIN_SESSIONS_TO_ANNUALISE = SESSIONS_PER_YEAR // 2
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
    rounds: list[str]  # the rounds replayed: evening, and pre-open unless it was off
    preopen_off: str | None  # why the pre-open round was not replayed
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
    annual_return: float | None  # None under MIN_SESSIONS_TO_ANNUALISE sessions
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
    round: str
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


class RoundFigures(TypedDict):
    """One round's figures, on its own rows."""

    rounds: int  # the rounds run (one a session)
    fallbacks: int  # rounds that served the evening's answer (a pre-open round missing a close)
    forecast: ForecastFigures
    signal: SignalFigures
    strategy: StrategyFigures
    cpu_seconds: float
    wall_seconds: float


class Summary(About):
    """``summary.json``: what the simulation is, then its figures, by round."""

    days: int  # sessions replayed
    by_round: dict[str, RoundFigures]  # by round name, the evening first
    loop: LoopFigures


def summarise(folder: RunFolder, costs: Costs, about: About) -> Summary:
    """Every figure of the simulation in ``folder``, from its CSV files; ``about`` (the period,
    the policy, the rounds, the settings) is copied in front. The rounds are ``about``'s, else
    those the tables hold."""
    forecasts, signals, days = folder.read(FORECASTS), folder.read(SIGNALS), folder.read(DAYS)
    rounds = about.get("rounds") or rounds_of(days)
    return {
        **about,
        "rounds": list(rounds),
        "days": int(days["date"].nunique()),
        "by_round": {name: round_figures(name, forecasts, signals, days, costs) for name in rounds},
        "loop": loop_figures(folder.read(DECISIONS), folder.read(VERSIONS), days),
    }


def rounds_of(days: pd.DataFrame) -> list[str]:
    """The rounds a days table holds, in the order of the day (pre-open, then evening): the
    evening always."""
    found = set(days["round"])
    return [Round.evening.value] + [
        r.value for r in Round if r.value in found and r.value != Round.evening.value
    ]


def round_figures(
    name: str, forecasts: pd.DataFrame, signals: pd.DataFrame, days: pd.DataFrame, costs: Costs
) -> RoundFigures:
    """The figures of the round ``name`` over its own rows of the tables."""
    mine = days[days["round"] == name]
    return {
        "rounds": len(mine),
        "fallbacks": int((mine["fallback"].fillna("") != "").sum()),
        "forecast": forecast_figures(forecasts[forecasts["round"] == name]),
        "signal": signal_figures(signals[signals["round"] == name]),
        "strategy": strategy_figures(signals[signals["round"] == name], costs),
        "cpu_seconds": float(mine["cpu_seconds"].sum()),
        "wall_seconds": float(mine["seconds"].sum()),
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
    """Each day's net return of the signal, the trivial rule and buy-and-hold, between the
    prices the round trades at (``trade_price``: the evening's close to close, the pre-open
    round's open to open); the signals of one round.

    Row t + 1 holds the return from price t to price t + 1 of the position taken at price t
    (from day t's signal), net of the cost of changing the position at price t. Columns:
    ``date``, then for each of :data:`STRATEGIES` its return and ``<name>_position`` (1 held).
    A signal whose price is not known (its session is after the last day) is left out.
    """
    ordered = signals.dropna(subset=["trade_price"]).sort_values("date").reset_index(drop=True)
    close = ordered["trade_price"].to_numpy(float)
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
    return returns_figures(strategy_returns(signals, costs), costs)


def returns_figures(returns: pd.DataFrame, costs: Costs) -> StrategyFigures:
    """Each strategy's figures from its daily net returns (:func:`strategy_returns`'s frame),
    for a caller that keeps the returns too."""
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
        "annual_return": float((1.0 + total) ** (SESSIONS_PER_YEAR / len(net)) - 1.0)
        if len(net) >= MIN_SESSIONS_TO_ANNUALISE
        else None,
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
            "round": str(mine["round"].iloc[0]) if len(mine) else str(trained["round"].iloc[0]),
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
    return _by_round(summary)


# What a summary written before the rounds (taiex < issue 21) held at its top: the evening's.
_ROUND_FIGURES = ("forecast", "signal", "strategy")


def _by_round(summary: dict[str, object]) -> dict[str, object]:
    """``summary`` with its figures by round: one written before the rounds held the evening's
    at its top."""
    if "by_round" in summary or not any(key in summary for key in _ROUND_FIGURES):
        return summary
    evening = {key: summary[key] for key in _ROUND_FIGURES if key in summary}
    return {**summary, "rounds": [Round.evening.value], "by_round": {Round.evening.value: evening}}


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
    add("rounds", ("rounds",), "list")
    names = [r.value for r in Round if any(_dig(s, ("by_round", r.value)) for s in runs)]
    for name in names:
        _round_rows(add, runs, name)
    kinds = sorted({k for s in runs for k in _keys(_dig(s, ("loop", "kinds")))})
    for kind in kinds:
        add(f"{kind}: retrains decided", ("loop", "kinds", kind, "retrain_decisions"), "{}")
        add(f"{kind}: challengers / promotions", ("loop", "kinds", kind), "trials")
        add(f"{kind}: mean metric", ("loop", "kinds", kind, "mean_metric"))
    add("CPU seconds", ("loop", "cpu_seconds"), "{:,.0f}")
    return rows


def _round_rows(
    add: Callable[[str, Sequence[str | int], str], None],
    runs: Sequence[Mapping[str, object]],
    name: str,
) -> None:
    """The rows of the round ``name``, each label starting with it."""
    at: tuple[str | int, ...] = ("by_round", name)
    horizons = max((_length(_dig(s, (*at, "forecast", "horizons"))) for s in runs), default=0)
    add(f"{name}: rounds / fallbacks", at, "fallbacks")
    path: tuple[str | int, ...]
    for i in range(horizons):
        h, path = f"h{i + 1}", (*at, "forecast", "horizons", i)
        add(f"{name}: sMAPE {h} (%)", (*path, "smape"), "{:.4f}")
        add(f"{name}: {h} naive sMAPE (%)", (*path, "naive_smape"), "{:.4f}")
        add(f"{name}: {h} ratio to naive", (*path, "ratio_naive"), "{:.4f}")
        add(f"{name}: {h} DM t vs naive", (*path, "dm_t_naive"), "{:+.2f}")
        add(f"{name}: {h} ratio to drift", (*path, "ratio_drift"), "{:.4f}")
        add(f"{name}: {h} 80 % / 95 % coverage", path, "coverage")
    add(f"{name}: signal ROC AUC", (*at, "signal", "roc_auc"), "{:.4f}")
    add(f"{name}: trivial score's ROC AUC", (*at, "signal", "trivial_roc_auc"), "{:.4f}")
    add(f"{name}: signal Brier", (*at, "signal", "brier"), "{:.4f}")
    add(f"{name}: trivial rule's Brier", (*at, "signal", "trivial_rule_brier"), "{:.4f}")
    for key, label in (
        ("signal", "strategy"),
        ("trivial_rule", "trivial rule"),
        ("buy_and_hold", "buy-and-hold"),
    ):
        path = (*at, "strategy", key)
        add(f"{name}: {label}: total return", (*path, "total_return"), "{:+.1%}")
        add(f"{name}: {label}: annual volatility", (*path, "annual_volatility"), "{:.1%}")
        add(f"{name}: {label}: Sharpe", (*path, "sharpe"), "{:.2f}")
        add(f"{name}: {label}: max drawdown", (*path, "max_drawdown"), "{:.1%}")
        if key != "buy_and_hold":
            add(f"{name}: {label}: switches", (*path, "switches"), "{}")
    add(f"{name}: CPU seconds", (*at, "cpu_seconds"), "{:,.0f}")


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
    if isinstance(value, list) and fmt == "list":
        return ", ".join(str(item) for item in value)
    if isinstance(value, Mapping) and fmt in ("coverage", "period", "trials", "fallbacks"):
        if fmt == "fallbacks":
            return f"{value.get('rounds', 0)} / {value.get('fallbacks', 0)}"
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
