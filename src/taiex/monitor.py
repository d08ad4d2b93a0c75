"""Monitoring: measure each champion on days it never trained on, decide, retrain, promote.

The loop, for each kind (``lstm``, ``classifier``):

1. **Evaluate** the champion over its window (DESIGN.md): the LSTM on every target among the last
   120 trading days, each forecast from the 1-5 origins before it; the classifier's probabilities
   over the last 40 labelled days. Only days after the model's training end count, so no model is
   ever scored on what it learned. Each figure is stored beside its baseline (the naive forecast's
   sMAPE, the trivial close/MA20 score's AUC) on the same days.
2. **Decide**: retrain when the metric breaks its threshold (or, for the LSTM, when it is worse than
   the naive forecast by more than the margin), or when there is no model. Never on an undefined
   metric, nor on fewer than :data:`MIN_DAYS_TO_JUDGE` days.
3. **Challenge**: the champion's unseen window is split in two: a challenger trains on every day
   before its recent half and both are scored on that half, which neither trained on; the
   challenger is promoted only when it scores better. Every decision, its reason and both scores
   are kept with the versions (the registry).

A first model is trained on the days before the window too, so its monitoring is meaningful from
day one instead of waiting 120 days for days it has not seen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from taiex.errors import DataError, InputError, SettingsError
from taiex.features import entry_labels, trivial_score
from taiex.metrics import roc_auc, smape
from taiex.models.registry import Kind, LoadedModel, ModelVersion, Registry
from taiex.settings import Settings
from taiex.store import Store, insert_missing, lstm_model_evaluate, svm_model_evaluate, utcnow

if TYPE_CHECKING:  # the model modules load torch or scikit-learn: only the spec that runs imports
    from taiex.models.classifier import EntrySignalClassifier
    from taiex.models.lstm import LSTMForecaster

log = logging.getLogger(__name__)

LSTM_WINDOW = 120
CLASSIFIER_WINDOW = 40
MIN_DAYS_TO_JUDGE = 10


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """One champion measured over its window; ``frame`` holds the pairs/days (for plots)."""

    kind: Kind
    model_version: str
    data_date: dt.date
    metric: float | None  # sMAPE in percent (lstm) or ROC AUC (classifier); None: undefined
    baseline: float | None  # the naive forecast's sMAPE / the trivial score's AUC, same days
    days: list[dt.date]  # the window's days: targets (lstm) or labelled days (classifier)
    n: int  # forecast/actual pairs (lstm) or labelled days (classifier)
    reason: str | None = None  # why the metric is undefined
    detail: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def window_start(self) -> dt.date | None:
        return self.days[0] if self.days else None

    @property
    def window_end(self) -> dt.date | None:
        return self.days[-1] if self.days else None

    def summary(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "data_date": self.data_date.isoformat(),
            "metric": self.metric,
            "baseline": self.baseline,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "days": len(self.days),
            "n": self.n,
            "reason": self.reason,
            **self.detail,
        }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _dates(history: pd.DataFrame) -> list[dt.date]:
    return [ts.date() for ts in pd.to_datetime(history["date"])]


def unseen_window(days: Sequence[dt.date], train_end: dt.date, window: int) -> list[dt.date]:
    """The last ``window`` of ``days`` that come after ``train_end``."""
    return [d for d in days if d > train_end][-window:]


def evaluate_lstm(
    model: LSTMForecaster,
    version: str,
    history: pd.DataFrame,
    *,
    window: int = LSTM_WINDOW,
    targets: Sequence[dt.date] | None = None,
) -> Evaluation:
    """sMAPE over every (origin, target) pair of the window: each target among the last ``window``
    trading days the model did not train on, forecast from each origin 1..H days before it."""
    dates = _dates(history)
    chosen = (
        list(targets) if targets is not None else unseen_window(dates, model.train_end_, window)
    )
    if not chosen:
        reason = f"no trading day after {model.train_end_} (the model's training end) yet"
        return Evaluation("lstm", version, dates[-1], None, None, [], 0, reason)
    pairs = _lstm_pairs(model, history, dates, chosen)
    if pairs.empty:
        reason = "no target day of the window has a full input window before it"
        return Evaluation("lstm", version, dates[-1], None, None, chosen, 0, reason)
    by_horizon = {
        str(h): (smape(part["forecast"], part["actual"]), smape(part["naive"], part["actual"]))
        for h, part in pairs.groupby("horizon")
    }
    detail = {
        "smape_by_horizon": {h: round(v[0], 6) for h, v in by_horizon.items()},
        "naive_smape_by_horizon": {h: round(v[1], 6) for h, v in by_horizon.items()},
    }
    return Evaluation(
        "lstm",
        version,
        dates[-1],
        smape(pairs["forecast"], pairs["actual"]),
        smape(pairs["naive"], pairs["actual"]),
        chosen,
        len(pairs),
        detail=detail,
        frame=pairs,
    )


def _lstm_pairs(
    model: LSTMForecaster, history: pd.DataFrame, dates: list[dt.date], targets: Sequence[dt.date]
) -> pd.DataFrame:
    position = {d: i for i, d in enumerate(dates)}
    first_origin = model.config.window - 1
    horizons = range(1, model.config.horizons + 1)
    origins = sorted(
        {position[t] - h for t in targets for h in horizons if position[t] - h >= first_origin}
    )
    if not origins:
        return pd.DataFrame()
    forecasts = model.predict_origins(history, [dates[i] for i in origins])
    actual = pd.Series(history["open"].to_numpy(dtype=float), index=pd.to_datetime(history["date"]))
    forecasts["target_date"] = pd.to_datetime(forecasts["target_date"])
    wanted = pd.to_datetime(pd.Series(list(targets)))
    pairs = forecasts[forecasts["target_date"].isin(wanted)].copy()
    pairs["actual"] = actual.reindex(pairs["target_date"]).to_numpy()
    return pairs.reset_index(drop=True)


def evaluate_classifier(
    model: EntrySignalClassifier,
    version: str,
    history: pd.DataFrame,
    *,
    window: int = CLASSIFIER_WINDOW,
    days: Sequence[dt.date] | None = None,
) -> Evaluation:
    """ROC AUC of the probabilities over the last ``window`` labelled days the model did not
    train on; NULL with the reason when those days hold one class."""
    dates = _dates(history)
    frame = pd.DataFrame(
        {
            "date": dates,
            "label": entry_labels(history).to_numpy(),
            "trivial": trivial_score(history).to_numpy(),
        }
    )
    probabilities = model.predict_proba(history)
    frame["probability"] = probabilities.reindex(pd.to_datetime(frame["date"])).to_numpy()
    labelled = frame.dropna(subset=["label", "probability"])
    chosen = (
        list(days)
        if days is not None
        else unseen_window(list(labelled["date"]), model.train_end_, window)
    )
    scored = labelled[labelled["date"].isin(chosen)].reset_index(drop=True)
    positives = int(scored["label"].sum())
    detail: dict[str, Any] = {
        "n_positive": positives,
        "n_negative": len(scored) - positives,
        "model_family": getattr(model, "winner_", None),
    }
    if scored.empty:
        empty = f"no labelled day after {model.train_end_} (the model's training end) yet"
        return Evaluation("classifier", version, dates[-1], None, None, [], 0, empty, detail)
    auc, reason = roc_auc(scored["label"], scored["probability"])
    trivial, _ = roc_auc(scored["label"], scored["trivial"])
    scored_days = list(scored["date"])
    return Evaluation(
        "classifier", version, dates[-1], auc, trivial, scored_days, len(scored), reason, detail,
        scored,
    )  # fmt: skip


def record_evaluation(store: Store, evaluation: Evaluation) -> None:
    """Append the evaluation's row (once per model version and data day: reruns add nothing)."""
    common = {
        "date": utcnow(),
        "model_version": evaluation.model_version,
        "data_date": evaluation.data_date,
        "window_start": evaluation.window_start,
        "window_end": evaluation.window_end,
        "reason": evaluation.reason,
    }
    detail = evaluation.detail
    if evaluation.kind == "lstm":
        table = lstm_model_evaluate
        row = {
            **common,
            "sMAPE": evaluation.metric,
            "naive_sMAPE": evaluation.baseline,
            "sMAPE_by_horizon": detail.get("smape_by_horizon"),
            "naive_sMAPE_by_horizon": detail.get("naive_smape_by_horizon"),
            "n_pairs": evaluation.n,
        }
    else:
        table = svm_model_evaluate
        row = {
            **common,
            "ROC_AUC": evaluation.metric,
            "trivial_ROC_AUC": evaluation.baseline,
            "model_family": detail.get("model_family"),
            "n_days": evaluation.n,
            "n_positive": detail.get("n_positive", 0),
            "n_negative": detail.get("n_negative", 0),
        }
    with store.engine.begin() as conn:
        insert_missing(conn, table, [row])


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str


def decide_lstm(evaluation: Evaluation | None, smape_max: float, naive_margin: float) -> Decision:
    """Retrain when sMAPE > smape_max, or worse than naive by more than the margin, or no model."""
    if evaluation is None:
        return Decision(True, "no LSTM model yet")
    not_judged = _not_judged(evaluation)
    if not_judged:
        return not_judged
    metric, naive = evaluation.metric, evaluation.baseline
    assert metric is not None
    if metric > smape_max:
        return Decision(True, f"sMAPE {metric:.4f} > TAIEX_LSTM_SMAPE_MAX {smape_max:g}")
    if naive is not None and metric > naive * (1 + naive_margin):
        return Decision(
            True,
            f"sMAPE {metric:.4f} is more than {naive_margin:.0%} worse than the naive "
            f"forecast's {naive:.4f}",
        )
    naive_text = (
        f" and within {naive_margin:.0%} of the naive forecast's {naive:.4f}" if naive else ""
    )
    return Decision(False, f"sMAPE {metric:.4f} ≤ {smape_max:g}{naive_text}")


def decide_classifier(evaluation: Evaluation | None, auc_min: float) -> Decision:
    """Retrain when ROC AUC < auc_min, or no model; never on an undefined AUC."""
    if evaluation is None:
        return Decision(True, "no classifier yet")
    not_judged = _not_judged(evaluation)
    if not_judged:
        return not_judged
    metric = evaluation.metric
    assert metric is not None
    if metric < auc_min:
        return Decision(True, f"ROC AUC {metric:.4f} < TAIEX_CLASSIFIER_AUC_MIN {auc_min:g}")
    return Decision(False, f"ROC AUC {metric:.4f} ≥ {auc_min:g}")


def _not_judged(evaluation: Evaluation) -> Decision | None:
    if evaluation.metric is None:
        return Decision(False, f"not judged: {evaluation.reason}")
    if len(evaluation.days) < MIN_DAYS_TO_JUDGE:
        return Decision(
            False,
            f"not judged: only {len(evaluation.days)} days the model did not train on "
            f"(at least {MIN_DAYS_TO_JUDGE} needed)",
        )
    return None


# ---------------------------------------------------------------- kinds


@dataclass(frozen=True)
class KindSpec:
    """What the loop needs to know of a kind of model."""

    kind: Kind
    window: int
    metric_name: str
    higher_is_better: bool
    params: dict[str, Any]
    fit: Callable[[pd.DataFrame], Any]
    from_bytes: Callable[[bytes], Any]
    evaluate: Callable[[Any, str, pd.DataFrame, Sequence[dt.date] | None], Evaluation]

    def better(self, score: float | None, than: float | None) -> bool:
        if score is None or than is None or math.isnan(score):
            return False
        return score > than if self.higher_is_better else score < than


def model_config(cls: Any, values: Mapping[str, Any], section: str) -> Any:
    """``cls`` built from a config-file table; a bad or unknown key is a SettingsError."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"[{section}] in the config file: unknown keys {', '.join(unknown)}")
    try:
        return cls.from_dict(values) if hasattr(cls, "from_dict") else cls(**values)
    except (TypeError, ValueError, InputError) as exc:
        raise SettingsError(f"[{section}] in the config file: {exc}") from exc


def lstm_spec(settings: Settings) -> KindSpec:
    from taiex.models.lstm import LSTMConfig, LSTMForecaster

    config = model_config(LSTMConfig, settings.lstm, "lstm")
    return KindSpec(
        kind="lstm",
        window=LSTM_WINDOW,
        metric_name="sMAPE",
        higher_is_better=False,
        params=_config_dict(config),
        fit=lambda history: LSTMForecaster(config).fit(history),
        from_bytes=LSTMForecaster.from_bytes,
        evaluate=lambda m, v, h, days: evaluate_lstm(m, v, h, targets=days),
    )


def classifier_spec(settings: Settings) -> KindSpec:
    from taiex.models.classifier import ClassifierConfig, EntrySignalClassifier

    config = model_config(ClassifierConfig, settings.classifier, "classifier")
    return KindSpec(
        kind="classifier",
        window=CLASSIFIER_WINDOW,
        metric_name="ROC AUC",
        higher_is_better=True,
        params=config.to_dict(),
        fit=lambda history: EntrySignalClassifier(config).fit(history),
        from_bytes=EntrySignalClassifier.from_bytes,
        evaluate=lambda m, v, h, days: evaluate_classifier(m, v, h, days=days),
    )


def _config_dict(config: Any) -> dict[str, Any]:
    return dict(dataclasses.asdict(config))


def decide(spec: KindSpec, evaluation: Evaluation | None, settings: Settings) -> Decision:
    if spec.kind == "lstm":
        return decide_lstm(evaluation, settings.lstm_smape_max, settings.lstm_naive_margin)
    return decide_classifier(evaluation, settings.classifier_auc_min)


# ---------------------------------------------------------------- training and trials


@dataclass(frozen=True)
class Trial:
    """A challenger's result against the champion (or the first model of a kind)."""

    version: str
    score: float | None
    champion_score: float | None
    promoted: bool
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "score": self.score,
            "champion_score": self.champion_score,
            "promoted": self.promoted,
            "reason": self.reason,
        }


def holdout_end(spec: KindSpec, history: pd.DataFrame) -> dt.date:
    """The last day a first model trains on: the day before its monitoring window."""
    dates = _dates(history)
    # The classifier's window is of labelled days, and the last day has no label.
    skip = spec.window + (1 if spec.kind == "classifier" else 0)
    if len(dates) <= skip:
        raise DataError(f"{len(dates)} stored days are too few to hold out {skip} for monitoring")
    return dates[-skip - 1]


def train_and_register(
    spec: KindSpec, registry: Registry, history: pd.DataFrame, until: dt.date
) -> tuple[Any, ModelVersion]:
    """Fit a model of ``spec`` on the days up to ``until`` and register it as a challenger."""
    subset = history[pd.to_datetime(history["date"]).dt.date <= until].reset_index(drop=True)
    log.info("training a %s on %d days up to %s", spec.kind, len(subset), until)
    model = spec.fit(subset)
    version = registry.register(
        spec.kind,
        model.to_bytes(),
        train_start=model.train_start_,
        train_end=until,  # the last day of data the model was given
        params=spec.params,
        metrics=_json_safe(model.metadata()),
    )
    return model, version


def first_model(spec: KindSpec, registry: Registry, history: pd.DataFrame) -> Trial:
    """Train, register and crown the first model of a kind (trained before its window)."""
    _, version = train_and_register(spec, registry, history, holdout_end(spec, history))
    reason = f"no {spec.kind} champion: the first model is champion"
    promoted = registry.promote(version, reason, expected=None)
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
    registry: Registry,
    history: pd.DataFrame,
    champion: LoadedModel,
    evaluation: Evaluation,
) -> Trial:
    """Train a challenger on the days before the comparison days and promote it only if it
    scores better than the champion on them (neither trained on them)."""
    days = comparison_days(evaluation.days)
    if not days:
        raise DataError(f"the {spec.kind} champion has no unseen days to be challenged on")
    until = max(d for d in _dates(history) if d < days[0])
    tried = _already_tried(spec, registry, until)
    if tried is not None:
        reason = f"{tried.version}, trained on the same days, was tried already ({tried.decision})"
        return Trial(tried.version, tried.score, tried.champion_score, False, reason)
    model, version = train_and_register(spec, registry, history, until)
    score = spec.evaluate(model, version.version, history, days).metric
    champion_score = spec.evaluate(champion.model, champion.version.version, history, days).metric
    name = spec.metric_name
    span = f"{days[0]} … {days[-1]}"
    if spec.better(score, champion_score):
        reason = f"{name} {score:.4f} beats the champion's {champion_score:.4f} on {span}"
        promoted = registry.promote(version, reason, expected=champion.version)
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
    return Trial(version.version, score, champion_score, promoted, reason)


def _already_tried(spec: KindSpec, registry: Registry, until: dt.date) -> ModelVersion | None:
    """A version of the same kind, settings and training end: retraining would repeat it."""
    for version in reversed(registry.versions(spec.kind)):
        if version.train_end == until and version.params == _json_safe(spec.params):
            return version
    return None


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _json_safe(value: Any) -> Any:
    """Plain JSON types (dates as ISO text, numpy numbers as floats), as the database keeps them."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ---------------------------------------------------------------- the loop


@dataclass(frozen=True)
class KindReport:
    """What monitoring found and did for one kind: the ``lstm``/``classifier`` part of the JSON."""

    kind: Kind
    metric_name: str
    champion: str | None
    evaluation: Evaluation | None
    threshold: float
    decision: Decision
    skipped: list[str] = field(default_factory=list)  # bad artifacts passed over

    def summary(self) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "champion": self.champion,
            "metric_name": self.metric_name,
            "metric": ev.metric if ev else None,
            "baseline": ev.baseline if ev else None,
            "threshold": self.threshold,
            "retrain": self.decision.retrain,
            "reason": self.decision.reason,
            "evaluation": ev.summary() if ev else None,
            "challenger": None,  # evaluating trains nothing; `pipeline.monitor` fills it in
            "skipped_artifacts": self.skipped,
        }


def spec_for(kind: str, settings: Settings) -> KindSpec:
    if kind == "lstm":
        return lstm_spec(settings)
    if kind == "classifier":
        return classifier_spec(settings)
    raise ValueError(f"unknown model kind {kind!r}")


def threshold(spec: KindSpec, settings: Settings) -> float:
    return settings.lstm_smape_max if spec.kind == "lstm" else settings.classifier_auc_min


def evaluate_champion(
    spec: KindSpec, registry: Registry, history: pd.DataFrame
) -> tuple[LoadedModel | None, Evaluation | None]:
    """The champion as loaded (None when there is no model) and its evaluation."""
    if registry.champion(spec.kind) is None:
        return None, None
    loaded = registry.load_champion(spec.kind, spec.from_bytes)
    return loaded, spec.evaluate(loaded.model, loaded.version.version, history, None)


def evaluate_kind(
    spec: KindSpec, store: Store, history: pd.DataFrame, settings: Settings
) -> KindReport:
    """Evaluate the champion, store the figure and decide; nothing is trained here."""
    registry = Registry(store)
    loaded, evaluation = evaluate_champion(spec, registry, history)
    if evaluation is not None:
        record_evaluation(store, evaluation)
    champion = registry.champion(spec.kind)
    return KindReport(
        spec.kind,
        spec.metric_name,
        champion.version if champion else None,
        evaluation,
        threshold(spec, settings),
        decide(spec, evaluation, settings),
        skipped=loaded.skipped if loaded else [],
    )


def retrain_kind(spec: KindSpec, store: Store, history: pd.DataFrame) -> Trial:
    """Train the first model, or a challenger for the champion's window, under the kind's lock.

    A failure leaves the champion as it was: nothing is registered before a fit succeeds, and
    promotion is one compare-and-swap.
    """
    registry = Registry(store)
    with store.lock(f"train-{spec.kind}"):
        loaded, evaluation = evaluate_champion(spec, registry, history)
        if loaded is None or evaluation is None:
            return first_model(spec, registry, history)
        return challenge(spec, registry, history, loaded, evaluation)
