"""The entry-signal classifier as a kind: scored by ROC AUC beside the trivial score, serves
signals.

Monitoring (docs/design.md, "Definitions"): ROC AUC of the predicted probabilities (never hard
labels) over the last 40 labelled days the model did not train on, beside the trivial
close/MA20 − 1 score's on the same days; NULL with the reason when those days hold one class only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taiex.kinds.spec import Decision, Evaluation, KindSpec, Metric, not_judged, unseen_window

if TYPE_CHECKING:
    import pandas as pd

    from taiex.models.classifier import EntrySignalClassifier
    from taiex.settings import Settings

NAME = "classifier"
WINDOW = 40
RUN = "taiex run"
# An AUC over fewer days than this moves a lot from one day to the next: the reading says so.
SMALL_SAMPLE_DAYS = 60

METRIC = Metric(
    name="ROC AUC",
    table="svm_model_evaluate",
    column="ROC_AUC",
    baseline_name="trivial close/MA20 AUC",
    baseline_column="trivial_ROC_AUC",
    count_column="n_days",
    unit="days",
    higher_is_better=True,
    percent=False,
)


# ---------------------------------------------------------------- evaluation


def evaluate(
    model: EntrySignalClassifier,
    version: str,
    history: pd.DataFrame,
    days: Sequence[dt.date] | None = None,
    *,
    window: int = WINDOW,
) -> Evaluation:
    """ROC AUC of the probabilities over the last :data:`WINDOW` labelled days the model did
    not train on (or ``days``); NULL with the reason when those days hold one class.

    Scored on the tail of ``history`` those days need (their features look back 19 days, their
    labels one day ahead): the same figures as on the whole history, at a cost that does not
    grow with it."""
    import pandas as pd

    from taiex.features import entry_labels, trivial_score
    from taiex.metrics import roc_auc

    history = _tail(history, days, window)
    dates = list(pd.DatetimeIndex(history["date"]).date)
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
    common: dict[str, Any] = {
        "kind": NAME,
        "model_version": version,
        "data_date": dates[-1],
        "detail": detail,
    }
    if scored.empty:
        empty = f"no labelled day after {model.train_end_} (the model's training end) yet"
        return Evaluation(**common, metric=None, baseline=None, n=0, reason=empty)
    auc, reason = roc_auc(scored["label"], scored["probability"])
    trivial, _ = roc_auc(scored["label"], scored["trivial"])
    return Evaluation(
        **common,
        metric=auc,
        baseline=trivial,
        n=len(scored),
        days=tuple(scored["date"]),
        reason=reason,
        frame=scored,
    )


def _tail(history: pd.DataFrame, days: Sequence[dt.date] | None, window: int) -> pd.DataFrame:
    """The rows from 19 days before the first day that can be scored to the last day."""
    import pandas as pd

    from taiex.features import MA_WINDOW

    if days is None:
        # The last ``window`` labelled days end the day before the last (which has no label).
        rows = window + MA_WINDOW
    elif not days:
        return history
    else:
        first = pd.Timestamp(min(days))
        rows = int((pd.to_datetime(history["date"]) >= first).sum()) + MA_WINDOW - 1
    return history.tail(rows).reset_index(drop=True)


def evaluation_row(evaluation: Evaluation) -> dict[str, Any]:
    """The columns of ``svm_model_evaluate`` for ``evaluation`` (besides the common ones)."""
    detail = evaluation.detail
    return {
        "ROC_AUC": evaluation.metric,
        "trivial_ROC_AUC": evaluation.baseline,
        "model_family": detail.get("model_family"),
        "n_days": evaluation.n,
        "n_positive": detail.get("n_positive", 0),
        "n_negative": detail.get("n_negative", 0),
    }


def from_row(row: Mapping[str, Any]) -> Evaluation:
    """An evaluation read back from ``svm_model_evaluate``."""
    return Evaluation(
        kind=NAME,
        model_version=row["model_version"],
        data_date=row["data_date"],
        metric=_number(row["ROC_AUC"]),
        baseline=_number(row["trivial_ROC_AUC"]),
        n=int(row["n_days"]),
        reason=row["reason"],
        # In the order :func:`evaluate` gives them.
        detail={
            "n_positive": int(row["n_positive"]),
            "n_negative": int(row["n_negative"]),
            "model_family": row["model_family"],
        },
        window_start=row["window_start"],
        window_end=row["window_end"],
        n_days=int(row["n_days"]),
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


# ---------------------------------------------------------------- decision and reading


def decide(evaluation: Evaluation | None, settings: Settings) -> Decision:
    """Retrain when ROC AUC < TAIEX_CLASSIFIER_AUC_MIN and the classifier has lost its edge: the
    trivial close/MA20 score's AUC on the same days is above it by more than
    TAIEX_CLASSIFIER_TRIVIAL_MARGIN. Retrain too when there is no model; never on an undefined
    AUC.

    A low AUC that the trivial score shares means days hard for any rule, not a stale model:
    in the replay of 2016-2021, 11 of the 12 challengers such days trained lost or tied, and the
    twelfth served the same signal (BENCHMARKS.md, "The daily loop replayed")."""
    if evaluation is None:
        return Decision(True, "no classifier yet", "none")
    undecided = not_judged(evaluation)
    if undecided:
        return undecided
    metric, auc_min = evaluation.metric, settings.classifier_auc_min
    assert metric is not None
    if metric >= auc_min:
        return Decision(False, f"ROC AUC {metric:.4f} ≥ {auc_min:g}", "healthy")
    trivial, margin = evaluation.baseline, settings.classifier_trivial_margin
    below = f"ROC AUC {metric:.4f} < TAIEX_CLASSIFIER_AUC_MIN {auc_min:g}"
    if margin >= 0 and trivial is not None and trivial <= metric + margin:
        return Decision(
            False,
            f"{below}, but the trivial close/MA20 score does no better ({trivial:.4f}, within "
            f"TAIEX_CLASSIFIER_TRIVIAL_MARGIN {margin:g}): hard days for any rule, not a stale "
            "model",
            "hard-days",
        )
    versus = f" and below the trivial close/MA20 score's {trivial:.4f}" if trivial else ""
    return Decision(True, f"{below}{versus}", "threshold")


def reading(evaluation: Evaluation | None, decision: Decision, settings: Settings) -> str:
    """One line that says what the latest ROC AUC means for the entry signal; the verdict is
    ``decision``'s."""
    if evaluation is None:
        return f"Not monitored yet: `{RUN}` scores it on days it did not train on."
    auc, trivial, n = evaluation.metric, evaluation.baseline, evaluation.n
    if auc is None:
        reason = evaluation.reason or "one class only"
        return f"ROC AUC undefined over the last {n} days ({reason}): no verdict until both occur."
    small = f"; {n} days is a small sample" if n < SMALL_SAMPLE_DAYS else ""
    if decision.retrain:
        return (
            f"ROC AUC {auc:.3f} over {n} days is below the retrain threshold "
            f"{settings.classifier_auc_min:g}: a retrain is due; take the signal lightly."
        )
    if decision.code == "hard-days":
        return (
            f"ROC AUC {auc:.3f} vs {trivial:.3f} for the trivial close/MA20 score over {n} days: "
            "hard days for any rule (no retrain: a new model would not do better); take the "
            f"signal lightly{small}."
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


# ---------------------------------------------------------------- what it serves


def serve(
    model: EntrySignalClassifier, version: str, history: pd.DataFrame
) -> list[dict[str, Any]]:
    """The entry signal for the session after the last day of ``history``, as one signal row.

    Day t's features need days t-19..t only: the signal is read from that tail."""
    from taiex.features import MA_WINDOW
    from taiex.frames import to_date

    signal = model.signal(history.tail(MA_WINDOW).reset_index(drop=True))
    return [
        {
            "model_version": version,
            "based_on": to_date(signal["based_on"]),
            "target_date": to_date(signal["date"]),
            "probability": float(signal["probability"]),
            "signal": int(signal["signal"]),
            "threshold": float(signal["threshold"]),
        }
    ]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A classify step's JSON: the day it is based on, the day it is for, and the signal."""
    row = rows[0]
    return {
        "based_on": row["based_on"].isoformat(),
        "date": row["target_date"].isoformat(),
        "probability": row["probability"],
        "signal": row["signal"],
        "threshold": row["threshold"],
    }


def backtest_text(result: Any) -> str:
    """A backtest's tournament table, then the winner's ROC AUC beside the trivial score's."""
    from taiex.models.tournament import format_table

    auc = "undefined" if result.auc is None else f"{result.auc:.4f}"
    trivial = "undefined" if result.trivial_auc is None else f"{result.trivial_auc:.4f}"
    note = f" ({result.auc_note})" if result.auc_note else ""
    return (
        f"{format_table(result.table)}\n"
        f"winner {result.model.winner_}: ROC AUC {auc}{note}; trivial close/MA20 score {trivial}"
    )


CLASSIFIER = KindSpec(
    name=NAME,
    title="entry-signal classifier",
    serves="signals",
    serve_task="svm_classification",
    in_container=False,
    metric=METRIC,
    window=WINDOW,
    unlabelled_tail=1,
    config_section="classifier",
    threshold_setting="classifier_auc_min",
    threshold_text=lambda value: f"retrain below {value:g}",
    model_class="taiex.models.classifier:EntrySignalClassifier",
    config_class="taiex.models.classifier:ClassifierConfig",
    evaluate="taiex.kinds.classifier:evaluate",
    serve="taiex.kinds.classifier:serve",
    evaluation_plot="taiex.plots:classifier_evaluation_plot",
    backtest="taiex.models.backtest:backtest_classifier",
    backtest_text=backtest_text,
    backtest_plot=None,
    decide=decide,
    reading=reading,
    summarise=summarise,
    evaluation_row=evaluation_row,
    from_row=from_row,
    served_day="based_on",
)
