"""The report's interactive charts in Chromium (issue 23, item 2), at a phone's and a desktop's
width: drawn over the PNGs from the scripts beside the page (no other request, no console error),
a hover on a point shows the value stored in the database, the overview's brush picks the days
shown, and with scripts off the PNGs stay. The specs themselves are checked without a browser.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.kinds import KINDS
from taiex.plots import SINGLE_DAY_PAD
from taiex.report.charts import (
    FIRST_VIEW_DAYS,
    Round,
    forecast_chart,
    metric_chart,
    series_chart,
    spec_json,
)
from taiex.report.facts import gather
from taiex.report.page import metric_panel, write_report
from taiex.report.vendor import FOLDER, LICENCES, publish_assets, scripts
from tests.browser import PHONE, Chromium
from tests.test_publish import BUCKET, s3, s3_object
from tests.test_report import World, chromium_or_skip
from tests.test_report_preopen import serve_preopen, store_closes, world

__all__ = ["s3", "world"]  # the fixtures, used by name

DESKTOP = 1280
# The tooltip prints two decimals of index points and three of a metric: half the last digit.
POINTS_TOLERANCE = 0.005 + 1e-9
METRIC_TOLERANCE = 0.0005 + 1e-9

# The items vega drew as SVG marks, each with its datum (vega's SVG renderer keeps the item on
# its element as __data__): which figure, which mark type, which fields.
MARKS = """((figure, type) => [...document.querySelectorAll(`#${figure} .chart svg path`)]
    .filter(el => el.__data__ && el.__data__.mark && el.__data__.mark.marktype === type
                  && el.__data__.mark.role === 'mark' && el.__data__.datum)
    .map(el => { const box = el.getBoundingClientRect();
                 return {datum: el.__data__.datum, x: box.left + box.width / 2,
                         y: box.top + box.height / 2, width: box.width}; }))"""
TOOLTIP = """new Promise((resolve) => {
    const started = performance.now();
    const look = () => {
        const tip = document.querySelector('#vg-tooltip-element.visible');
        if (tip) return resolve([...tip.querySelectorAll('tr')].map(
            row => [...row.querySelectorAll('td')].map(td => td.textContent)));
        if (performance.now() - started > 3000) return resolve(null);
        requestAnimationFrame(look);
    };
    look();
})"""


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").strip())


# The first mark of a figure whose datum passes a predicate, scrolled to the window's middle, and
# a point in it where it is the topmost element (another mark may cover part of it).
TARGET = """((figure, type, pick) => {
    const el = [...document.querySelectorAll(`#${figure} .chart svg path`)].find(el =>
        el.__data__ && el.__data__.mark && el.__data__.mark.marktype === type
        && el.__data__.mark.role === 'mark' && el.__data__.datum && pick(el.__data__.datum));
    el.scrollIntoView({block: 'center', inline: 'center'});
    const box = el.getBoundingClientRect();
    const cx = box.left + box.width / 2, cy = box.top + box.height / 2;
    // From the middle outwards: a point well inside, not on an edge.
    for (let r = 0; r <= Math.max(box.width, box.height) / 2; r += 1)
        for (const [dx, dy] of [[0, -r], [0, r], [-r, 0], [r, 0]]) {
            const x = cx + dx, y = cy + dy;
            if (document.elementFromPoint(x, y) === el) return {datum: el.__data__.datum, x, y};
        }
    return {datum: el.__data__.datum, x: null, y: null};
})"""


def hover(browser: Chromium, figure: str, type_: str, pick: str) -> tuple[dict[str, Any], dict]:
    """Move the mouse onto the first mark of ``figure`` whose datum passes ``pick`` (a JS
    predicate on ``d``); its datum and the tooltip's rows (name to text)."""
    target = browser.evaluate(f"{TARGET}('{figure}', '{type_}', d => {pick})")
    assert target["x"] is not None, f"{figure}'s {type_} {target['datum']} is covered"
    browser.mouse("mouseMoved", target["x"] - 30, target["y"] - 30)  # come from outside it
    browser.mouse("mouseMoved", target["x"], target["y"])
    rows = browser.evaluate(TOOLTIP)
    assert rows is not None, f"no tooltip over {figure}'s {type_} {target['datum']}"
    return target["datum"], {key: value for key, value in rows}


# Every chart drawn for the window's present width (a resize redraws them a little later).
SETTLED = """new Promise((resolve) => {
    const look = () => window.taiexCharts.then(() => window.taiexChartsWidth === window.innerWidth
        ? resolve(true) : setTimeout(look, 50));
    look();
})"""


def drawn(browser: Chromium) -> dict[str, Any]:
    browser.evaluate(SETTLED)
    return browser.evaluate(
        """({
        figures: [...document.querySelectorAll('figure[data-charts]')].map(f => [f.id,
            f.classList.contains('interactive'), f.querySelectorAll('.chart svg').length,
            f.querySelectorAll('script.chart-spec').length,
            Math.max(...[...f.querySelectorAll('.chart')].map(c => c.scrollWidth)),
            f.clientWidth, f.querySelector('img').getBoundingClientRect().width]),
        page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
    })"""
    )


@pytest.mark.browser
def test_the_charts_draw_offline_and_hovering_shows_the_stored_values(
    world: World, tmp_path: Path
) -> None:
    executable = chromium_or_skip()
    store_closes(world)
    serve_preopen(world)
    path = Path(write_report(world.store, world.settings, now=world.now))
    facts = gather(world.store, world.settings, now=world.now)
    assert facts.forecast is not None and facts.preopen is not None
    evening = {row.date.isoformat(): row for row in facts.forecast.rows}
    preopen = facts.preopen.forecasts[0].preopen
    assert preopen is not None
    stored = {
        (str(row["data_date"]), row["model_version"]): row for row in facts.evaluations["lstm"]
    }
    seen: dict[int, Any] = {}
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri(), width=PHONE)
        for width in (PHONE, DESKTOP):
            browser.resize(width)
            seen[width] = drawn(browser)
            browser.screenshot(tmp_path / f"charts-{width}.png")
            # The evening's first forecast open: the tooltip holds the stored value.
            datum, tip = hover(
                browser, "forecast-figure", "symbol", "d.round === 'evening' && d.horizon === 1"
            )
            row = evening[datum["day"]]
            assert tip["round"] == "evening" and tip["days ahead"] == "1"
            assert math.isclose(
                number(tip["forecast open 開盤"]), row.forecast, abs_tol=POINTS_TOLERANCE
            )
            assert math.isclose(number(tip["80 % from"]), row.lower_80, abs_tol=POINTS_TOLERANCE)
            assert math.isclose(number(tip["95 % to"]), row.upper_95, abs_tol=POINTS_TOLERANCE)
            # The pre-open round's last one, drawn beside it.
            datum, tip = hover(browser, "forecast-figure", "symbol", "d.round === 'pre-open'")
            served = next(r for r in preopen.rows if r.date.isoformat() == datum["day"])
            assert math.isclose(
                number(tip["forecast open 開盤"]), served.forecast, abs_tol=POINTS_TOLERANCE
            )
            # A day's candle: its close.
            datum, tip = hover(browser, "forecast-figure", "rect", "d.close >= d.open")
            day = next(r for r in facts.recent if r.date.isoformat() == datum["day"])
            assert math.isclose(number(tip["close"]), day.close, abs_tol=POINTS_TOLERANCE)
            # A monitored day of the forecaster: its sMAPE and the naive one.
            datum, tip = hover(browser, "history-figure", "symbol", "true")
            evaluation = stored[(tip["day"], tip["model"])]
            spec = KINDS[0]
            value = number(next(v for k, v in tip.items() if k.endswith(spec.metric.name + " %")))
            assert math.isclose(value, evaluation[spec.metric.column], abs_tol=METRIC_TOLERANCE)
            baseline = number(tip[spec.metric.baseline_name])
            assert math.isclose(
                baseline, evaluation[spec.metric.baseline_column], abs_tol=METRIC_TOLERANCE
            )
        # Zooming into the history: the detail shows the last days at first; a drag on the
        # overview strip picks older ones.
        shown = candles(browser)
        assert len(shown) == FIRST_VIEW_DAYS, len(shown)
        strip = browser.evaluate(
            "(() => { const g = document.querySelector('#forecast-figure .overview_group');"
            " g.scrollIntoView({block: 'center'}); const b = g.getBoundingClientRect();"
            " return [b.left, b.width, b.top + b.height / 2]; })()"
        )
        left, width, middle = strip
        # A new brush over the history's first weeks, left of the first one.
        browser.drag((left + width * 0.05, middle), (left + width * 0.25, middle))
        browser.evaluate("new Promise(r => requestAnimationFrame(() => r(true)))")
        days = sorted(m["datum"]["day"] for m in candles(browser))
        assert 0 < len(days) < FIRST_VIEW_DAYS and days[0] < sorted(shown_days(shown))[0], days
    assert browser.errors == [], browser.errors
    # Nothing but the page and its scripts beside it: no CDN, no network.
    folder = path.parent.resolve().as_uri()
    assert {url for url in browser.requests if url != path.as_uri()} == {
        f"{folder}/{FOLDER}/{name}" for name in scripts()
    }
    for width, page in seen.items():
        assert page["page"][0] <= page["page"][1] == width, (width, page["page"])
        for name, interactive, svgs, specs, chart_width, figure_width, png_width in page["figures"]:
            # Every spec drawn, the PNG hidden under it, nothing wider than the figure.
            assert interactive and svgs == specs >= 1 and png_width == 0, (width, name)
            assert chart_width <= figure_width, (width, name, chart_width, figure_width)
    names = {row[0] for row in seen[PHONE]["figures"]}
    assert names == {"forecast-figure", "history-figure", "preopen-history-figure", "track-figure"}


def candles(browser: Chromium) -> list[dict[str, Any]]:
    """The candles' bodies drawn above the forecast (the brush is a rect mark too)."""
    return [
        m for m in browser.evaluate(f"{MARKS}('forecast-figure', 'rect')") if "close" in m["datum"]
    ]


@pytest.mark.browser
def test_the_page_draws_its_charts_from_a_bucket_and_as_an_archived_page(
    world: World, s3: str, tmp_path: Path
) -> None:
    """Published to S3 (moto's server, over HTTP), the page and its archived copy load their
    scripts from the bucket beside them and draw every chart."""
    executable = chromium_or_skip()
    boto3 = pytest.importorskip("boto3")
    # A bucket that serves its objects to anyone, as a website's does.
    policy = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
    policy["Resource"] = f"arn:aws:s3:::{BUCKET}/*"
    boto3.client("s3", endpoint_url=s3).put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [policy]})
    )
    settings = dataclasses.replace(world.settings, report_url=f"s3://{BUCKET}/daily/")
    write_report(world.store, settings, now=world.now)
    assert s3_object(s3, f"daily/{FOLDER}/{scripts()[0]}") == (
        resources.files("taiex.report").joinpath(FOLDER, scripts()[0]).read_bytes()
    )
    folder = f"{s3}/{BUCKET}/daily"
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        for name in ("index.html", f"{world.last_day}.html"):
            browser.open(f"{folder}/{name}", width=PHONE)
            seen = drawn(browser)
            assert all(
                interactive and svgs == specs for _, interactive, svgs, specs, *_ in seen["figures"]
            )
    assert browser.errors == [], browser.errors
    assert {url.rsplit("/", 1)[-1] for url in browser.requests} == {
        "index.html",
        f"{world.last_day}.html",
        *scripts(),
    }
    assert all(url.startswith(f"{folder}/") for url in browser.requests), browser.requests


def shown_days(marks: list[dict[str, Any]]) -> list[str]:
    return [m["datum"]["day"] for m in marks]


@pytest.mark.browser
def test_a_tap_shows_the_values_on_a_phone(world: World, tmp_path: Path) -> None:
    """A touch sends no pointermove over a point, which vega's tooltip follows: charts.js sends
    one where the finger was lifted (without it no tap shows a tooltip)."""
    executable = chromium_or_skip()
    path = Path(write_report(world.store, world.settings, now=world.now))
    facts = gather(world.store, world.settings, now=world.now)
    assert facts.forecast is not None
    evening = {row.date.isoformat(): row for row in facts.forecast.rows}
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri(), width=PHONE)
        browser.touch()
        drawn(browser)
        target = browser.evaluate(
            f"{TARGET}('forecast-figure', 'symbol', d => d.round === 'evening' && d.horizon === 2)"
        )
        browser.tap(target["x"], target["y"])
        tip = dict(browser.evaluate(TOOLTIP) or [])
    assert browser.errors == [], browser.errors
    assert "forecast open 開盤" in tip, (target, tip)
    row = evening[target["datum"]["day"]]
    assert math.isclose(number(tip["forecast open 開盤"]), row.forecast, abs_tol=POINTS_TOLERANCE)


@pytest.mark.browser
def test_with_scripts_off_the_pngs_stay(world: World, tmp_path: Path) -> None:
    executable = chromium_or_skip()
    path = Path(write_report(world.store, world.settings, now=world.now))
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri(), width=PHONE, scripts=False)
        shown = browser.evaluate(
            "[...document.querySelectorAll('figure[data-charts]')].map(f => [f.id,"
            " f.querySelector('img').getBoundingClientRect().width,"
            " f.querySelector('img').currentSrc === f.querySelector('img').src,"
            " f.querySelectorAll('.chart').length])"
        )
    assert browser.errors == [], browser.errors
    assert {name for name, *_ in shown} == {"forecast-figure", "history-figure", "track-figure"}
    for name, width, wide, charts in shown:
        # The narrow PNG on a phone, as wide as the figure allows, and no chart.
        assert width > 300 and not wide and charts == 0, name


# ---------------------------------------------------------------- the specs, without a browser


def spec_data(text: str) -> list[dict[str, Any]]:
    """Every inline data row of a spec (its layers' and sub-views' too)."""
    rows: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "values" in node and isinstance(node["values"], list):
                rows.extend(node["values"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    return rows


def test_a_spec_cannot_close_its_script_tag_and_holds_no_nan() -> None:
    history = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-08-17", "2026-08-18"]),
            "open": [float("nan"), 100.0],
            "high": [101.0, 102.0],
            "low": [99.0, 98.0],
            "close": [100.5, 101.5],
        }
    )
    forecast = pd.DataFrame(
        {
            "horizon": [1],
            "date": pd.to_datetime(["2026-08-19"]),
            "forecast": [101.0],
            "lower_80": [100.0],
            "upper_80": [102.0],
            "lower_95": [99.0],
            "upper_95": [103.0],
            "naive": [101.5],
        }
    )
    chart = forecast_chart(history, [Round("evening", "</script><b>v1", forecast)])
    assert chart is not None
    text = spec_json(chart)
    assert "<" not in text and ">" not in text and "NaN" not in text
    rows = spec_data(text)
    assert any(r.get("model") == "</script><b>v1" for r in rows)  # the JSON still reads back
    # The day without an open has a candle: its close stands in for the open.
    candle = next(r for r in rows if r.get("day") == "2026-08-17" and "close" in r)
    assert candle["open"] == candle["close"] == 100.5


def test_one_evaluation_shows_its_baseline_on_a_week_not_years() -> None:
    spec = KINDS[0]
    rows = pd.DataFrame(
        [
            {
                "data_date": "2026-08-18",
                "model_version": "lstm-v1",
                spec.metric.column: 1.2,
                spec.metric.baseline_column: 1.1,
            }
        ]
    )
    chart = metric_chart(metric_panel(spec, rows, 100.0), [])
    assert chart is not None
    text = spec_json(chart)
    domains = re.findall(r'"domain":\["([0-9-]+)","([0-9-]+)"\]', text)
    day = pd.Timestamp("2026-08-18")
    assert (f"{day - SINGLE_DAY_PAD:%Y-%m-%d}", f"{day + SINGLE_DAY_PAD:%Y-%m-%d}") in domains
    values = spec_data(text)
    assert {
        "date": "2026-08-18",
        "day": "2026-08-18",
        "version": "lstm-v1",
        "value": 1.2,
        "baseline": 1.1,
    } in values
    # The baseline has a mark of its own on the day (a tick), not only a line of one point.
    assert '"mark":{"type":"tick"' in text


def test_a_series_chart_holds_each_day_once_with_its_tooltip() -> None:
    """The piece another chart (the track record) is made interactive with."""
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-08-18", "2026-08-17", "2026-08-19"]),
            "ratio": [0.98, float("nan"), 1.02],
            "what": ["served", "served", "served"],
            "n": [20, 19, 21],
        }
    )
    chart = series_chart(frame, "ratio", "ratio", series="what", fields=[("n", "days", "d")])
    assert chart is not None
    text = spec_json(chart)
    rows = spec_data(text)
    # The data once (not once a mark), sorted, the day without a value left out.
    assert [(r["day"], r["ratio"]) for r in rows] == [("2026-08-18", 0.98), ("2026-08-19", 1.02)]
    tooltip = json.loads(text)["layer"][1]["encoding"]["tooltip"]
    assert [t["field"] for t in tooltip] == ["day", "what", "ratio", "n"]
    assert series_chart(frame.assign(ratio=float("nan")), "ratio", "ratio") is None


def test_no_evaluation_no_chart() -> None:
    spec = KINDS[0]
    assert metric_chart(metric_panel(spec, None, 100.0), []) is None
    empty = pd.DataFrame(columns=["date", "open", "high", "low", "close"])
    assert forecast_chart(empty, []) is None


def test_the_scripts_are_written_once_beside_the_pages(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    written = publish_assets(str(folder))
    assert written == [*scripts(), LICENCES]
    names = sorted(p.name for p in (folder / FOLDER).iterdir())
    assert names == sorted(written)
    assert [n.rsplit("-", 1)[0] for n in scripts()] == ["vega", "vega-lite", "vega-embed"]
    licences = (folder / FOLDER / LICENCES).read_text()
    for library in ("vega@", "vega-lite@", "vega-embed@", "vega-tooltip@"):
        assert f"==== {library}" in licences
    before = (folder / FOLDER / scripts()[0]).stat().st_mtime_ns
    assert publish_assets(str(folder)) == []  # already there: nothing written again
    assert (folder / FOLDER / scripts()[0]).stat().st_mtime_ns == before
