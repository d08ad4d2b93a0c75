"""The classifier tournament: every candidate x grid setting scored by time-series CV.

Every candidate x hyperparameter set is scored by ROC AUC of its probabilities (never hard 0/1
labels) over ``TimeSeriesSplit`` folds, with a gap between training and validation days so a
validation day never shares a close with the last training label. The best mean CV AUC wins; a tie
goes to the steadier one (lower std), then to the earlier in the list. The test period plays no
part in the choice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from taiex.errors import DataError, InputError
from taiex.features import classifier_features, entry_labels
from taiex.frames import IntArray
from taiex.metrics import roc_auc
from taiex.models.candidates import candidate_pipeline
from taiex.models.classifier_config import ClassifierConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """The labelled days of a history: ``features`` (n, FEATURE_COLUMNS), ``labels`` (n,) 0/1,
    ``dates`` (n,)."""

    features: pd.DataFrame
    labels: IntArray
    dates: pd.DatetimeIndex


def training_set(history: pd.DataFrame, config: ClassifierConfig) -> TrainingSet:
    """Every labelled day of ``history`` with its features; the last day never has a label."""
    features = classifier_features(history)
    labels = entry_labels(history)
    usable = features.notna().all(axis=1) & labels.notna()
    n_days = int(usable.sum())
    if n_days < config.min_train_days:
        raise DataError(
            f"history too short to train the classifier: {n_days} labelled days "
            f"(needs {config.min_train_days}, plus 20 days for the first MA20)"
        )
    y = labels[usable].to_numpy(dtype=np.int64)
    _check_two_classes(y, "the training window")
    return TrainingSet(
        features=features.loc[usable].reset_index(drop=True),
        labels=y,
        dates=pd.DatetimeIndex(history.loc[usable, "date"]),
    )


def _check_two_classes(y: IntArray, where: str) -> None:
    positives = int(y.sum())
    if positives in (0, y.size):
        only = "1 (close above MA20)" if positives else "0 (close not above MA20)"
        raise DataError(
            f"{where} holds one class only: all {y.size} labels are {only}; "
            "a classifier needs days of both kinds (use a longer window)"
        )


Fold = tuple[IntArray, IntArray]  # training and validation rows


def _splits(data: TrainingSet, config: ClassifierConfig) -> list[Fold]:
    """Time-ordered folds; each training and validation part must hold both classes."""
    from sklearn.model_selection import TimeSeriesSplit

    splitter = TimeSeriesSplit(n_splits=config.n_splits, gap=config.gap)
    try:
        splits = list(splitter.split(data.features))
    except ValueError as exc:
        raise DataError(f"history too short for {config.n_splits} CV folds: {exc}") from exc
    for number, (train, test) in enumerate(splits, start=1):
        first, last = data.dates[test[0]].date(), data.dates[test[-1]].date()
        where = f"CV fold {number}/{len(splits)} (validation {first}..{last})"
        _check_two_classes(data.labels[train], f"{where}, training part,")
        _check_two_classes(data.labels[test], f"{where}, validation part,")
    return splits


def _cv_aucs(pipeline: Pipeline, data: TrainingSet, splits: list[Fold]) -> list[float]:
    from sklearn.base import clone

    aucs = []
    for train, test in splits:
        model = clone(pipeline).fit(data.features.iloc[train], data.labels[train])
        scores = model.predict_proba(data.features.iloc[test])[:, 1]
        auc, _ = roc_auc(data.labels[test], scores)  # both classes checked in _splits
        aucs.append(math.nan if auc is None else auc)
    return aucs


def run_tournament(data: TrainingSet, config: ClassifierConfig) -> pd.DataFrame:
    """Every candidate x params with its mean and std CV AUC, best first (``rank`` 1)."""
    from sklearn.model_selection import ParameterGrid

    splits = _splits(data, config)
    rows = []
    for name in config.candidates:
        for params in ParameterGrid(dict(config.grid(name))):
            pipeline = candidate_pipeline(name, params, seed=config.seed)
            try:
                aucs = _cv_aucs(pipeline, data, splits)
            except ValueError as exc:  # a setting the data cannot take, e.g. k > training days
                # Expected on a short history (the pre-open signal's first years) and kept in
                # the table as NaN: a note, not a warning on every retrain's terminal.
                logger.info("candidate %s %s failed in CV: %s", name, params, exc)
                aucs = [math.nan]
            mean, std = float(np.mean(aucs)), float(np.std(aucs))
            logger.debug("candidate %s %s: CV AUC %.4f +- %.4f", name, params, mean, std)
            rows.append({"candidate": name, "params": dict(params), "mean": mean, "std": std})
    return _ranked(rows)


def _ranked(rows: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).rename(columns={"mean": "cv_auc_mean", "std": "cv_auc_std"})
    table["order"] = range(len(table))
    # Best mean first; a tie goes to the steadier one, then to the earlier in the list.
    table = table.sort_values(
        ["cv_auc_mean", "cv_auc_std", "order"], ascending=[False, True, True], na_position="last"
    )
    table["rank"] = range(1, len(table) + 1)
    columns = ["candidate", "params", "cv_auc_mean", "cv_auc_std", "rank"]
    return table.loc[:, columns].reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """The tournament table as fixed-width text, best first."""
    lines = [f"{'rank':>4}  {'candidate':<24} {'CV AUC':>16}  params"]
    for row in table.to_dict("records"):
        params = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items()))
        auc = f"{row['cv_auc_mean']:.4f} ± {row['cv_auc_std']:.4f}"
        lines.append(f"{row['rank']:>4}  {row['candidate']:<24} {auc:>16}  {params}")
    return "\n".join(lines)


def best_params(table: pd.DataFrame, candidate: str) -> dict[str, object]:
    """The params of ``candidate``'s best row in a tournament table."""
    rows = table[table["candidate"] == candidate]
    if rows.empty:
        raise InputError(f"candidate {candidate!r} is not in the tournament table")
    return dict(rows.sort_values("rank").iloc[0]["params"])
