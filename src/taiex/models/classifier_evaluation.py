"""The entry signal's monitoring and serving: what the classifier kind
(:mod:`taiex.kinds.classifier`) does with a :class:`~taiex.kinds.protocols.Classifier`.

Monitoring (docs/design.md, "Definitions"): ROC AUC of the predicted probabilities (never hard
labels) over the last 40 labelled days the model did not train on, beside the trivial
close/MA20 − 1 score's on the same days; NULL with the reason when those days hold one class only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from taiex.features import MA_WINDOW, entry_labels, trivial_score
from taiex.frames import to_date
from taiex.kinds.evaluation import Evaluation, Row, unseen_window
from taiex.kinds.protocols import Classifier
from taiex.metrics import roc_auc


def evaluate(
    model: Classifier,
    version: str,
    history: pd.DataFrame,
    days: Sequence[dt.date] | None = None,
    *,
    window: int,
    known: Sequence[Row] | None = None,
) -> Evaluation:
    """ROC AUC of the probabilities over the last ``window`` labelled days the model did not
    train on (or ``days``); NULL with the reason when those
    days hold one class. ``known`` is not used: the classifier's evaluation costs little.

    Scored on the tail of ``history`` those days need (their features look back 19 days, their
    labels one day ahead): the same figures as on the whole history, at a cost that does not
    grow with it."""
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
    detail = {
        "n_positive": positives,
        "n_negative": len(scored) - positives,
        "model_family": model.winner_,
    }
    kind, data_date = model.kind, dates[-1]
    if scored.empty:
        empty = f"no labelled day after {model.train_end_} (the model's training end) yet"
        return Evaluation(kind, version, data_date, None, None, 0, reason=empty, detail=detail)
    auc, reason = roc_auc(scored["label"], scored["probability"])
    trivial, _ = roc_auc(scored["label"], scored["trivial"])
    return Evaluation(
        kind,
        version,
        data_date,
        metric=auc,
        baseline=trivial,
        n=len(scored),
        days=tuple(scored["date"]),
        reason=reason,
        detail=detail,
        frame=scored,
    )


def _tail(history: pd.DataFrame, days: Sequence[dt.date] | None, window: int) -> pd.DataFrame:
    """The rows from 19 days before the first day that can be scored to the last day."""
    if days is None:
        # The last ``window`` labelled days end the day before the last (which has no label).
        rows = window + MA_WINDOW
    elif not days:
        return history
    else:
        first = pd.Timestamp(min(days))
        rows = int((pd.to_datetime(history["date"]) >= first).sum()) + MA_WINDOW - 1
    return history.tail(rows).reset_index(drop=True)


def serve(model: Classifier, version: str, history: pd.DataFrame) -> list[dict[str, object]]:
    """The entry signal for the session after the last day of ``history``, as one signal row.

    Day t's features need days t-19..t only: the signal is read from that tail."""
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
