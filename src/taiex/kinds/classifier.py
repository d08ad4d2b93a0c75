"""The entry-signal classifier as a kind: scored by ROC AUC beside the trivial score, serves
signals.

The spec only: its model (:class:`~taiex.models.classifier.EntrySignalClassifier`), its
evaluation and what it serves (:mod:`taiex.models.classifier_evaluation`), its backtest
(:mod:`taiex.models.backtest`) and its plot (:mod:`taiex.plots`) are reached through the loaders
below, which import them when called: this module is light (the DAG file and ``taiex status``
import it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taiex.kinds.evaluation import (
    Evaluation,
    Row,
    as_count,
    as_date,
    as_number,
    as_optional_date,
    as_text,
)
from taiex.kinds.spec import Decision, Metric, TypedKindSpec, not_judged

if TYPE_CHECKING:
    from taiex.kinds.protocols import Classifier, ModelClass
    from taiex.kinds.spec import Backtest, Evaluate, Plot, Serve
    from taiex.models.classifier_config import ClassifierConfig
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


# ---------------------------------------------------------------- its table


def evaluation_row(evaluation: Evaluation) -> dict[str, object]:
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


def from_row(row: Row) -> Evaluation:
    """An evaluation read back from ``svm_model_evaluate``."""
    return signal_from_row(row, NAME)


def signal_from_row(row: Row, kind: str) -> Evaluation:
    """:func:`from_row` for a classifying kind called ``kind`` (each round has one)."""
    return Evaluation(
        kind=kind,
        model_version=str(row["model_version"]),
        data_date=as_date(row["data_date"]),
        metric=as_number(row["ROC_AUC"]),
        baseline=as_number(row["trivial_ROC_AUC"]),
        n=as_count(row["n_days"]),
        reason=as_text(row["reason"]),
        # In the order the evaluation gives them.
        detail={
            "n_positive": as_count(row["n_positive"]),
            "n_negative": as_count(row["n_negative"]),
            "model_family": row["model_family"],
        },
        window_start=as_optional_date(row["window_start"]),
        window_end=as_optional_date(row["window_end"]),
        n_days=as_count(row["n_days"]),
    )


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


def summarise(rows: Sequence[Row]) -> dict[str, object]:
    """A classify step's JSON: the day it is based on, the day it is for, and the signal."""
    row = rows[0]
    return {
        "based_on": as_date(row["based_on"]).isoformat(),
        "date": as_date(row["target_date"]).isoformat(),
        "probability": row["probability"],
        "signal": row["signal"],
        "threshold": row["threshold"],
    }


# ---------------------------------------------------------------- the spec and its loaders


def _model() -> ModelClass[Classifier, ClassifierConfig]:
    from taiex.models.classifier import EntrySignalClassifier

    return EntrySignalClassifier


def _config() -> type[ClassifierConfig]:
    from taiex.models.classifier_config import ClassifierConfig

    return ClassifierConfig


def _evaluate() -> Evaluate[Classifier]:
    from taiex.models.classifier_evaluation import evaluate

    return evaluate


def _serve() -> Serve[Classifier]:
    from taiex.models.classifier_evaluation import serve

    return serve


def _backtest() -> Backtest[ClassifierConfig]:
    from taiex.models.backtest import backtest_classifier

    return backtest_classifier


def _evaluation_plot() -> Plot:
    from taiex.plots import classifier_evaluation_plot

    return classifier_evaluation_plot


CLASSIFIER: TypedKindSpec[Classifier, ClassifierConfig] = TypedKindSpec(
    name=NAME,
    title="entry-signal classifier",
    serves="signals",
    serve_task="classifier_predict_task",
    in_container=False,
    metric=METRIC,
    window=WINDOW,
    unlabelled_tail=1,
    config_section="classifier",
    threshold_setting="classifier_auc_min",
    threshold_text=lambda value: f"retrain below {value:g}",
    decide=decide,
    reading=reading,
    summarise=summarise,
    evaluation_row=evaluation_row,
    from_row=from_row,
    served_day="based_on",
    model_class=_model,
    config_class=_config,
    evaluate=_evaluate,
    serve=_serve,
    run_backtest=_backtest,
    evaluation_plot=_evaluation_plot,
)
