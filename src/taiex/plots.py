"""The PNG plots: forecast, model evaluations, metric history, backtests.

Every function takes plain data (DataFrames with the columns its docstring names, dicts, lists),
draws one figure and writes it to ``path`` atomically (a reader never sees half a PNG), then
returns ``path``. Empty or NaN-holding inputs are a real state (a new database) and draw a
"no data yet" note instead of failing.

Figures are built with matplotlib's object API on an explicit Agg canvas: pyplot is never
imported, so there is no global figure registry to leak into and no GUI backend is ever chosen,
whatever the process (a DAG worker, a notebook) has configured. Fonts are set per figure inside
``rc_context``; Chinese labels (加權指數, 適合進場) are drawn only when a CJK font is installed,
English ones otherwise, so no plot shows empty boxes.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from taiex.files import write_atomic
from taiex.frames import FORECAST_VALUES
from taiex.metrics import roc_auc, smape
from taiex.models.registry import ModelVersion
from taiex.rounds import Round

log = logging.getLogger(__name__)

# Taiwan's convention: red rises, green falls.
UP, DOWN = "#d1343a", "#1e8e3e"
FORECAST, BAND = "#1f5fbf", "#1f5fbf"
SECOND = "#e08214"  # a second forecast series (h5)
NAIVE = "#6b6b6b"
# The classifier's days by the label that came true, and its trivial score on its own axis: three
# colours that tell apart (the trivial line is not the orange of the days that did not).
LABEL_COLOURS = {1.0: "#1f5fbf", 0.0: "#e08214"}
TRIVIAL = "#7b3294"
# Around a single evaluated day (or a few close together) the date axis spans at least this many
# days either side, not the years matplotlib would pick for one point.
SINGLE_DAY_PAD = pd.Timedelta(days=3)
CJK_FAMILIES = (
    "Noto Sans CJK TC",
    "Noto Sans TC",
    "Source Han Sans TC",
    "Microsoft JhengHei",
    "PingFang TC",
    "Heiti TC",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing TW",
)
SIZE = (10.0, 5.6)  # inches; 1000 x 560 px at DPI
# The forecast's narrow variant, for a phone's ~350 CSS px: 500 x 500 px, drawn at NARROW_DPI
# (750 x 750 px) so that it stays sharp on a phone's dense screen; its text keeps its size.
NARROW_SIZE = (5.0, 5.0)
DPI = 100
# The narrow (phone) variants: 1.5 times the DPI is sharp on a phone (750 px for ~350 CSS px);
# at 2 times, the page's three narrow PNGs weighed about 100 kB more (BENCHMARKS.md, report page).
NARROW_DPI = int(1.5 * DPI)
HISTORY_DAYS = 30
MARK_MARGIN = pd.Timedelta(days=30)
# What the forecast and the scored pairs hold (frames.py names the forecast's values once).
FORECAST_COLUMNS = ("horizon", "date", *FORECAST_VALUES)
PAIR_COLUMNS = ("origin_date", "horizon", "target_date", *FORECAST_VALUES, "actual")


# ---------------------------------------------------------------- files and fonts


@functools.cache
def cjk_family() -> str | None:
    """The first installed font family that has Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FAMILIES if name in installed), None)
    if found is None:
        log.info("no CJK font installed: plot labels are in English only")
    return found


def zh(chinese: str, english: str) -> str:
    """``"適合進場 enter"`` when a CJK font can draw it, else ``"enter"``."""
    return f"{chinese} {english}" if cjk_family() else english


@contextmanager
def _style() -> Iterator[None]:
    family = cjk_family()
    # A family list makes matplotlib fall back per glyph: Latin from DejaVu, Chinese from CJK.
    families = ["DejaVu Sans", family] if family else ["DejaVu Sans"]
    with matplotlib.rc_context(
        {
            "font.family": families,
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "legend.frameon": False,
            "legend.fontsize": 8.5,
        }
    ):
        yield


def _figure(
    rows: int = 1,
    heights: Sequence[float] | None = None,
    sharex: bool = True,
    size: tuple[float, float] = SIZE,
) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 1, height_ratios=heights)
    axes = [figure.add_subplot(grid[i, 0]) for i in range(rows)]
    for ax in axes[1:] if sharex else []:
        ax.sharex(axes[0])
    return figure, axes


def _save(figure: Figure, path: Path, dpi: int = DPI) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    write_atomic(path, buffer.getvalue())
    log.debug("wrote %s", path)
    return path


def _titles(figure: Figure, title: str, subtitle: str) -> None:
    figure.suptitle(f"{title}\n", fontsize=13, fontweight="bold")
    # The subtitle sits in the suptitle's second line, smaller and not bold.
    figure.text(0.5, 0.955, subtitle, ha="center", va="top", fontsize=10, color="#333333")


def _note(ax: Axes, text: str, x: float = 0.5, y: float = 0.5) -> None:
    """A boxed note where data would be ("no data yet ...")."""
    ha = "center" if x == 0.5 else "right" if x > 0.5 else "left"
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha=ha,
        va="center",
        fontsize=12,
        color="#555555",
        bbox={"boxstyle": "round,pad=0.6", "facecolor": "#f4f4f4", "edgecolor": "#cccccc"},
    )


def _empty(ax: Axes, text: str) -> None:
    """An axes with nothing to draw: only the note, no ticks, spines or grid."""
    ax.set_axis_off()
    _note(ax, text)


def _legend_below(figure: Figure, handles: Sequence[Any] | None = None, columns: int = 6) -> None:
    """One legend under the axes, outside them, so it never hides data."""
    if handles is None:
        handles = [h for ax in figure.axes for h in ax.get_legend_handles_labels()[0]]
    if handles:
        ncols = min(len(handles), columns)
        figure.legend(handles=list(handles), loc="outside lower center", ncols=ncols)


def _thousands(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))


def typed_frame(
    data: pd.DataFrame | None,
    numbers: Sequence[str],
    dates: Sequence[str] = (),
    texts: Sequence[str] = (),
) -> pd.DataFrame:
    """The named columns only, each present (NaN where missing): numbers as float, dates as
    datetime64, texts as str. Whatever the caller passed (None, no rows, odd types) fits."""
    source = pd.DataFrame() if data is None else data

    def column(name: str) -> pd.Series:
        if name in source.columns:
            return source[name]
        return pd.Series([None] * len(source), index=source.index, dtype=object)

    frame = pd.DataFrame(index=source.index)
    for name in numbers:
        frame[name] = pd.to_numeric(column(name), errors="coerce").astype(float)
    for name in dates:
        frame[name] = pd.to_datetime(column(name), errors="coerce")
    for name in texts:
        frame[name] = column(name).astype("string").fillna("").astype(str)
    return frame.reset_index(drop=True)


def _date_axis(ax: Axes) -> None:
    """Few, short date labels (``Jun``, ``15``, ``2026``) instead of overlapping full dates."""
    locator = AutoDateLocator(minticks=3, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f} %"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


# ---------------------------------------------------------------- the forecast


def forecast_plot(
    history: pd.DataFrame | None,
    forecast: pd.DataFrame | None,
    signal: dict[str, Any] | None,
    path: Path,
    *,
    narrow: bool = False,
) -> Path:
    """The last 30 trading days as candles and the 5 forecast opens with their bands.

    ``narrow``: the phone's variant, square and sharper, with a shorter subtitle, fewer date
    labels and the legend in two columns, so that its text stays readable at ~350 px.

    ``history``: ``date`` (datetime64), ``open, high, low, close``. ``forecast``: ``horizon, date,
    forecast, lower_80, upper_80, lower_95, upper_95, naive``. ``signal``: ``date`` (the day it is
    for), ``based_on``, ``probability``, ``signal`` (0/1), ``threshold``; or None. Days are drawn
    at even steps (trading days, not calendar days), labelled with their dates.
    """
    past = typed_frame(history, ("open", "high", "low", "close"), ("date",))
    past = past.dropna(subset=["date", "close"]).sort_values("date").tail(HISTORY_DAYS)
    ahead = typed_frame(forecast, [c for c in FORECAST_COLUMNS if c != "date"], ("date",))
    ahead = ahead.dropna(subset=["forecast"]).sort_values("horizon")
    with _style():
        figure, (ax,) = _figure(size=NARROW_SIZE if narrow else SIZE)
        dpi = NARROW_DPI if narrow else DPI
        _titles(
            figure,
            zh("加權指數", "TAIEX")
            + (": 30 days, 5-day forecast" if narrow else ": last 30 days and 5-day forecast"),
            _signal_line(signal, short=narrow),
        )
        if past.empty and ahead.empty:
            _empty(ax, "no data yet: run `taiex run`")
            return _save(figure, path, dpi)
        _candles(ax, past)
        _forecast(ax, ahead, start=len(past), last_close=_last(past["close"]))
        if ahead.empty:
            _note(ax, "no forecast yet: run `taiex run`", x=0.98, y=0.08)
        dates = [*past["date"], *ahead["date"]]
        _date_ticks(ax, dates, most=6 if narrow else 12)
        _thousands(ax)
        ax.set_ylabel(zh("點", "points"))
        _legend_below(figure, _forecast_legend(past, ahead), columns=2 if narrow else 6)
        return _save(figure, path, dpi)


def _last(values: pd.Series) -> float | None:
    clean = values.dropna()
    return float(clean.iloc[-1]) if len(clean) else None


def _signal_line(signal: dict[str, Any] | None, short: bool = False) -> str:
    if not signal:
        return "no entry signal yet"
    verdict = zh("適合進場", "enter") if signal.get("signal") else zh("不適合進場", "do not enter")
    if short:
        return f"{signal.get('date')}: {verdict}, P = {_num(signal.get('probability'), 2)}"
    return (
        f"signal for {signal.get('date')}: {verdict}   "
        f"P(close > MA20) = {_num(signal.get('probability'), 2)}, "
        f"threshold {_num(signal.get('threshold'), 2)}, based on {signal.get('based_on')}"
    )


def _candles(ax: Axes, past: pd.DataFrame) -> None:
    x = np.arange(len(past))
    closes = past["close"].to_numpy(float)
    opens = np.where(past["open"].isna(), closes, past["open"].to_numpy(float))
    # A day missing its high or low still gets a body: the wick falls back to the body.
    highs = np.fmax(past["high"].to_numpy(float), np.maximum(opens, closes))
    lows = np.fmin(past["low"].to_numpy(float), np.minimum(opens, closes))
    colours = [UP if c >= o else DOWN for o, c in zip(opens, closes, strict=True)]
    ax.vlines(x, lows, highs, colors=colours, linewidth=1)
    bodies = np.maximum(np.abs(closes - opens), 1e-9)
    ax.bar(x, bodies, bottom=np.minimum(opens, closes), width=0.6, color=colours, linewidth=0)


def _forecast(ax: Axes, ahead: pd.DataFrame, start: int, last_close: float | None) -> None:
    if ahead.empty:
        return
    x = start + np.arange(len(ahead))
    for level, alpha in (("95", 0.12), ("80", 0.25)):
        lower, upper = (
            ahead[f"lower_{level}"].to_numpy(float),
            ahead[f"upper_{level}"].to_numpy(float),
        )
        ax.fill_between(x, lower, upper, color=BAND, alpha=alpha, linewidth=0)
    ax.plot(x, ahead["forecast"].to_numpy(float), color=FORECAST, marker="o", markersize=4)
    naive = _last(ahead["naive"])
    if naive is not None:
        ax.hlines(naive, start - 1, x[-1], colors=NAIVE, linestyles="--", linewidth=1.2)
    if last_close is not None:  # join the last candle to the first forecast open
        ax.plot([start - 1, x[0]], [last_close, ahead["forecast"].iloc[0]], color=FORECAST, ls=":")
    ax.axvline(start - 0.5, color="#999999", linewidth=0.8, linestyle=":")


def _forecast_legend(past: pd.DataFrame, ahead: pd.DataFrame) -> list[Any]:
    handles: list[Any] = []
    if not past.empty:
        handles.append(Patch(color=UP, label="day up (close ≥ open)"))
        handles.append(Patch(color=DOWN, label="day down"))
    if not ahead.empty:
        handles.append(
            Line2D([], [], color=FORECAST, marker="o", label=zh("開盤", "forecast open"))
        )
        handles.append(Patch(color=BAND, alpha=0.4, label="80 % band"))
        handles.append(Patch(color=BAND, alpha=0.15, label="95 % band"))
        handles.append(Line2D([], [], color=NAIVE, ls="--", label="naive (last close)"))
    return handles


def _date_ticks(ax: Axes, dates: Sequence[Any], most: int = 12) -> None:
    if not dates:
        return
    # Counted back from the last day, so that the forecast's end always has its label.
    step = max(1, math.ceil(len(dates) / most))
    ticks = list(range(len(dates) - 1, -1, -step))[::-1]
    labels = [_short_date(dates[i], first=n == 0) for n, i in enumerate(ticks)]
    ax.set_xticks(ticks, labels, fontsize=8.5)
    ax.set_xlim(-0.8, len(dates) - 0.2)


def _short_date(value: Any, first: bool) -> str:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return "?"
    return f"{stamp:%Y-%m-%d}" if first else f"{stamp:%m-%d}"


# ---------------------------------------------------------------- forecast evaluations


def lstm_evaluation_plot(pairs: pd.DataFrame | None, path: Path, title: str) -> Path:
    """Forecasts against the actual opens over an evaluation window.

    ``pairs``: ``origin_date, horizon, target_date, forecast, lower_80, upper_80, lower_95,
    upper_95, naive, actual`` (dates datetime64). Draws the actual open per target day, the
    1-day and 5-day forecasts (80 % band of the 1-day), the naive level, and sMAPE per horizon.
    """
    return _pairs_plot(pairs, path, title, "no evaluation pairs yet")


def backtest_plot(rows: pd.DataFrame | None, path: Path, title: str) -> Path:
    """Forecasts against the actual opens over a backtest range (the LSTM backtest CSV columns:
    ``origin_date, horizon, target_date, forecast, lower_80, upper_80, lower_95, upper_95,
    actual, naive``); rows without an actual are drawn but not scored."""
    return _pairs_plot(rows, path, title, "no backtest rows")


def _pairs_plot(pairs: pd.DataFrame | None, path: Path, title: str, empty: str) -> Path:
    dates = ("origin_date", "target_date")
    frame = typed_frame(pairs, [c for c in PAIR_COLUMNS if c not in dates], dates)
    frame = frame.dropna(subset=["target_date", "forecast", "horizon"])
    scored = frame.dropna(subset=["actual"])
    with _style():
        if frame.empty:
            figure, (ax,) = _figure()
            _titles(figure, title, _pairs_subtitle(scored))
            _empty(ax, f"{empty}: run `taiex run`")
            return _save(figure, path)
        figure, (top, bottom) = _figure(2, heights=(3, 1.2), sharex=False)
        _titles(figure, title, _pairs_subtitle(scored))
        _pairs_lines(top, frame)
        _horizon_bars(bottom, scored)
        return _save(figure, path)


def _pairs_subtitle(scored: pd.DataFrame) -> str:
    if scored.empty:
        return "no pair has an actual yet: nothing to score"
    model = smape(scored["forecast"], scored["actual"])
    naive = smape(scored["naive"], scored["actual"])
    inside = (scored["lower_80"] <= scored["actual"]) & (scored["actual"] <= scored["upper_80"])
    change = ""
    if naive > 0:
        ratio = (model / naive - 1) * 100
        change = f" ({abs(ratio):.1f} % {'worse' if ratio > 0 else 'better'})"
    return (
        f"sMAPE over {len(scored):,} pairs: model {_pct(model)} vs naive {_pct(naive)}{change}; "
        f"the 80 % band held {inside.mean() * 100:.0f} % of actuals"
    )


def _pairs_lines(ax: Axes, frame: pd.DataFrame) -> None:
    actual = frame.dropna(subset=["actual"]).groupby("target_date")["actual"].first()
    ax.plot(actual.index, actual.to_numpy(float), color="black", lw=1.4, label="actual open")
    horizons = sorted(int(h) for h in frame["horizon"].unique())
    first, last = horizons[0], horizons[-1]
    near = frame[frame["horizon"] == first].sort_values("target_date")
    ax.fill_between(
        near["target_date"],
        near["lower_80"].to_numpy(float),
        near["upper_80"].to_numpy(float),
        color=BAND,
        alpha=0.18,
        linewidth=0,
        label=f"80 % band, {first}-day",
    )
    ax.plot(
        near["target_date"], near["forecast"], color=FORECAST, lw=1.2, label=f"{first}-day ahead"
    )
    if last != first:
        far = frame[frame["horizon"] == last].sort_values("target_date")
        ax.plot(far["target_date"], far["forecast"], color=SECOND, lw=1, label=f"{last}-day ahead")
    ax.plot(
        near["target_date"], near["naive"], color=NAIVE, ls="--", lw=1, label="naive (last close)"
    )
    _thousands(ax)
    _date_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _horizon_bars(ax: Axes, scored: pd.DataFrame) -> None:
    if scored.empty:
        _note(ax, "no actuals yet")
        return
    rows = []
    for horizon in sorted(int(h) for h in scored["horizon"].unique()):
        part = scored[scored["horizon"] == horizon]
        rows.append(
            (horizon, smape(part["forecast"], part["actual"]), smape(part["naive"], part["actual"]))
        )
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r[1] for r in rows], width=0.4, color=FORECAST, label="model")
    ax.bar(x + 0.2, [r[2] for r in rows], width=0.4, color=NAIVE, label="naive")
    ax.set_xticks(x, [f"{r[0]}-day ahead" for r in rows])
    ax.set_ylabel("sMAPE %")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))


# ---------------------------------------------------------------- classifier evaluations


def classifier_evaluation_plot(
    days: pd.DataFrame | None, path: Path, title: str, threshold: float = 0.5
) -> Path:
    """Predicted probabilities over an evaluation window, coloured by the label that came true.

    ``days``: ``date, label`` (1.0, 0.0, NaN while unknown), ``probability``, ``trivial`` (the
    close/MA20 - 1 score, drawn on its own axis). The subtitle compares the two ROC AUCs.
    """
    frame = typed_frame(days, ("label", "probability", "trivial"), ("date",))
    frame = frame.dropna(subset=["date", "probability"]).sort_values("date")
    with _style():
        figure, (ax,) = _figure()
        _titles(figure, title, _auc_subtitle(frame))
        if frame.empty:
            _empty(ax, "no evaluated days yet: run `taiex run`")
            return _save(figure, path)
        _probability_points(ax, frame)
        ax.axhline(threshold, color="black", lw=1, ls="--", label=f"threshold {threshold:.2f}")
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("P(next close > MA20)")
        _trivial_line(ax, frame)
        _date_axis(ax)
        _legend_below(figure)
        return _save(figure, path)


def _auc_subtitle(frame: pd.DataFrame) -> str:
    labelled = frame.dropna(subset=["label"])
    if labelled.empty:
        return "no labelled day yet: nothing to score"
    labels = labelled["label"].to_numpy(int)
    auc, reason = roc_auc(labels, labelled["probability"].to_numpy(float))
    if auc is None:
        return f"ROC AUC undefined: {reason}"
    trivial = labelled.dropna(subset=["trivial"])
    trivial_auc, _ = (
        roc_auc(trivial["label"].to_numpy(int), trivial["trivial"].to_numpy(float))
        if len(trivial)
        else (None, None)
    )
    return (
        f"ROC AUC {auc:.3f} vs trivial close/MA20 {_num(trivial_auc)} "
        f"over {len(labelled)} labelled days"
    )


def _probability_points(ax: Axes, frame: pd.DataFrame) -> None:
    names = {1.0: "came true: next close > MA20", 0.0: "did not: next close ≤ MA20"}
    for label, colour in LABEL_COLOURS.items():
        part = frame[frame["label"] == label]
        if len(part):
            ax.scatter(part["date"], part["probability"], color=colour, s=22, label=names[label])
    unknown = frame[frame["label"].isna()]
    if len(unknown):
        ax.scatter(
            unknown["date"],
            unknown["probability"],
            facecolors="none",
            edgecolors=NAIVE,
            s=22,
            label="not known yet",
        )


def _trivial_line(ax: Axes, frame: pd.DataFrame) -> None:
    trivial = frame.dropna(subset=["trivial"])
    if trivial.empty:
        return
    right = ax.twinx()
    right.plot(trivial["date"], trivial["trivial"] * 100, color=TRIVIAL, lw=0.8, alpha=0.7)
    right.axhline(0, color=TRIVIAL, lw=0.6, alpha=0.4)
    right.set_ylabel("trivial: close/MA20 − 1 (%)", color=TRIVIAL)
    right.grid(False)


# ---------------------------------------------------------------- metric history


class MetricPanel(NamedTuple):
    """One kind's monitored metric over time: its table's rows and how to draw them."""

    rows: pd.DataFrame  # the evaluation table's rows (data_date, model_version, value, baseline)
    value: str  # the metric's column
    baseline: str  # the baseline's column
    ylabel: str
    baseline_label: str
    kind: str  # the registry's kind (which versions to mark)
    name: str  # for "no … evaluations yet"
    limit: float  # the retrain threshold
    limit_label: str  # "retrain above 100 %"


def metric_history_plot(
    panels: Sequence[MetricPanel],
    versions: Sequence[ModelVersion],
    path: Path,
    *,
    narrow: bool = False,
) -> Path:
    """Each kind's metric over time beside its baseline, with retrains and promotions.

    Each model version is its own line; the dashed line is the baseline. Dotted verticals mark a
    model trained (registered), solid ones a promotion. ``narrow``: the phone's variant, its
    panels taller than wide and their legends under them, drawn at 1.5 times the DPI.
    """
    frames = [
        panel._replace(
            rows=typed_frame(
                panel.rows, (panel.value, panel.baseline), ("data_date",), ("model_version",)
            )
        )
        for panel in panels
    ]
    size = (NARROW_SIZE[0], 0.6 + 3.4 * len(frames)) if narrow else SIZE
    with _style():
        figure, axes = _figure(len(frames), size=size)
        if narrow:
            figure.suptitle("Model monitoring; dashed: the baseline", fontsize=12)
        else:
            _titles(figure, "Model monitoring over time", _history_subtitle(frames))
        for ax, panel in zip(axes, frames, strict=True):
            if not _metric_panel(ax, panel):
                continue
            _limit_line(
                ax, panel.limit, panel.rows[[panel.value, panel.baseline]], panel.limit_label
            )
            _version_marks(
                ax, [v for v in versions if v.kind == panel.kind], panel.rows["data_date"]
            )
            _date_axis(ax)
            if narrow:  # under the panel, two a row: beside it would take half the width
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, fontsize=8)
            else:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, path, NARROW_DPI if narrow else DPI)


def _history_subtitle(panels: Sequence[MetricPanel]) -> str:
    counts = [len(panel.rows.dropna(subset=["data_date"])) for panel in panels]
    if not sum(counts):
        return "no monitoring runs yet"
    runs = " and ".join(f"{n} {panel.name}" for n, panel in zip(counts, panels, strict=True))
    return f"{runs} evaluations; dashed: the baseline"


def _metric_panel(ax: Axes, panel: MetricPanel) -> bool:
    """Draw one metric over time; False (and a note) when there is nothing to draw."""
    value, base = panel.value, panel.baseline
    rows = panel.rows.dropna(subset=["data_date"]).sort_values("data_date")
    if rows[[value, base]].notna().to_numpy().sum() == 0:
        _empty(ax, f"no {panel.name} evaluations yet")
        return False
    ax.set_ylabel(panel.ylabel)
    for name, part in rows.groupby("model_version", sort=False):
        ax.plot(part["data_date"], part[value], marker="o", ms=3, lw=1.3, label=str(name))
    baseline_rows = rows.dropna(subset=[base]).groupby("data_date")[base].first()
    ax.plot(
        baseline_rows.index,
        baseline_rows.to_numpy(float),
        color=NAIVE,
        ls="--",
        lw=1.1,
        # A single day's baseline has no line to draw: a mark shows it.
        marker="_" if len(baseline_rows) == 1 else "",
        ms=12,
        mew=1.5,
        label=panel.baseline_label,
    )
    undefined = rows[rows[value].isna()]
    if len(undefined):
        ax.scatter(
            undefined["data_date"],
            np.full(len(undefined), 0.03),
            marker="x",
            color="#aa0000",
            transform=ax.get_xaxis_transform(),
            label="undefined",
        )
    first, last = rows["data_date"].min(), rows["data_date"].max()
    if last - first < 2 * SINGLE_DAY_PAD:
        start, end = first - SINGLE_DAY_PAD, last + SINGLE_DAY_PAD
        ax.set_xlim(_x(start.to_pydatetime()), _x(end.to_pydatetime()))
    return True


def _limit_line(ax: Axes, limit: float, values: pd.DataFrame, label: str) -> None:
    data = values.to_numpy(float)
    data = data[~np.isnan(data)]
    # A threshold far outside the data (sMAPE 100 % against values near 1 %) would flatten the
    # lines into the axis: name it instead of drawing it.
    if data.size and (limit > 3 * data.max() or limit < data.min() / 3):
        ax.plot([], [], color="#aa0000", lw=1, ls="-.", label=f"{label} (off the chart)")
        return
    ax.axhline(limit, color="#aa0000", lw=1, ls="-.", label=label)


def _x(moment: dt.datetime) -> float:
    """A datetime on a date axis, as matplotlib's day number (what datetime64 data map to)."""
    return float(date2num(moment))  # type: ignore[no-untyped-call]


def _version_marks(ax: Axes, versions: Sequence[ModelVersion], dates: pd.Series) -> None:
    """Retrain and promotion lines of the versions, near the evaluated days only.

    A mark long before or after them (an old champion's training) would stretch the axis until
    the evaluations shrink into a corner: it is left out.
    """
    start, end = dates.min() - MARK_MARGIN, dates.max() + MARK_MARGIN

    def near(moment: dt.datetime | None) -> bool:
        return moment is not None and start <= pd.Timestamp(moment) <= end

    drawn: dict[str, tuple[str, str]] = {}  # legend label -> (colour, line style), once each
    for version in versions:
        if near(version.created_at):
            rejected = version.decision == "rejected"
            colour = "#aa0000" if rejected else "#888888"
            ax.axvline(_x(version.created_at), color=colour, ls=":", lw=1)
            drawn["rejected" if rejected else "trained"] = (colour, ":")
        if version.promoted_at is not None and near(version.promoted_at):
            ax.axvline(_x(version.promoted_at), color=DOWN, lw=1.2)
            ax.text(
                _x(version.promoted_at),
                0.98,
                f" {version.version}",
                transform=ax.get_xaxis_transform(),
                fontsize=8,
                va="top",
                color=DOWN,
            )
            drawn["promoted"] = (DOWN, "-")
    for label, (colour, style) in drawn.items():
        ax.plot([], [], color=colour, ls=style, lw=1, label=label)


# ---------------------------------------------------------------- the track record

# The track record's chart, narrow: three panels under each other for a phone's width.
TRACK_NARROW_SIZE = (5.0, 6.4)
# A round's colour in every chart that shows both (the evening's is the forecast's blue), and
# the actual open's beside them.
ROUND_COLOURS = {Round.evening.value: FORECAST, Round.pre_open.value: SECOND}
ACTUAL = "black"
# The strategies the track record's chart draws, with their line styles (the trivial rule stays
# in the table: four lines of growth on one small panel would not read).
TRACK_STRATEGIES = {"signal": "-", "buy_and_hold": "--"}
TRACK_MARKED_DAYS = 60  # up to this many days a series marks its points


def track_plot(
    opens: pd.DataFrame | None,
    ratios: pd.DataFrame | None,
    growth: pd.DataFrame | None,
    path: Path,
    *,
    rolling_targets: int,
    narrow: bool = False,
) -> Path:
    """What the loop served since its first day: the actual opens beside each round's next-open
    forecast; each round's rolling sMAPE ratio to naive (below 1: better); each round's signal
    strategy beside buy-and-hold, as growth of 1 after costs.

    ``opens``: ``date, series, value`` (``actual`` and each round's name); ``ratios``: ``date,
    round, ratio``; ``growth``: ``date, round, strategy, growth`` (the frames of
    :func:`taiex.report.track.chart_data`).
    """
    served = typed_frame(opens, ("value",), ("date",), ("series",)).dropna()
    rolling = typed_frame(ratios, ("ratio",), ("date",), ("round",)).dropna()
    equity = typed_frame(growth, ("growth",), ("date",), ("round", "strategy")).dropna()
    found = {*served["series"], *rolling["round"], *equity["round"]}
    colours = {name: colour for name, colour in ROUND_COLOURS.items() if name in found}
    with _style():
        figure, axes = _figure(3, heights=(3, 2, 2), size=TRACK_NARROW_SIZE if narrow else SIZE)
        _titles(
            figure,
            "Track record" if narrow else "Track record: what was served, and what happened",
            "since the first served day",
        )
        if served.empty:
            _empty(axes[0], "no served forecast yet")
            for ax in axes[1:]:
                ax.set_axis_off()
            return _save(figure, path, NARROW_DPI if narrow else DPI)
        _track_opens(axes[0], served, colours)
        _track_ratios(axes[1], rolling, colours, rolling_targets)
        _track_growth(axes[2], equity, colours)
        _date_axis(axes[-1])
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)  # one date axis, under the three panels
        _legend_below(figure, columns=2 if narrow else 4)
        return _save(figure, path, NARROW_DPI if narrow else DPI)


def _track_marks(days: int) -> tuple[str, float]:
    """Markers for a series of ``days`` points: plain to see on a month, small on years."""
    return ("o", 3.0) if days <= TRACK_MARKED_DAYS else ("", 0.0)


def _track_opens(ax: Axes, served: pd.DataFrame, colours: dict[str, str]) -> None:
    actual = served[served["series"] == "actual"].sort_values("date")
    marker, size = _track_marks(len(actual))
    ax.plot(actual["date"], actual["value"], color=ACTUAL, lw=1.2, marker=marker, ms=size,
            label="actual open")  # fmt: skip
    for name, colour in colours.items():
        part = served[served["series"] == name].sort_values("date")
        # Points, not a line: each is its own forecast, from its own day.
        ax.plot(part["date"], part["value"], color=colour, ls="none", marker="x",
                ms=5 if size else 1.5, label=f"{name}: next open served")  # fmt: skip
    ax.set_ylabel(zh("開盤", "open"))
    _thousands(ax)


def _track_ratios(
    ax: Axes, rolling: pd.DataFrame, colours: dict[str, str], rolling_targets: int
) -> None:
    if rolling.empty:
        _note(ax, "no open known yet to score a forecast", y=0.5)
        ax.set_yticks([])
        return
    for name, colour in colours.items():
        part = rolling[rolling["round"] == name].sort_values("date")
        marker, size = _track_marks(len(part))
        if len(part):
            ax.plot(part["date"], part["ratio"], color=colour, lw=1.2, marker=marker, ms=size,
                    label=f"{name}: sMAPE / naive")  # fmt: skip
    ax.axhline(1.0, color=NAIVE, lw=1, ls="--")
    ax.set_ylabel(f"ratio, last {rolling_targets} days")


def _track_growth(ax: Axes, equity: pd.DataFrame, colours: dict[str, str]) -> None:
    if equity.empty:
        _note(ax, "fewer than two signals with a known price", y=0.5)
        ax.set_yticks([])
        return
    for name, colour in colours.items():
        for strategy, style in TRACK_STRATEGIES.items():
            part = equity[(equity["round"] == name) & (equity["strategy"] == strategy)]
            if len(part):
                label = f"{name}: {strategy.replace('_', '-')}"
                ax.plot(part["date"], part["growth"], color=colour, ls=style, lw=1.1, label=label)
    ax.axhline(1.0, color=NAIVE, lw=0.8, ls=":")
    ax.set_ylabel("growth of 1")
