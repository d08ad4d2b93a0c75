"""The two monitored metrics, as DESIGN.md defines them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def smape(forecast: ArrayLike, actual: ArrayLike) -> float:
    """sMAPE in percent, 0-200: 100/n * sum(2 |F - A| / (|A| + |F|)).

    A pair where both values are 0 counts as a perfect forecast (0/0 would be undefined).
    """
    f = np.asarray(forecast, dtype=float)
    a = np.asarray(actual, dtype=float)
    if f.shape != a.shape:
        raise ValueError(f"forecast and actual differ in shape: {f.shape} vs {a.shape}")
    if f.size == 0:
        raise ValueError("sMAPE of no pairs is undefined")
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(
        2.0 * np.abs(f - a), denominator, out=np.zeros_like(f), where=denominator != 0
    )
    return float(100.0 * ratio.mean())


def roc_auc(
    labels: Sequence[int] | ArrayLike, scores: ArrayLike
) -> tuple[float | None, str | None]:
    """ROC AUC of ``scores`` (probabilities, never hard labels) against 0/1 ``labels``.

    Returns ``(auc, None)``, or ``(None, reason)`` when the AUC is undefined (one class only).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.size == 0:
        return None, "no labelled days"
    positives = int(y.sum())
    if positives in (0, y.size):
        only = "1" if positives else "0"
        return None, f"all {y.size} labelled days are of class {only}"
    return float(roc_auc_score(y, s)), None
