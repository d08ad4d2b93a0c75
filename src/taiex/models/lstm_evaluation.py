"""The forecaster's monitoring and serving: what the LSTM kind (:mod:`taiex.kinds.lstm`) does
with a :class:`~taiex.kinds.protocols.Forecaster`.

Monitoring (docs/design.md, "Definitions"): every target day among the last 120 trading days
the model did not train on, forecast from each origin 1-5 trading days before it; sMAPE over all
those pairs and per horizon, beside the naive forecast's (open = the last close) on the same
pairs; and the Diebold-Mariano t of the difference, pooled over the horizons (:func:`pooled_dm_t`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from taiex.frames import FORECAST_VALUES, FloatArray, to_date
from taiex.kinds.evaluation import Evaluation, Row, as_count, as_float, unseen_window
from taiex.kinds.protocols import Forecaster
from taiex.metrics import diebold_mariano, smape, smape_terms


def evaluate(
    model: Forecaster,
    version: str,
    history: pd.DataFrame,
    targets: Sequence[dt.date] | None = None,
    *,
    window: int,
    known: Sequence[Row] | None = None,
) -> Evaluation:
    """sMAPE over every (origin, target) pair of the window: each target among the last
    ``window`` trading days the model did not train on (or ``targets``), forecast from each
    origin 1..H days before it (H: the model's horizons).

    ``known``: the forecast rows this version served before. An origin whose horizons are all
    there, made from the close the history still holds, is not forecast again: a forecast
    depends only on the rows up to its origin, and the model computes an origin alike whichever
    others it is given, so the figures are those of a recomputation. ``detail`` says how many
    origins were reused and computed."""
    dates = _dates(history)
    chosen = (
        list(targets) if targets is not None else unseen_window(dates, model.train_end_, window)
    )
    kind, data_date = model.kind, dates[-1]
    if not chosen:
        reason = f"no trading day after {model.train_end_} (the model's training end) yet"
        return Evaluation(kind, version, data_date, None, None, 0, reason=reason)
    pairs, reused, computed = _pairs(model, history, dates, chosen, known)
    if pairs.empty:
        reason = "no target day of the window has a full input window before it"
        return Evaluation(kind, version, data_date, None, None, 0, tuple(chosen), reason=reason)
    by_horizon = {
        str(h): (smape(part["forecast"], part["actual"]), smape(part["naive"], part["actual"]))
        for h, part in pairs.groupby("horizon")
    }
    detail = {
        "smape_by_horizon": {h: round(v[0], 6) for h, v in by_horizon.items()},
        "naive_smape_by_horizon": {h: round(v[1], 6) for h, v in by_horizon.items()},
        "dm_t": pooled_dm_t(pairs, lag=model.config.horizons),
        "origins_reused": reused,
        "origins_computed": computed,
    }
    return Evaluation(
        kind,
        version,
        data_date,
        metric=smape(pairs["forecast"], pairs["actual"]),
        baseline=smape(pairs["naive"], pairs["actual"]),
        n=len(pairs),
        days=tuple(chosen),
        detail=detail,
        frame=pairs,
    )


def pooled_dm_t(pairs: pd.DataFrame, *, lag: int) -> float | None:
    """The Diebold-Mariano t of the model against naive over a window's pairs, all horizons.

    Per target day, the mean over its pairs (one per horizon) of the sMAPE-term difference,
    model minus naive; then the t of those daily means in date order, with Newey-West variance
    at ``lag``, the number of horizons (a day's forecasts share origins with the next four
    days'). Pooling the horizons uses the whole window (120 days), where horizon 1 alone would
    judge on a fifth of the pairs. Positive: worse than naive. None when undefined (fewer
    than :data:`taiex.metrics.MIN_DM_PAIRS` days, or no variance).
    """
    difference = smape_terms(pairs["forecast"], pairs["actual"]) - smape_terms(
        pairs["naive"], pairs["actual"]
    )
    by_day = (
        pairs.assign(difference=difference).groupby("target_date")["difference"].mean().sort_index()
    )
    t = diebold_mariano(by_day.to_numpy(), np.zeros(len(by_day)), lag=lag)
    return None if t is None else round(t, 6)


def _dates(history: pd.DataFrame) -> list[dt.date]:
    return [ts.date() for ts in pd.to_datetime(history["date"])]


def _pairs(
    model: Forecaster,
    history: pd.DataFrame,
    dates: list[dt.date],
    targets: Sequence[dt.date],
    known: Sequence[Row] | None,
) -> tuple[pd.DataFrame, int, int]:
    """The (origin, target) pairs with their actual open; how many origins were reused and how
    many computed."""
    position = {d: i for i, d in enumerate(dates)}
    first_origin = model.config.window - 1
    horizons = range(1, model.config.horizons + 1)
    origins = sorted(
        {position[t] - h for t in targets for h in horizons if position[t] - h >= first_origin}
    )
    if not origins:
        return pd.DataFrame(), 0, 0
    close = history["close"].to_numpy(dtype=float)
    stored = _reusable(known or (), position, close, len(horizons))
    missing = [dates[i] for i in origins if i not in stored]
    parts = []
    if missing:
        parts.append(model.predict_origins(history, missing))
    reused = [
        {**row, "target_date": _target(dates, position, row)}
        for i in origins
        if i in stored
        for row in stored[i]
    ]
    if reused:  # in the columns and order of predict_origins
        columns = ["origin_date", "horizon", "target_date", *FORECAST_VALUES]
        parts.append(pd.DataFrame(reused, columns=columns))
    forecasts = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for column in ("origin_date", "target_date"):
        forecasts[column] = pd.to_datetime(forecasts[column]).astype("datetime64[ns]")
    # In the order a recomputation gives: a mean over the pairs adds them in this order.
    forecasts = forecasts.sort_values(["origin_date", "horizon"], kind="stable")
    actual = pd.Series(history["open"].to_numpy(dtype=float), index=pd.to_datetime(history["date"]))
    wanted = pd.to_datetime(pd.Series(list(targets)))
    pairs = forecasts[forecasts["target_date"].isin(wanted)].copy()
    pairs["actual"] = actual.reindex(pairs["target_date"]).to_numpy()
    return pairs.reset_index(drop=True), len(origins) - len(missing), len(missing)


def _reusable(
    known: Sequence[Row], position: Mapping[dt.date, int], close: FloatArray, horizons: int
) -> dict[int, list[dict[str, object]]]:
    """The known rows by origin (its position in the history), for the origins whose every
    horizon is there and whose naive level is still the origin's close (a revised close makes
    the stored forecast stale)."""
    by_origin: dict[int, list[tuple[int, dict[str, object]]]] = {}
    for row in known:
        i = position.get(to_date(row["origin_date"]))
        if i is not None:
            horizon = as_count(row["horizon"])
            values = {c: as_float(row[c]) for c in FORECAST_VALUES}
            by_origin.setdefault(i, []).append(
                (horizon, {"origin_date": row["origin_date"], "horizon": horizon, **values})
            )
    every = list(range(1, horizons + 1))
    return {
        i: [row for _, row in sorted(rows, key=lambda pair: pair[0])]
        for i, rows in by_origin.items()
        if sorted(h for h, _ in rows) == every and all(r["naive"] == close[i] for _, r in rows)
    }


def _target(dates: list[dt.date], position: Mapping[dt.date, int], row: Row) -> dt.date | None:
    """The history's day ``horizon`` sessions after the row's origin (None past the data)."""
    i = position[to_date(row["origin_date"])] + as_count(row["horizon"])
    return dates[i] if i < len(dates) else None


def serve(model: Forecaster, version: str, history: pd.DataFrame) -> list[dict[str, object]]:
    """The next sessions' opening levels from the last day of ``history``, as forecast rows."""
    frame = model.predict(history)
    origin = to_date(history["date"].iloc[-1])
    return [
        {
            "model_version": version,
            "origin_date": origin,
            "horizon": int(r["horizon"]),
            "target_date": to_date(r["date"]),
            **{c: float(r[c]) for c in FORECAST_VALUES},
        }
        for r in frame.to_dict("records")
    ]
