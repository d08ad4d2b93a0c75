"""The report page: the plots and one self-contained HTML file, written to the report folder.

The page answers three questions: what does tomorrow look like (the forecaster's 5-day forecast of
the open, 開盤, with its bands beside the naive level), should I enter (the classifier's 適合進場 /
不適合進場 with its probability), and can I trust the models (each champion's latest monitored
metric beside its baseline, read in one honest line, and the metric history). Once the pre-open
round has served, a section above them answers whether the night moved the outlook: the night's US
moves, the refreshed forecast and signal beside the evening's for the same origin and what changed,
or, when the round has not served for the latest data, that the evening's figures stand; and each
pre-open kind's monitoring beside naive (:mod:`taiex.report.preopen`). It also says how fresh the
data is and, on an empty database, what to run.

Everything comes from the facts (:mod:`taiex.report.facts`): the report never loads a model. The
page carries its images as base64 data URIs and its CSS inline, so it reads when mailed. Its
charts are interactive where scripts run: each figure carries a Vega-Lite spec
(:mod:`taiex.report.charts`) that a small inline script draws over the PNG with the vega scripts
written once beside the pages (:mod:`taiex.report.vendor`); without them the PNG stays. Files
are written atomically.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from taiex.files import publish
from taiex.frames import PRICE_COLUMNS
from taiex.kinds import KINDS, PREOPEN_KINDS, KindSpec
from taiex.plots import (
    ACTUAL,
    ROUND_COLOURS,
    MetricPanel,
    forecast_plot,
    metric_history_plot,
    track_plot,
)
from taiex.report.archive import archive
from taiex.report.charts import (
    Round,
    forecast_chart,
    metric_chart,
    series_chart,
    spec_json,
)
from taiex.report.facts import RUN, ForecastFacts, ReportFacts, SignalFacts, gather, taipei
from taiex.report.status import freshness_text, gaps_text, load_text, overnight_text
from taiex.report.track import TrackRecord, chart_data, track_record
from taiex.report.vendor import publish_assets, script_paths
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import Store

log = logging.getLogger(__name__)

# The growth lines' names in the interactive track chart's legend and tooltips.
LINE_LABELS = {"signal": "signal", "trivial_rule": "trivial rule", "buy_and_hold": "buy-and-hold"}
# The track record's interactive chart: the last year, as the page's table keeps about a year.
TRACK_CHART_SPAN = pd.Timedelta(days=366)


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class Image:
    """A PNG for the page; ``data_uri`` inlines it so the page needs no other file."""

    title: str
    caption: str
    png: bytes
    empty: bool = False  # drawn from no data: the page says so in words instead
    narrow: bytes | None = None  # a variant drawn for a phone's width, where there is one
    # The interactive charts drawn over the PNG where scripts run (:func:`charts.spec_json`).
    specs: tuple[str, ...] = ()

    @property
    def data_uri(self) -> str:
        return _data_uri(self.png)

    @property
    def narrow_uri(self) -> str | None:
        return None if self.narrow is None else _data_uri(self.narrow)

    @property
    def size(self) -> tuple[int, int]:
        return _png_size(self.png)

    @property
    def narrow_size(self) -> tuple[int, int] | None:
        return None if self.narrow is None else _png_size(self.narrow)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header (its IHDR chunk)."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_report(store: Store, settings: Settings, *, now: dt.datetime | None = None) -> str:
    """Draw the plots under ``settings.plots_dir``, write ``index.html`` to the report's location
    (``TAIEX_REPORT_URL``: a folder or an fsspec URL) and keep it in the daily archive beside
    it (:mod:`taiex.report.archive`); its path or URL."""
    facts = gather(store, settings, now=now)
    images = draw_plots(facts, settings.plots_dir)
    if facts.forecast is not None and not images["forecast"].empty:
        keep_forecast_figure(store, facts.forecast, images["forecast"].png)
    record = track_record(store)
    if not record.empty:
        images = {**images, "track": draw_track(record, settings.plots_dir)}
    preopen = stored_evaluation_plots(store, PREOPEN_KINDS) if facts.preopen else []
    page = render(facts, images, stored_evaluation_plots(store), preopen, record)
    publish_assets(settings.report_location)  # before the page that needs them
    path = publish(settings.report_location, "index.html", page.encode("utf-8"))
    log.info("wrote the report to %s", path)
    archive(
        settings.report_location, facts.data.last_date, page, keep_days=settings.report_keep_days
    )
    return path


def draw_plots(facts: ReportFacts, folder: Path) -> dict[str, Image]:
    """The forecast and the metric history plots, drawn from ``facts`` into ``folder``, each
    also in a narrow variant for phones (``*_narrow.png``) and with its interactive charts."""
    history = _history_frame(facts.recent)
    forecast_data = (history, _forecast_frame(facts.forecast), _signal_dict(facts.signal))
    forecast = forecast_plot(*forecast_data, folder / "forecast.png")
    narrow = forecast_plot(*forecast_data, folder / "forecast_narrow.png", narrow=True)
    chart = forecast_chart(history, _rounds(facts))
    drawn = {
        "forecast": Image(
            "加權指數 TAIEX: the last 30 trading days and the next 5 opens",
            "Candles: red up, green down (Taiwan's colours). Blue: the forecast open (開盤) "
            "with its 80 % and 95 % bands (orange: the pre-open round's, where it served, on "
            "the interactive chart); dashed: the naive level (the last close). Hover or tap "
            "for the values; drag on the strip under the chart to pick the days shown.",
            forecast.read_bytes(),
            empty=not facts.recent and facts.forecast is None,
            narrow=narrow.read_bytes(),
            specs=() if chart is None else (spec_json(chart),),
        ),
        "metric_history": _history_image(
            facts,
            KINDS,
            folder / "metric_history.png",
            "Monitoring over time",
            "Each champion's score on days it did not train on, beside its baseline (dashed); "
            "dotted lines: a model trained, green lines: a promotion. Hover or tap for the "
            "values; wheel or drag to zoom and pan, double-click to reset.",
        ),
    }
    if facts.preopen is not None and facts.preopen.ever:
        drawn["preopen_metric_history"] = _history_image(
            facts,
            PREOPEN_KINDS,
            folder / "preopen_metric_history.png",
            "Pre-open monitoring over time",
            "Each pre-open champion's score on its own round's pairs, on days it did not train "
            "on, beside its baseline (dashed); dotted lines: a model trained, green lines: a "
            "promotion. Hover or tap for the values; wheel or drag to zoom and pan.",
        )
    return drawn


def _history_image(
    facts: ReportFacts, specs: Sequence[KindSpec], path: Path, title: str, caption: str
) -> Image:
    """The metric history of ``specs``: one PNG of every kind (wide and narrow), one
    interactive chart a kind."""
    names = {spec.name for spec in specs}
    panels = [_panel(spec, facts) for spec in specs]
    versions = [v for v in facts.versions if v.kind in names]
    wide = metric_history_plot(panels, versions, path)
    narrow = metric_history_plot(
        panels, versions, path.with_name(f"{path.stem}_narrow.png"), narrow=True
    )
    charts = [metric_chart(panel, versions) for panel in panels]
    return Image(
        title,
        caption,
        wide.read_bytes(),
        empty=not any(facts.evaluations[spec.name] for spec in specs),
        narrow=narrow.read_bytes(),
        specs=tuple(spec_json(chart) for chart in charts if chart is not None),
    )


def _rounds(facts: ReportFacts) -> list[Round]:
    """The forecasts the chart shows: the evening's, and each pre-open one served from the same
    data (or later), not an older one the evening's has replaced."""
    rounds = []
    evening = facts.forecast
    if evening is not None:
        rounds.append(Round("evening", evening.model_version, _forecast_frame(evening)))
    for comparison in facts.preopen.forecasts if facts.preopen is not None else ():
        served = comparison.preopen
        if served is not None and (evening is None or served.origin_date >= evening.origin_date):
            rounds.append(Round("pre-open", served.model_version, _forecast_frame(served)))
    return rounds


def draw_track(record: TrackRecord, folder: Path) -> Image:
    """The track record's chart, wide and narrow, from its chart data."""
    chart = chart_data(record)
    frames = (chart.opens, chart.ratios, chart.growth)
    wide = track_plot(*frames, folder / "track_record.png", rolling_targets=chart.rolling_targets)
    narrow = track_plot(
        *frames,
        folder / "track_record_narrow.png",
        rolling_targets=chart.rolling_targets,
        narrow=True,
    )
    return Image(
        "Track record: what was served, and what happened",
        "Top: the actual open beside each round's next-open forecast. Middle: each round's "
        f"sMAPE over naive's on the last {chart.rolling_targets} scored target days (below the "
        "dashed 1: better than naive). Bottom: each round's signal followed as a strategy "
        "beside buy-and-hold, growth of 1 after costs. The interactive chart shows the last "
        "year (and the trivial rule); the picture, every day.",
        wide.read_bytes(),
        empty=chart.opens.empty,
        narrow=narrow.read_bytes(),
        specs=_track_specs(chart.opens, chart.ratios, chart.growth, chart.rolling_targets),
    )


def _track_specs(
    opens: pd.DataFrame, ratios: pd.DataFrame, growth: pd.DataFrame, rolling: int
) -> tuple[str, ...]:
    """The track record's three panels as interactive charts (:func:`charts.series_chart`), over
    the last year (the PNG shows every day: years of them would weigh megabytes here)."""
    dates = pd.concat([pd.to_datetime(f["date"]) for f in (opens, ratios, growth)])
    if dates.empty:
        return ()
    start = dates.max() - TRACK_CHART_SPAN

    def recent(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[pd.to_datetime(frame["date"]) >= start]

    opens, ratios, growth = recent(opens), recent(ratios), recent(growth)
    lines = growth.assign(line=growth["round"] + " " + growth["strategy"].map(LINE_LABELS))
    charts = (
        series_chart(
            opens,
            "value",
            "The next open: actual and served, points",
            series="series",
            colours={"actual": ACTUAL, **ROUND_COLOURS},
        ),
        series_chart(
            ratios,
            "ratio",
            f"sMAPE over naive's, last {rolling} target days",
            series="round",
            number=".3f",
            colours=ROUND_COLOURS,
            rule=1.0,
        ),
        series_chart(
            lines, "growth", "Growth of 1 after costs", series="line", number=".3f", rule=1.0
        ),
    )
    return tuple(spec_json(chart) for chart in charts if chart is not None)


def _panel(spec: KindSpec, facts: ReportFacts) -> MetricPanel:
    rows = pd.DataFrame(list(facts.evaluations[spec.name]))
    return metric_panel(spec, rows, facts.thresholds[spec.name])


def metric_panel(spec: KindSpec, rows: pd.DataFrame | None, limit: float) -> MetricPanel:
    """One kind's metric over time (its evaluation table's ``rows``), beside its baseline and
    its retrain threshold ``limit``."""
    metric = spec.metric
    return MetricPanel(
        rows=rows if rows is not None else pd.DataFrame(),
        value=metric.column,
        baseline=metric.baseline_column,
        ylabel=f"{spec.title} {metric.name}{' %' if metric.percent else ''}",
        baseline_label=metric.baseline_name,
        kind=spec.name,
        name=spec.title,
        limit=limit,
        limit_label=spec.threshold_text(limit),
    )


def stored_evaluation_plots(store: Store, specs: Sequence[KindSpec] = KINDS) -> list[Image]:
    """The latest evaluation plot of each of ``specs`` (the evening's kinds by default), as the
    monitoring step stored it in the database (on whichever worker it ran)."""
    found = []
    for spec in specs:
        figure = store.figures.latest(spec.evaluation_figure)
        if figure is not None:
            found.append(Image(f"Latest evaluation: {spec.title}", figure.name, figure.png))
    return found


def keep_forecast_figure(store: Store, forecast: ForecastFacts, png: bytes) -> None:
    """The forecast plot in the database too, once per forecast (model version and day)."""
    name = f"forecast_{forecast.model_version}_{forecast.origin_date:%Y%m%d}.png"
    store.figures.save(
        name,
        kind="forecast",
        model_version=forecast.model_version,
        data_date=forecast.origin_date,
        png=png,
    )


def _history_frame(rows: Sequence[DailyRow]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(r.date, r.open, r.high, r.low, r.close) for r in rows],
        columns=["date", *PRICE_COLUMNS],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({c: "float64" for c in PRICE_COLUMNS})


@overload
def _forecast_frame(forecast: ForecastFacts) -> pd.DataFrame: ...
@overload
def _forecast_frame(forecast: None) -> None: ...
def _forecast_frame(forecast: ForecastFacts | None) -> pd.DataFrame | None:
    if forecast is None:
        return None
    frame = pd.DataFrame([row.__dict__ for row in forecast.rows])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _signal_dict(signal: SignalFacts | None) -> dict[str, Any] | None:
    if signal is None:
        return None
    keys = ("date", "based_on", "probability", "signal", "threshold")
    return {key: getattr(signal, key) for key in keys}


def _code_spans(text: str) -> Markup:
    """Escaped ``text`` with its `backtick` spans (commands to run) set as <code>."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


def render(
    facts: ReportFacts,
    images: Mapping[str, Image],
    evaluations: Sequence[Image] = (),
    preopen_evaluations: Sequence[Image] = (),
    track: TrackRecord | None = None,
) -> str:
    """The page as HTML text (autoescaped; images inlined); ``track``: the track record
    (None: nothing served yet)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("taiex", "templates"),
        autoescape=True,  # the name ends in .j2, so select_autoescape would not switch it on
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        code=_code_spans,
        points=lambda v: f"{v:,.2f}",
        signed=lambda v: "–" if v is None or math.isnan(v) else f"{v:+.2f} %",
        signed_points=lambda v: "–" if v is None or math.isnan(v) else f"{v:+,.2f}",
        percent=lambda v: "–" if v is None else f"{v:+.2f} %",
        ratio=lambda v: "–" if v is None else f"{v:.3f}",
        utc=lambda v: f"{v:%Y-%m-%d %H:%M} UTC ({taipei(v):%H:%M} Taipei)",
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        facts=facts,
        images=images,
        evaluations=evaluations,
        preopen_evaluations=preopen_evaluations,
        scripts=script_paths(),
        track=track if track is not None and not track.empty else None,
        freshness=freshness_text(facts),
        overnight=overnight_text(facts),
        last_load=load_text(facts.data.last_load),
        gaps=gaps_text(facts.data),
        run=RUN,
    )
