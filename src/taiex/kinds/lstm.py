"""The LSTM forecaster as a kind: scored by sMAPE beside the naive forecast, serves forecasts.

The spec only: its model (:class:`~taiex.models.lstm.GapLevelForecaster`), its evaluation and
what it serves (:mod:`taiex.models.lstm_evaluation`), its backtest (:mod:`taiex.models.backtest`)
and its plots (:mod:`taiex.plots`) are reached through the loaders below, which import them when
called: this module is light (the DAG file and ``taiex status`` import it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from taiex.kinds.evaluation import (
    Evaluation,
    Row,
    as_count,
    as_date,
    as_float,
    as_number,
    as_optional_date,
    as_text,
)
from taiex.kinds.spec import Decision, Metric, TypedKindSpec, not_judged

if TYPE_CHECKING:
    from taiex.kinds.protocols import Forecaster, ModelClass
    from taiex.kinds.spec import Backtest, Evaluate, Plot, PreopenBacktest, Serve
    from taiex.models.lstm_config import LSTMConfig
    from taiex.settings import Settings

NAME = "lstm"
WINDOW = 120
HORIZONS = 5  # docs/design.md: the next 5 trading days
RUN = "taiex run"

METRIC = Metric(
    name="sMAPE",
    table="lstm_model_evaluate",
    column="sMAPE",
    baseline_name="naive sMAPE",
    baseline_column="naive_sMAPE",
    count_column="n_pairs",
    unit="pairs",
    higher_is_better=False,
    percent=True,
)


# ---------------------------------------------------------------- its table


def evaluation_row(evaluation: Evaluation) -> dict[str, object]:
    """The columns of ``lstm_model_evaluate`` for ``evaluation`` (besides the common ones)."""
    return {
        "sMAPE": evaluation.metric,
        "naive_sMAPE": evaluation.baseline,
        "sMAPE_by_horizon": evaluation.detail.get("smape_by_horizon"),
        "naive_sMAPE_by_horizon": evaluation.detail.get("naive_smape_by_horizon"),
        "n_pairs": evaluation.n,
        "dm_t": evaluation.detail.get("dm_t"),
        "n_days": evaluation.n_days,
        "origins_reused": evaluation.detail.get("origins_reused"),
        "origins_computed": evaluation.detail.get("origins_computed"),
    }


def from_row(row: Row) -> Evaluation:
    """An evaluation read back from ``lstm_model_evaluate``: exactly the one computed when the
    row holds its day count (revision 0006), else without what older rows do not keep."""
    return forecast_from_row(row, NAME)


def forecast_from_row(row: Row, kind: str) -> Evaluation:
    """:func:`from_row` for a forecasting kind called ``kind`` (each round has one)."""
    pairs = as_count(row["n_pairs"])
    days = row.get("n_days")
    detail: dict[str, object] = {}
    if pairs:  # in the order the evaluation gives them
        detail = {
            "smape_by_horizon": row.get("sMAPE_by_horizon"),
            "naive_smape_by_horizon": row.get("naive_sMAPE_by_horizon"),
            "dm_t": as_number(row.get("dm_t")),
        }
        counts = {k: row.get(k) for k in ("origins_reused", "origins_computed")}
        detail |= {k: as_count(v) for k, v in counts.items() if v is not None}
    return Evaluation(
        kind=kind,
        model_version=str(row["model_version"]),
        data_date=as_date(row["data_date"]),
        metric=as_number(row["sMAPE"]),
        baseline=as_number(row["naive_sMAPE"]),
        n=pairs,
        reason=as_text(row["reason"]),
        window_start=as_optional_date(row["window_start"]),
        window_end=as_optional_date(row["window_end"]),
        # Rows from before revision 0006 keep no day count: each target is forecast from its 5
        # origins, so the pairs give the days (a target near the start of history may have
        # fewer origins: round up).
        n_days=as_count(days) if days is not None else math.ceil(pairs / HORIZONS),
        detail=detail,
    )


# ---------------------------------------------------------------- decision and reading


def decide(evaluation: Evaluation | None, settings: Settings) -> Decision:
    """Retrain when sMAPE > TAIEX_LSTM_SMAPE_MAX, or worse than naive by more than
    TAIEX_LSTM_NAIVE_MARGIN, or significantly worse than naive (the pooled Diebold-Mariano t
    above TAIEX_LSTM_DM_T_MAX), or when there is no model; never on an undefined figure."""
    return decide_forecast(evaluation, settings, "LSTM")


def decide_forecast(evaluation: Evaluation | None, settings: Settings, model: str) -> Decision:
    """:func:`decide` for a forecasting kind whose model is called ``model`` (the same rules
    and thresholds for both rounds)."""
    if evaluation is None:
        return Decision(True, f"no {model} model yet", "none")
    undecided = not_judged(evaluation)
    if undecided:
        return undecided
    metric, naive = evaluation.metric, evaluation.baseline
    assert metric is not None
    smape_max, margin = settings.lstm_smape_max, settings.lstm_naive_margin
    if metric > smape_max:
        return Decision(
            True, f"sMAPE {metric:.4f} > TAIEX_LSTM_SMAPE_MAX {smape_max:g}", "threshold"
        )
    if naive is not None and metric > naive * (1 + margin):
        return Decision(
            True,
            f"sMAPE {metric:.4f} is more than {margin:.0%} worse than the naive "
            f"forecast's {naive:.4f}",
            "baseline",
        )
    t, t_max = as_number(evaluation.detail.get("dm_t")), settings.lstm_dm_t_max
    if t is not None and t > t_max:
        return Decision(
            True,
            f"significantly worse than the naive forecast: Diebold-Mariano t {t:+.2f} > "
            f"TAIEX_LSTM_DM_T_MAX {t_max:g} (sMAPE {metric:.4f} vs {naive or 0:.4f})",
            "significance",
        )
    naive_text = f" and within {margin:.0%} of the naive forecast's {naive:.4f}" if naive else ""
    t_text = f", Diebold-Mariano t {t:+.2f} ≤ {t_max:g}" if t is not None else ""
    return Decision(False, f"sMAPE {metric:.4f} ≤ {smape_max:g}{naive_text}{t_text}", "healthy")


def reading(evaluation: Evaluation | None, decision: Decision, settings: Settings) -> str:
    """One line that says what the latest sMAPE means for a reader of the forecast; the verdict
    is ``decision``'s, the words say how large the difference is."""
    return read_forecast(evaluation, decision, settings, "The LSTM")


def read_forecast(
    evaluation: Evaluation | None, decision: Decision, settings: Settings, name: str
) -> str:
    """:func:`reading` for a forecasting kind whose model is called ``name``."""
    if evaluation is None:
        return f"Not monitored yet: `{RUN}` scores it on days it did not train on."
    model, naive, n = evaluation.metric, evaluation.baseline, evaluation.n
    if model is None:
        return f"No score yet: {evaluation.reason or 'no day it did not train on'}."
    if not naive:
        return f"sMAPE {model:.2f} % over {n} pairs; no naive score to compare with."
    gain = (naive - model) / naive * 100.0
    if decision.code == "threshold":
        verdict = (
            f"sMAPE {model:.2f} % is above the retrain threshold {settings.lstm_smape_max:g} %"
        )
        return f"{verdict}: a retrain is due; until then, trust the naive level."
    if decision.code == "significance":
        t = as_number(evaluation.detail.get("dm_t")) or 0.0  # known: the rule was significance
        return (
            f"{name} is {-gain:.1f} % worse than the naive forecast over {n} pairs, and "
            f"consistently so (Diebold-Mariano t {t:+.1f}): a retrain is due; until then the "
            "last close is the better guess."
        )
    if decision.code == "age":
        side = f"{gain:.1f} % better" if gain > 0 else f"{-gain:.1f} % worse"
        return (
            f"{name} is {side} than the naive forecast over {n} pairs; its fit is due for its "
            "scheduled refresh."
        )
    if decision.retrain:
        return (
            f"{name} is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "a retrain is due; until then the last close is the better guess."
        )
    if gain <= 0:
        return (
            f"{name} is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "no better than the last close; treat the forecast as a range, not a call."
        )
    if gain < settings.lstm_naive_margin * 100:
        return (
            f"{name} is {gain:.1f} % better than the naive forecast over {n} pairs: "
            "the naive forecast is hard to beat; treat the forecast as a range, not a call."
        )
    return (
        f"{name} is {gain:.1f} % better than the naive forecast over {n} pairs: a real edge, "
        "but day-to-day moves are mostly noise; read the bands, not only the line."
    )


# ---------------------------------------------------------------- what it serves


def summarise(rows: Sequence[Row]) -> dict[str, object]:
    """A forecast step's JSON: its origin, the target dates and the forecast levels."""
    return {
        "origin_date": as_date(rows[0]["origin_date"]).isoformat() if rows else None,
        "dates": [as_date(row["target_date"]).isoformat() for row in rows],
        "forecast": [round(as_float(row["forecast"]), 2) for row in rows],
    }


def version_note(metrics: Row) -> str | None:
    """How much of the network's correction a fit kept per horizon, and the best any share on
    offer did against the gap level on the blocks that chose it (issue 19)."""
    lambdas = metrics.get("lambdas")
    if not isinstance(lambdas, list):  # registered by a development version before the shares
        return None
    kept = " ".join(f"{share:g}" for share in lambdas)
    note = f"network's share kept, h1–h5: {kept}"
    ratios = metrics.get("share_ratios")
    if isinstance(ratios, dict) and ratios:
        offered = [row for share, row in ratios.items() if share != "0"]
        best = " ".join(f"{min(column):.3f}" for column in zip(*offered, strict=True))
        note += f" (best share's sMAPE ratio to the gap level on its validation blocks: {best})"
    return note


# ---------------------------------------------------------------- the spec and its loaders


def _model() -> ModelClass[Forecaster, LSTMConfig]:
    from taiex.models.lstm import GapLevelForecaster

    return GapLevelForecaster


def _config() -> type[LSTMConfig]:
    from taiex.models.lstm_config import LSTMConfig

    return LSTMConfig


def _evaluate() -> Evaluate[Forecaster]:
    from taiex.models.lstm_evaluation import evaluate

    return evaluate


def _serve() -> Serve[Forecaster]:
    from taiex.models.lstm_evaluation import serve

    return serve


def _backtest() -> Backtest[LSTMConfig]:
    from taiex.models.backtest import backtest_lstm

    return backtest_lstm


def _preopen_backtest() -> PreopenBacktest:
    from taiex.models.backtest import backtest_preopen

    return backtest_preopen


def _evaluation_plot() -> Plot:
    from taiex.plots import lstm_evaluation_plot

    return lstm_evaluation_plot


def _backtest_plot() -> Plot:
    from taiex.plots import backtest_plot

    return backtest_plot


LSTM: TypedKindSpec[Forecaster, LSTMConfig] = TypedKindSpec(
    name=NAME,
    title="LSTM forecaster",
    serves="forecasts",
    serve_task="lstm_predict_task",
    in_container=True,
    metric=METRIC,
    window=WINDOW,
    unlabelled_tail=0,
    config_section="lstm",
    threshold_setting="lstm_smape_max",
    threshold_text=lambda value: f"retrain above {value:g} %",
    decide=decide,
    reading=reading,
    summarise=summarise,
    evaluation_row=evaluation_row,
    from_row=from_row,
    served_day="origin_date",
    exact_row_columns=("n_days",),
    # The origins of the window's pairs: the window and the horizons before it.
    reuse_days=WINDOW + HORIZONS,
    version_note=version_note,
    model_class=_model,
    config_class=_config,
    evaluate=_evaluate,
    serve=_serve,
    run_backtest=_backtest,
    evaluation_plot=_evaluation_plot,
    backtest_plot=_backtest_plot,
    run_preopen_backtest=_preopen_backtest,
)
