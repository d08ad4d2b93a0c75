"""The plots of a simulation's page, drawn from its CSV tables in the report's style.

Each function takes the tables as :mod:`taiex.simulation.records` reads them, draws one figure
and writes it to ``path`` atomically (see :mod:`taiex.plots`, whose style, colours and helpers
these share); empty tables draw a note instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from taiex.metrics import smape_terms
from taiex.plots import (
    BAND,
    DOWN,
    FORECAST,
    NAIVE,
    SECOND,
    UP,
    _date_axis,
    _empty,
    _figure,
    _save,
    _style,
    _thousands,
    _titles,
)

ROLLING_TARGETS = 60  # target days in the rolling sMAPE ratio (about three months)
TRAINED, PROMOTED = "#888888", DOWN


def served_forecast_plot(forecasts: pd.DataFrame, path: Path, horizons: tuple[int, ...]) -> Path:
    """Per horizon in ``horizons``, one panel: the actual open, the served forecast for it and
    its 80 % and 95 % bands, by target day."""
    with _style():
        figure, axes = _figure(len(horizons))
        _titles(
            figure,
            "What was served: forecast open against the actual",
            f"{forecasts['origin_date'].nunique():,} evenings; bands: 80 % and 95 %",
        )
        for ax, horizon in zip(axes, horizons, strict=True):
            rows = forecasts[forecasts["horizon"] == horizon].sort_values("target_date")
            if rows.empty:
                _empty(ax, f"no {horizon}-day forecast served")
                continue
            _bands(ax, rows)
            ax.plot(rows["target_date"], rows["actual"], color="black", lw=0.9, label="actual")
            ax.plot(rows["target_date"], rows["forecast"], color=FORECAST, lw=0.9, label="forecast")
            ax.set_ylabel(f"{horizon}-day ahead")
            _thousands(ax)
            _date_axis(ax)
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, path)


def _bands(ax: Axes, rows: pd.DataFrame) -> None:
    for level, alpha in ((95, 0.12), (80, 0.22)):
        ax.fill_between(
            rows["target_date"],
            rows[f"lower_{level}"].to_numpy(float),
            rows[f"upper_{level}"].to_numpy(float),
            color=BAND,
            alpha=alpha,
            linewidth=0,
            label=f"{level} % band",
        )


def rolling_ratio(forecasts: pd.DataFrame, horizon: int, targets: int) -> pd.DataFrame:
    """sMAPE of the served forecast over naive's and the drift's, each over the last ``targets``
    target days of ``horizon`` (columns ``target_date, naive, drift``)."""
    rows = forecasts[forecasts["horizon"] == horizon].dropna(subset=["actual"])
    rows = rows.sort_values("target_date")
    actual = rows["actual"].to_numpy(float)
    terms = {
        name: pd.Series(smape_terms(rows[name], actual)).rolling(targets, min_periods=targets)
        for name in ("forecast", "naive", "drift")
    }
    means = {name: rolling.mean() for name, rolling in terms.items()}
    return pd.DataFrame(
        {
            "target_date": rows["target_date"].to_numpy(),
            "naive": (means["forecast"] / means["naive"]).to_numpy(),
            "drift": (means["forecast"] / means["drift"]).to_numpy(),
        }
    )


def rolling_ratio_plot(
    forecasts: pd.DataFrame, path: Path, horizons: tuple[int, ...]
) -> Path | None:
    """The rolling sMAPE ratio to naive (solid) and to the drift (dotted) of each horizon; None
    (nothing drawn) while no horizon has :data:`ROLLING_TARGETS` scored target days."""
    frames = {
        horizon: rolling_ratio(forecasts, horizon, ROLLING_TARGETS).dropna() for horizon in horizons
    }
    if all(frame.empty for frame in frames.values()):
        return None
    with _style():
        figure, (ax,) = _figure()
        _titles(
            figure,
            "Served forecast against the baselines, over time",
            f"sMAPE ratio over the last {ROLLING_TARGETS} target days; below 1: better",
        )
        for horizon, colour in zip(horizons, (FORECAST, SECOND, UP), strict=False):
            frame = frames[horizon]
            if frame.empty:
                continue
            ax.plot(
                frame["target_date"], frame["naive"], color=colour, lw=1.2,
                label=f"{horizon}-day / naive",
            )  # fmt: skip
            ax.plot(
                frame["target_date"], frame["drift"], color=colour, lw=1, ls=":",
                label=f"{horizon}-day / drift",
            )  # fmt: skip
        ax.axhline(1.0, color=NAIVE, lw=1, ls="--")
        ax.set_ylabel("sMAPE ratio")
        _date_axis(ax)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, path)


def monitoring_plot(
    decisions: pd.DataFrame, path: Path, thresholds: dict[str, float], names: dict[str, str]
) -> Path:
    """Per kind of ``names`` (kind -> metric label), its monitored metric and baseline by day,
    its threshold, the days a challenger was trained (dotted) and the promotions (green)."""
    kinds = [k for k in names if k in set(decisions["kind"])]
    with _style():
        figure, axes = _figure(max(len(kinds), 1))
        _titles(
            figure,
            "Monitoring over the simulation",
            "each evening's score of the champion on days it did not train on; dashed: baseline",
        )
        if not kinds:
            _empty(axes[0], "no monitoring decision recorded")
            return _save(figure, path)
        for ax, kind in zip(axes, kinds, strict=True):
            rows = decisions[decisions["kind"] == kind].sort_values("date")
            _metric_lines(ax, rows, names.get(kind, kind), thresholds.get(kind))
            _date_axis(ax)
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, path)


def _metric_lines(ax: Axes, rows: pd.DataFrame, name: str, threshold: float | None) -> None:
    ax.plot(rows["date"], rows["metric"], color=FORECAST, lw=1.1, label="champion")
    ax.plot(rows["date"], rows["baseline"], color=NAIVE, lw=1, ls="--", label="baseline")
    values = rows[["metric", "baseline"]].to_numpy(float)
    values = values[~np.isnan(values)]
    if threshold is not None and values.size:
        # A threshold far off the data (sMAPE 100 against values near 1) would flatten them.
        if values.min() / 3 <= threshold <= 3 * values.max():
            ax.axhline(threshold, color="#aa0000", lw=1, ls="-.", label=f"threshold {threshold:g}")
        else:
            ax.plot([], [], color="#aa0000", ls="-.", label=f"threshold {threshold:g} (off chart)")
    for day in rows.loc[rows["challenger"] != "", "date"]:
        ax.axvline(day, color=TRAINED, lw=0.8, ls=":")
    for day in rows.loc[rows["promoted"] == 1, "date"]:
        ax.axvline(day, color=PROMOTED, lw=1.3)
    ax.plot([], [], color=TRAINED, lw=0.8, ls=":", label="challenger trained")
    ax.plot([], [], color=PROMOTED, lw=1.3, label="promoted")
    ax.set_ylabel(name)


def equity_plot(
    returns: pd.DataFrame,
    path: Path,
    held: str = "hold from close t to close t+1 when day t's signal is 1",
) -> Path:
    """Growth of 1 invested: the signal followed as a strategy, the trivial rule, buy-and-hold
    (``held`` says from when to when a position is held)."""
    with _style():
        figure, (top, bottom) = _figure(2, heights=(3, 1))
        _titles(figure, "The signal as a strategy: growth of 1, after costs", held)
        if returns.empty:
            _empty(top, "fewer than two days of signals")
            bottom.set_axis_off()
            return _save(figure, path)
        for column, label, colour, style in equity_lines(returns):
            equity = np.cumprod(1.0 + returns[column].to_numpy(float))
            top.plot(returns["date"], equity, color=colour, ls=style, lw=1.2, label=label)
            peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
            bottom.plot(returns["date"], 100 * (equity / peak - 1), color=colour, ls=style, lw=1)
        top.set_ylabel("growth of 1")
        bottom.set_ylabel("drawdown %")
        _date_axis(bottom)
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, path)


def equity_lines(
    returns: pd.DataFrame,
) -> list[tuple[str, str, str, str | tuple[int, tuple[int, int]]]]:
    """The equity plot's lines, drawn in this order: column, label, colour, line style. A signal
    strategy that made exactly the trivial rule's returns is drawn last, dashed, over the rule's
    line (drawn first, it hid under it), and its label says so."""
    signal = returns["signal"].to_numpy(float)
    same = np.array_equal(signal, returns["trivial_rule"].to_numpy(float))
    trivial = ("trivial_rule", "trivial rule (close > MA20)", SECOND, "-")
    hold = ("buy_and_hold", "buy-and-hold", "black", "--")
    if same:
        label = "signal strategy (identical to the trivial rule)"
        return [trivial, hold, ("signal", label, FORECAST, (0, (4, 4)))]
    return [("signal", "signal strategy", FORECAST, "-"), trivial, hold]
