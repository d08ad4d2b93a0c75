"""The page's interactive charts: data in, a Vega-Lite spec out (built with Altair).

Each chart is one spec; the page carries it as JSON beside the chart's PNG and a small script
(``charts.js`` in the templates) draws it with vega-embed from the files shipped beside the page
(:mod:`taiex.report.vendor`), then hides the PNG. A page with scripts off, a mail client, or a
browser that cannot draw it keeps the PNG. The script sets the width (the chart's container,
every time it changes), so one spec serves a phone and a desktop.

The same pieces make any chart of the page interactive: :func:`series_chart` for a line over
days (or :func:`hover` for the tooltip fields and :func:`zoom_x` to zoom and pan the time axis of
a chart of one's own), :func:`spec_json` for the page, and the ``chart_figure`` macro of the
template to place it. The track record's chart, say::

    chart = series_chart(frame, "ratio", "sMAPE ratio to naive, 20 days", number=".3f")
    Image(title, caption, png, specs=() if chart is None else (spec_json(chart),))
    {{ chart_figure(images["track"], "track-figure") }}   (in report.html.j2)

Dates travel as ISO strings on a UTC time scale, so every reader sees the stored day whatever
their time zone; the tooltips show the day as text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from taiex.models.registry import ModelVersion
from taiex.plots import (
    BAND,
    DOWN,
    MARK_MARGIN,
    NAIVE,
    ROUND_COLOURS,
    SINGLE_DAY_PAD,
    UP,
    MetricPanel,
    typed_frame,
)

# The y axis's labels keep this width at any size, so the script can size the plot to the
# container exactly (the spec has no fixed width; the script sets config.view.continuousWidth).
AXIS_WIDTH = 48
# The overview under the forecast: the whole history, with a brush that picks what is shown.
OVERVIEW_HEIGHT = 56
DAY_MS = 86_400_000
# Up to this many evaluated days, the baseline has a mark on each (beside its dashed line).
FEW_DAYS = 3
# Trading days shown at first above the forecast; the brush on the overview shows any others.
FIRST_VIEW_DAYS = 40
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans TC', sans-serif"


@dataclass(frozen=True)
class Round:
    """One round's forecast for the chart: ``frame`` has ``horizon, date, forecast, lower_80,
    upper_80, lower_95, upper_95, naive``."""

    name: str  # "evening" or "pre-open"
    model_version: str
    frame: pd.DataFrame


# ---------------------------------------------------------------- the shared pieces


def spec_json(chart: alt.TopLevelMixin) -> str:
    """``chart`` as the page carries it: compact JSON with the page's config, safe inside a
    ``<script type="application/json">`` (no ``</script>`` can close it early)."""
    spec = chart.to_dict()
    spec["config"] = _config()
    text = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _config() -> dict[str, Any]:
    axis = {"labelFontSize": 11, "titleFontSize": 11, "gridOpacity": 0.5, "labelFont": FONT}
    return {
        "font": FONT,
        "view": {"stroke": None},
        "axis": axis,
        # A fixed band for the y labels and no y title (the unit is in the chart's title).
        "axisY": {"minExtent": AXIS_WIDTH, "maxExtent": AXIS_WIDTH, "title": None},
        "axisX": {"title": None, "labelOverlap": True, "labelFlush": True},
        "legend": {"orient": "bottom", "title": None, "labelFontSize": 11, "symbolSize": 80},
        "title": {"anchor": "start", "fontSize": 13, "subtitleColor": "#5b6472"},
    }


def hover(*fields: tuple[str, str, str]) -> list[alt.Tooltip]:
    """Tooltip fields as ``(column, title, format)``: a number format (``",.2f"``) for a
    quantitative column, ``""`` for a text one."""
    return [
        alt.Tooltip(f"{column}:Q", title=title, format=fmt)
        if fmt
        else alt.Tooltip(f"{column}:N", title=title)
        for column, title, fmt in fields
    ]


def zoom_x() -> alt.Parameter:
    """Wheel or pinch to zoom the time axis, drag to pan, double-click to reset."""
    return alt.selection_interval(name="zoom", bind="scales", encodings=["x"])


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d")


def _records(frame: pd.DataFrame) -> alt.Data:
    """The rows as inline data, a missing number as null (JSON has no NaN). Not the frame
    itself: Altair would turn a column of numbers and nulls back into NaNs."""
    # Six decimals: more than any tooltip shows (the page's weight is mostly numbers).
    values = json.loads(frame.to_json(orient="records", double_precision=6))
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def _utc_x(field: str, domain: Sequence[str] | None = None) -> alt.X:
    scale = alt.Scale(type="utc") if domain is None else alt.Scale(type="utc", domain=domain)
    # At most a tick a day: over two days Vega would tick every few hours, each labelled alike.
    axis = alt.Axis(format="%m-%d", tickMinStep=DAY_MS)
    return alt.X(f"{field}:T", scale=scale, axis=axis)


def _days_x(dates: pd.Series) -> alt.X:
    """A time axis over ``dates``: a week around them when they span less (one evaluation, a
    first served day), not the years or hours Vega would pick for one point."""
    first, last = pd.to_datetime(dates).min(), pd.to_datetime(dates).max()
    if last - first >= 2 * SINGLE_DAY_PAD:
        return _utc_x("date")
    return _utc_x(
        "date", [f"{first - SINGLE_DAY_PAD:%Y-%m-%d}", f"{last + SINGLE_DAY_PAD:%Y-%m-%d}"]
    )


def series_chart(
    frame: pd.DataFrame,
    value: str,
    title: str,
    *,
    series: str | None = None,
    number: str = ",.2f",
    fields: Sequence[tuple[str, str, str]] = (),
    colours: Mapping[str, str] | None = None,
    rule: float | None = None,
) -> alt.LayerChart | None:
    """A zoomable time series: ``frame``'s ``value`` over its ``date`` (datetime64 or dates),
    one line a value of ``series`` (a column) if given, points with a tooltip of the day, the
    series, the value (``number`` format) and ``fields`` (``(column, title, format)``, see
    :func:`hover`), ``colours`` the colour of each series (as the page's other charts give a
    round), ``rule`` a dashed level to read the line against (1: naive's sMAPE, or the money
    put in). For a chart of the page that is a line over days (the track record's): pass it to
    :func:`spec_json`. None when no row has a value."""
    rows = frame.dropna(subset=["date", value]).sort_values("date")
    if rows.empty:
        return None
    data = rows.assign(day=_day(rows["date"]), date=_day(rows["date"]))
    # The y labels as the tooltip's numbers, but whole points: a thousands' value with its
    # decimals would not fit the labels' band.
    labels = ",.0f" if number == ",.2f" else number
    scale = alt.Scale(zero=False, padding=10)
    x, y = _days_x(rows["date"]), alt.Y(f"{value}:Q", scale=scale, axis=alt.Axis(format=labels))
    tooltip = hover(("day", "day", ""), *([(series, series, "")] if series else []))
    tooltip += hover((value, value, number), *fields)
    # Two entries a row: "pre-open trivial rule" beside five more would widen a phone's page.
    legend = alt.Legend(title=None, columns=2, labelLimit=160)
    names = sorted(rows[series].astype(str).unique()) if series else []
    palette = (
        alt.Scale(domain=names, range=[colours.get(n, BAND) for n in names])
        if colours
        else alt.Undefined
    )
    colour = {"color": alt.Color(f"{series}:N", legend=legend, scale=palette)} if series else {}
    base = alt.Chart()  # the layer's data, once for both marks
    marks: list[Any] = [
        base.mark_line(strokeWidth=1.6, clip=True).encode(x=x, y=y, **colour),
        base.mark_point(filled=True, size=50, opacity=1, clip=True)
        .encode(x=x, y=y, tooltip=tooltip, **colour)
        .add_params(zoom_x()),
    ]
    if rule is not None:
        level = alt.Chart(_records(pd.DataFrame({"level": [rule]})))
        marks.insert(0, level.mark_rule(strokeDash=[5, 4], color=NAIVE).encode(y="level:Q"))
    return alt.LayerChart(layer=marks, data=_records(data)).properties(title=title)


# ---------------------------------------------------------------- the forecast


def forecast_chart(history: pd.DataFrame, rounds: Sequence[Round]) -> alt.VConcatChart | None:
    """The stored days as candles and each round's forecast of the open with its 80 % and 95 %
    bands, above an overview of the whole ``history`` (``date, open, high, low, close``) whose
    brush picks the days shown (at first the last :data:`FIRST_VIEW_DAYS` and the forecast).
    None when there is nothing to draw."""
    past = history.dropna(subset=["date", "close"]).sort_values("date").reset_index(drop=True)
    ahead = _rounds_frame(rounds)
    if past.empty and ahead.empty:
        return None
    candles = _candles_frame(past)
    days = pd.concat([past["date"], pd.to_datetime(ahead.get("day", pd.Series()))]).sort_values()
    start = past["date"].iloc[-min(FIRST_VIEW_DAYS, len(past))] if len(past) else days.iloc[0]
    # Inclusive at both ends: exactly the first view's days.
    brush = alt.selection_interval(
        name="days", encodings=["x"], value={"x": [_ms(start), _ms(days.iloc[-1])]}
    )
    layers: list[alt.LayerChart] = []
    if len(candles):
        layers.append(_candle_layers(candles, brush))
    if len(ahead):
        layers.append(_forecast_layers(ahead, brush))
    return alt.vconcat(alt.layer(*layers), _overview(past, ahead, brush), spacing=6)


def _candle_layers(candles: pd.DataFrame, brush: alt.Parameter) -> alt.LayerChart:
    """Wicks from low to high, bodies from open to close, the days the brush picks."""
    # Taiwan's colours, as a condition: a colour scale would be shared with the rounds'.
    colour = alt.condition("datum.close >= datum.open", alt.value(UP), alt.value(DOWN))
    base = alt.Chart()  # the layer's data, once for both marks
    wick = base.mark_rule().encode(
        x=_day_x(), y=alt.Y("low:Q", scale=alt.Scale(zero=False)), y2="high:Q", color=colour
    )
    body = base.mark_bar(width=alt.RelativeBandSize(0.6)).encode(
        x=_day_x(),
        y="open:Q",
        y2="close:Q",
        color=colour,
        tooltip=hover(
            ("day", "day", ""),
            ("open", "open 開盤", ",.2f"),
            ("high", "high", ",.2f"),
            ("low", "low", ",.2f"),
            ("close", "close", ",.2f"),
        ),
    )
    return alt.LayerChart(layer=[wick, body], data=_records(candles)).transform_filter(brush)


def _ms(moment: pd.Timestamp) -> float:
    """A day as the UTC time scale's number (milliseconds since 1970)."""
    return float(pd.Timestamp(moment).tz_localize(None).value // 1_000_000)


def _candles_frame(past: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"day": _day(past["date"]), "date": _epoch_ms(past["date"])})
    for column in ("open", "high", "low", "close"):
        frame[column] = past[column].astype(float)
    # A day without its open (or high, low) still has a candle: its close stands in.
    frame["open"] = frame["open"].fillna(frame["close"])
    frame["high"] = frame[["high", "open", "close"]].max(axis=1)
    frame["low"] = frame[["low", "open", "close"]].min(axis=1)
    return frame


def _epoch_ms(dates: pd.Series) -> pd.Series:
    """Days as the time scale's numbers (UTC milliseconds): the brush filters on them."""
    return (pd.to_datetime(dates) - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)


def _day_x() -> alt.X:
    """Trading days at even steps, as on the PNG (no gaps for weekends and holidays), each
    labelled by its month and day where there is room."""
    axis = alt.Axis(
        labelExpr="slice(datum.value, 5)", labelAngle=0, labelOverlap="greedy", labelSeparation=6
    )
    return alt.X("day:O", axis=axis, scale=alt.Scale(paddingInner=0.2))


def _rounds_frame(rounds: Sequence[Round]) -> pd.DataFrame:
    parts = []
    for item in rounds:
        frame = item.frame.dropna(subset=["forecast"]).copy()
        if frame.empty:
            continue
        frame["round"] = item.name
        frame["model"] = item.model_version
        frame["day"] = _day(frame["date"])
        frame["date"] = _epoch_ms(frame["date"])
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["round", "date", "forecast"])
    return pd.concat(parts, ignore_index=True)


def _forecast_layers(ahead: pd.DataFrame, brush: alt.Parameter) -> alt.LayerChart:
    """Each round's bands, forecast line and points (with the tooltip), and naive level."""
    names = list(dict.fromkeys(ahead["round"]))
    colour = alt.Color(
        "round:N",
        scale=alt.Scale(domain=names, range=[ROUND_COLOURS.get(n, BAND) for n in names]),
        legend=alt.Legend(title=None, symbolOpacity=1),
    )
    base = alt.Chart()  # the layer's data, once for every mark
    x = _day_x()
    marks = [
        base.mark_area(opacity=0.12).encode(x=x, y="lower_95:Q", y2="upper_95:Q", color=colour),
        base.mark_area(opacity=0.22).encode(x=x, y="lower_80:Q", y2="upper_80:Q", color=colour),
        base.mark_line(strokeDash=[5, 4], color=NAIVE, strokeWidth=1.2).encode(
            x=x, y="naive:Q", detail="round:N"
        ),
        base.mark_line(strokeWidth=2).encode(x=x, y="forecast:Q", color=colour),
        base.mark_point(filled=True, size=70, opacity=1).encode(
            x=x,
            y="forecast:Q",
            color=colour,
            tooltip=hover(
                ("round", "round", ""),
                ("day", "day", ""),
                ("horizon", "days ahead", "d"),
                ("forecast", "forecast open 開盤", ",.2f"),
                ("lower_80", "80 % from", ",.2f"),
                ("upper_80", "80 % to", ",.2f"),
                ("lower_95", "95 % from", ",.2f"),
                ("upper_95", "95 % to", ",.2f"),
                ("naive", "naive (last close)", ",.2f"),
                ("model", "model", ""),
            ),
        ),
    ]
    return alt.LayerChart(layer=marks, data=_records(ahead)).transform_filter(brush)


def _overview(past: pd.DataFrame, ahead: pd.DataFrame, brush: alt.Parameter) -> alt.Chart:
    closes = pd.DataFrame({"date": _epoch_ms(past["date"]), "value": past["close"].astype(float)})
    closes["series"] = "close"
    forecasts = pd.DataFrame(
        {"date": ahead["date"], "value": ahead["forecast"], "series": ahead["round"]}
    )
    frame = _records(pd.concat([closes, forecasts], ignore_index=True))
    line = (
        alt.Chart(frame)
        .mark_line(strokeWidth=1, color="#5b6472")
        .encode(
            x=alt.X(
                "date:T",
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%Y-%m", tickCount=4),
            ),
            y=alt.Y(
                "value:Q",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(labels=False, ticks=False, grid=False),
            ),
            detail="series:N",
        )
    )
    # Named: its group's class in the SVG is then "overview_group" (a test drags on it).
    overview: alt.Chart = line.add_params(brush).properties(name="overview", height=OVERVIEW_HEIGHT)
    return overview


# ---------------------------------------------------------------- the monitoring history


def metric_chart(panel: MetricPanel, versions: Sequence[ModelVersion]) -> alt.TopLevelMixin | None:
    """One kind's monitored metric over time, each model version its own line, beside its
    baseline (dashed, with a mark on each day so that one evaluation shows too), its retrain
    threshold when it is near the data, and the versions trained or promoted near the evaluated
    days. None when no evaluation has a value."""
    value, base = panel.value, panel.baseline
    rows = typed_frame(panel.rows, (value, base), ("data_date",), ("model_version",))
    rows = rows.dropna(subset=["data_date"]).sort_values("data_date")
    rows = rows[rows[[value, base]].notna().any(axis=1)]
    if rows.empty:
        return None
    frame = pd.DataFrame(
        {
            "date": _day(rows["data_date"]),
            "day": _day(rows["data_date"]),  # the tooltip's text: date is parsed to a time
            "version": rows["model_version"].astype(str),
            "value": rows[value].astype(float),
            "baseline": rows[base].astype(float),
        }
    )
    values = frame[["value", "baseline"]].to_numpy(dtype=float)
    dates = pd.to_datetime(rows["data_date"])
    first, last = dates.min(), dates.max()
    x = _days_x(dates)
    fields = hover(
        ("day", "day", ""),
        ("version", "model", ""),
        ("value", panel.ylabel, ".3f"),
        ("baseline", panel.baseline_label, ".3f"),
    )
    chart = alt.Chart()  # the layer's data, once for the four marks
    marks = [
        chart.mark_line(strokeDash=[5, 4], color=NAIVE, strokeWidth=1.3, clip=True).encode(
            # Padding: a point on the lowest or highest value is drawn whole, not cut by the clip.
            x=x,
            y=alt.Y("baseline:Q", scale=alt.Scale(zero=False, padding=10)),
        ),
        chart.mark_line(strokeWidth=1.6, clip=True).encode(
            x=x, y="value:Q", color=alt.Color("version:N", legend=alt.Legend(title=None))
        ),
        chart.mark_point(filled=True, size=60, opacity=1, clip=True)
        .encode(x=x, y="value:Q", color="version:N", tooltip=fields)
        .add_params(zoom_x()),
    ]
    if len(frame) <= FEW_DAYS:
        # A mark a day, where a line of one or two points would hardly show (one evaluation);
        # a year of them would only slow the drawing.
        tick = chart.mark_tick(color=NAIVE, thickness=2, size=14, clip=True)
        marks.append(tick.encode(x=x, y="baseline:Q"))
    layers: list[alt.Chart | alt.LayerChart] = [alt.LayerChart(layer=marks, data=_records(frame))]
    layers.extend(_limit_layer(panel, values))
    layers.extend(_version_layers(panel.kind, versions, first, last, x))
    # The title names the metric (the y axis has none); what the marks mean is in the caption.
    return alt.layer(*layers).properties(title=panel.ylabel)


def _limit_layer(panel: MetricPanel, values: Any) -> list[alt.Chart]:
    finite = values[~pd.isna(values)]
    # As on the PNG: a threshold far from the data would flatten the lines into the axis.
    limit = panel.limit
    if not finite.size or not math.isfinite(limit):
        return []
    if limit > 3 * finite.max() or limit < finite.min() / 3:
        return []
    rule = pd.DataFrame({"limit": [panel.limit], "label": [panel.limit_label]})
    return [
        alt.Chart(rule)
        .mark_rule(color="#aa0000", strokeDash=[6, 3, 1, 3])
        .encode(y="limit:Q", tooltip=hover(("label", "threshold", "")))
    ]


def _version_layers(
    kind: str,
    versions: Sequence[ModelVersion],
    first: pd.Timestamp,
    last: pd.Timestamp,
    x: alt.X,
) -> list[alt.Chart]:
    start, end = first - MARK_MARGIN, last + MARK_MARGIN
    marks = []
    for version in versions:
        if version.kind != kind:
            continue
        trained = "rejected" if version.decision == "rejected" else "trained"  # as on the PNG
        for moment, what in ((version.created_at, trained), (version.promoted_at, "promoted")):
            if moment is not None and start <= pd.Timestamp(moment) <= end:
                day = f"{moment:%Y-%m-%d}"
                marks.append({"date": day, "what": what, "version": version.version, "day": day})
    if not marks:
        return []
    frame = pd.DataFrame(marks)
    # Fixed colours, not a colour encoding: that would share its scale with the versions' lines.
    return [
        alt.Chart(frame[frame["what"] == what])
        .mark_rule(color=colour, strokeDash=[2, 3], strokeWidth=1.5, clip=True)
        .encode(
            x=x,
            tooltip=hover(("what", "mark", ""), ("version", "model", ""), ("day", "day", "")),
        )
        for what, colour in (("trained", "#888888"), ("rejected", "#aa0000"), ("promoted", DOWN))
        if (frame["what"] == what).any()
    ]
