"""The LSTM forecaster as a kind: scored by sMAPE beside the naive forecast, serves forecasts.

Monitoring (docs/design.md, "Definitions"): every target day among the last 120 trading days
the model did not train on, forecast from each origin 1-5 trading days before it; sMAPE over all
those pairs and per horizon, beside the naive forecast's (open = the last close) on the same
pairs; and the Diebold-Mariano t of the difference, pooled over the horizons (:func:`pooled_dm_t`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taiex.kinds.spec import Decision, Evaluation, KindSpec, Metric, not_judged, unseen_window

if TYPE_CHECKING:
    import pandas as pd

    from taiex.models.lstm import LSTMForecaster
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


# ---------------------------------------------------------------- evaluation


def evaluate(
    model: LSTMForecaster,
    version: str,
    history: pd.DataFrame,
    targets: Sequence[dt.date] | None = None,
    *,
    window: int = WINDOW,
    known: Sequence[Mapping[str, Any]] | None = None,
) -> Evaluation:
    """sMAPE over every (origin, target) pair of the window: each target among the last
    :data:`WINDOW` trading days the model did not train on (or ``targets``), forecast from each
    origin 1..H days before it.

    ``known``: the forecast rows this version served before. An origin whose horizons are all
    there, made from the close the history still holds, is not forecast again: a forecast
    depends only on the rows up to its origin, and the model computes an origin alike whichever
    others it is given, so the figures are those of a recomputation. ``detail`` says how many
    origins were reused and computed."""
    from taiex.metrics import smape

    dates = _dates(history)
    chosen = (
        list(targets) if targets is not None else unseen_window(dates, model.train_end_, window)
    )
    common: dict[str, Any] = {"kind": NAME, "model_version": version, "data_date": dates[-1]}
    if not chosen:
        reason = f"no trading day after {model.train_end_} (the model's training end) yet"
        return Evaluation(**common, metric=None, baseline=None, n=0, reason=reason)
    pairs, reused, computed = _pairs(model, history, dates, chosen, known)
    if pairs.empty:
        reason = "no target day of the window has a full input window before it"
        return Evaluation(
            **common, metric=None, baseline=None, n=0, days=tuple(chosen), reason=reason
        )
    by_horizon = {
        str(h): (smape(part["forecast"], part["actual"]), smape(part["naive"], part["actual"]))
        for h, part in pairs.groupby("horizon")
    }
    detail = {
        "smape_by_horizon": {h: round(v[0], 6) for h, v in by_horizon.items()},
        "naive_smape_by_horizon": {h: round(v[1], 6) for h, v in by_horizon.items()},
        "dm_t": pooled_dm_t(pairs),
        "origins_reused": reused,
        "origins_computed": computed,
    }
    return Evaluation(
        **common,
        metric=smape(pairs["forecast"], pairs["actual"]),
        baseline=smape(pairs["naive"], pairs["actual"]),
        n=len(pairs),
        days=tuple(chosen),
        detail=detail,
        frame=pairs,
    )


def pooled_dm_t(pairs: pd.DataFrame) -> float | None:
    """The Diebold-Mariano t of the model against naive over a window's pairs, all horizons.

    Per target day, the mean over its pairs (one per horizon) of the sMAPE-term difference,
    model minus naive; then the t of those daily means in date order, with Newey-West variance
    at lag :data:`HORIZONS` (a day's forecasts share origins with the next four days'). Pooling
    the horizons uses the whole window (120 days), where horizon 1 alone would judge on a fifth
    of the pairs. Positive: worse than naive. None when undefined (fewer than
    :data:`taiex.metrics.MIN_DM_PAIRS` days, or no variance).
    """
    import numpy as np

    from taiex.metrics import diebold_mariano, smape_terms

    difference = smape_terms(pairs["forecast"], pairs["actual"]) - smape_terms(
        pairs["naive"], pairs["actual"]
    )
    by_day = (
        pairs.assign(difference=difference).groupby("target_date")["difference"].mean().sort_index()
    )
    t = diebold_mariano(by_day.to_numpy(), np.zeros(len(by_day)), lag=HORIZONS)
    return None if t is None else round(t, 6)


def _dates(history: pd.DataFrame) -> list[dt.date]:
    import pandas as pd

    return [ts.date() for ts in pd.to_datetime(history["date"])]


def _pairs(
    model: LSTMForecaster,
    history: pd.DataFrame,
    dates: list[dt.date],
    targets: Sequence[dt.date],
    known: Sequence[Mapping[str, Any]] | None,
) -> tuple[pd.DataFrame, int, int]:
    """The (origin, target) pairs with their actual open; how many origins were reused and how
    many computed."""
    import pandas as pd

    from taiex.frames import FORECAST_VALUES

    position = {d: i for i, d in enumerate(dates)}
    first_origin = model.config.window - 1
    horizons = range(1, model.config.horizons + 1)
    origins = sorted(
        {position[t] - h for t in targets for h in horizons if position[t] - h >= first_origin}
    )
    if not origins:
        return pd.DataFrame(), 0, 0
    close = history["close"].to_numpy(dtype=float)
    stored = _reusable(known or (), position, close, len(horizons))
    missing = [dates[i] for i in origins if i not in stored]
    parts = []
    if missing:
        parts.append(model.predict_origins(history, missing))
    reused = [
        {**row, "target_date": _target(dates, position, row)}
        for i in origins
        if i in stored
        for row in stored[i]
    ]
    if reused:  # in the columns and order of predict_origins
        columns = ["origin_date", "horizon", "target_date", *FORECAST_VALUES]
        parts.append(pd.DataFrame(reused, columns=columns))
    forecasts = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for column in ("origin_date", "target_date"):
        forecasts[column] = pd.to_datetime(forecasts[column]).astype("datetime64[ns]")
    # In the order a recomputation gives: a mean over the pairs adds them in this order.
    forecasts = forecasts.sort_values(["origin_date", "horizon"], kind="stable")
    actual = pd.Series(history["open"].to_numpy(dtype=float), index=pd.to_datetime(history["date"]))
    wanted = pd.to_datetime(pd.Series(list(targets)))
    pairs = forecasts[forecasts["target_date"].isin(wanted)].copy()
    pairs["actual"] = actual.reindex(pairs["target_date"]).to_numpy()
    return pairs.reset_index(drop=True), len(origins) - len(missing), len(missing)


def _reusable(
    known: Sequence[Mapping[str, Any]], position: Mapping[dt.date, int], close: Any, horizons: int
) -> dict[int, list[dict[str, Any]]]:
    """The known rows by origin (its position in the history), for the origins whose every
    horizon is there and whose naive level is still the origin's close (a revised close makes
    the stored forecast stale)."""
    from taiex.frames import FORECAST_VALUES, to_date

    by_origin: dict[int, list[dict[str, Any]]] = {}
    for row in known:
        i = position.get(to_date(row["origin_date"]))
        if i is not None:
            values = {c: float(row[c]) for c in FORECAST_VALUES}
            by_origin.setdefault(i, []).append(
                {"origin_date": row["origin_date"], "horizon": int(row["horizon"]), **values}
            )
    return {
        i: sorted(rows, key=lambda r: r["horizon"])
        for i, rows in by_origin.items()
        if sorted(r["horizon"] for r in rows) == list(range(1, horizons + 1))
        and all(r["naive"] == close[i] for r in rows)
    }


def _target(dates: list[dt.date], position: Mapping[dt.date, int], row: Mapping[str, Any]) -> Any:
    """The history's day ``horizon`` sessions after the row's origin (None past the data)."""
    from taiex.frames import to_date

    i = position[to_date(row["origin_date"])] + int(row["horizon"])
    return dates[i] if i < len(dates) else None


def evaluation_row(evaluation: Evaluation) -> dict[str, Any]:
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


def from_row(row: Mapping[str, Any]) -> Evaluation:
    """An evaluation read back from ``lstm_model_evaluate``: exactly the one computed when the
    row holds its day count (revision 0006), else without what older rows do not keep."""
    pairs = int(row["n_pairs"])
    days = row.get("n_days")
    detail: dict[str, Any] = {}
    if pairs:  # in the order :func:`evaluate` gives them
        detail = {
            "smape_by_horizon": row.get("sMAPE_by_horizon"),
            "naive_smape_by_horizon": row.get("naive_sMAPE_by_horizon"),
            "dm_t": _number(row.get("dm_t")),
        }
        counts = {k: row.get(k) for k in ("origins_reused", "origins_computed")}
        detail |= {k: int(v) for k, v in counts.items() if v is not None}
    return Evaluation(
        kind=NAME,
        model_version=row["model_version"],
        data_date=row["data_date"],
        metric=_number(row["sMAPE"]),
        baseline=_number(row["naive_sMAPE"]),
        n=pairs,
        reason=row["reason"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        # Rows from before revision 0006 keep no day count: each target is forecast from its 5
        # origins, so the pairs give the days (a target near the start of history may have
        # fewer origins: round up).
        n_days=int(days) if days is not None else math.ceil(pairs / HORIZONS),
        detail=detail,
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


# ---------------------------------------------------------------- decision and reading


def decide(evaluation: Evaluation | None, settings: Settings) -> Decision:
    """Retrain when sMAPE > TAIEX_LSTM_SMAPE_MAX, or worse than naive by more than
    TAIEX_LSTM_NAIVE_MARGIN, or significantly worse than naive (the pooled Diebold-Mariano t
    above TAIEX_LSTM_DM_T_MAX), or when there is no model; never on an undefined figure."""
    if evaluation is None:
        return Decision(True, "no LSTM model yet", "none")
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
    t, t_max = evaluation.detail.get("dm_t"), settings.lstm_dm_t_max
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
        t = evaluation.detail.get("dm_t")
        return (
            f"The LSTM is {-gain:.1f} % worse than the naive forecast over {n} pairs, and "
            f"consistently so (Diebold-Mariano t {t:+.1f}): a retrain is due; until then the "
            "last close is the better guess."
        )
    if decision.retrain:
        return (
            f"The LSTM is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "a retrain is due; until then the last close is the better guess."
        )
    if gain <= 0:
        return (
            f"The LSTM is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "no better than the last close; treat the forecast as a range, not a call."
        )
    if gain < settings.lstm_naive_margin * 100:
        return (
            f"The LSTM is {gain:.1f} % better than the naive forecast over {n} pairs: "
            "the naive forecast is hard to beat; treat the forecast as a range, not a call."
        )
    return (
        f"The LSTM is {gain:.1f} % better than the naive forecast over {n} pairs: a real edge, "
        "but day-to-day moves are mostly noise; read the bands, not only the line."
    )


# ---------------------------------------------------------------- what it serves


def serve(model: LSTMForecaster, version: str, history: pd.DataFrame) -> list[dict[str, Any]]:
    """The next sessions' opening levels from the last day of ``history``, as forecast rows."""
    from taiex.frames import FORECAST_VALUES, to_date

    frame = model.predict(history)
    origin = to_date(history["date"].iloc[-1])
    return [
        {
            "model_version": version,
            "origin_date": origin,
            "horizon": int(r["horizon"]),
            "target_date": to_date(r["date"]),
            **{c: float(r[c]) for c in FORECAST_VALUES},
        }
        for r in frame.to_dict("records")
    ]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A forecast step's JSON: its origin, the target dates and the forecast levels."""
    return {
        "origin_date": rows[0]["origin_date"].isoformat() if rows else None,
        "dates": [row["target_date"].isoformat() for row in rows],
        "forecast": [round(float(row["forecast"]), 2) for row in rows],
    }


def backtest_text(result: Any) -> str:
    """A backtest's summary per horizon, on days the model never saw: sMAPE beside the naive
    forecast's, their ratio and the Diebold-Mariano t of the difference; the intervals' coverage
    and interval (Winkler) score."""
    header = ("h", "model", "naive", "ratio", "DM t", "cover 80", "cover 95", "score 80",
              "score 95", "pairs")  # fmt: skip
    widths = (2, 8, 8, 6, 6, 8, 8, 8, 8, 6)
    lines = [
        "sMAPE (%) on days the model never saw; DM t: Diebold-Mariano t of model minus naive "
        "(Newey-West, lag h; above 2: significantly worse than naive); score: mean interval "
        "score in % of the last close (lower is better)",
        " ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)),
    ]
    for r in result.summary.to_dict("records"):
        dm = "—" if r["dm_t"] is None or math.isnan(r["dm_t"]) else f"{r['dm_t']:+.2f}"
        lines.append(
            f"{r['horizon']:>2} {r['smape_model']:>8.4f} {r['smape_naive']:>8.4f} "
            f"{r['ratio']:>6.3f} {dm:>6} {r['coverage_80']:>7.1f}% {r['coverage_95']:>7.1f}% "
            f"{r['score_80']:>8.3f} {r['score_95']:>8.3f} {r['n']:>6}"
        )
    return "\n".join(lines)


def version_note(metrics: Mapping[str, Any]) -> str | None:
    """How much of the network's correction a fit kept per horizon, and the best any share on
    offer did against the gap level on the blocks that chose it (issue 19)."""
    lambdas = metrics.get("lambdas")
    if lambdas is None:  # registered by a development version before the shares
        return None
    kept = " ".join(f"{share:g}" for share in lambdas)
    note = f"network's share kept, h1–h5: {kept}"
    ratios = metrics.get("share_ratios")
    if ratios:
        offered = [row for share, row in ratios.items() if share != "0"]
        best = " ".join(f"{min(column):.3f}" for column in zip(*offered, strict=True))
        note += f" (best share's sMAPE ratio to the gap level on its validation blocks: {best})"
    return note


LSTM = KindSpec(
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
    model_class="taiex.models.lstm:LSTMForecaster",
    config_class="taiex.models.lstm:LSTMConfig",
    evaluate="taiex.kinds.lstm:evaluate",
    serve="taiex.kinds.lstm:serve",
    evaluation_plot="taiex.plots:lstm_evaluation_plot",
    backtest="taiex.models.backtest:backtest_lstm",
    backtest_text=backtest_text,
    backtest_plot="taiex.plots:backtest_plot",
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
)
