"""The report's facts: everything the page and ``taiex status`` show, read from the database.

Nothing here loads a model or draws: the facts are plain values from the store's repositories.
Each champion's one-line reading comes from its kind's own decision rule (the same that decides
a retrain) and its kind's words for it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taiex.calendar import sessions_between
from taiex.etl import DataStatus, data_status
from taiex.frames import FORECAST_VALUES
from taiex.kinds import ALL_KINDS, KINDS, Decision, Evaluation, KindSpec
from taiex.models.registry import ModelVersion, Registry
from taiex.rounds import Round
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import Store

if TYPE_CHECKING:
    from taiex.report.preopen import PreopenFacts

TAIPEI = ZoneInfo("Asia/Taipei")
# A year of trading days: the forecast chart's overview (its PNG shows the last 30 of them).
HISTORY_DAYS = 250
RUN = "taiex run"
ENTER, DO_NOT_ENTER = "適合進場", "不適合進場"


def _serving(what: str) -> KindSpec:
    """The evening kind whose champion serves ``what`` (a store repository: forecasts,
    signals)."""
    return next(spec for spec in KINDS if spec.serves == what)


FORECASTER_SPEC = _serving("forecasts")
SIGNALLER_SPEC = _serving("signals")
FORECASTER = FORECASTER_SPEC.name
SIGNALLER = SIGNALLER_SPEC.name


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
class ChampionFacts:
    """A champion, its latest monitored figure beside its baseline, and what that means."""

    spec: KindSpec
    version: str
    family: str | None
    train_start: dt.date
    train_end: dt.date
    promoted_at: dt.datetime | None
    evaluation: Evaluation | None
    threshold: float
    decision: Decision
    reading: str
    note: str | None = None  # how the version was fitted (the kind's ``version_note``)

    @property
    def kind(self) -> str:
        return self.spec.name

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def metric_name(self) -> str:
        return self.spec.metric.name

    @property
    def baseline_name(self) -> str:
        return self.spec.metric.baseline_name

    @property
    def unit(self) -> str:
        return self.spec.metric.unit

    @property
    def threshold_text(self) -> str:
        return self.spec.threshold_text(self.threshold)

    def value_text(self, value: float | None) -> str:
        # Three decimals: sMAPEs near 1 % differ from the naive one in the second decimal.
        return self.spec.metric.text(value)


@dataclass(frozen=True)
class OvernightFacts:
    """One symbol of the pre-open round: its last stored US close, and the last US session
    whose close was usable (published half an hour) by the report's time."""

    symbol: str
    last: dt.date | None
    expected: dt.date | None

    @property
    def fresh(self) -> bool:
        return self.last is not None and (self.expected is None or self.last >= self.expected)


@dataclass(frozen=True)
class ReportFacts:
    """Everything the page and ``taiex status`` show, read from the database as plain values."""

    generated_at: dt.datetime  # UTC, naive like every timestamp in the database
    data: DataStatus
    sessions_behind: tuple[dt.date, ...]  # XTAI sessions after the last stored day, before today
    recent: tuple[DailyRow, ...]  # the last HISTORY_DAYS stored days
    forecast: ForecastFacts | None
    signal: SignalFacts | None
    champions: tuple[ChampionFacts, ...]
    versions: tuple[ModelVersion, ...]
    # A kind's rows of its evaluation table (its own versions, its own round), oldest first;
    # every kind's, the pre-open round's too.
    evaluations: Mapping[str, tuple[dict[str, Any], ...]]
    counts: Mapping[str, int]
    thresholds: Mapping[str, float]  # a kind's retrain threshold
    # The US closes of the pre-open round, one a symbol; empty when the round is off.
    overnight: tuple[OvernightFacts, ...] = ()
    # The pre-open round beside the evening's (:mod:`taiex.report.preopen`); None when the
    # round is off or there is no data.
    preopen: PreopenFacts | None = None

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
            f"No {spec.title} yet: run `{RUN}` to train it."
            for spec in KINDS
            if self.champion(spec.name) is None
        ]
        if self.sessions_behind:
            steps.append(
                f"The data misses {len(self.sessions_behind)} trading day(s) after "
                f"{self.data.last_date}: run `{RUN}`."
            )
        based_on = {
            (FORECASTER, "forecast"): self.forecast.origin_date if self.forecast else None,
            (SIGNALLER, "signal"): self.signal.based_on if self.signal else None,
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
    now = now or store.now()
    data = data_status(store)
    registry = Registry(store)
    versions = tuple(registry.versions())
    champions = {spec.name: registry.champion(spec.name) for spec in ALL_KINDS}
    tables = {table: store.evaluations.rows(table) for table in {s.metric.table for s in ALL_KINDS}}
    evaluations = {spec.name: own_rows(spec, tables[spec.metric.table]) for spec in ALL_KINDS}
    forecast = _latest_forecast(store, FORECASTER_SPEC, champions[FORECASTER])
    signal = _latest_signal(store, SIGNALLER_SPEC, champions[SIGNALLER])
    counts = {
        "trading days stored": data.rows,
        "model versions": len(versions),
        "forecast rows": store.forecasts.count(),
        "signals": store.signals.count(),
        **{
            f"{spec.title} evaluations": len(evaluations[spec.name])
            for spec in ALL_KINDS
            if spec in KINDS or evaluations[spec.name]
        },
    }
    from taiex.report.preopen import gather_preopen  # it reads this module's facts

    preopen = gather_preopen(store, settings, now, data.last_date, champions, evaluations)
    return ReportFacts(
        generated_at=now,
        data=data,
        sessions_behind=_sessions_behind(data.last_date, taipei(now).date()),
        recent=_recent(store, data.last_date),
        forecast=forecast,
        signal=signal,
        champions=champion_facts(KINDS, champions, evaluations, settings),
        versions=versions,
        evaluations=evaluations,
        counts=counts,
        thresholds={spec.name: spec.threshold(settings) for spec in ALL_KINDS},
        overnight=_overnight_facts(store, settings, now),
        preopen=preopen,
    )


def version_kind(version: str) -> str:
    """The kind of a version name such as ``lstm-v3`` (``lstm``)."""
    return version.rsplit("-v", 1)[0]


def own_rows(spec: KindSpec, rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The rows of an evaluation table that are ``spec``'s: its versions', measured in its
    round (rows from before the round column are the evening's)."""
    return tuple(
        dict(row)
        for row in rows
        if version_kind(str(row["model_version"])) == spec.name
        and str(row.get("round") or Round.evening.value) == spec.round.value
    )


def _overnight_facts(
    store: Store, settings: Settings, now: dt.datetime
) -> tuple[OvernightFacts, ...]:
    if settings.overnight_source == "none":
        return ()
    from taiex.overnight import last_known_sessions

    stored = store.overnight.last_dates()
    (expected,) = last_known_sessions([now.replace(tzinfo=dt.UTC)])
    return tuple(OvernightFacts(s, stored.get(s), expected) for s in settings.symbols)


def _latest_forecast(
    store: Store, spec: KindSpec, champion: ModelVersion | None
) -> ForecastFacts | None:
    """The champion's forecast from its latest origin; another version's of its round when it
    has none."""
    for version in ([champion.version] if champion else []) + [None]:
        found = store.forecasts.latest(version, round_name=spec.round.value)
        if found:
            return forecast_facts(found, champion)
    return None


def forecast_facts(
    rows: Sequence[Mapping[str, Any]], champion: ModelVersion | None
) -> ForecastFacts:
    """One version's stored rows from one origin (every horizon), as facts."""
    made_by = rows[0]["model_version"]
    return ForecastFacts(
        model_version=made_by,
        origin_date=rows[0]["origin_date"],
        created_at=max(row["created_at"] for row in rows),
        rows=tuple(_forecast_row(row) for row in sorted(rows, key=lambda r: int(r["horizon"]))),
        by_champion=champion is not None and made_by == champion.version,
    )


def _forecast_row(row: Mapping[str, Any]) -> ForecastRow:
    return ForecastRow(
        horizon=int(row["horizon"]),
        date=row["target_date"],
        **{name: float(row[name]) for name in FORECAST_VALUES},
    )


def _latest_signal(
    store: Store, spec: KindSpec, champion: ModelVersion | None
) -> SignalFacts | None:
    for version in ([champion.version] if champion else []) + [None]:
        row = store.signals.latest(version, round_name=spec.round.value)
        if row is not None:
            return signal_facts(row, champion)
    return None


def signal_facts(row: Mapping[str, Any], champion: ModelVersion | None) -> SignalFacts:
    """One stored signal, as facts."""
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


def taipei(moment: dt.datetime) -> dt.datetime:
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
    # 250 trading days fit in 400 calendar days even across Lunar New Year.
    rows = store.read_rows(start=last_day - dt.timedelta(days=400), end=last_day)
    return tuple(rows[-HISTORY_DAYS:])


def latest_evaluation(
    spec: KindSpec, rows: Sequence[Mapping[str, Any]], version: str
) -> Evaluation | None:
    """The latest stored evaluation of ``version`` (rows are ordered by data day)."""
    own = [row for row in rows if row["model_version"] == version]
    return spec.from_row(own[-1]) if own else None


def champion_facts(
    specs: Sequence[KindSpec],
    champions: Mapping[str, ModelVersion | None],
    evaluations: Mapping[str, Sequence[Mapping[str, Any]]],
    settings: Settings,
) -> tuple[ChampionFacts, ...]:
    """Each of ``specs``' champion (those that have one), its latest figure and its reading."""
    facts = []
    for spec in specs:
        version = champions.get(spec.name)
        if version is None:
            continue
        evaluation = latest_evaluation(spec, evaluations[spec.name], version.version)
        decision = spec.decide(evaluation, settings)
        family = evaluation.detail.get("model_family") if evaluation else None
        # The classifier's registration names the tournament's winner; older rows may lack it.
        family = family or version.params.get("winner") or version.params.get("model_family")
        facts.append(
            ChampionFacts(
                spec=spec,
                version=version.version,
                family=str(family) if family else None,
                train_start=version.train_start,
                train_end=version.train_end,
                promoted_at=version.promoted_at,
                evaluation=evaluation,
                threshold=spec.threshold(settings),
                decision=decision,
                reading=spec.reading(evaluation, decision, settings),
                note=spec.version_note(version.metrics),
            )
        )
    return tuple(facts)
