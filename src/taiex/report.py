"""The report: one self-contained HTML page, and the same facts for ``taiex status``.

The page answers three questions: what does tomorrow look like (the LSTM champion's 5-day
forecast of the open, 開盤, with its bands beside the naive level), should I enter (the
classifier's 適合進場 / 不適合進場 with its probability), and can I trust the models (each
champion's latest monitored metric beside its baseline, read in one honest line, and the metric
history). It also says how fresh the data is and, on an empty database, what to run.

Everything comes from the database (:func:`gather`): the report never loads a model. The page
carries its images as base64 data URIs and no external CSS, JS or font, so it works when mailed
or opened from anywhere. Files are written atomically.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pandas as pd
from markupsafe import Markup, escape
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from taiex.calendar import sessions_between
from taiex.errors import StorageError
from taiex.etl import DataStatus, data_status
from taiex.files import publish
from taiex.models.registry import ModelVersion, Registry
from taiex.plots import Thresholds, forecast_plot, metric_history_plot
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import (
    LoadRecord,
    Store,
    forecasts,
    lstm_model_evaluate,
    signals,
    svm_model_evaluate,
    utcnow,
)

log = logging.getLogger(__name__)

TAIPEI = ZoneInfo("Asia/Taipei")
HISTORY_DAYS = 30
RUN = "taiex run"
ENTER, DO_NOT_ENTER = "適合進場", "不適合進場"
# An AUC over fewer days than this moves a lot from one day to the next: say so.
SMALL_SAMPLE_DAYS = 60


# ---------------------------------------------------------------- the facts


@dataclass(frozen=True)
class ForecastRow:
    """One forecast day: the open (開盤) and its 80 % and 95 % bands, beside the naive level."""

    horizon: int
    date: dt.date
    forecast: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float
    naive: float

    @property
    def change_pct(self) -> float:
        """The forecast against the naive level (the last close), in percent."""
        return (self.forecast / self.naive - 1.0) * 100.0 if self.naive else math.nan


@dataclass(frozen=True)
class ForecastFacts:
    model_version: str
    origin_date: dt.date  # the last day the forecast knew
    created_at: dt.datetime
    rows: tuple[ForecastRow, ...]
    by_champion: bool  # False: made by a version that is not the champion any more


@dataclass(frozen=True)
class SignalFacts:
    model_version: str
    date: dt.date  # the session the signal is for
    based_on: dt.date
    probability: float
    signal: int
    threshold: float
    created_at: dt.datetime
    by_champion: bool

    @property
    def verdict(self) -> str:
        return ENTER if self.signal else DO_NOT_ENTER

    @property
    def meaning(self) -> str:
        return "suitable to enter" if self.signal else "not suitable to enter"


@dataclass(frozen=True)
class Evaluation:
    """The latest monitoring row of one model version."""

    data_date: dt.date
    value: float | None  # sMAPE (percent) or ROC AUC; None when undefined
    baseline: float | None  # naive sMAPE or trivial close/MA20 AUC, on the same days
    n: int  # pairs (LSTM) or labelled days (classifier)
    window_start: dt.date | None
    window_end: dt.date | None
    reason: str | None
    family: str | None = None


@dataclass(frozen=True)
class ChampionFacts:
    kind: str
    version: str
    family: str | None
    train_start: dt.date
    train_end: dt.date
    promoted_at: dt.datetime | None
    evaluation: Evaluation | None
    threshold: float
    reading: str

    @property
    def title(self) -> str:
        return "LSTM forecaster" if self.kind == "lstm" else "entry-signal classifier"

    @property
    def metric_name(self) -> str:
        return "sMAPE" if self.kind == "lstm" else "ROC AUC"

    @property
    def baseline_name(self) -> str:
        return "naive sMAPE" if self.kind == "lstm" else "trivial close/MA20 AUC"

    @property
    def unit(self) -> str:
        return "pairs" if self.kind == "lstm" else "days"

    @property
    def threshold_text(self) -> str:
        if self.kind == "lstm":
            return f"retrain above {self.threshold:g} %"
        return f"retrain below {self.threshold:g}"

    def value_text(self, value: float | None) -> str:
        if value is None:
            return "undefined"
        # Three decimals: sMAPEs near 1 % differ from the naive one in the second decimal.
        return f"{value:.3f} %" if self.kind == "lstm" else f"{value:.3f}"


@dataclass(frozen=True)
class ReportFacts:
    """Everything the page and ``taiex status`` show, read from the database as plain values."""

    generated_at: dt.datetime  # UTC, naive like every timestamp in the database
    data: DataStatus
    sessions_behind: tuple[dt.date, ...]  # XTAI sessions after the last stored day, before today
    recent: tuple[DailyRow, ...]  # the last 30 stored days
    forecast: ForecastFacts | None
    signal: SignalFacts | None
    champions: tuple[ChampionFacts, ...]
    versions: tuple[ModelVersion, ...]
    lstm_evaluations: tuple[dict[str, Any], ...]  # rows of lstm_model_evaluate, oldest first
    classifier_evaluations: tuple[dict[str, Any], ...]  # rows of svm_model_evaluate
    counts: Mapping[str, int]
    thresholds: Thresholds

    def champion(self, kind: str) -> ChampionFacts | None:
        return next((c for c in self.champions if c.kind == kind), None)

    @property
    def todo(self) -> list[str]:
        """What to run, and why; empty when everything is in place and fresh."""
        if self.data.rows == 0:
            return [
                f"No index data yet: run `{RUN}` to load the history since 1999, "
                "train both models and forecast."
            ]
        steps = [
            f"No {name} yet: run `{RUN}` to train it."
            for kind, name in (
                ("lstm", "LSTM forecaster"),
                ("classifier", "entry-signal classifier"),
            )
            if self.champion(kind) is None
        ]
        if self.sessions_behind:
            steps.append(
                f"The data misses {len(self.sessions_behind)} trading day(s) after "
                f"{self.data.last_date}: run `{RUN}`."
            )
        based_on = {
            ("lstm", "forecast"): self.forecast.origin_date if self.forecast else None,
            ("classifier", "signal"): self.signal.based_on if self.signal else None,
        }
        for (kind, name), day in based_on.items():
            if day is None and self.champion(kind) is not None:
                steps.append(f"No {name} yet: run `{RUN}`.")
            elif day is not None and day != self.data.last_date:
                steps.append(
                    f"The latest {name} is based on {day} but the data goes to "
                    f"{self.data.last_date}: run `{RUN}`."
                )
        return steps


# ---------------------------------------------------------------- reading the database


def gather(store: Store, settings: Settings, *, now: dt.datetime | None = None) -> ReportFacts:
    """Read every fact of the report; ``now`` (UTC) fixes the clock for reruns and tests."""
    now = now or utcnow()
    data = data_status(store)
    registry = Registry(store)
    with _reading("the model registry"):
        versions = tuple(registry.versions())
        champions = {kind: registry.champion(kind) for kind in ("lstm", "classifier")}
    with _reading("forecasts, signals and evaluations"), store.engine.connect() as conn:
        lstm_rows = _rows(conn, lstm_model_evaluate)
        classifier_rows = _rows(conn, svm_model_evaluate)
        forecast = _latest_forecast(conn, champions["lstm"])
        signal = _latest_signal(conn, champions["classifier"])
        counts = _counts(conn, data, versions, lstm_rows, classifier_rows)
    return ReportFacts(
        generated_at=now,
        data=data,
        sessions_behind=_sessions_behind(data.last_date, _taipei(now).date()),
        recent=_recent(store, data.last_date),
        forecast=forecast,
        signal=signal,
        champions=_champion_facts(champions, lstm_rows, classifier_rows, settings),
        versions=versions,
        lstm_evaluations=tuple(lstm_rows),
        classifier_evaluations=tuple(classifier_rows),
        counts=counts,
        thresholds=Thresholds(settings.lstm_smape_max, settings.classifier_auc_min),
    )


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StorageError(f"database error while reading {what}: {reason}") from exc


def _rows(conn: Connection, table: Table) -> list[dict[str, Any]]:
    query = select(table).order_by(table.c.data_date, table.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def _latest_forecast(conn: Connection, champion: ModelVersion | None) -> ForecastFacts | None:
    """The champion's forecast from its latest origin; another version's when it has none."""
    for version in ([champion.version] if champion else []) + [None]:
        query = select(forecasts.c.model_version, forecasts.c.origin_date)
        if version is not None:
            query = query.where(forecasts.c.model_version == version)
        query = query.order_by(forecasts.c.origin_date.desc(), forecasts.c.id.desc()).limit(1)
        latest = conn.execute(query).first()
        if latest is None:
            continue
        rows = conn.execute(
            select(forecasts)
            .where(forecasts.c.model_version == latest.model_version)
            .where(forecasts.c.origin_date == latest.origin_date)
            .order_by(forecasts.c.horizon)
        ).mappings()
        found = [dict(row) for row in rows]
        return ForecastFacts(
            model_version=latest.model_version,
            origin_date=latest.origin_date,
            created_at=max(row["created_at"] for row in found),
            rows=tuple(_forecast_row(row) for row in found),
            by_champion=champion is not None and latest.model_version == champion.version,
        )
    return None


def _forecast_row(row: Mapping[str, Any]) -> ForecastRow:
    bands = ("forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive")
    return ForecastRow(
        horizon=int(row["horizon"]),
        date=row["target_date"],
        **{name: float(row[name]) for name in bands},
    )


def _latest_signal(conn: Connection, champion: ModelVersion | None) -> SignalFacts | None:
    for version in ([champion.version] if champion else []) + [None]:
        query = select(signals)
        if version is not None:
            query = query.where(signals.c.model_version == version)
        query = query.order_by(signals.c.based_on.desc(), signals.c.id.desc()).limit(1)
        row = conn.execute(query).mappings().first()
        if row is None:
            continue
        return SignalFacts(
            model_version=row["model_version"],
            date=row["target_date"],
            based_on=row["based_on"],
            probability=float(row["probability"]),
            signal=int(row["signal"]),
            threshold=float(row["threshold"]),
            created_at=row["created_at"],
            by_champion=champion is not None and row["model_version"] == champion.version,
        )
    return None


def _counts(
    conn: Connection,
    data: DataStatus,
    versions: Sequence[ModelVersion],
    lstm_rows: Sequence[dict[str, Any]],
    classifier_rows: Sequence[dict[str, Any]],
) -> dict[str, int]:
    def count(table: Table) -> int:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)

    return {
        "trading days stored": data.rows,
        "model versions": len(versions),
        "forecast rows": count(forecasts),
        "signals": count(signals),
        "LSTM evaluations": len(lstm_rows),
        "classifier evaluations": len(classifier_rows),
    }


def _taipei(moment: dt.datetime) -> dt.datetime:
    """A naive UTC timestamp (as stored) in Taipei time."""
    return moment.replace(tzinfo=dt.UTC).astimezone(TAIPEI)


def _sessions_behind(last_day: dt.date | None, today: dt.date) -> tuple[dt.date, ...]:
    """XTAI sessions after ``last_day`` and before ``today`` (today's data comes after the
    close, so missing it is not yet late)."""
    if last_day is None:
        return ()
    return tuple(sessions_between(last_day + dt.timedelta(days=1), today - dt.timedelta(days=1)))


def _recent(store: Store, last_day: dt.date | None) -> tuple[DailyRow, ...]:
    if last_day is None:
        return ()
    # 30 trading days fit in 90 calendar days even across Lunar New Year.
    rows = store.read_rows(start=last_day - dt.timedelta(days=90), end=last_day)
    return tuple(rows[-HISTORY_DAYS:])


def _latest_evaluation(rows: Sequence[dict[str, Any]], version: str) -> Evaluation | None:
    own = [row for row in rows if row["model_version"] == version]
    if not own:
        return None
    row = own[-1]  # rows are ordered by data_date
    lstm = "sMAPE" in row
    return Evaluation(
        data_date=row["data_date"],
        value=_float(row["sMAPE"] if lstm else row["ROC_AUC"]),
        baseline=_float(row["naive_sMAPE"] if lstm else row["trivial_ROC_AUC"]),
        n=int(row["n_pairs"] if lstm else row["n_days"]),
        window_start=row["window_start"],
        window_end=row["window_end"],
        reason=row["reason"],
        family=None if lstm else row["model_family"],
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _champion_facts(
    champions: Mapping[str, ModelVersion | None],
    lstm_rows: Sequence[dict[str, Any]],
    classifier_rows: Sequence[dict[str, Any]],
    settings: Settings,
) -> tuple[ChampionFacts, ...]:
    facts = []
    lstm, classifier = champions.get("lstm"), champions.get("classifier")
    if lstm is not None:
        evaluation = _latest_evaluation(lstm_rows, lstm.version)
        reading = lstm_reading(evaluation, settings.lstm_smape_max, settings.lstm_naive_margin)
        facts.append(_champion(lstm, evaluation, settings.lstm_smape_max, reading))
    if classifier is not None:
        evaluation = _latest_evaluation(classifier_rows, classifier.version)
        reading = classifier_reading(evaluation, settings.classifier_auc_min)
        facts.append(_champion(classifier, evaluation, settings.classifier_auc_min, reading))
    return tuple(facts)


def _champion(
    version: ModelVersion, evaluation: Evaluation | None, threshold: float, reading: str
) -> ChampionFacts:
    family = evaluation.family if evaluation else None
    # The classifier's registration names the tournament's winner; older rows may lack it.
    family = family or version.params.get("winner") or version.params.get("model_family")
    return ChampionFacts(
        kind=version.kind,
        version=version.version,
        family=str(family) if family else None,
        train_start=version.train_start,
        train_end=version.train_end,
        promoted_at=version.promoted_at,
        evaluation=evaluation,
        threshold=threshold,
        reading=reading,
    )


# ---------------------------------------------------------------- honest readings


def lstm_reading(evaluation: Evaluation | None, smape_max: float, naive_margin: float) -> str:
    """One line that says what the LSTM's latest sMAPE means for a reader of the forecast."""
    if evaluation is None:
        return f"Not monitored yet: `{RUN}` scores it on days it did not train on."
    model, naive, n = evaluation.value, evaluation.baseline, evaluation.n
    if model is None:
        return f"No score yet: {evaluation.reason or 'no day it did not train on'}."
    if not naive:
        return f"sMAPE {model:.2f} % over {n} pairs; no naive score to compare with."
    gain = (naive - model) / naive * 100.0
    if model > smape_max:
        verdict = f"sMAPE {model:.2f} % is above the retrain threshold {smape_max:g} %"
        return f"{verdict}: a retrain is due; until then, trust the naive level."
    if gain < -naive_margin * 100:
        return (
            f"The LSTM is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "a retrain is due; until then the last close is the better guess."
        )
    if gain <= 0:
        return (
            f"The LSTM is {-gain:.1f} % worse than the naive forecast over {n} pairs: "
            "no better than the last close; treat the forecast as a range, not a call."
        )
    if gain < naive_margin * 100:
        return (
            f"The LSTM is {gain:.1f} % better than the naive forecast over {n} pairs: "
            "the naive forecast is hard to beat; treat the forecast as a range, not a call."
        )
    return (
        f"The LSTM is {gain:.1f} % better than the naive forecast over {n} pairs: a real edge, "
        "but day-to-day moves are mostly noise; read the bands, not only the line."
    )


def classifier_reading(evaluation: Evaluation | None, auc_min: float) -> str:
    """One line that says what the classifier's latest ROC AUC means for the entry signal."""
    if evaluation is None:
        return f"Not monitored yet: `{RUN}` scores it on days it did not train on."
    auc, trivial, n = evaluation.value, evaluation.baseline, evaluation.n
    if auc is None:
        reason = evaluation.reason or "one class only"
        return f"ROC AUC undefined over the last {n} days ({reason}): no verdict until both occur."
    small = f"; {n} days is a small sample" if n < SMALL_SAMPLE_DAYS else ""
    if auc < auc_min:
        return (
            f"ROC AUC {auc:.3f} over {n} days is below the retrain threshold {auc_min:g}: "
            "a retrain is due; take the signal lightly."
        )
    if trivial is not None and auc < trivial:
        return (
            f"ROC AUC {auc:.3f} vs {trivial:.3f} for the trivial close/MA20 score over {n} days: "
            f"the signal adds nothing over 'is the close above its MA20?'{small}."
        )
    versus = f" vs {trivial:.3f} for the trivial close/MA20 score" if trivial is not None else ""
    return (
        f"ROC AUC {auc:.3f}{versus} over {n} days: the probability ranks days well; "
        f"a lean, not a certainty{small}."
    )


# ---------------------------------------------------------------- the terminal


def status_rows(facts: ReportFacts) -> list[tuple[str, str]]:
    """The report's facts as (label, value) rows for ``taiex status`` (plain text, no markup)."""
    rows = [
        ("last trading day stored", _stored_text(facts)),
        ("last load", _load_text(facts.data.last_load)),
        ("freshness", _freshness_text(facts)),
        ("forecast 開盤 (open)", _forecast_text(facts.forecast)),
        ("entry signal", _signal_text(facts.signal)),
    ]
    for kind, name in (("lstm", "LSTM champion"), ("classifier", "classifier champion")):
        champion = facts.champion(kind)
        rows.append((name, _champion_text(champion) if champion else f"none: run `{RUN}`"))
        if champion:
            rows.append(("  reading", champion.reading))
    rows.append(("next step", " ".join(facts.todo) or "nothing to do: data and models are fresh"))
    return rows


def _stored_text(facts: ReportFacts) -> str:
    data = facts.data
    if data.last_date is None:
        return f"none: run `{RUN}`"
    return f"{data.last_date} ({data.rows:,} days since {data.first_date})"


def _load_text(load: LoadRecord | None) -> str:
    if load is None:
        return "never"
    return (
        f"{load.loaded_at:%Y-%m-%d %H:%M} UTC ({_taipei(load.loaded_at):%H:%M} Taipei) "
        f"from {load.source}: {load.inserted:,} new, {load.updated:,} revised"
    )


def _freshness_text(facts: ReportFacts) -> str:
    if facts.data.last_date is None:
        return "no data"
    behind = facts.sessions_behind
    if not behind:
        return f"up to date as of {_taipei(facts.generated_at):%Y-%m-%d %H:%M} Taipei"
    return f"{len(behind)} trading day(s) behind (missing {behind[0]} … {behind[-1]})"


def _forecast_text(forecast: ForecastFacts | None) -> str:
    if forecast is None or not forecast.rows:
        return f"none yet: run `{RUN}`"
    first, last = forecast.rows[0], forecast.rows[-1]
    return (
        f"{first.date} {first.forecast:,.0f} (80 %: {first.lower_80:,.0f}–{first.upper_80:,.0f})"
        f" … {last.date} {last.forecast:,.0f}; naive {first.naive:,.0f}; "
        f"{forecast.model_version} from {forecast.origin_date}"
    )


def _signal_text(signal: SignalFacts | None) -> str:
    if signal is None:
        return f"none yet: run `{RUN}`"
    return (
        f"{signal.date}: {signal.verdict} {signal.meaning}, P = {signal.probability:.2f} "
        f"(threshold {signal.threshold:.2f}), {signal.model_version} on {signal.based_on}"
    )


def _champion_text(champion: ChampionFacts) -> str:
    family = f" ({champion.family})" if champion.family else ""
    trained = f"{champion.version}{family}, trained {champion.train_start} … {champion.train_end}"
    evaluation = champion.evaluation
    if evaluation is None:
        return f"{trained}; not monitored yet"
    return (
        f"{trained}; {champion.metric_name} {champion.value_text(evaluation.value)} vs "
        f"{champion.baseline_name} {champion.value_text(evaluation.baseline)} over "
        f"{evaluation.n} {champion.unit} (to {evaluation.data_date})"
    )


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class Image:
    """A PNG for the page; ``data_uri`` inlines it so the page needs no other file."""

    title: str
    caption: str
    path: Path
    empty: bool = False  # drawn from no data: the page says so in words instead

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.path.read_bytes()).decode("ascii")


def write_report(store: Store, settings: Settings, *, now: dt.datetime | None = None) -> str:
    """Draw the plots under ``settings.plots_dir``, write ``index.html`` to the report's location
    (``TAIEX_REPORT_URL``: a folder or an fsspec URL); its path or URL."""
    facts = gather(store, settings, now=now)
    images = draw_plots(facts, settings.plots_dir)
    evaluations = latest_evaluation_plots(settings.plots_dir / "evaluate")
    page = render(facts, images, evaluations)
    path = publish(settings.report_location, "index.html", page.encode("utf-8"))
    log.info("wrote the report to %s", path)
    return path


def draw_plots(facts: ReportFacts, folder: Path) -> dict[str, Image]:
    """The forecast and the metric history plots, drawn from ``facts`` into ``folder``."""
    forecast = forecast_plot(
        _history_frame(facts.recent),
        _forecast_frame(facts.forecast),
        _signal_dict(facts.signal),
        folder / "forecast.png",
    )
    history = metric_history_plot(
        pd.DataFrame(list(facts.lstm_evaluations)),
        pd.DataFrame(list(facts.classifier_evaluations)),
        list(facts.versions),
        folder / "metric_history.png",
        facts.thresholds,
    )
    return {
        "forecast": Image(
            "加權指數 TAIEX: the last 30 trading days and the next 5 opens",
            "Candles: red up, green down (Taiwan's colours). Blue: the forecast open (開盤) "
            "with its 80 % and 95 % bands; dashed: the naive level (the last close).",
            forecast,
            empty=not facts.recent and facts.forecast is None,
        ),
        "metric_history": Image(
            "Monitoring over time",
            "Each champion's score on days it did not train on, beside its baseline (dashed); "
            "dotted lines: a model trained, green lines: a promotion.",
            history,
            empty=not facts.lstm_evaluations and not facts.classifier_evaluations,
        ),
    }


def latest_evaluation_plots(folder: Path) -> list[Image]:
    """The newest PNG under ``folder`` whose name starts with each model kind, if any.

    The monitoring step writes one plot per evaluation (``lstm-v3_2026-08-18.png``, ...);
    the report shows the latest of each kind.
    """
    if not folder.is_dir():
        return []
    found = []
    for kind, title in (("lstm", "LSTM forecaster"), ("classifier", "entry-signal classifier")):
        candidates = [p for p in folder.rglob(f"{kind}*.png") if p.is_file()]
        if candidates:
            newest = max(candidates, key=lambda p: (p.stat().st_mtime, p.name))
            found.append(Image(f"Latest evaluation: {title}", newest.name, newest))
    return found


def _history_frame(rows: Sequence[DailyRow]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(r.date, r.open, r.high, r.low, r.close) for r in rows],
        columns=["date", "open", "high", "low", "close"],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({c: "float64" for c in ("open", "high", "low", "close")})


def _forecast_frame(forecast: ForecastFacts | None) -> pd.DataFrame | None:
    if forecast is None:
        return None
    frame = pd.DataFrame([row.__dict__ for row in forecast.rows])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _signal_dict(signal: SignalFacts | None) -> dict[str, Any] | None:
    if signal is None:
        return None
    keys = ("date", "based_on", "probability", "signal", "threshold")
    return {key: getattr(signal, key) for key in keys}


def _code_spans(text: str) -> Markup:
    """Escaped ``text`` with its `backtick` spans (commands to run) set as <code>."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


def render(
    facts: ReportFacts, images: Mapping[str, Image], evaluations: Sequence[Image] = ()
) -> str:
    """The page as HTML text (autoescaped; images inlined)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("taiex", "templates"),
        autoescape=True,  # the name ends in .j2, so select_autoescape would not switch it on
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        code=_code_spans,
        points=lambda v: f"{v:,.2f}",
        signed=lambda v: "–" if math.isnan(v) else f"{v:+.2f} %",
        utc=lambda v: f"{v:%Y-%m-%d %H:%M} UTC ({_taipei(v):%H:%M} Taipei)",
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        facts=facts,
        images=images,
        evaluations=evaluations,
        freshness=_freshness_text(facts),
        last_load=_load_text(facts.data.last_load),
        run=RUN,
    )
