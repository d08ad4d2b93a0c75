"""Forecast and signal metrics: the two monitored ones as docs/design.md defines them
("Definitions"), and the evidence beside them (per-pair sMAPE, the Diebold–Mariano statistic,
interval coverage and the interval (Winkler) score, per interval and on average), so the monitor,
the backtests, the simulation and the benchmarks all compute a figure the same way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

# Fewer pairs than this give no Diebold–Mariano t: its Newey–West variance is then estimated from
# about as many pairs as it has lags (a week's replay printed t = +43,233 at h5). The monitor never
# judges on fewer days either.
MIN_DM_PAIRS = 10


def smape(forecast: ArrayLike, actual: ArrayLike) -> float:
    """sMAPE in percent, 0-200: 100/n * sum(2 |F - A| / (|A| + |F|)).

    A pair where both values are 0 counts as a perfect forecast (0/0 would be undefined).
    """
    terms = smape_terms(forecast, actual)
    if terms.size == 0:
        raise ValueError("sMAPE of no pairs is undefined")
    return float(terms.mean())


def smape_terms(forecast: ArrayLike, actual: ArrayLike) -> FloatArray:
    """Each pair's share of the sMAPE, in percent: 200 |F - A| / (|A| + |F|) (0 when both are 0).

    Their mean is :func:`smape`; their differences between two forecasts feed
    :func:`diebold_mariano`.
    """
    f = np.asarray(forecast, dtype=float)
    a = np.asarray(actual, dtype=float)
    if f.shape != a.shape:
        raise ValueError(f"forecast and actual differ in shape: {f.shape} vs {a.shape}")
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(
        2.0 * np.abs(f - a), denominator, out=np.zeros_like(f), where=denominator != 0
    )
    return np.asarray(100.0 * ratio, dtype=float)


def diebold_mariano(loss: ArrayLike, baseline_loss: ArrayLike, lag: int) -> float | None:
    """The Diebold–Mariano t statistic of ``loss - baseline_loss`` (negative: the model is better).

    The losses are per forecast, in time order, for one horizon. The variance of their mean
    difference is Newey–West's, Bartlett weights over ``lag`` autocovariances: forecasts h days
    ahead overlap, so their errors are correlated up to lag h - 1 and the band must allow for it.
    None when it is undefined: fewer than :data:`MIN_DM_PAIRS` pairs, or no variance at all.
    """
    d = np.asarray(loss, dtype=float) - np.asarray(baseline_loss, dtype=float)
    n = d.size
    if n < MIN_DM_PAIRS:
        return None
    centred = d - d.mean()
    variance = float(centred @ centred) / n
    for k in range(1, min(lag, n - 1) + 1):
        weight = 1.0 - k / (lag + 1.0)
        variance += 2.0 * weight * float(centred[k:] @ centred[:-k]) / n
    if not variance > 0.0:
        return None
    return float(d.mean() / np.sqrt(variance / n))


def coverage(lower: ArrayLike, upper: ArrayLike, actual: ArrayLike) -> float:
    """The fraction (0-1) of actual values inside their closed interval [lower, upper]."""
    lo, hi, y = _interval_arrays(lower, upper, actual)
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_score(lower: ArrayLike, upper: ArrayLike, actual: ArrayLike, level: float) -> float:
    """The mean interval (Winkler) score of central intervals at ``level`` (0.8 for 80 %).

    Width, plus 2/alpha times the distance by which the actual value falls outside (alpha = 1 -
    level): lower is better, and neither a narrow band that misses nor a wide one that always
    covers can score well. Gneiting & Raftery (2007), eq. 43.
    """
    return float(interval_scores(lower, upper, actual, level).mean())


def interval_scores(
    lower: ArrayLike, upper: ArrayLike, actual: ArrayLike, level: float
) -> FloatArray:
    """Each interval's score (:func:`interval_score` is their mean); their differences between
    two bands feed :func:`diebold_mariano`."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"an interval's level must lie strictly between 0 and 1, not {level}")
    lo, hi, y = _interval_arrays(lower, upper, actual)
    penalty = 2.0 / (1.0 - level)
    scores: FloatArray = (
        (hi - lo) + penalty * np.clip(lo - y, 0.0, None) + penalty * np.clip(y - hi, 0.0, None)
    )
    return scores


def _interval_arrays(
    lower: ArrayLike, upper: ArrayLike, actual: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    lo, hi, y = (np.asarray(v, dtype=float) for v in (lower, upper, actual))
    if not lo.shape == hi.shape == y.shape:
        raise ValueError(
            f"interval bounds and actual differ in shape: {lo.shape}, {hi.shape}, {y.shape}"
        )
    if y.size == 0:
        raise ValueError("an interval figure of no pairs is undefined")
    return lo, hi, y


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
