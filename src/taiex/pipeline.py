"""The daily job as steps: plain functions that take and return small values.

Each step opens what it needs from the settings, reads and writes the database, and is idempotent
for a given data day: rerun, it finds its work done and changes nothing. That is what lets the same
steps run in one process (``taiex run``) or as Airflow tasks on different workers, handing each
other dates, version names and metrics (everything large stays in the database).

    download → save_to_database → merge → classify → forecast → draw_outputs
    → evaluate(lstm) → retrain(lstm)?   evaluate(classifier) → retrain(classifier)?
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from taiex.calendar import Month
from taiex.errors import DataError, NotFittedError
from taiex.etl import (
    ETL_LOCK,
    Loader,
    MonthLoad,
    RawCache,
    backfill_months,
    load_months,
    taipei_today,
    update_months,
)
from taiex.models.registry import LoadedModel, Registry
from taiex.monitor import (
    KindSpec,
    evaluate_kind,
    first_model,
    retrain_kind,
    spec_for,
    train_and_register,
)
from taiex.settings import Settings
from taiex.source import TwseClient
from taiex.store import Store, forecasts, insert_missing, signals, utcnow

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a step works with: the settings and an open store."""

    settings: Settings
    store: Store

    @classmethod
    def open(cls, settings: Settings | None = None) -> Context:
        settings = settings or Settings.from_env()
        return cls(settings, Store.from_settings(settings))

    def close(self) -> None:
        self.store.dispose()

    def history(self) -> pd.DataFrame:
        history = self.store.read_history()
        if history.empty:
            raise DataError("the database holds no trading days yet: run `taiex backfill` first")
        return history

    def loader(self, as_of: dt.date | None = None) -> Loader:
        return Loader(
            self.store,
            TwseClient.from_settings(self.settings),
            RawCache(self.settings.raw_dir),
            today=as_of or taipei_today(),
            revision_days=self.settings.revision_days,
        )


# ---------------------------------------------------------------- data


def months_to_load(ctx: Context, as_of: dt.date | None = None) -> list[Month]:
    """The whole history on an empty database, else the months since the last stored day."""
    today = as_of or taipei_today()
    last = ctx.store.summary()["last_date"]
    if last is None:
        return backfill_months(None, None, today)
    return update_months(today, last, ctx.settings.revision_days)


def download(ctx: Context, as_of: dt.date | None = None) -> list[str]:
    """Fetch the months to load into the raw cache (``download_weighted_stock_price``)."""
    loader = ctx.loader(as_of)
    months = months_to_load(ctx, as_of)
    with ctx.store.lock(ETL_LOCK):
        for month in months:
            loader.rows(month)
    loader.client.close()
    return [str(m) for m in months]


def save_to_database(ctx: Context, months: list[str], as_of: dt.date | None = None) -> str:
    """Stage the downloaded months' rows in ``weighted_index_temp``; returns the load id.

    The rows come from the raw cache that ``download`` filled; a worker that does not share
    ``$TAIEX_HOME`` with the download's (or finds the cache older than the data day) asks TWSE.
    """
    loader = ctx.loader(as_of)
    rows = []
    for text in months:
        rows.extend(loader.fresh_rows(Month.parse(text)))
    loader.client.close()
    return ctx.store.stage_rows(rows)


def merge(ctx: Context, load_id: str) -> dict[str, Any]:
    """Merge a staged load into ``weighted_index`` in one transaction (``merge_weighted_index``)."""
    with ctx.store.lock(ETL_LOCK):
        result = ctx.store.merge_staged(load_id, source="twse")
    last = ctx.store.summary()["last_date"]
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "last_date": last.isoformat() if last else None,
    }


def update_data(
    ctx: Context,
    as_of: dt.date | None = None,
    on_month: Callable[[MonthLoad], None] | None = None,
) -> dict[str, Any]:
    """Download, stage and merge in one process, one transaction a month (``taiex run``)."""
    loader = ctx.loader(as_of)
    before = ctx.store.summary()["last_date"]
    loads = load_months(loader, months_to_load(ctx, as_of), on_month=on_month)
    loader.client.close()
    last = ctx.store.summary()["last_date"]
    return {
        "months": len(loads),
        "inserted": sum(load.result.inserted for load in loads),
        "updated": sum(load.result.updated for load in loads),
        "previous_last_date": before.isoformat() if before else None,
        "last_date": last.isoformat() if last else None,
    }


# ---------------------------------------------------------------- models


def champion(ctx: Context, spec: KindSpec, history: pd.DataFrame) -> LoadedModel:
    """The champion of a kind, training the first one when there is none."""
    registry = Registry(ctx.store)
    try:
        return registry.load_champion(spec.kind, spec.from_bytes)
    except NotFittedError:
        with ctx.store.lock(f"train-{spec.kind}"):
            if registry.champion(spec.kind) is None:  # nobody trained it while we waited
                trial = first_model(spec, registry, history)
                log.info("trained the first %s: %s", spec.kind, trial.version)
        return registry.load_champion(spec.kind, spec.from_bytes)


def train(ctx: Context, kind: str, until: dt.date | None = None) -> dict[str, Any]:
    """Train on the days up to ``until`` (default: every stored day) and register the model.

    The first model of a kind becomes champion; a later one stays a challenger until
    ``taiex models promote`` (it has no window that the champion did not train on to be judged).
    """
    history = ctx.history()
    spec = spec_for(kind, ctx.settings)
    last = history["date"].iloc[-1].date()
    until = until or last
    if until < history["date"].iloc[0].date():
        raise DataError(f"--until {until} is before the first stored day")
    registry = Registry(ctx.store)
    with ctx.store.lock(f"train-{kind}"):
        _, version = train_and_register(spec, registry, history, min(until, last))
        current = registry.champion(kind)
        promoted = current is None and registry.promote(version, "first model", expected=None)
        if promoted:
            registry.record_trial(
                version, decision="initial", reason="first model", score=None, champion_score=None
            )
    version = registry.get(kind, version.version)
    return {**version.summary(), "promoted": promoted}


def classify(ctx: Context) -> dict[str, Any]:
    """The entry signal for the next trading day, stored once per model and day."""
    history = ctx.history()
    loaded = champion(ctx, spec_for("classifier", ctx.settings), history)
    signal = loaded.model.signal(history)
    row = {
        "model_version": loaded.version.version,
        "based_on": signal["based_on"],
        "target_date": signal["date"],
        "probability": float(signal["probability"]),
        "signal": int(signal["signal"]),
        "threshold": float(signal["threshold"]),
        "created_at": utcnow(),
    }
    with ctx.store.engine.begin() as conn:
        insert_missing(conn, signals, [row])
    return {
        "version": loaded.version.version,
        "based_on": signal["based_on"].isoformat(),
        "date": signal["date"].isoformat(),
        "probability": row["probability"],
        "signal": row["signal"],
        "threshold": row["threshold"],
        "skipped_artifacts": loaded.skipped,
    }


def forecast(ctx: Context) -> dict[str, Any]:
    """The next 5 sessions' opening levels from the last stored day, stored once per model/day."""
    history = ctx.history()
    loaded = champion(ctx, spec_for("lstm", ctx.settings), history)
    frame = loaded.model.predict(history)
    origin = history["date"].iloc[-1].date()
    now = utcnow()
    rows = [
        {
            "model_version": loaded.version.version,
            "origin_date": origin,
            "horizon": int(r.horizon),
            "target_date": _date(r.date),
            **{c: float(getattr(r, c)) for c in FORECAST_VALUES},
            "created_at": now,
        }
        for r in frame.itertuples()
    ]
    with ctx.store.engine.begin() as conn:
        insert_missing(conn, forecasts, rows)
    return {
        "version": loaded.version.version,
        "origin_date": origin.isoformat(),
        "dates": [row["target_date"].isoformat() for row in rows],
        "forecast": [round(row["forecast"], 2) for row in rows],
        "skipped_artifacts": loaded.skipped,
    }


FORECAST_VALUES = ("forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive")


def _date(value: Any) -> dt.date:
    return value if type(value) is dt.date else pd.Timestamp(value).date()


# ---------------------------------------------------------------- monitoring


def evaluate(ctx: Context, kind: str) -> dict[str, Any]:
    """Measure the champion of ``kind``, store the figure and its plot; say whether to retrain."""
    spec = spec_for(kind, ctx.settings)
    report = evaluate_kind(spec, ctx.store, ctx.history(), ctx.settings)
    summary = report.summary()
    if report.evaluation is not None and not report.evaluation.frame.empty:
        summary["plot"] = str(draw_evaluation(ctx, report.evaluation))
    return summary


def retrain(ctx: Context, kind: str) -> dict[str, Any]:
    """Train a challenger (or the first model) and promote it only when it is better.

    A promoted challenger speaks for tomorrow at once: its signal or forecast is stored here
    (under ``output``), so that the report after monitoring needs no model.
    """
    trial = retrain_kind(spec_for(kind, ctx.settings), ctx.store, ctx.history())
    summary = trial.summary()
    if trial.promoted:
        summary["output"] = classify(ctx) if kind == "classifier" else forecast(ctx)
    return summary


def monitor(ctx: Context, kind: str) -> dict[str, Any]:
    """Evaluate, decide and, when the decision says so, retrain: one kind's part of the JSON."""
    summary = evaluate(ctx, kind)
    if summary["retrain"]:
        summary["challenger"] = retrain(ctx, kind)
        summary["champion"] = Registry(ctx.store).champion(kind).version  # type: ignore[union-attr]
    return summary


# ---------------------------------------------------------------- outputs


def draw_evaluation(ctx: Context, evaluation: Any) -> Any:
    from taiex.plots import classifier_evaluation_plot, lstm_evaluation_plot

    folder = ctx.settings.plots_dir / "evaluate"
    name = f"{evaluation.kind}_{evaluation.model_version}_{evaluation.data_date:%Y%m%d}.png"
    title = f"{evaluation.model_version} on {evaluation.window_start} … {evaluation.window_end}"
    if evaluation.kind == "lstm":
        return lstm_evaluation_plot(evaluation.frame, folder / name, title)
    return classifier_evaluation_plot(evaluation.frame, folder / name, title)


def draw_outputs(ctx: Context) -> dict[str, Any]:
    """The forecast plot and the HTML report (``process_models_predict_outputs``)."""
    from taiex.report import write_report

    path = write_report(ctx.store, ctx.settings)
    return {"report": str(path)}


# ---------------------------------------------------------------- the whole job


def run(
    ctx: Context,
    as_of: dt.date | None = None,
    on_month: Callable[[MonthLoad], None] | None = None,
) -> dict[str, Any]:
    """The daily job in one process: data, models, monitoring, outputs."""
    return run_models(ctx, update_data(ctx, as_of, on_month))


def run_models(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """Everything after the data update; ``data`` is what :func:`update_data` returned."""
    started = utcnow()
    nothing_new = data["inserted"] == 0 and data["updated"] == 0
    result: dict[str, Any] = {"data": data, "nothing_new": nothing_new}
    result["signal"] = classify(ctx)
    result["forecast"] = forecast(ctx)
    result["monitor"] = {kind: monitor(ctx, kind) for kind in ("lstm", "classifier")}
    # A promoted champion stored its own signal or forecast: it speaks for tomorrow.
    for kind, key in (("classifier", "signal"), ("lstm", "forecast")):
        output = (result["monitor"][kind]["challenger"] or {}).get("output")
        if output is not None:
            result[key] = output
    result["outputs"] = draw_outputs(ctx)
    result["seconds"] = (utcnow() - started).total_seconds()
    return result
