"""The pre-open round's kinds (docs/design.md, "Two rounds a day"; issue 21).

``preopen-forecaster``: the next 5 opens, refreshed at 07:30 Taipei with the night's US moves,
scored by sMAPE beside the naive forecast on its own pairs (``lstm_model_evaluate``, round
``pre-open``). ``preopen-classifier``: the entry signal refreshed with the night's moves, scored by
ROC AUC beside the trivial close/MA20 score (``svm_model_evaluate``, round ``pre-open``). Each is
retrained by its evening counterpart's rules and thresholds. Their history carries the nights'
moves (:func:`taiex.overnight.with_nights`), which the loop adds for a kind of this round.

Light, like every spec: the model (:mod:`taiex.models.preopen_model`) is reached through the
loaders below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taiex.kinds import classifier, lstm
from taiex.kinds.evaluation import Evaluation, Row
from taiex.kinds.spec import Decision, TypedKindSpec
from taiex.rounds import Round

if TYPE_CHECKING:
    from taiex.kinds.protocols import Classifier, Forecaster, ModelClass
    from taiex.kinds.spec import Backtest, Evaluate, Plot, Serve
    from taiex.models.preopen_classifier import PreopenClassifierConfig
    from taiex.models.preopen_model import PreopenModelConfig
    from taiex.settings import Settings

FORECASTER = "preopen-forecaster"
CLASSIFIER = "preopen-classifier"
MODEL = "pre-open forecaster"


def decide(evaluation: Evaluation | None, settings: Settings) -> Decision:
    """The evening forecaster's rule (:func:`taiex.kinds.lstm.decide`), on this round's pairs."""
    return lstm.decide_forecast(evaluation, settings, MODEL)


def reading(evaluation: Evaluation | None, decision: Decision, settings: Settings) -> str:
    return lstm.read_forecast(evaluation, decision, settings, "The pre-open forecast")


def from_row(row: Row) -> Evaluation:
    return lstm.forecast_from_row(row, FORECASTER)


def _model() -> ModelClass[Forecaster, PreopenModelConfig]:
    from taiex.models.preopen_model import PreopenModel

    return PreopenModel


def _config() -> type[PreopenModelConfig]:
    from taiex.models.preopen_model import PreopenModelConfig

    return PreopenModelConfig


def _evaluate() -> Evaluate[Forecaster]:
    from taiex.models.lstm_evaluation import evaluate

    return evaluate


def _serve() -> Serve[Forecaster]:
    from taiex.models.lstm_evaluation import serve

    return serve


def _backtest() -> Backtest[PreopenModelConfig]:
    from taiex.models.preopen_model import backtest

    return backtest


def _evaluation_plot() -> Plot:
    from taiex.plots import lstm_evaluation_plot

    return lstm_evaluation_plot


def _backtest_plot() -> Plot:
    from taiex.plots import backtest_plot

    return backtest_plot


PREOPEN_FORECASTER: TypedKindSpec[Forecaster, PreopenModelConfig] = TypedKindSpec(
    name=FORECASTER,
    title="Pre-open forecaster",
    serves="forecasts",
    serve_task="preopen_forecaster_predict_task",
    in_container=True,
    metric=lstm.METRIC,
    window=lstm.WINDOW,
    unlabelled_tail=0,
    config_section="preopen_forecaster",
    threshold_setting="lstm_smape_max",
    threshold_text=lambda value: f"retrain above {value:g} %",
    decide=decide,
    reading=reading,
    summarise=lstm.summarise,
    evaluation_row=lstm.evaluation_row,
    from_row=from_row,
    served_day="origin_date",
    exact_row_columns=("n_days",),
    reuse_days=lstm.WINDOW + lstm.HORIZONS,
    round=Round.pre_open,
    # bench/preopen.py refits monthly: a fit a year old lost h1 0.653 against 0.640 there, and
    # the first champion, kept for 2018-2024 by the figures alone, served h1 0.691 (BENCHMARKS.md).
    # Refitted once its training end is its window and a month behind: the first model (trained
    # before its window) serves a month first, and each challenger, trained on the days before
    # the window's recent half, serves about four months.
    refit_sessions=lstm.WINDOW + 21,
    model_class=_model,
    config_class=_config,
    evaluate=_evaluate,
    serve=_serve,
    run_backtest=_backtest,
    evaluation_plot=_evaluation_plot,
    backtest_plot=_backtest_plot,
)


# ---------------------------------------------------------------- the signal


def signal_from_row(row: Row) -> Evaluation:
    return classifier.signal_from_row(row, CLASSIFIER)


def _classifier_model() -> ModelClass[Classifier, PreopenClassifierConfig]:
    from taiex.models.preopen_classifier import PreopenSignalClassifier

    return PreopenSignalClassifier


def _classifier_config() -> type[PreopenClassifierConfig]:
    from taiex.models.preopen_classifier import PreopenClassifierConfig

    return PreopenClassifierConfig


def _classifier_evaluate() -> Evaluate[Classifier]:
    from taiex.models.classifier_evaluation import evaluate

    return evaluate


def _classifier_serve() -> Serve[Classifier]:
    from taiex.models.classifier_evaluation import serve

    return serve


def _classifier_backtest() -> Backtest[PreopenClassifierConfig]:
    from taiex.models.preopen_classifier import backtest

    return backtest


def _classifier_plot() -> Plot:
    from taiex.plots import classifier_evaluation_plot

    return classifier_evaluation_plot


PREOPEN_CLASSIFIER: TypedKindSpec[Classifier, PreopenClassifierConfig] = TypedKindSpec(
    name=CLASSIFIER,
    title="Pre-open entry signal",
    serves="signals",
    serve_task="preopen_classifier_predict_task",
    in_container=False,
    metric=classifier.METRIC,
    window=classifier.WINDOW,
    unlabelled_tail=1,
    config_section="preopen_classifier",
    threshold_setting="classifier_auc_min",
    threshold_text=lambda value: f"retrain below {value:g}",
    decide=classifier.decide,
    reading=classifier.reading,
    summarise=classifier.summarise,
    evaluation_row=classifier.evaluation_row,
    from_row=signal_from_row,
    served_day="based_on",
    round=Round.pre_open,
    model_class=_classifier_model,
    config_class=_classifier_config,
    evaluate=_classifier_evaluate,
    serve=_classifier_serve,
    run_backtest=_classifier_backtest,
    evaluation_plot=_classifier_plot,
)
