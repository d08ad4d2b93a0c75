"""The pre-open round's entry signal: the evening question, asked knowing the night's US moves.

The evening classifier (:mod:`taiex.models.classifier`) answers for day t, after TAIEX's close:
P(close[t+1] > MA20[t]). The pre-open round (issue 21), issued at 07:30 Taipei before session
t + 1, asks the same question and also knows the night's log moves of four US closes
(:mod:`taiex.overnight`: ``^GSPC, ^IXIC, ^SOX, TSM``). Its history is the TAIEX frame with the
night columns of :func:`taiex.overnight.with_nights` (the night after each day; NaN unknown).

Features of day t: the evening's six (:data:`taiex.features.FEATURE_COLUMNS`), the night's moves,
and ``intra``, log(close[t] / open[t]), TAIEX's own session. Why ``intra``: the US
close-to-close move of the night includes what US futures did during TAIEX's session, which
close[t] has already priced; beside ``intra`` the night's coefficients can measure the news TAIEX
has not seen (the pre-open forecaster, :mod:`taiex.models.preopen`, found the same). The night's
^SOX move less the day's return, which issue 21 suggests, is the same linear span. Chosen on the
tuning years 2018-2020 only (``bench/preopen_signal.py``; BENCHMARKS.md, "The pre-open signal").

Method: the evening tournament (:mod:`taiex.models.tournament`, the same candidates and
time-series CV) on these features, over the days whose night is known (from 2016-06-27, where
the stored US closes start); the winner is refit on all of them. This class is the evening
classifier with other features: signal, metadata and the artifact (a skops payload loaded
trusting only :data:`~taiex.models.candidates.TRUSTED_TYPES`) are the evening's code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from taiex.errors import DataError, InputError
from taiex.features import FEATURE_COLUMNS, classifier_features, entry_labels
from taiex.kinds.protocols import Signal
from taiex.models.classifier import (
    EntrySignalClassifier,
)
from taiex.models.classifier_config import ClassifierConfig
from taiex.models.tournament import TrainingSet
from taiex.overnight import MissingCloseError, night_column, night_symbols, nights_of

__all__ = ["INTRA", "PreopenClassifierConfig", "PreopenSignalClassifier", "preopen_features"]

if TYPE_CHECKING:
    from taiex.models.backtest import ClassifierBacktest


INTRA = "intra"  # log(close[t] / open[t])


@dataclass(frozen=True)
class PreopenClassifierConfig(ClassifierConfig):
    """The evening tournament's settings (:class:`ClassifierConfig`: candidates, grids, CV,
    ``threshold``, ``min_train_days``, counted in days with a known night) and ``symbols``, the
    night's moves read from the history, in this order; none (the default): every symbol whose
    night the history carries (those of ``TAIEX_OVERNIGHT_SYMBOLS``, as the round builds it)."""

    symbols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not all(isinstance(s, str) and s for s in self.symbols):
            raise InputError(f"symbols must be a list of names, got {self.symbols!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise InputError(f"symbols are listed twice: {self.symbols}")

    def to_dict(self) -> dict[str, object]:
        values = super().to_dict()
        values["symbols"] = list(self.symbols)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Self:
        known = dict(values)
        symbols = known.get("symbols", [])
        # A bare string would split into characters: name it instead.
        if isinstance(symbols, str) or not isinstance(symbols, list | tuple):
            raise InputError(f"symbols must be a list of names, got {symbols!r}")
        known["symbols"] = tuple(symbols)
        return super().from_dict(known)


def feature_names(symbols: tuple[str, ...]) -> list[str]:
    """The columns of :func:`preopen_features`, in order."""
    return [*FEATURE_COLUMNS, *(night_column(s) for s in symbols), INTRA]


def preopen_features(history: pd.DataFrame, symbols: tuple[str, ...]) -> pd.DataFrame:
    """The features of every day (:func:`feature_names`): NaN where MA20 or the night is unknown.

    Day t reads days <= t and the night after t only. ``DataError`` when the history lacks a
    symbol's night column."""
    evening = classifier_features(history)  # checks the history
    nights = nights_of(history, symbols)
    frame = evening.copy()
    for symbol in symbols:
        frame[night_column(symbol)] = nights[symbol].to_numpy()
    prices = history[["open", "close"]].to_numpy(dtype=float)
    frame[INTRA] = np.log(prices[:, 1] / prices[:, 0])
    return frame.loc[:, feature_names(symbols)]


def preopen_training_set(
    history: pd.DataFrame, config: PreopenClassifierConfig, symbols: tuple[str, ...]
) -> TrainingSet:
    """Every labelled day of ``history`` with its features (the nights of ``symbols``) and a
    known night."""
    features = preopen_features(history, symbols)
    labels = entry_labels(history)
    usable = features.notna().all(axis=1) & labels.notna()
    n_days = int(usable.sum())
    if n_days < config.min_train_days:
        raise DataError(
            f"history too short to train the pre-open classifier: {n_days} labelled days with "
            f"a known night (needs {config.min_train_days}, plus 20 days for the first MA20)"
        )
    # Both classes in every CV fold are checked by the tournament, naming the fold.
    return TrainingSet(
        features=features.loc[usable].reset_index(drop=True),
        labels=labels[usable].to_numpy(dtype=np.int64),
        dates=pd.DatetimeIndex(history.loc[usable, "date"]),
    )


class PreopenSignalClassifier(EntrySignalClassifier):
    """Says, before session t + 1 opens and knowing the night, whether it is a day to enter.

    ``fit(history)`` runs the evening tournament on the labelled days of ``history`` whose night
    is known (others are skipped) and refits the winner on all of them. Learned state as the
    evening classifier's; ``train_start_`` and ``train_end_`` are the first and last such day.
    """

    kind: ClassVar[str] = "preopen-classifier"
    title: ClassVar[str] = "pre-open classifier"
    config: PreopenClassifierConfig

    def __init__(self, config: PreopenClassifierConfig = PreopenClassifierConfig()) -> None:
        if not isinstance(config, PreopenClassifierConfig):
            raise InputError(
                "a pre-open classifier takes a PreopenClassifierConfig, got "
                f"{type(config).__name__}"
            )
        self.config = config

    def _training_set(self, history: pd.DataFrame) -> TrainingSet:
        """The labelled days of ``history`` whose night is known, with their features; the
        symbols read are the config's, else every one whose night the history carries."""
        symbols = self.config.symbols or night_symbols(history)
        if not symbols:
            raise DataError(
                "the pre-open classifier reads the night's moves, and this history holds none "
                "(taiex.overnight.with_nights)"
            )
        self.symbols_ = symbols
        return preopen_training_set(history, self.config, symbols)

    def _features(self, history: pd.DataFrame) -> pd.DataFrame:
        """P(close[t+1] > MA20[t]) is asked of every day t with features and a known night."""
        return preopen_features(history, self.symbols_)

    def signal(self, history: pd.DataFrame) -> Signal:
        """The signal for the session after the last day of ``history``, from that day and the
        night after it; :class:`~taiex.overnight.MissingCloseError` naming the day when a move
        of that night is unknown (the round then falls back to the evening signal)."""
        self._check_fitted()
        if history.empty:
            raise DataError("no history to base a signal on")
        last = nights_of(history.tail(1), self.symbols_)
        unknown = [s for s in self.symbols_ if math.isnan(float(last[s].iloc[0]))]
        if unknown:
            day = pd.Timestamp(last["date"].iloc[0]).date()
            raise MissingCloseError(
                f"the night after {day} has no move of {', '.join(unknown)}: the pre-open signal "
                "needs every symbol's move"
            )
        return super().signal(history)

    def _description(self) -> dict[str, object]:
        return {
            **super()._description(),
            "symbols": list(self.symbols_),
            "features": feature_names(self.symbols_),
        }

    @classmethod
    def _config_from(cls, values: Mapping[str, object]) -> PreopenClassifierConfig:
        return PreopenClassifierConfig.from_dict(values)

    def _restore(self, meta: Mapping[str, Any]) -> None:
        self.symbols_ = tuple(str(s) for s in meta["symbols"])
        _check_features(meta.get("features"), self.symbols_)


def _check_features(saved: object, symbols: tuple[str, ...]) -> None:
    # The pipeline was fitted on these columns in this order: a header that names others was
    # written by a version whose features this one does not compute.
    if saved != feature_names(symbols):
        raise ValueError(f"features {saved!r} are not this version's {feature_names(symbols)}")


def backtest(
    history: pd.DataFrame,
    *,
    train_until: dt.date,
    start: dt.date,
    end: dt.date | None,
    config: PreopenClassifierConfig,
) -> ClassifierBacktest:
    """The evening classifier's walk-forward test (:func:`taiex.models.backtest.
    backtest_classifier`) of a pre-open classifier, on a history that carries its nights."""
    from taiex.models.backtest import backtest_classifier

    def make(values: ClassifierConfig) -> PreopenSignalClassifier:
        assert isinstance(values, PreopenClassifierConfig)
        return PreopenSignalClassifier(values)

    return backtest_classifier(
        history, train_until=train_until, start=start, end=end, config=config, model_class=make
    )
