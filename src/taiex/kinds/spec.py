"""The shape of a kind spec, its metric, evaluation and decision (light: standard library only).

A kind is declared once, as a :class:`TypedKindSpec` of its model's role and config: its model
class, its evaluation, what it serves, its backtest and its plots are reached through small loader
functions that import them when called, and each loader is typed, so mypy checks at the
declaration that the model class plays its role and that every function takes what the others
give. The loop, the report and the faces see a :class:`KindSpec`, whatever the model.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeGuard, TypeVar

from taiex.errors import InputError, SettingsError
from taiex.kinds.evaluation import Evaluation, Row
from taiex.kinds.protocols import Model, ModelClass, ModelConfig
from taiex.rounds import Round

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from taiex.settings import Settings

# A model judged on fewer unseen days than this is not judged at all (its figure is noise).
MIN_DAYS_TO_JUDGE = 10


@dataclass(frozen=True)
class Metric:
    """How a kind is scored, and where the score is kept."""

    name: str  # "sMAPE"
    table: str  # the evaluation table ("lstm_model_evaluate")
    column: str  # the metric's column there ("sMAPE")
    baseline_name: str  # what it is compared with ("naive sMAPE")
    baseline_column: str  # its column ("naive_sMAPE")
    count_column: str  # how many pairs or days it was measured on ("n_pairs")
    unit: str  # what those are ("pairs")
    higher_is_better: bool
    percent: bool  # shown with a % sign

    def better(self, score: float | None, than: float | None) -> bool:
        """Strictly better; never when either is undefined."""
        if score is None or than is None or math.isnan(score):
            return False
        return score > than if self.higher_is_better else score < than

    def text(self, value: float | None, digits: int = 3) -> str:
        if value is None:
            return "undefined"
        return f"{value:.{digits}f} %" if self.percent else f"{value:.{digits}f}"


@dataclass(frozen=True)
class Decision:
    """Whether to retrain, and why. ``code`` names the rule that decided, for readers:
    ``none`` (no model), ``not_judged``, ``threshold``, ``baseline`` (worse than the baseline
    by more than allowed), ``significance`` (significantly worse than it), ``healthy``,
    ``forced`` (a policy's own schedule)."""

    retrain: bool
    reason: str
    code: str


def not_judged(evaluation: Evaluation) -> Decision | None:
    """The decision for a metric that cannot be judged (undefined, or on too few days)."""
    if evaluation.metric is None:
        return Decision(False, f"not judged: {evaluation.reason}", "not_judged")
    if evaluation.n_days < MIN_DAYS_TO_JUDGE:
        return Decision(
            False,
            f"not judged: only {evaluation.n_days} days the model did not train on "
            f"(at least {MIN_DAYS_TO_JUDGE} needed)",
            "not_judged",
        )
    return None


# ---------------------------------------------------------------- what a kind's parts look like

M = TypeVar("M", bound=Model)
C = TypeVar("C", bound=ModelConfig)
M_contra = TypeVar("M_contra", bound=Model, contravariant=True)
C_contra = TypeVar("C_contra", bound=ModelConfig, contravariant=True)


class Evaluate(Protocol[M_contra]):
    """A kind's evaluation: ``model`` scored on ``days`` (None: the last ``window`` days of
    ``history`` it did not train on), reusing the ``known`` rows it served before (a kind that
    reuses none ignores them)."""

    def __call__(
        self,
        model: M_contra,
        version: str,
        history: pd.DataFrame,
        days: Sequence[dt.date] | None,
        /,
        *,
        window: int,
        known: Sequence[Row] | None = None,
    ) -> Evaluation: ...


class Serve(Protocol[M_contra]):
    """What ``model`` serves for the session after ``history``'s last day, as rows to store."""

    def __call__(
        self, model: M_contra, version: str, history: pd.DataFrame, /
    ) -> list[dict[str, object]]: ...


class BacktestResult(Protocol):
    """A walk-forward test's scored rows (one per pair or day) and its summary in words."""

    @property
    def rows(self) -> pd.DataFrame: ...

    def text(self) -> str: ...


class Backtest(Protocol[C_contra]):
    """A walk-forward test of a fresh model configured by ``config``: trained on the days up to
    ``train_until``, scored on ``[start, end]`` (None: to the last day)."""

    def __call__(
        self,
        history: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
        config: C_contra,
    ) -> BacktestResult: ...


class PreopenBacktest(Protocol):
    """A walk-forward test of the pre-open round's model of a kind: trained on the days up to
    ``train_until`` and their nights' ``moves`` (:func:`taiex.overnight.night_moves_frame`),
    scored on ``[start, end]``."""

    def __call__(
        self,
        history: pd.DataFrame,
        moves: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
    ) -> BacktestResult: ...


class Plot(Protocol):
    """A figure of a frame (None or empty: a placeholder) written to ``path``; the path."""

    def __call__(self, frame: pd.DataFrame | None, path: Path, title: str, /) -> Path: ...


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True, kw_only=True)
class KindSpec(abc.ABC):
    """What the loop, the report and the faces need to know of one kind of model.

    Light facts (names, the metric and its table, the window, the settings it reads) and the
    kind's light functions (its decision rule, its reading, its table's rows); what needs the
    model (fitting, loading, evaluating, serving, backtests, plots) through the methods, which
    import it when called. Every kind is a :class:`TypedKindSpec`.
    """

    name: str  # "lstm": the registry's kind, version names ("lstm-v3"), CLI arguments
    title: str  # "LSTM forecaster"
    serves: str  # what it stores for tomorrow: "forecasts" or "signals" (a store repository)
    serve_task: str  # the DAG's task id for serving ("lstm_predict_task", the original name)
    in_container: bool  # in the DAG's docker/kubernetes modes, its steps run in the image
    metric: Metric
    window: int  # days of the monitoring window
    # Days after the window that a first model must also leave out (the classifier's last day
    # has no label yet, so its window ends one day before the data).
    unlabelled_tail: int
    config_section: str  # the config file's table of hyperparameters ("lstm"), a Settings field
    threshold_setting: str  # the Settings field of the retrain threshold
    threshold_text: Callable[[float], str]
    decide: Callable[[Evaluation | None, Settings], Decision]
    reading: Callable[[Evaluation | None, Decision, Settings], str]
    summarise: Callable[[Sequence[Row]], dict[str, object]]  # served rows, for a step's JSON
    evaluation_row: Callable[[Evaluation], dict[str, object]]  # the table's columns
    from_row: Callable[[Row], Evaluation]  # and back
    served_day: str  # the column of the served rows that holds their data day ("origin_date")
    # How many of the latest days' served rows (stored by ``serves``) the champion's evaluation
    # reuses instead of computing them again (0: none); its evaluation then takes them as
    # ``known``. A champion that has served its whole window is evaluated without running.
    reuse_days: int = 0
    # Columns an evaluation row must hold (not NULL) for ``from_row`` to give back exactly what
    # was computed: older rows without them are never taken for a recomputation.
    exact_row_columns: tuple[str, ...] = ()
    # What a version's registered metrics say of how it was fitted, in one line for the report
    # (None: nothing to say beyond its family).
    version_note: Callable[[Row], str | None] = lambda metrics: None
    # The round it serves in (docs/design.md, "Two rounds a day"): a pre-open kind's history
    # carries the night's moves (taiex.overnight.with_nights), and its rows record the round.
    round: Round = Round.evening
    # Refit a healthy champion once its training end is more than this many sessions behind the
    # data day (None: only when its figures say so). A first model trains on the days before its
    # window and a challenger on the days before the window's recent half, so this exceeds the
    # window: each refit is judged on days neither model saw.
    refit_sessions: int | None = None

    @property
    def evaluation_figure(self) -> str:
        """The kind of figure (in the store's ``figures``) its evaluation plots are kept as."""
        return f"evaluation-{self.name}"

    def threshold(self, settings: Settings) -> float:
        return float(getattr(settings, self.threshold_setting))

    @abc.abstractmethod
    def config(self, settings: Settings) -> ModelConfig:
        """The model's config from the settings' table of the config file (defaults when empty);
        a bad or unknown key is a SettingsError."""

    def params(self, settings: Settings) -> dict[str, object]:
        """The config as plain JSON values, as the registry keeps them."""
        return self.config(settings).to_dict()

    @abc.abstractmethod
    def fit(self, settings: Settings, history: pd.DataFrame) -> Model:
        """A new model of this kind fitted on ``history`` (every row of it)."""

    @abc.abstractmethod
    def from_bytes(self, data: bytes) -> Model:
        """The model of an artifact of this kind; ArtifactError when it is not one intact."""

    @abc.abstractmethod
    def run_evaluation(
        self,
        model: Model,
        version: str,
        history: pd.DataFrame,
        days: Sequence[dt.date] | None,
        known: Sequence[Row] | None = None,
    ) -> Evaluation:
        """``model`` scored on ``days`` (default: its window of unseen days in ``history``),
        reusing the ``known`` rows it stored before (when the kind reuses any)."""

    @abc.abstractmethod
    def served_rows(
        self, model: Model, version: str, history: pd.DataFrame
    ) -> list[dict[str, object]]:
        """What the model serves for the day after ``history``'s last, as rows to store."""

    @abc.abstractmethod
    def backtest(
        self,
        settings: Settings,
        history: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
    ) -> BacktestResult:
        """A walk-forward test of a fresh, unregistered model with the configured
        hyperparameters (:mod:`taiex.models.backtest`)."""

    def backtest_preopen(
        self,
        history: pd.DataFrame,
        moves: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
    ) -> BacktestResult:
        """A walk-forward test of the kind's pre-open model; InputError for a kind that has
        none yet."""
        raise InputError(
            f"the {self.title} has no pre-open variant of its own: the pre-open round's signal "
            "is the kind preopen-classifier (`taiex backtest preopen-classifier …`)"
        )

    @abc.abstractmethod
    def plot_evaluation(self, evaluation: Evaluation, path: Path, title: str) -> Path:
        """The evaluation's pairs or days drawn to ``path``."""

    @abc.abstractmethod
    def plot_backtest(self, rows: pd.DataFrame, path: Path, title: str) -> Path | None:
        """A backtest's rows drawn to ``path``; None when the kind draws none."""


@dataclass(frozen=True, kw_only=True)
class TypedKindSpec(KindSpec, Generic[M, C]):
    """A kind whose models play the role ``M`` (a :class:`~taiex.kinds.protocols.Model`) and
    are configured by ``C``. Each heavy part is a loader: a function of no argument that imports
    its module and returns the class or function, typed, so that a wrong name fails mypy in the
    loader and a wrong signature at this declaration."""

    model_class: Callable[[], ModelClass[M, C]]
    config_class: Callable[[], type[C]]
    evaluate: Callable[[], Evaluate[M]]
    serve: Callable[[], Serve[M]]
    run_backtest: Callable[[], Backtest[C]]
    evaluation_plot: Callable[[], Plot]
    backtest_plot: Callable[[], Plot] | None = None
    run_preopen_backtest: Callable[[], PreopenBacktest] | None = None

    def config(self, settings: Settings) -> C:
        cls = self.config_class()
        values: Mapping[str, object] = getattr(settings, self.config_section)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        where = settings.origin(self.config_section)
        if unknown:
            raise SettingsError(f"{where}: unknown keys {', '.join(unknown)}")
        _check_types(cls, values, where)
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError, InputError) as exc:
            raise SettingsError(f"{where}: {exc}") from exc

    def fit(self, settings: Settings, history: pd.DataFrame) -> M:
        return self.model_class()(self.config(settings)).fit(history)

    def from_bytes(self, data: bytes) -> M:
        return self.model_class().from_bytes(data)

    def run_evaluation(
        self,
        model: Model,
        version: str,
        history: pd.DataFrame,
        days: Sequence[dt.date] | None,
        known: Sequence[Row] | None = None,
    ) -> Evaluation:
        evaluate = self.evaluate()
        return evaluate(self.own(model), version, history, days, window=self.window, known=known)

    def served_rows(
        self, model: Model, version: str, history: pd.DataFrame
    ) -> list[dict[str, object]]:
        rows = self.serve()(self.own(model), version, history)
        return [{**row, "round": self.round.value} for row in rows]

    def backtest(
        self,
        settings: Settings,
        history: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
    ) -> BacktestResult:
        config = self.config(settings)
        test = self.run_backtest()
        return test(history, train_until=train_until, start=start, end=end, config=config)

    def backtest_preopen(
        self,
        history: pd.DataFrame,
        moves: pd.DataFrame,
        *,
        train_until: dt.date,
        start: dt.date,
        end: dt.date | None,
    ) -> BacktestResult:
        if self.run_preopen_backtest is None:
            return super().backtest_preopen(
                history, moves, train_until=train_until, start=start, end=end
            )
        test = self.run_preopen_backtest()
        return test(history, moves, train_until=train_until, start=start, end=end)

    def plot_evaluation(self, evaluation: Evaluation, path: Path, title: str) -> Path:
        return self.evaluation_plot()(evaluation.frame, path, title)

    def plot_backtest(self, rows: pd.DataFrame, path: Path, title: str) -> Path | None:
        return None if self.backtest_plot is None else self.backtest_plot()(rows, path, title)

    def own(self, model: Model) -> M:
        """``model`` as this kind's; TypeError when it is another kind's."""
        if not self._owns(model):
            raise TypeError(f"a {type(model).__name__} is not a model of the kind {self.name}")
        return model

    def _owns(self, model: Model) -> TypeGuard[M]:
        # A ModelClass is a class: the protocol types only its constructor and its loader.
        cls: object = self.model_class()
        return isinstance(cls, type) and isinstance(model, cls)


# What a config field's annotation (a string: the modules use postponed annotations) accepts.
# A float where a count is due reached torch or scikit-learn and ended in a traceback.
_FIELD_TYPES: dict[str, tuple[str, Callable[[object], bool]]] = {
    "int": ("a whole number", lambda v: isinstance(v, int)),
    "float": ("a number", lambda v: isinstance(v, int | float)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "tuple[str, ...]": (
        "a list of strings",
        lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v),
    ),
}


def _check_types(cls: type[ModelConfig], values: Row, where: str) -> None:
    """SettingsError naming the key when a value of a model's table has the wrong type."""
    for f in dataclasses.fields(cls):
        if f.name not in values or str(f.type) not in _FIELD_TYPES:
            continue
        value = values[f.name]
        words, fits = _FIELD_TYPES[str(f.type)]
        if isinstance(value, bool) or not fits(value):
            raise SettingsError(f"{where}: {f.name} must be {words}, got {value!r}")
