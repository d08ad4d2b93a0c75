"""Kinds of model: one spec per kind carries everything that differs between them.

The monitor, the pipeline, the report, the CLI and the DAG loop over :data:`KINDS` and ask a
spec; none of them tests a kind's name. A spec is data (names, units, the metric and its table,
the direction of "better", the window, the settings it reads) plus the kind's light functions (its
decision rule, its plain-language reading, its table's rows), each in the kind's module
(:mod:`taiex.kinds.lstm`, :mod:`taiex.kinds.classifier`), and typed loaders of its heavy parts:
its model class, its evaluation and what it serves for tomorrow (beside the model, in
:mod:`taiex.models`), its backtest and its plots. The contract those parts keep is here too, light:
what a model is in each role (:mod:`taiex.kinds.protocols`) and what an evaluation gives
(:mod:`taiex.kinds.evaluation`).

Importing this package is cheap (standard library only): the DAG file and ``taiex status`` do
it. What a kind needs of torch, scikit-learn, pandas or matplotlib, its loaders import when
called. Adding a kind means one module that declares a :class:`TypedKindSpec` (mypy checks that
its parts fit its model's role: :mod:`taiex.kinds.protocols`) and one line in :data:`KINDS`.
"""

from __future__ import annotations

from taiex.errors import InputError
from taiex.kinds.evaluation import Evaluation, unseen_window
from taiex.kinds.spec import (
    MIN_DAYS_TO_JUDGE,
    Decision,
    KindSpec,
    Metric,
    TypedKindSpec,
    not_judged,
)
from taiex.rounds import Round

__all__ = [
    "ALL_KINDS",
    "KINDS",
    "KIND_NAMES",
    "MIN_DAYS_TO_JUDGE",
    "PREOPEN_KINDS",
    "Decision",
    "Evaluation",
    "KindSpec",
    "Metric",
    "TypedKindSpec",
    "get",
    "not_judged",
    "of_round",
    "of_version",
    "unseen_window",
]


def _evening() -> tuple[KindSpec, ...]:
    from taiex.kinds.classifier import CLASSIFIER
    from taiex.kinds.lstm import LSTM

    return (LSTM, CLASSIFIER)


def _preopen() -> tuple[KindSpec, ...]:
    from taiex.kinds.preopen import PREOPEN_CLASSIFIER, PREOPEN_FORECASTER

    return (PREOPEN_FORECASTER, PREOPEN_CLASSIFIER)


# Every kind the evening loop runs, in the order it runs them (the original system's), and the
# pre-open round's. A new kind: one module, one entry in its round's tuple.
KINDS: tuple[KindSpec, ...] = _evening()
PREOPEN_KINDS: tuple[KindSpec, ...] = _preopen()
ALL_KINDS: tuple[KindSpec, ...] = KINDS + PREOPEN_KINDS
KIND_NAMES: tuple[str, ...] = tuple(spec.name for spec in ALL_KINDS)


def of_round(round_name: Round) -> tuple[KindSpec, ...]:
    """The kinds that serve in ``round_name``, in the order the loop runs them."""
    return tuple(spec for spec in ALL_KINDS if spec.round is round_name)


def get(name: str) -> KindSpec:
    """The spec of the kind called ``name``; an InputError naming the known ones otherwise."""
    for spec in ALL_KINDS:
        if spec.name == name:
            return spec
    raise InputError(f"{name!r} is not a kind of model: use one of {', '.join(KIND_NAMES)}")


def of_version(version: str) -> KindSpec:
    """The spec of a version name such as ``lstm-v3``."""
    return get(version.rsplit("-v", 1)[0])
