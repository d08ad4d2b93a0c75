"""A simulation told plainly: the sentences, the tables and the page (``index.html``).

The page is one self-contained file like the daily report (its style, images inlined as data
URIs, no script, nothing fetched), written into the simulation's folder.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2

from taiex.files import write_atomic
from taiex.metrics import MIN_DM_PAIRS
from taiex.rounds import Round
from taiex.simulation.records import DECISIONS, FORECASTS, SIGNALS, RunFolder
from taiex.simulation.summary import (
    MIN_SESSIONS_TO_ANNUALISE,
    Costs,
    HorizonFigures,
    KindLoop,
    LoopFigures,
    RoundFigures,
    SignalFigures,
    StrategyFigures,
    Summary,
    strategy_returns,
)

# The 5 % two-sided critical value of a t statistic on many pairs.
SIGNIFICANT_T = 1.96
PLOTS = "plots"


def plain_words(summary: Summary) -> list[str]:
    """What the loop would have served, in a few sentences a user can act on: round by round."""
    lines = [_period_line(summary)]
    off = summary.get("preopen_off")
    if off:
        lines.append(f"Only the evening round was replayed: {off}.")
    for name, figures in (summary.get("by_round") or {}).items():
        lines.extend(_round_lines(name, figures))
    lines.extend(_loop_lines(summary.get("loop", {})))
    return lines


ROUND_TITLES = {
    Round.evening.value: "The evening round (after the close)",
    Round.pre_open.value: "The pre-open round (before the open, with the night's US closes)",
}


def round_title(name: str) -> str:
    return ROUND_TITLES.get(name, name)


def _round_lines(name: str, figures: RoundFigures) -> list[str]:
    lines = []
    horizons = figures.get("forecast", {}).get("horizons", [])
    if horizons:
        lines.append(f"{round_title(name)}: " + _forecast_line(horizons[0], horizons[-1]))
        lines.append(_band_line(horizons[0]))
    else:
        lines.append(f"{round_title(name)}: no forecast with a known outcome.")
    if figures.get("fallbacks"):
        lines.append(
            f"On {figures['fallbacks']} of its {figures['rounds']} rounds a US close the night "
            "needed was not stored, and the evening's answer stood (days.csv says why)."
        )
    signal = figures.get("signal", {})
    if signal.get("n"):
        lines.append(_signal_line(signal))
    strategy = figures.get("strategy", {})
    if "signal" in strategy:
        lines.append(_strategy_line(strategy, name))
    return lines


def _period_line(summary: Summary) -> str:
    period = summary.get("period") or {}
    rounds = summary.get("rounds") or [Round.evening.value]
    when = (
        "before each open (with the night's US closes) and after each close"
        if Round.pre_open.value in rounds
        else "every evening"
    )
    return (
        f"From {period.get('first', '?')} to {period.get('last', '?')} "
        f"({summary.get('days', 0):,} sessions), {when}, the loop forecast the next 5 opens and "
        f"gave an entry signal, retraining by the policy '{summary.get('policy', '?')}'."
    )


def _forecast_line(first: HorizonFigures, last: HorizonFigures) -> str:
    text = (
        f"its next-day forecast missed the actual open by {first['smape']:.2f} % on average "
        f"(sMAPE), the last close by {first['naive_smape']:.2f} %: "
        f"{_better(first['ratio_naive'])} ({_significance(first['dm_t_naive'])})."
    )
    if last is not first:
        text += (
            f" {last['horizon']} days ahead: {last['smape']:.2f} % against "
            f"{last['naive_smape']:.2f} % ({_better(last['ratio_naive'])}; "
            f"{_significance(last['dm_t_naive'])}); the drift random walk: "
            f"{last['drift_smape']:.2f} %."
        )
    return text


def _better(ratio: float | None) -> str:
    if ratio is None:
        return "no comparison"
    if ratio < 1:
        return f"{1 - ratio:.1%} better"
    return f"{ratio - 1:.1%} worse"


def _significance(t: float | None) -> str:
    if t is None:
        return f"no Diebold–Mariano t: fewer than {MIN_DM_PAIRS} pairs, or no difference"
    verdict = "significant at 5 %" if abs(t) > SIGNIFICANT_T else "not a significant difference"
    return f"Diebold–Mariano t {t:+.2f}: {verdict}"


def _band_line(first: HorizonFigures) -> str:
    return (
        f"The 80 % band held {first['coverage_80']:.0%} of the next-day opens and the 95 % band "
        f"{first['coverage_95']:.0%}."
    )


def _signal_line(signal: SignalFigures) -> str:
    auc = _num(signal.get("roc_auc"), ".3f")
    return (
        f"The entry signal ranked the {signal['n']:,} days with ROC AUC {auc} against "
        f"{_num(signal.get('trivial_roc_auc'), '.3f')} for the trivial close/MA20 score; its "
        f"Brier score was {signal['brier']:.3f} (the trivial rule's "
        f"{signal['trivial_rule_brier']:.3f}, the base rate's {signal['base_rate_brier']:.3f}) "
        f"and it was right on {signal['accuracy']:.0%} of the days."
    )


def _strategy_line(strategy: StrategyFigures, name: str) -> str:
    costs = strategy.get("costs", {})
    mine, hold = strategy["signal"], strategy["buy_and_hold"]
    at = "the next open" if name == Round.pre_open.value else "the close"
    return (
        f"Following it (trading at {at}: in when it said 1, out when 0, paying "
        f"{costs.get('fee_pct', 0):g} % a side and {costs.get('exit_tax_pct', 0):g} % tax on "
        "exits) turned 1 into "
        f"{1 + mine['total_return']:.3f} with {mine['switches']} switches, a maximum drawdown of "
        f"{mine['max_drawdown']:.1%} and a Sharpe ratio of {_num(mine['sharpe'], '.2f')}; "
        f"buy-and-hold turned it into {1 + hold['total_return']:.3f} (drawdown "
        f"{hold['max_drawdown']:.1%}, Sharpe {_num(hold['sharpe'], '.2f')})."
    )


def _loop_lines(loop: LoopFigures) -> list[str]:
    kinds = loop.get("kinds", {})
    parts = [
        f"the {titles().get(kind, kind)} was judged due for a retrain on "
        f"{k['retrain_decisions']} {_occasions(k)}, trained {k['challengers']} challenger(s) and "
        f"promoted {k['promotions']}"
        for kind, k in kinds.items()
    ]
    if not parts:
        return []
    cpu = loop.get("cpu_seconds", 0.0)
    return [f"Over the period {'; '.join(parts)}; it took {cpu:,.0f} CPU seconds in all."]


def _occasions(kind: KindLoop) -> str:
    """What a kind's monitoring ran on: evenings, or mornings before the open."""
    return "morning(s)" if kind.get("round") == Round.pre_open.value else "evening(s)"


def titles() -> dict[str, str]:
    """Each kind's title, by name ("LSTM forecaster")."""
    from taiex.kinds import ALL_KINDS

    return {spec.name: spec.title for spec in ALL_KINDS}


def metric_names() -> dict[str, str]:
    """Each kind's metric as a label ("sMAPE %", "ROC AUC")."""
    from taiex.kinds import ALL_KINDS

    return {
        spec.name: spec.metric.name + (" %" if spec.metric.percent else "") for spec in ALL_KINDS
    }


def _num(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class Image:
    """A figure of the page; without ``path`` (nothing to draw yet) the page shows ``caption``
    as a note instead of an empty chart."""

    title: str
    caption: str
    path: Path | None

    @property
    def data_uri(self) -> str:
        if self.path is None:
            raise ValueError(f"{self.title}: nothing was drawn")
        return "data:image/png;base64," + base64.b64encode(self.path.read_bytes()).decode("ascii")


@dataclass(frozen=True)
class RoundImages:
    served: Image
    ratio: Image
    equity: Image


@dataclass(frozen=True)
class Images:
    rounds: dict[str, RoundImages]
    monitoring: Image

    def __len__(self) -> int:
        return 1 + 3 * len(self.rounds)


def draw(folder: RunFolder, summary: Summary, costs: Costs) -> Images:
    """The page's plots, drawn from the folder's tables into ``folder/plots``: three for each
    round replayed, on its own rows, and the monitoring of every kind."""
    from taiex.simulation import plots

    forecasts = folder.read(FORECASTS)
    signals = folder.read(SIGNALS)
    decisions = folder.read(DECISIONS)
    horizons = tuple(sorted({int(h) for h in forecasts["horizon"]})) or (1,)
    shown = (horizons[0], horizons[-1]) if len(horizons) > 1 else horizons
    into = folder.path / PLOTS
    thresholds = summary.get("thresholds") or {}
    rounds = {}
    for name in list(summary.get("by_round") or [Round.evening.value]):
        mine = forecasts[forecasts["round"] == name]
        suffix = "" if name == Round.evening.value else f"_{name}"
        when = "before each open" if name == Round.pre_open.value else "each evening"
        trades = "from open to next open" if name == Round.pre_open.value else "from close to close"
        rounds[name] = RoundImages(
            Image(
                f"What was served ({name})",
                f"The forecast made {when} for the next open (top) and for the open "
                f"{shown[-1]} sessions ahead, with its 80 % and 95 % bands, against the actual.",
                plots.served_forecast_plot(mine, into / f"served{suffix}.png", shown),
            ),
            _ratio_image(name, plots.rolling_ratio_plot(mine, into / f"ratio{suffix}.png", shown)),
            Image(
                f"The signal as a strategy ({name})",
                f"Growth of 1 after costs, trading {trades}, and the drawdown from the last peak.",
                plots.equity_plot(
                    strategy_returns(signals[signals["round"] == name], costs),
                    into / f"equity{suffix}.png",
                    f"hold {trades} when the signal is 1",
                ),
            ),
        )
    monitoring = Image(
        "Monitoring, retraining, promotion",
        "The metric each round's monitoring computed for the champion, its baseline, the "
        "threshold, the days a challenger was trained and the promotions.",
        plots.monitoring_plot(decisions, into / "monitoring.png", thresholds, metric_names()),
    )
    return Images(rounds, monitoring)


def _ratio_image(name: str, path: Path | None) -> Image:
    from taiex.simulation.plots import ROLLING_TARGETS

    caption = (
        f"sMAPE of the served forecast over the last {ROLLING_TARGETS} target days, divided by "
        "the naive forecast's (solid) and the drift random walk's (dotted)."
        if path is not None
        else f"No rolling sMAPE ratio yet: it needs {ROLLING_TARGETS} scored target days of a "
        "horizon, and this run has fewer."
    )
    return Image(f"Better than the baselines? ({name})", caption, path)


def write_page(folder: RunFolder, summary: Summary, costs: Costs) -> Path:
    """Draw the plots and write ``index.html`` into the folder; returns its path."""
    images = draw(folder, summary, costs)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("taiex", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        num=_num,
        pct=lambda v, digits=1: _num(None if v is None else 100 * v, f".{digits}f") + " %",
        signed_pct=lambda v: _num(None if v is None else 100 * v, "+.1f") + " %",
    )
    page = environment.get_template("simulation.html.j2").render(
        summary=summary,
        words=plain_words(summary),
        images=images,
        names=titles(),
        metric_names=metric_names(),
        round_title=round_title,
        min_annualised=MIN_SESSIONS_TO_ANNUALISE,
    )
    return write_atomic(folder.path / RunFolder.PAGE, page.encode("utf-8"))
