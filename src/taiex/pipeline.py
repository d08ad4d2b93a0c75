"""The daily job as steps: plain functions that take and return small values.

Each step opens what it needs from the settings, reads and writes the database, and is idempotent
for a given data day: rerun, it finds its work done and changes nothing. That is what lets the same
steps run in one process (:func:`run`, ``taiex run``) or as Airflow tasks on different workers,
handing each other dates, version names and metrics (everything large stays in the database).

    download → save_to_database → merge → serve(kind) … → draw_outputs
    → evaluate(kind) → retrain(kind)? …   (for every kind of :data:`taiex.kinds.KINDS`)

Every model step takes the data day it works for and reads the stored history up to it, never
"whatever is latest", so rerunning last week's step computes last week's answer. Model code
(torch, scikit-learn) is imported only by the steps that train, evaluate or serve a model.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from taiex.calendar import Month, sessions_between, taipei_today
from taiex.errors import (
    DataError,
    InputError,
    NotFittedError,
    PriceMoveError,
    UpstreamFormatError,
)
from taiex.etl import (
    ETL_LOCK,
    Loader,
    MonthLoad,
    RawCache,
    as_of_day,
    backfill_months,
    load_months,
    stage_months,
    update_months,
)
from taiex.frames import to_date
from taiex.kinds import KINDS, KindSpec, of_round
from taiex.kinds import get as kind
from taiex.kinds import of_version as kind_of_version
from taiex.rounds import Round
from taiex.settings import Settings
from taiex.source import TwseClient
from taiex.store import Store

if TYPE_CHECKING:
    import pandas as pd

    from taiex.kinds import Evaluation
    from taiex.kinds.protocols import Model
    from taiex.models.registry import LoadedModel, ModelVersion, Registry
    from taiex.monitor import KindSummary, RetrainPolicy, TrialSummary
    from taiex.overnight import NightsOfHistory

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- context and progress


class Progress(Protocol):
    """What :func:`run` and the loads tell whoever shows their progress (the CLI's bar)."""

    def loading(self, months: int, to_fetch: int, interval: float) -> None: ...

    def loaded(self, load: MonthLoad) -> None: ...

    def step(self, name: str) -> None: ...


class Silent:
    """Progress shown to nobody."""

    def loading(self, months: int, to_fetch: int, interval: float) -> None:
        pass

    def loaded(self, load: MonthLoad) -> None:
        pass

    def step(self, name: str) -> None:
        pass


@dataclass
class Context:
    """What a step works with: the settings, an open store and the retrain policy.

    ``draw`` False leaves out the plots and the report (the faces, not the decisions): a
    simulation replaying many days needs only what was served and decided.
    """

    settings: Settings
    store: Store
    policy: RetrainPolicy | None = field(default=None)  # None: the configured thresholds
    draw: bool = True

    @classmethod
    def open(cls, settings: Settings | None = None) -> Context:
        settings = settings or Settings.from_env()
        return cls(settings, Store.from_settings(settings))

    def close(self) -> None:
        self.store.dispose()

    def history(self, day: dt.date | None = None) -> pd.DataFrame:
        """The stored days up to ``day`` (every stored day when None)."""
        history = self.store.read_history(end=day)
        if history.empty:
            raise no_history(self.store, day)
        return history

    def loader(self, as_of: dt.date | None = None) -> Loader:
        return Loader(
            self.store,
            TwseClient.from_settings(self.settings),
            RawCache(self.store),
            today=as_of_day(as_of),
            revision_days=self.settings.revision_days,
        )

    def registry(self) -> Registry:
        from taiex.models.registry import Registry

        return Registry(self.store)


# ---------------------------------------------------------------- data


class DataUpdate(TypedDict):
    """What a data step added: rows inserted and revised, and the last stored day after it."""

    months: NotRequired[int]  # months loaded (:func:`update_data`)
    inserted: int
    updated: int
    previous_last_date: NotRequired[str | None]  # the last stored day before (:func:`update_data`)
    last_date: str | None


def months_to_load(ctx: Context, as_of: dt.date | None = None) -> list[Month]:
    """The whole history on an empty database, else the months since the last stored day."""
    today = as_of_day(as_of)
    last = ctx.store.summary()["last_date"]
    if last is None:
        return backfill_months(None, None, today)
    return update_months(today, last, ctx.settings.revision_days)


def download(ctx: Context, as_of: dt.date | None = None) -> list[str]:
    """Fetch the months to load into the raw cache, TWSE's responses stored verbatim in the
    database (``download_weighted_stock_price``). A month fetched for this data day already is
    not asked again: a rerun asks TWSE nothing."""
    loader = ctx.loader(as_of)
    months = months_to_load(ctx, as_of)
    with ctx.store.lock(ETL_LOCK):
        for month in months:
            loader.fresh_rows(month)
    loader.client.close()
    return [str(m) for m in months]


def save_to_database(ctx: Context, months: list[str], as_of: dt.date | None = None) -> str:
    """Stage the downloaded months' rows in ``weighted_index_temp``; returns the load id.

    The id comes from the data day and the months, so a retried save replaces its own staged
    rows instead of leaving orphans. The rows come from the responses that ``download`` stored in
    the database, on whichever worker it ran.
    """
    loader = ctx.loader(as_of)
    try:
        return stage_months(loader, [Month.parse(text) for text in months])
    finally:
        loader.client.close()


def merge(ctx: Context, load_id: str) -> DataUpdate:
    """Merge a staged load into ``weighted_index`` in one transaction (``merge_weighted_index``)."""
    with ctx.store.lock(ETL_LOCK):
        try:
            result = ctx.store.merge_staged(load_id, source="twse")
        except PriceMoveError as exc:
            where = f"TWSE rows staged under load {load_id}"
            raise UpstreamFormatError(str(exc), where=where) from exc
    last = ctx.store.summary()["last_date"]
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "last_date": last.isoformat() if last else None,
    }


def load(
    ctx: Context,
    months: Sequence[Month],
    *,
    refresh: bool = False,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> list[MonthLoad]:
    """Load ``months`` (fetch or cache, stage, merge: one transaction a month), telling
    ``progress`` how many must be fetched (they pay the rate limit) and each one done. The
    caller holds the load lock."""
    progress = progress or Silent()
    loader = ctx.loader(as_of)
    try:
        to_fetch = sum(loader.needs_fetch(m, refresh) for m in months)
        progress.loading(len(months), to_fetch, loader.client.limiter.interval)
        return load_months(loader, list(months), refresh=refresh, on_month=progress.loaded)
    finally:
        loader.client.close()


def backfill(
    ctx: Context,
    since: Month | None = None,
    until: Month | None = None,
    *,
    refresh: bool = False,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> list[MonthLoad]:
    """Load every month from ``since`` (default 1999-01) to ``until`` (default this month) under
    the load lock, which comes first: a refused run says so before anything else."""
    with ctx.store.lock(ETL_LOCK):
        months = backfill_months(since, until, as_of_day(as_of))
        return load(ctx, months, refresh=refresh, as_of=as_of, progress=progress)


def update(
    ctx: Context, as_of: dt.date | None = None, progress: Progress | None = None
) -> list[MonthLoad]:
    """Load the months since the last stored day (the current month, usually), under the lock."""
    with ctx.store.lock(ETL_LOCK):
        return load(ctx, months_to_load(ctx, as_of), as_of=as_of, progress=progress)


def update_data(
    ctx: Context, as_of: dt.date | None = None, progress: Progress | None = None
) -> DataUpdate:
    """Download, stage and merge what is missing (the whole history on an empty database); the
    caller holds the load lock."""
    before = ctx.store.summary()["last_date"]
    loads = load(ctx, months_to_load(ctx, as_of), as_of=as_of, progress=progress)
    last = ctx.store.summary()["last_date"]
    return {
        "months": len(loads),
        "inserted": sum(one.result.inserted for one in loads),
        "updated": sum(one.result.updated for one in loads),
        "previous_last_date": before.isoformat() if before else None,
        "last_date": last.isoformat() if last else None,
    }


class DataAge(TypedDict):
    """How far the stored days lag (``data_age`` in ``run --json`` and ``predict --json``):
    the last stored day a forecast starts from, the last XTAI session it should start from, the
    sessions between, and the line that says so (None when the data is current)."""

    last_stored: str
    last_session: str | None  # the last XTAI session the data should hold (None: no later one)
    sessions_behind: int
    stale: bool
    message: str | None


def data_age(store: Store, today: dt.date | None = None, day: dt.date | None = None) -> DataAge:
    """How the stored days compare with the XTAI sessions before ``today`` (default: today in
    Taipei), or with those up to ``day`` (``predict --day``), whose forecast comes from the last
    stored day on or before it. DataError when nothing is stored (up to ``day``)."""
    history = store.read_history(end=day)
    if history.empty:
        raise no_history(store, day)
    last = to_date(history["date"].iloc[-1])
    if day is not None and day < store.summary()["last_date"]:
        # A day with no session among the stored ones: its data is the day before's, and the
        # later days stored say that no session is missing.
        missed: list[dt.date] = []
        message = (
            f"--day {day} is not a stored day: the data to it ends on {last}"
            if day > last
            else None
        )
    elif day is not None:
        missed = sessions_between(last + dt.timedelta(days=1), day)
        behind = f" ({_sessions(len(missed))} behind)" if missed else ""
        message = (
            f"--day {day} is after the last stored day: the forecast served is the one from "
            f"{last}, the last stored day before {day}{behind}"
            if day > last
            else None
        )
    else:
        today = today or taipei_today()
        missed = sessions_between(last + dt.timedelta(days=1), today - dt.timedelta(days=1))
        message = (
            f"stale data: the last stored day is {last}, {_sessions(len(missed))} behind the last "
            f"XTAI session before {today} ({missed[-1]}); the forecasts start from {last}"
            if missed
            else None
        )
    return {
        "last_stored": last.isoformat(),
        "last_session": missed[-1].isoformat() if missed else None,
        "sessions_behind": len(missed),
        "stale": bool(missed),
        "message": message,
    }


def no_history(store: Store, day: dt.date | None) -> DataError:
    """Why nothing is stored up to ``day``: an empty database, or a day before its first."""
    first = store.summary()["first_date"]
    if day is not None and first is not None:
        return DataError(f"--day {day} is before the first stored day, {first}")
    where = f" up to {day}" if day else ""
    return DataError(f"the database holds no trading days{where} yet: run `taiex run` first")


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


# ---------------------------------------------------------------- models


def model_history(ctx: Context, spec: KindSpec, history: pd.DataFrame) -> pd.DataFrame:
    """``history`` as a model of ``spec`` reads it: a pre-open kind's carries the nights' moves
    from the stored US closes (:func:`taiex.overnight.history_nights`), the last day's unknown
    (NaN) when a close its round may know is not stored."""
    if spec.round is Round.evening:
        return history
    return nights_of_history(ctx, history).frame


def nights_of_history(ctx: Context, history: pd.DataFrame) -> NightsOfHistory:
    """``history`` with its nights, the live round's night of its last day and what is missing."""
    from taiex.overnight import history_nights

    settings = ctx.settings
    closes = ctx.store.overnight.closes(settings.symbols)
    return history_nights(history, closes, settings.symbols, settings.preopen)


def serving_history(ctx: Context, spec: KindSpec, history: pd.DataFrame) -> pd.DataFrame:
    """:func:`model_history` for serving: a pre-open kind cannot serve from a night it does not
    know (:class:`taiex.overnight.MissingCloseError`, which the round turns into the evening's
    forecast, saying why)."""
    if spec.round is Round.evening:
        return history
    from taiex.overnight import MissingCloseError

    nights = nights_of_history(ctx, history)
    if nights.problem is not None:
        raise MissingCloseError(nights.problem)
    return nights.frame


def champion(ctx: Context, spec: KindSpec, history: pd.DataFrame) -> LoadedModel[Model]:
    """The champion of a kind, training the first one (on ``history``) when there is none."""
    from taiex.monitor import first_model

    registry = ctx.registry()
    try:
        return registry.load_champion(spec.name, spec.from_bytes)
    except NotFittedError:
        with ctx.store.lock(f"train-{spec.name}"):
            if registry.champion(spec.name) is None:  # nobody trained it while we waited
                trial = first_model(spec, ctx.settings, registry, history)
                log.info("trained the first %s: %s", spec.name, trial.version)
        return registry.load_champion(spec.name, spec.from_bytes)


def serve(ctx: Context, kind_name: str, day: dt.date | None = None) -> dict[str, object]:
    """What the champion of a kind says for the session after the data day (the forecast, the
    signal), stored once per model version and day (``classifier_predict_task``,
    ``lstm_predict_task``)."""
    spec = kind(kind_name)
    history = ctx.history(day)
    stored = _stored_serve(ctx, spec, to_date(history["date"].iloc[-1]))
    if stored is not None:
        return stored
    history = serving_history(ctx, spec, history)
    loaded = champion(ctx, spec, history)
    rows = spec.served_rows(loaded.model, loaded.version.version, history)
    getattr(ctx.store, spec.serves).save(rows)
    return {
        "version": loaded.version.version,
        **spec.summarise(rows),
        "skipped_artifacts": loaded.skipped,
    }


def _stored_serve(ctx: Context, spec: KindSpec, day: dt.date) -> dict[str, object] | None:
    """A rerun's answer: what the champion served from ``day`` already, while it still holds
    (:mod:`taiex.reuse`), as the same JSON; None when the model must run. Its artifact passes
    its checksum, so nothing was skipped to load it."""
    from taiex.reuse import served, sound_champion

    current = sound_champion(ctx.registry(), spec.name)
    rows = served(spec, ctx.store, current.version, day) if current else []
    if current is None or not rows:
        return None
    return {"version": current.version, **spec.summarise(rows), "skipped_artifacts": []}


def train(ctx: Context, kind_name: str, until: dt.date | None = None) -> dict[str, object]:
    """Train on the days up to ``until`` (default: every stored day) and register the model.

    The first model of a kind becomes champion; a later one stays a challenger until
    ``taiex models promote`` (it has no window that the champion did not train on to be judged).
    """
    from taiex.monitor import train_and_register

    spec = kind(kind_name)
    history = model_history(ctx, spec, ctx.history())
    first, last = to_date(history["date"].iloc[0]), to_date(history["date"].iloc[-1])
    until = until or last
    if until < first:
        raise DataError(f"--until {until} is before the first stored day {first}")
    registry = ctx.registry()
    with ctx.store.lock(f"train-{spec.name}"):
        _, version = train_and_register(spec, ctx.settings, registry, history, min(until, last))
        current = registry.champion(spec.name)
        promoted = current is None and registry.promote(version, "first model", expected=None)
        if promoted:
            registry.record_trial(
                version, decision="initial", reason="first model", score=None, champion_score=None
            )
    version = registry.get(spec.name, version.version)
    return {**version.summary(), "promoted": promoted}


@dataclass(frozen=True)
class Served:
    """What one kind's champion says for the next session, without storing it."""

    spec: KindSpec
    version: str
    rows: list[dict[str, object]]
    skipped: list[str]


def predict(
    ctx: Context, day: dt.date | None = None, round_name: Round = Round.evening
) -> list[Served]:
    """Every champion's answer of a round for the session after the data day (``taiex
    predict``); a champion whose artifact is damaged is replaced by the last good former one, as
    ``skipped`` says."""
    history = ctx.history(day)
    registry = ctx.registry()
    served = []
    for spec in of_round(round_name):
        loaded = registry.load_champion(spec.name, spec.from_bytes)
        rows = spec.served_rows(
            loaded.model, loaded.version.version, serving_history(ctx, spec, history)
        )
        served.append(Served(spec, loaded.version.version, rows, loaded.skipped))
    return served


def promote(ctx: Context, version_name: str) -> ModelVersion:
    """Make a registered version champion by hand, recorded as a manual decision. Its artifact
    must load in full first: a damaged model is never crowned."""
    spec = kind_of_version(version_name)
    return ctx.registry().promote_by_hand(spec.name, version_name, spec.from_bytes)


def rollback(ctx: Context, kind_name: str) -> ModelVersion:
    """Give the championship back to the version that held it before the current champion."""
    return ctx.registry().rollback(kind(kind_name).name)


@dataclass(frozen=True)
class Backtest:
    """A walk-forward test's scored rows, its summary in words, and its plot (if the kind has
    one)."""

    rows: pd.DataFrame  # one row per scored pair or day
    text: str
    plot: Path | None


def backtest(
    ctx: Context,
    kind_name: str,
    train_until: dt.date,
    start: dt.date,
    end: dt.date | None,
    round_name: Round | None = None,
) -> Backtest:
    """A walk-forward test of a fresh, unregistered model of a kind (``taiex backtest``): trained
    on the days up to ``train_until`` with the configured hyperparameters, scored on
    ``[start, end]``, beside the kind's baseline. The ``pre-open`` round's model also reads the
    night's US moves, each known only from its publication (:mod:`taiex.overnight`)."""
    spec = kind(kind_name)
    if round_name is Round.evening and spec.round is not Round.evening:
        raise InputError(f"{spec.name} is a kind of the {spec.round} round: drop --round evening")
    if start <= train_until:
        raise InputError(f"--from {start} must be after --train-until {train_until}")
    if end is not None and end < start:
        raise InputError(f"--to {end} is before --from {start}")
    history = ctx.history()
    preopen_test = round_name is Round.pre_open and spec.round is Round.evening
    if preopen_test:
        result = spec.backtest_preopen(
            history, _night_moves(ctx, history), train_until=train_until, start=start, end=end
        )
    else:
        history = model_history(ctx, spec, history)
        result = spec.backtest(ctx.settings, history, train_until=train_until, start=start, end=end)
    # An evening kind tested in the pre-open round draws a plot of its own.
    suffix = f"_{Round.pre_open}" if preopen_test else ""
    path = ctx.settings.plots_dir / f"backtest_{spec.name}{suffix}.png"
    title = f"{spec.title} backtest from {start}" + (f" ({Round.pre_open})" if suffix else "")
    plot = spec.plot_backtest(_targets_until(result.rows, end), path, title)
    return Backtest(result.rows, result.text(), plot)


def _targets_until(rows: pd.DataFrame, end: dt.date | None) -> pd.DataFrame:
    """The ``rows`` whose target is on or before ``end``: what the backtest's table scores, so
    its plot counts the same pairs (the CSV keeps the last origins' later targets too)."""
    if end is None or "target_date" not in rows.columns:
        return rows
    import pandas as pd

    return rows[pd.to_datetime(rows["target_date"]) <= pd.Timestamp(end)]


def _night_moves(ctx: Context, history: pd.DataFrame) -> pd.DataFrame:
    """Each stored day's night before the next stored day's pre-open round, from the stored US
    closes of the configured symbols."""
    import pandas as pd

    from taiex.overnight import night_moves_frame

    settings = ctx.settings
    closes = ctx.store.overnight.closes(settings.symbols)
    if not any(closes.values()):
        raise DataError(
            "no US closes stored: load them first (`taiex overnight update`, or "
            "`taiex overnight import-csv FILE`)"
        )
    days = list(pd.to_datetime(history["date"]).dt.date)
    return night_moves_frame(days, closes, settings.symbols, settings.preopen)


# ---------------------------------------------------------------- monitoring


def evaluate(ctx: Context, kind_name: str, day: dt.date | None = None) -> KindSummary:
    """Measure the champion of a kind on the data up to ``day``, store the figure and its plot;
    say whether to retrain. A rerun for the same day answers from what it stored, while that
    still holds (:func:`taiex.monitor.stored_report`), without loading the model."""
    from taiex.monitor import CONFIGURED, evaluate_kind, stored_report

    spec = kind(kind_name)
    history = model_history(ctx, spec, ctx.history(day))
    policy = ctx.policy or CONFIGURED
    report = stored_report(spec, ctx.store, history, ctx.settings, policy)
    figure = None
    if ctx.draw and report is not None and report.evaluation and report.evaluation.n:
        # An evaluation that scored anything has its figure drawn; never drawn (the first run
        # did not draw), the evaluation runs again to draw it.
        figure = _stored_figure(ctx, spec, report.evaluation)
        report = report if figure else None
    if report is None:
        report = evaluate_kind(spec, ctx.store, history, ctx.settings, policy)
        evaluation = report.evaluation
        if ctx.draw and evaluation is not None and _has_rows(evaluation.frame):
            figure = draw_evaluation(ctx, spec, evaluation)
    summary = report.summary()
    if ctx.draw and figure is not None:
        summary["figure"] = figure
    return summary


def _stored_figure(ctx: Context, spec: KindSpec, evaluation: Evaluation) -> str | None:
    """The name of the evaluation's figure when it is stored."""
    name = _figure_name(spec, evaluation)
    return name if ctx.store.figures.has(name) else None


def _has_rows(frame: pd.DataFrame | None) -> bool:
    return frame is not None and not frame.empty


def retrain(ctx: Context, kind_name: str, day: dt.date | None = None) -> TrialSummary:
    """Train a challenger (or the first model) on the data up to ``day`` and promote it only
    when it is better; a promoted one stores its answer for the session after ``day``."""
    from taiex.monitor import retrain_kind

    spec = kind(kind_name)
    history = model_history(ctx, spec, ctx.history(day))
    trial = retrain_kind(spec, ctx.store, history, ctx.settings)
    summary = trial.summary()
    if trial.promoted:
        # The new champion speaks for tomorrow at once (under ``output``): the report after
        # monitoring then needs no model. A pre-open one cannot while its night is unknown.
        from taiex.overnight import MissingCloseError

        try:
            summary["output"] = serve(ctx, kind_name, day)
        except MissingCloseError as exc:
            summary["output"] = {"unserved": str(exc)}
    return summary


def monitor(ctx: Context, kind_name: str, day: dt.date | None = None) -> KindSummary:
    """Evaluate, decide and, when the decision says so, retrain: one kind's part of the JSON."""
    summary = evaluate(ctx, kind_name, day)
    if summary["retrain"]:
        summary["challenger"] = retrain(ctx, kind_name, day)
        current = ctx.registry().champion(kind(kind_name).name)
        summary["champion"] = current.version if current else None
    return summary


# ---------------------------------------------------------------- outputs


def draw_evaluation(ctx: Context, spec: KindSpec, evaluation: Evaluation) -> str:
    """The evaluation's plot (pairs or days scored), stored in the database for the report on
    whichever worker writes it; the figure's name."""
    name = _figure_name(spec, evaluation)
    title = f"{evaluation.model_version} on {evaluation.window_start} … {evaluation.window_end}"
    path = spec.plot_evaluation(evaluation, ctx.settings.plots_dir / "evaluate" / name, title)
    ctx.store.figures.save(
        name,
        kind=spec.evaluation_figure,
        model_version=evaluation.model_version,
        data_date=evaluation.data_date,
        png=path.read_bytes(),
    )
    return name


def _figure_name(spec: KindSpec, evaluation: Evaluation) -> str:
    return f"{spec.name}_{evaluation.model_version}_{evaluation.data_date:%Y%m%d}.png"


def draw_outputs(ctx: Context) -> dict[str, str]:
    """The forecast plot and the HTML report (``process_models_predict_outputs``)."""
    from taiex.report.page import write_report

    path = write_report(ctx.store, ctx.settings)
    return {"report": str(path)}


# ---------------------------------------------------------------- the whole job


class RunSummary(TypedDict):
    """The daily job's JSON: the data step, what each kind served (by kind), its monitoring,
    the outputs written and the seconds the model steps took."""

    data: DataUpdate
    nothing_new: bool
    served: dict[str, dict[str, object]]
    monitor: dict[str, KindSummary]
    outputs: dict[str, str]
    seconds: float
    data_age: NotRequired[DataAge]  # how far the stored days lag today (or --as-of)


def run(ctx: Context, as_of: dt.date | None = None, progress: Progress | None = None) -> RunSummary:
    """The daily job in one process: data, models, monitoring, outputs. The whole job holds the
    load lock, so a second ``taiex run`` stops at once (exit code 75)."""
    from taiex import notify

    steps = notify.Steps(progress or Silent())
    since = ctx.store.now()
    try:
        with ctx.store.lock(ETL_LOCK):
            steps.step("data")
            data = update_data(ctx, as_of, steps)
            summary = run_models(ctx, data, as_of, steps)
            summary["data_age"] = data_age(ctx.store, as_of_day(as_of))
    except Exception as exc:
        notify.job_failed(ctx.settings, Round.evening, steps.current, exc)
        raise
    notify.after_evening(ctx, summary, as_of, since)  # TAIEX_NOTIFY_URLS; never raises
    return summary


def run_models(
    ctx: Context,
    data: DataUpdate,
    day: dt.date | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Everything after the data update, for the data up to ``day`` (all when None)."""
    progress = progress or Silent()
    started = time.monotonic()
    nothing_new = data["inserted"] == 0 and data["updated"] == 0
    served: dict[str, dict[str, object]] = {}
    for spec in KINDS:
        progress.step(f"serve {spec.name}")
        served[spec.name] = serve(ctx, spec.name, day)
    monitored: dict[str, KindSummary] = {}
    for spec in KINDS:
        progress.step(f"monitor {spec.name}")
        part = monitor(ctx, spec.name, day)
        monitored[spec.name] = part
        challenger = part["challenger"]
        if challenger is not None and challenger["promoted"]:
            # A new champion speaks for tomorrow: the answer it stored replaces the old one's.
            served[spec.name] = challenger["output"]
    if ctx.draw:
        progress.step("report")
    outputs = draw_outputs(ctx) if ctx.draw else {}
    return {
        "data": data,
        "nothing_new": nothing_new,
        "served": served,
        "monitor": monitored,
        "outputs": outputs,
        "seconds": round(time.monotonic() - started, 3),
    }
