"""Monitoring: measure each champion on days it never trained on, decide, retrain, promote.

The loop is the same for every kind (:mod:`taiex.kinds`); a spec says what differs:

1. **Evaluate** the champion over its window (the spec's evaluation; only days after the model's
   training end count, so no model is ever scored on what it learned), and store the figure
   beside its baseline on the same days, once per model version and data day.
2. **Decide** by the spec's rule, through a :class:`RetrainPolicy` (the configured thresholds by
   default; a simulation may replay another policy with the same code). Never on an undefined
   metric, nor on fewer than :data:`~taiex.kinds.MIN_DAYS_TO_JUDGE` days.
3. **Challenge**: the champion's unseen window is split in two: a challenger trains on every day
   before its recent half and both are scored on that half, which neither trained on; the
   challenger is promoted only when it scores better. Every decision, its reason and both scores
   are kept with the versions (the registry).

A first model is trained on the days before the window too, so its monitoring is meaningful from
day one instead of waiting for days it has not seen.

A champion whose artifact cannot be loaded counts as failing: the decision is to retrain, with
the reason kept with the version and the evaluation. The model evaluated and challenged in its
place is the last former champion that loads; if the challenger does not beat it, that former
champion takes the title back, so an unusable champion never stays one (and when nothing loads,
a new first model replaces it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NotRequired, Protocol, TypedDict, overload

import numpy as np
import pandas as pd

from taiex.errors import ArtifactError, DataError
from taiex.frames import to_date
from taiex.kinds import MIN_DAYS_TO_JUDGE, Decision, Evaluation, KindSpec
from taiex.kinds.protocols import Model
from taiex.models.registry import LoadedModel, ModelVersion, Registry
from taiex.reuse import evaluation as stored_evaluation
from taiex.reuse import fresh_rows, sound_champion
from taiex.settings import Settings
from taiex.store import Store

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- policies


class RetrainPolicy(Protocol):
    """Whether to retrain a kind on a data day, given its evaluation (None: no model yet)."""

    def decide(
        self, spec: KindSpec, evaluation: Evaluation | None, settings: Settings, day: dt.date
    ) -> Decision: ...


class ConfiguredPolicy:
    """The daily job's policy: the kind's own rule with the configured thresholds."""

    def decide(
        self, spec: KindSpec, evaluation: Evaluation | None, settings: Settings, day: dt.date
    ) -> Decision:
        return spec.decide(evaluation, settings)


CONFIGURED = ConfiguredPolicy()


# ---------------------------------------------------------------- evaluation


def record_evaluation(store: Store, spec: KindSpec, evaluation: Evaluation) -> None:
    """Store the evaluation's row (once per model version and data day: reruns add nothing)."""
    row = {
        "date": store.now(),
        "model_version": evaluation.model_version,
        "data_date": evaluation.data_date,
        "window_start": evaluation.window_start,
        "window_end": evaluation.window_end,
        "reason": evaluation.reason,
        "round": spec.round.value,
        **spec.evaluation_row(evaluation),
    }
    store.evaluations.record(spec.metric.table, row)


def evaluate_champion(
    spec: KindSpec, registry: Registry, history: pd.DataFrame
) -> tuple[LoadedModel[Model] | None, Evaluation | None]:
    """The champion as loaded (None when there is no model, or none that loads) and its
    evaluation. The model loaded may be a former champion: see :func:`unloadable_champion`.

    What the champion served on the latest days (its forecasts) is reused rather than computed
    again: once it has served its whole window, an evening's evaluation runs no model, however
    long the history.
    """
    if registry.champion(spec.name) is None:
        return None, None
    try:
        loaded = registry.load_champion(spec.name, spec.from_bytes)
    except ArtifactError as exc:
        log.warning("no %s model loads: %s", spec.name, exc)
        return None, None
    version = loaded.version.version
    known = _stored_rows(spec, registry.store, version, history)
    if known is None:
        return loaded, spec.run_evaluation(loaded.model, version, history, None)
    return loaded, spec.run_evaluation(loaded.model, version, history, None, known)


def _stored_rows(
    spec: KindSpec, store: Store, version: str, history: pd.DataFrame
) -> list[dict[str, object]] | None:
    """The rows ``version`` served on the last ``spec.reuse_days`` days of ``history`` (None
    when the kind reuses nothing), except those made before a revision of a day up to theirs:
    they were computed from prices that have changed since."""
    if not spec.reuse_days or history.empty:
        return None
    dates = history["date"]
    first, last = to_date(dates.iloc[max(0, len(dates) - spec.reuse_days)]), to_date(dates.iloc[-1])
    return fresh_rows(spec, store, version, first, last)


def unloadable_champion(
    registry: Registry, kind: str, loaded: LoadedModel[Model] | None
) -> tuple[ModelVersion, str] | None:
    """The champion and why, when its own artifact does not load (``loaded`` is then a former
    champion, or None when no version loads); None when the champion is sound."""
    champion = registry.champion(kind)
    if champion is None or (loaded is not None and loaded.version.id == champion.id):
        return None
    why = loaded.skipped[0] if loaded and loaded.skipped else "its artifact does not load"
    instead = f"; {loaded.version.version} was evaluated in its place" if loaded else ""
    return champion, f"the champion {champion.version} cannot be loaded ({why}){instead}"


def _broken_decision(reason: str) -> Decision:
    return Decision(True, f"{reason}: retrain", "unloadable")


# ---------------------------------------------------------------- training and trials


class TrialSummary(TypedDict):
    """A trial in a step's JSON."""

    version: str
    score: float | None
    champion_score: float | None
    promoted: bool
    reason: str
    # What a promoted challenger served at once (added by :func:`taiex.pipeline.retrain`).
    output: NotRequired[dict[str, object]]


@dataclass(frozen=True)
class Trial:
    """A challenger's result against the champion (or the first model of a kind)."""

    version: str
    score: float | None
    champion_score: float | None
    promoted: bool
    reason: str

    def summary(self) -> TrialSummary:
        return {
            "version": self.version,
            "score": self.score,
            "champion_score": self.champion_score,
            "promoted": self.promoted,
            "reason": self.reason,
        }


def _dates(history: pd.DataFrame) -> list[dt.date]:
    return [ts.date() for ts in pd.to_datetime(history["date"])]


def holdout_end(spec: KindSpec, history: pd.DataFrame) -> dt.date:
    """The last day a first model trains on: the day before its monitoring window."""
    dates = _dates(history)
    skip = spec.window + spec.unlabelled_tail
    if len(dates) <= skip:
        raise DataError(f"{len(dates)} stored days are too few to hold out {skip} for monitoring")
    return dates[-skip - 1]


def train_and_register(
    spec: KindSpec, settings: Settings, registry: Registry, history: pd.DataFrame, until: dt.date
) -> tuple[Model, ModelVersion]:
    """Fit a model of ``spec`` on the days up to ``until`` and register it as a challenger."""
    subset = history[pd.to_datetime(history["date"]).dt.date <= until].reset_index(drop=True)
    log.info("training a %s on %d days up to %s", spec.name, len(subset), until)
    model = spec.fit(settings, subset)
    version = registry.register(
        spec.name,
        model.to_bytes(),
        train_start=model.train_start_,
        train_end=until,  # the last day of data the model was given
        params=spec.params(settings),
        metrics=json_safe(model.metadata()),
    )
    return model, version


def first_model(
    spec: KindSpec,
    settings: Settings,
    registry: Registry,
    history: pd.DataFrame,
    *,
    replacing: ModelVersion | None = None,
) -> Trial:
    """Train, register and crown the first model of a kind (trained before its window); or a
    fresh one in place of ``replacing``, a champion that no version of the kind can stand in for.
    """
    _, version = train_and_register(spec, settings, registry, history, holdout_end(spec, history))
    reason = f"no {spec.name} champion: the first model is champion"
    if replacing is not None:
        reason = f"no {spec.name} model loads: a new model replaces {replacing.version}"
    promoted = registry.promote(version, reason, expected=replacing)
    if not promoted:
        reason = "another process crowned a first model meanwhile; this one stays a challenger"
    registry.record_trial(
        version,
        decision="initial" if promoted else "rejected",
        reason=reason,
        score=None,
        champion_score=None,
    )
    return Trial(version.version, None, None, promoted, reason)


def comparison_days(days: Sequence[dt.date]) -> list[dt.date]:
    """The days a challenger is judged on: the most recent half of the champion's unseen window
    (at least :data:`MIN_DAYS_TO_JUDGE`). The challenger trains on everything before them, so it
    learns from the other half, which the champion never saw."""
    size = max(MIN_DAYS_TO_JUDGE, len(days) // 2)
    return list(days[-size:])


def challenge(
    spec: KindSpec,
    settings: Settings,
    registry: Registry,
    history: pd.DataFrame,
    champion: LoadedModel[Model],
    evaluation: Evaluation,
    *,
    titleholder: ModelVersion | None = None,
) -> Trial:
    """Train a challenger on the days before the comparison days and promote it only if it
    scores better than the champion on them (neither trained on them).

    ``titleholder`` is the champion on record when it is not ``champion`` (its artifact does not
    load): then the challenger, or else ``champion`` (the last good one), replaces it.
    """
    days = comparison_days(evaluation.days)
    if not days:
        raise DataError(f"the {spec.name} champion has no unseen days to be challenged on")
    until = max(d for d in _dates(history) if d < days[0])
    holder = titleholder or champion.version
    tried = _already_tried(spec, settings, registry, until, skip=holder)
    if tried is not None:
        reason = f"{tried.version}, trained on the same days, was tried already ({tried.decision})"
        return _restore(
            registry,
            holder,
            champion,
            Trial(tried.version, tried.score, tried.champion_score, False, reason),
        )
    model, version = train_and_register(spec, settings, registry, history, until)
    score = spec.run_evaluation(model, version.version, history, days).metric
    champion_score = spec.run_evaluation(
        champion.model, champion.version.version, history, days
    ).metric
    name = spec.metric.name
    span = f"{days[0]} … {days[-1]}"
    if spec.metric.better(score, champion_score):
        reason = f"{name} {score:.4f} beats the champion's {champion_score:.4f} on {span}"
        if holder.id != champion.version.id:
            reason += f", replacing {holder.version}, which cannot be loaded"
        promoted = registry.promote(version, reason, expected=holder)
        if not promoted:
            reason += ", but the champion changed meanwhile: not promoted"
    else:
        promoted = False
        reason = (
            f"{name} {_fmt(score)} does not beat the champion's {_fmt(champion_score)} on {span}"
        )
    registry.record_trial(
        version,
        decision="promoted" if promoted else "rejected",
        reason=reason,
        score=score,
        champion_score=champion_score,
    )
    trial = Trial(version.version, score, champion_score, promoted, reason)
    return trial if promoted else _restore(registry, holder, champion, trial)


def _restore(
    registry: Registry, holder: ModelVersion, champion: LoadedModel[Model], trial: Trial
) -> Trial:
    """After a trial that crowned nobody: when the titleholder cannot be loaded, the last good
    champion (the one the trial measured) takes the title back."""
    if holder.id == champion.version.id:
        return trial
    note = f"{champion.version.version}, the last good champion, replaces {holder.version}"
    if registry.promote(champion.version, f"{note}, which cannot be loaded", expected=holder):
        return dataclasses.replace(trial, reason=f"{trial.reason}; {note}")
    return dataclasses.replace(trial, reason=f"{trial.reason}; the champion changed meanwhile")


def _already_tried(
    spec: KindSpec,
    settings: Settings,
    registry: Registry,
    until: dt.date,
    skip: ModelVersion | None = None,
) -> ModelVersion | None:
    """A version of the same kind, settings and training end: retraining would repeat it
    (``skip``, a champion that cannot be loaded, does not count)."""
    params = json_safe(spec.params(settings))
    for version in reversed(registry.versions(spec.name)):
        if skip is not None and version.id == skip.id:
            continue
        if version.train_end == until and version.params == params:
            return version
    return None


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


@overload
def json_safe(value: Mapping[str, object]) -> dict[str, object]: ...


@overload
def json_safe(value: object) -> object: ...


def json_safe(value: object) -> object:
    """Plain JSON types (dates as ISO text, numpy numbers as floats), as the database keeps them."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ---------------------------------------------------------------- one kind's monitoring


class KindSummary(TypedDict):
    """One kind's part of a monitoring step's JSON."""

    champion: str | None
    metric_name: str
    metric: float | None
    baseline: float | None
    threshold: float
    retrain: bool
    reason: str
    evaluation: dict[str, object] | None
    challenger: TrialSummary | None
    skipped_artifacts: list[str]
    figure: NotRequired[str]  # the evaluation figure, when drawn (taiex.pipeline.evaluate)


@dataclass(frozen=True)
class KindReport:
    """What monitoring found and decided for one kind: that kind's part of the JSON."""

    spec: KindSpec
    champion: str | None
    evaluation: Evaluation | None
    threshold: float
    decision: Decision
    skipped: list[str] = field(default_factory=list)  # bad artifacts passed over

    def summary(self) -> KindSummary:
        ev = self.evaluation
        return {
            "champion": self.champion,
            "metric_name": self.spec.metric.name,
            "metric": ev.metric if ev else None,
            "baseline": ev.baseline if ev else None,
            "threshold": self.threshold,
            "retrain": self.decision.retrain,
            "reason": self.decision.reason,
            "evaluation": ev.summary() if ev else None,
            "challenger": None,  # evaluating trains nothing; `pipeline.monitor` fills it in
            "skipped_artifacts": self.skipped,
        }


def evaluate_kind(
    spec: KindSpec,
    store: Store,
    history: pd.DataFrame,
    settings: Settings,
    policy: RetrainPolicy = CONFIGURED,
) -> KindReport:
    """Evaluate the champion on ``history`` (the days up to the data day), store the figure and
    decide; nothing is trained here."""
    registry = Registry(store)
    loaded, evaluation = evaluate_champion(spec, registry, history)
    broken = unloadable_champion(registry, spec.name, loaded)
    if evaluation is not None and broken is not None:
        evaluation = dataclasses.replace(
            evaluation, reason="; ".join(filter(None, [evaluation.reason, broken[1]]))
        )
    if evaluation is not None:
        record_evaluation(store, spec, evaluation)
    champion = registry.champion(spec.name)
    day = to_date(history["date"].iloc[-1])
    if broken is not None:
        # Kept with the version too, so `taiex models list` says why it is being replaced.
        registry.record_failure(broken[0], broken[1])
        decision = _broken_decision(broken[1])
    else:
        decision = policy.decide(spec, evaluation, settings, day)
        if isinstance(policy, ConfiguredPolicy):
            decision = due_by_age(spec, champion, history, decision)
    return KindReport(
        spec,
        champion.version if champion else None,
        evaluation,
        spec.threshold(settings),
        decision,
        skipped=loaded.skipped if loaded else [broken[1]] if broken else [],
    )


def stored_report(
    spec: KindSpec,
    store: Store,
    history: pd.DataFrame,
    settings: Settings,
    policy: RetrainPolicy = CONFIGURED,
) -> KindReport | None:
    """What :func:`evaluate_kind` would report for ``history``'s last day, from the champion's
    evaluation stored for that day (:func:`taiex.reuse.evaluation`), decided by the same rule;
    None unless that is provably the same answer:

    - the configured policy (another, a simulation's, may decide on more than the stored row);
    - a champion whose artifact passes its checksum (else the unloadable rule applies, and the
      evaluation is another version's);
    - a row that gives back the whole evaluation, measured after every revision of a price up
      to that day.
    """
    if not isinstance(policy, ConfiguredPolicy):
        return None
    registry = Registry(store)
    champion = sound_champion(registry, spec.name)
    if champion is None:
        return None
    day = to_date(history["date"].iloc[-1])
    row = stored_evaluation(spec, store, champion.version, day)
    if row is None:
        return None
    evaluation = spec.from_row(row)
    decision = due_by_age(spec, champion, history, policy.decide(spec, evaluation, settings, day))
    return KindReport(spec, champion.version, evaluation, spec.threshold(settings), decision)


def due_by_age(
    spec: KindSpec, champion: ModelVersion | None, history: pd.DataFrame, decision: Decision
) -> Decision:
    """``decision``, or a retrain when ``spec`` refits on a schedule (``refit_sessions``) and
    the champion's training end is further behind the data day than that."""
    if spec.refit_sessions is None or champion is None or decision.retrain:
        return decision
    behind = sum(day > champion.train_end for day in _dates(history))
    if behind <= spec.refit_sessions:
        return decision
    return Decision(
        True,
        f"{decision.reason}; trained to {champion.train_end}, {behind} sessions ago (more than "
        f"{spec.refit_sessions}): refitted on a schedule, as benchmarked",
        "age",
    )


def retrain_kind(spec: KindSpec, store: Store, history: pd.DataFrame, settings: Settings) -> Trial:
    """Train the first model, or a challenger for the champion's window, under the kind's lock.

    A failure leaves the champion as it was: nothing is registered before a fit succeeds, and
    promotion is one compare-and-swap.
    """
    registry = Registry(store)
    with store.lock(f"train-{spec.name}"):
        loaded, evaluation = evaluate_champion(spec, registry, history)
        broken = unloadable_champion(registry, spec.name, loaded)
        holder = broken[0] if broken else None
        if loaded is None or evaluation is None:
            return first_model(spec, settings, registry, history, replacing=holder)
        return challenge(spec, settings, registry, history, loaded, evaluation, titleholder=holder)
