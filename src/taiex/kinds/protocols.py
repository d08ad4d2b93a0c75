"""What a model of any kind is to the rest of the package, and what each role adds (typing only).

The daily loop (:mod:`taiex.monitor`, :mod:`taiex.pipeline`) trains, stores, loads and measures
models without knowing their class: it sees a :class:`Model`. A kind's own code sees its role: a
:class:`Forecaster` (the opening levels of the next sessions, with intervals) or a
:class:`Classifier` (the entry signal). A kind spec (:class:`taiex.kinds.TypedKindSpec`) reaches its
model class through a loader typed as :class:`ModelClass`, so mypy checks at the spec that the
class has every operation of its role, with the right signatures, and that the kind's evaluation
and serving code asks nothing more of it.

Cheap to import (the standard library only; pandas for the annotations, when type checking): the
kind specs, which the DAG file and ``taiex status`` import, refer to it, and the model code
(:mod:`taiex.models`) plays it without importing a spec.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import Field
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypedDict, TypeVar

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Classifier",
    "Forecaster",
    "Model",
    "ModelClass",
    "ModelConfig",
    "Signal",
    "WindowShape",
]


class Model(Protocol):
    """What every kind's model has: the loop trains it, stores it, loads it and dates it.

    ``fit`` learns from a history frame (``date, open, high, low, close``) and returns the model;
    ``to_bytes`` and ``from_bytes`` are the artifact (:mod:`taiex.models.artifact`) and back;
    ``metadata`` is what the registry keeps of it (JSON-able); ``train_start_`` and ``train_end_``
    the first and last day it learned from (no day after ``train_end_`` is ever scored as seen).
    """

    kind: ClassVar[str]  # the registry's kind, stamped on its artifacts

    @property
    def train_start_(self) -> dt.date: ...

    @property
    def train_end_(self) -> dt.date: ...

    def fit(self, history: pd.DataFrame) -> Self: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls, data: bytes) -> Self: ...

    def metadata(self) -> dict[str, object]: ...


class ModelConfig(Protocol):
    """A model's hyperparameters: a dataclass whose fields are the config file's keys, and
    their JSON form (what the registry keeps as a version's params)."""

    __dataclass_fields__: ClassVar[dict[str, Field[object]]]

    def to_dict(self) -> dict[str, object]: ...

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Self: ...


M_co = TypeVar("M_co", bound=Model, covariant=True)
C_contra = TypeVar("C_contra", bound=ModelConfig, contravariant=True)


class ModelClass(Protocol[M_co, C_contra]):
    """A model class as a kind uses it: built from its config, or loaded from its artifact.

    A class object matches it through its constructor and its ``from_bytes`` classmethod.
    """

    def __call__(self, config: C_contra, /) -> M_co: ...

    def from_bytes(self, data: bytes, /) -> M_co: ...


class WindowShape(Protocol):
    """How far a forecaster looks back and ahead."""

    @property
    def window(self) -> int: ...  # trading days of input before an origin

    @property
    def horizons(self) -> int: ...  # sessions forecast after it


class Forecaster(Model, Protocol):
    """A model that forecasts the opening level of the next sessions, with intervals.

    ``predict`` forecasts from the last day of a history (columns ``horizon, date, forecast,
    lower_80, upper_80, lower_95, upper_95, naive``); ``predict_origins`` from many of its days,
    each from the rows up to that day only (columns ``origin_date, horizon, target_date``, then
    the same values).
    """

    @property
    def config(self) -> WindowShape: ...

    def predict(self, history: pd.DataFrame) -> pd.DataFrame: ...

    def predict_origins(
        self, history: pd.DataFrame, origins: Sequence[dt.date] | None = None
    ) -> pd.DataFrame: ...


class Signal(TypedDict):
    """An entry signal: for session ``date``, from the data up to ``based_on``."""

    date: dt.date
    based_on: dt.date
    probability: float  # P(close[date] > MA20[based_on])
    signal: int  # 1: enter (probability >= threshold), 0: stay out
    threshold: float


class Classifier(Model, Protocol):
    """A model that says whether the next session is a day to enter.

    ``predict_proba`` gives P(label = 1) of every day of a history that has features (indexed by
    date); ``signal`` the signal for the session after its last day; ``winner_`` names the
    family that won its tournament.
    """

    @property
    def winner_(self) -> str: ...

    def predict_proba(self, history: pd.DataFrame) -> pd.Series: ...

    def signal(self, history: pd.DataFrame) -> Signal: ...
