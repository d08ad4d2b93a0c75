"""The shape of a kind spec, its metric, evaluation and decision (light: standard library only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taiex.errors import InputError, SettingsError

if TYPE_CHECKING:
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
class Evaluation:
    """One model measured over its window, as the monitor computed it (``days`` and ``frame``
    hold the scored days and pairs) or as read back from its table (window bounds and counts)."""

    kind: str
    model_version: str
    data_date: dt.date  # the last day of data the evaluation saw
    metric: float | None  # None: undefined (``reason`` says why)
    baseline: float | None  # the baseline's figure on the same pairs or days
    n: int  # pairs (forecasts) or days (signals) scored
    days: tuple[dt.date, ...] = ()  # the window's days the model did not train on
    reason: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    frame: Any = field(default=None, repr=False, compare=False)
    window_start: dt.date | None = None  # default: the first of ``days``
    window_end: dt.date | None = None
    n_days: int = -1  # default: len(days)

    def __post_init__(self) -> None:
        # Frozen: derived fields are set once, here.
        if self.days:
            object.__setattr__(self, "days", tuple(self.days))
            object.__setattr__(self, "window_start", self.window_start or self.days[0])
            object.__setattr__(self, "window_end", self.window_end or self.days[-1])
        if self.n_days < 0:
            object.__setattr__(self, "n_days", len(self.days))

    def summary(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "data_date": self.data_date.isoformat(),
            "metric": self.metric,
            "baseline": self.baseline,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "days": self.n_days,
            "n": self.n,
            "reason": self.reason,
            **self.detail,
        }


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


@dataclass(frozen=True)
class KindSpec:
    """What the loop, the report and the faces need to know of one kind of model.

    Heavy parts are named as ``"module:attribute"`` and imported on use (:meth:`resolve`).
    """

    name: str  # "lstm": the registry's kind, version names ("lstm-v3"), CLI arguments
    title: str  # "LSTM forecaster"
    serves: str  # what it stores for tomorrow: "forecasts" or "signals" (a store repository)
    serve_task: str  # the DAG's task id for serving (the original system's name)
    in_container: bool  # in the DAG's docker/kubernetes modes, its steps run in the image
    metric: Metric
    window: int  # days of the monitoring window
    # Days after the window that a first model must also leave out (the classifier's last day
    # has no label yet, so its window ends one day before the data).
    unlabelled_tail: int
    config_section: str  # the config file's table of hyperparameters ("lstm")
    threshold_setting: str  # the Settings field of the retrain threshold
    threshold_text: Callable[[float], str]
    model_class: str  # "taiex.models.lstm:LSTMForecaster"
    config_class: str  # "taiex.models.lstm:LSTMConfig"
    evaluate: str  # "module:function"(model, version, history, days) -> Evaluation
    serve: str  # "module:function"(model, version, history) -> list of rows to store
    evaluation_plot: str  # "taiex.plots:function"(frame, path, title) -> path
    backtest: str  # "module:function"(history, *, train_until, start, end, config) -> result
    # The result in plain text for `taiex backtest`: (result) -> str
    backtest_text: Callable[[Any], str]
    backtest_plot: str | None  # "taiex.plots:function"(rows, path, title) -> path, if any
    decide: Callable[[Evaluation | None, Settings], Decision]
    reading: Callable[[Evaluation | None, Decision, Settings], str]
    summarise: Callable[[list[dict[str, Any]]], dict[str, Any]]  # served rows, for a step's JSON
    evaluation_row: Callable[[Evaluation], dict[str, Any]]  # the table's columns
    from_row: Callable[[Mapping[str, Any]], Evaluation]  # and back
    served_day: str  # the column of the served rows that holds their data day ("origin_date")
    # How many of the latest days' served rows (stored by ``serves``) the champion's evaluation
    # reuses instead of computing them again (0: none); its evaluate function then takes them
    # as ``known=``. A champion that has served its whole window is evaluated without running.
    reuse_days: int = 0
    # Columns an evaluation row must hold (not NULL) for ``from_row`` to give back exactly what
    # was computed: older rows without them are never taken for a recomputation.
    exact_row_columns: tuple[str, ...] = ()
    # What a version's registered metrics say of how it was fitted, in one line for the report
    # (None: nothing to say beyond its family).
    version_note: Callable[[Mapping[str, Any]], str | None] = lambda metrics: None

    @property
    def evaluation_figure(self) -> str:
        """The kind of figure (in the store's ``figures``) its evaluation plots are kept as."""
        return f"evaluation-{self.name}"

    def resolve(self, reference: str) -> Any:
        """The object a ``"module:attribute"`` field names, importing its module now."""
        module, _, attribute = reference.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def threshold(self, settings: Settings) -> float:
        return float(getattr(settings, self.threshold_setting))

    def config(self, settings: Settings) -> Any:
        """The model's config from the settings' table of the config file (defaults when empty);
        a bad or unknown key is a SettingsError."""
        cls = self.resolve(self.config_class)
        values = getattr(settings, self.config_section)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        where = settings.origin(self.config_section)
        if unknown:
            raise SettingsError(f"{where}: unknown keys {', '.join(unknown)}")
        _check_types(cls, values, where)
        try:
            return cls.from_dict(values) if hasattr(cls, "from_dict") else cls(**values)
        except (TypeError, ValueError, InputError) as exc:
            raise SettingsError(f"{where}: {exc}") from exc

    def params(self, settings: Settings) -> dict[str, Any]:
        """The config as plain JSON values, as the registry keeps them."""
        config = self.config(settings)
        if hasattr(config, "to_dict"):
            return dict(config.to_dict())
        return dict(dataclasses.asdict(config))

    def fit(self, settings: Settings, history: Any) -> Any:
        """A new model of this kind fitted on ``history`` (every row of it)."""
        return self.resolve(self.model_class)(self.config(settings)).fit(history)

    def from_bytes(self, data: bytes) -> Any:
        return self.resolve(self.model_class).from_bytes(data)

    def run_evaluation(
        self,
        model: Any,
        version: str,
        history: Any,
        days: Sequence[dt.date] | None,
        known: Sequence[Mapping[str, Any]] | None = None,
    ) -> Evaluation:
        """``model`` scored on ``days`` (default: its window of unseen days in ``history``),
        reusing the ``known`` rows it stored before (when the kind reuses any)."""
        evaluate = self.resolve(self.evaluate)
        if known is None:
            evaluation: Evaluation = evaluate(model, version, history, days)
        else:
            evaluation = evaluate(model, version, history, days, known=known)
        return evaluation

    def served_rows(self, model: Any, version: str, history: Any) -> list[dict[str, Any]]:
        """What the model serves for the day after ``history``'s last, as rows to store."""
        rows: list[dict[str, Any]] = self.resolve(self.serve)(model, version, history)
        return rows


# What a config field's annotation (a string: the modules use postponed annotations) accepts.
# A float where a count is due reached torch or scikit-learn and ended in a traceback.
_FIELD_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "int": ("a whole number", lambda v: isinstance(v, int)),
    "float": ("a number", lambda v: isinstance(v, int | float)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "tuple[str, ...]": (
        "a list of strings",
        lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v),
    ),
}


def _check_types(cls: type, values: Mapping[str, Any], where: str) -> None:
    """SettingsError naming the key when a value of a model's table has the wrong type."""
    for f in dataclasses.fields(cls):
        if f.name not in values or str(f.type) not in _FIELD_TYPES:
            continue
        value = values[f.name]
        words, fits = _FIELD_TYPES[str(f.type)]
        if isinstance(value, bool) or not fits(value):
            raise SettingsError(f"{where}: {f.name} must be {words}, got {value!r}")


def unseen_window(days: Sequence[dt.date], train_end: dt.date, window: int) -> list[dt.date]:
    """The last ``window`` of ``days`` that come after ``train_end`` (the model never saw them)."""
    return [d for d in days if d > train_end][-window:]


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
