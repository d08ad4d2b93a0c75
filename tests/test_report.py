"""The report: facts read from a real database, the page, its empty states, the browser view."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.kinds import Evaluation
from taiex.kinds.classifier import CLASSIFIER
from taiex.kinds.lstm import LSTM
from taiex.models.registry import ModelVersion, Registry
from taiex.report import facts as report
from taiex.report.page import write_report
from taiex.report.status import status_rows
from taiex.report.vendor import script_paths
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import Store, new_run
from taiex.store.testing import delete_rows, insert_rows, rows, update_rows
from tests.browser import BrowserError, Chromium, find_chromium
from tests.series import synthetic_history

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- a database with everything


@dataclass(frozen=True)
class World:
    store: Store
    settings: Settings
    history: pd.DataFrame
    now: dt.datetime
    forecast_dates: list[dt.date]
    forecast_values: list[float]

    @property
    def last_day(self) -> dt.date:
        return self.day(-1)

    def day(self, index: int) -> dt.date:
        return pd.Timestamp(self.history["date"].iloc[index]).date()


def daily_rows(history: pd.DataFrame) -> list[DailyRow]:
    return [
        DailyRow(
            pd.Timestamp(r.date).date(),
            *(Decimal(f"{getattr(r, c):.2f}") for c in ("open", "high", "low", "close")),
        )
        for r in history.itertuples()
    ]


def empty_world(tmp_path: Path) -> World:
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'taiex.db'}")
    store = Store(settings.database_url)
    store.upgrade()
    history = synthetic_history(n=90, start="2024-07-01", seed=5, level=22_000.0)
    last = pd.Timestamp(history["date"].iloc[-1]).date()
    # 16:00 in Taipei on the day after the last stored day: nothing is late yet.
    now = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(8, 0))
    return World(store, settings, history, now, [], [])


# What an LSTM fit records of the shares it kept (the ratios of shares 0.25 … 1 per horizon).
LSTM_SHARES = {
    "lambdas": [0.0, 0.0, 0.25, 0.0, 0.0],
    "share_ratios": {
        "0": [1.0] * 5,
        "0.25": [0.999, 1.001, 0.962, 0.998, 1.0],
        "0.5": [1.002, 1.003, 0.965, 0.997, 1.001],
        "0.75": [1.004, 1.005, 0.97, 0.999, 1.002],
        "1": [1.006, 1.008, 0.975, 1.0, 1.004],
    },
}


def register(
    registry: Registry,
    kind: str,
    world: World,
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    return registry.register(
        kind,  # type: ignore[arg-type]
        f"fake {kind} artifact".encode(),
        train_start=world.day(0),
        train_end=world.day(-41),
        params=params or {},
        metrics={"validation_smape": 0.95, **(metrics or {})},
    )


def forecast_rows(version: str, origin: dt.date, dates: list[dt.date], level: float) -> list[Any]:
    return [
        {
            "model_version": version,
            "origin_date": origin,
            "horizon": h,
            "target_date": day,
            "forecast": level + 10 * h,
            "lower_80": level + 10 * h - 150 * h**0.5,
            "upper_80": level + 10 * h + 150 * h**0.5,
            "lower_95": level + 10 * h - 240 * h**0.5,
            "upper_95": level + 10 * h + 240 * h**0.5,
            "naive": level,
            "created_at": dt.datetime.combine(origin, dt.time(7, 30)),
        }
        for h, day in enumerate(dates, start=1)
    ]


def evaluation_rows(world: World, version: str, kind: str, days: int = 15) -> list[Any]:
    rows = []
    steps = max(days - 1, 1)
    for i, index in enumerate(range(-days, 0)):
        common = {
            "date": dt.datetime.combine(world.day(index), dt.time(8)),
            "model_version": version,
            "data_date": world.day(index),
            "window_start": world.day(index - 40),
            "window_end": world.day(index),
        }
        if kind == "lstm":
            rows.append(
                {**common, "sMAPE": 0.95 + 0.047 * i / steps, "naive_sMAPE": 1.0} | {"n_pairs": 600}
            )
        else:
            auc = None if i == 2 else 0.93 + 0.02 * i / steps
            rows.append(
                {**common, "ROC_AUC": auc, "trivial_ROC_AUC": 0.944, "model_family": "svm"}
                | {"n_days": 40, "n_positive": 25, "n_negative": 15}
                | {"reason": "all 40 labelled days are of class 1" if auc is None else None}
            )
    return rows


def fill(world: World) -> World:
    """The history, two champions and a rejected challenger, forecasts, signals, evaluations."""
    store, last = world.store, world.last_day
    store.merge_rows(daily_rows(world.history), source="tests/synthetic.csv")
    registry = Registry(store)
    lstm = register(registry, "lstm", world, metrics=LSTM_SHARES)
    registry.promote(lstm, "first model", expected=None)
    rejected = register(registry, "lstm", world)
    registry.record_trial(
        rejected, decision="rejected", reason="worse", score=1.1, champion_score=0.99
    )
    classifier = register(registry, "classifier", world, params={"winner": "svm"})
    registry.promote(classifier, "first model", expected=None)

    on_the_fixture_clock(world)
    dates = [d.date() for d in pd.bdate_range(last + dt.timedelta(days=1), periods=5)]
    close = float(world.history["close"].iloc[-1])
    before = [world.day(-1), *dates[:4]]
    insert_rows(store, "forecasts", forecast_rows("lstm-v1", last, dates, close))
    # An older origin of the champion and another version's forecast: neither is shown.
    insert_rows(store, "forecasts", forecast_rows("lstm-v1", world.day(-2), before, 1.0))
    insert_rows(store, "forecasts", forecast_rows("lstm-v2", last, dates, 2.0))
    signal = {"model_version": "classifier-v1", "threshold": 0.5}
    insert_rows(
        store,
        "signals",
        [
            signal
            | {"based_on": last, "target_date": dates[0], "probability": 0.734}
            | {"signal": 1, "created_at": world.now},
            signal
            | {"based_on": world.day(-2), "target_date": last, "probability": 0.2}
            | {"signal": 0, "created_at": world.now},
        ],
    )
    insert_rows(store, "lstm_model_evaluate", evaluation_rows(world, "lstm-v1", "lstm"))
    insert_rows(store, "svm_model_evaluate", evaluation_rows(world, "classifier-v1", "classifier"))
    values = [close + 10 * h for h in range(1, 6)]
    return World(store, world.settings, world.history, world.now, dates, values)


def on_the_fixture_clock(world: World) -> None:
    """Registry and loads stamp the wall clock: move them to the fixture's days, as in real life."""
    trained = dt.datetime.combine(world.day(-40), dt.time(8))
    retried = dt.datetime.combine(world.day(-8), dt.time(8))
    store = world.store
    update_rows(store, "etl_loads", {"loaded_at": world.now - dt.timedelta(hours=1)})
    for version in ("lstm-v1", "classifier-v1"):
        update_rows(
            store,
            "model_versions",
            {"created_at": trained, "promoted_at": trained},
            version=version,
        )
    update_rows(store, "model_versions", {"created_at": retried}, version="lstm-v2")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = fill(empty_world(tmp_path))
    yield built
    built.store.dispose()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[World]:
    built = empty_world(tmp_path)
    yield built
    built.store.dispose()


# ---------------------------------------------------------------- reading the page


class Page(HTMLParser):
    """The parts of the page the tests look at: forecast rows, images, resource links, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forecast_dates: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.scripts: list[str] = []  # the scripts' and the charts' specs' text, not words
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._in_script = tag == "script"
        if tag == "tr" and values.get("data-date"):
            self.forecast_dates.append(str(values["data-date"]))
        if tag == "img":
            self.images.append(str(values.get("src")))
        for name in ("src", "href", "srcset", "poster"):
            if values.get(name):
                self.links.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def page_requests(path: Path) -> list[str]:
    """What a browser may fetch for the page at ``path``: itself and the charts' scripts
    beside it, in that order (the network is never asked)."""
    return [path.as_uri(), *((path.parent / script).as_uri() for script in script_paths())]


def page_of(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- facts


def test_gather_reads_the_champions_latest_forecast_and_signal(world: World) -> None:
    facts = report.gather(world.store, world.settings, now=world.now)
    assert facts.forecast is not None and facts.forecast.by_champion
    assert (facts.forecast.model_version, facts.forecast.origin_date) == ("lstm-v1", world.last_day)
    assert [row.date for row in facts.forecast.rows] == world.forecast_dates
    assert [row.forecast for row in facts.forecast.rows] == pytest.approx(world.forecast_values)
    assert [row.horizon for row in facts.forecast.rows] == [1, 2, 3, 4, 5]
    signal = facts.signal
    assert signal is not None
    assert (signal.date, signal.based_on, signal.verdict) == (
        world.forecast_dates[0],
        world.last_day,
        "適合進場",
    )
    assert signal.probability == pytest.approx(0.734)


def test_gather_puts_metrics_beside_baselines(world: World) -> None:
    facts = report.gather(world.store, world.settings, now=world.now)
    lstm, classifier = facts.champion("lstm"), facts.champion("classifier")
    assert lstm is not None and classifier is not None
    assert (lstm.version, lstm.train_start, lstm.train_end) == (
        "lstm-v1",
        world.day(0),
        world.day(-41),
    )
    assert lstm.evaluation is not None
    assert (lstm.evaluation.metric, lstm.evaluation.baseline, lstm.evaluation.n) == (
        pytest.approx(0.997),
        1.0,
        600,
    )
    assert lstm.evaluation.data_date == world.last_day
    assert "0.3 % better than the naive forecast over 600 pairs" in lstm.reading
    assert "hard to beat" in lstm.reading
    assert classifier.family == "svm"
    assert classifier.evaluation is not None
    assert classifier.evaluation.metric == pytest.approx(0.95)
    assert classifier.evaluation.baseline == pytest.approx(0.944)
    assert len(facts.evaluations["lstm"]) == 15 and len(facts.evaluations["classifier"]) == 15
    assert [v.version for v in facts.versions] == ["classifier-v1", "lstm-v1", "lstm-v2"]


def test_gather_reports_freshness_and_counts(world: World) -> None:
    facts = report.gather(world.store, world.settings, now=world.now)
    assert facts.data.last_date == world.last_day and facts.data.rows == 90
    assert facts.data.last_load is not None
    assert facts.data.last_load.source == "tests/synthetic.csv"
    assert facts.sessions_behind == ()
    # Up to a year of days for the forecast chart's overview: all 90 here.
    assert len(facts.recent) == 90 and facts.recent[-1].date == world.last_day
    assert facts.counts["forecast rows"] == 15 and facts.counts["signals"] == 2
    assert facts.todo == []


def test_days_missing_since_the_last_load_are_named(world: World) -> None:
    later = world.now + dt.timedelta(days=10)
    facts = report.gather(world.store, world.settings, now=later)
    assert len(facts.sessions_behind) >= 5
    assert any("trading day(s) after" in step for step in facts.todo)


# ---------------------------------------------------------------- the page


def test_the_page_shows_forecast_signal_metrics_and_freshness(world: World) -> None:
    path = Path(write_report(world.store, world.settings, now=world.now))
    assert path == world.settings.home / "report" / "index.html"
    page = page_of(path)
    assert page.forecast_dates == [d.isoformat() for d in world.forecast_dates]
    words = page.words
    for value in world.forecast_values:
        assert f"{value:,.2f}" in words
    assert "適合進場" in words and "suitable to enter" in words and "73 %" in words
    assert "sMAPE 0.997 %" in words and "naive sMAPE 1.000 %" in words
    assert "ROC AUC 0.950" in words and "trivial close/MA20 AUC 0.944" in words
    assert "0.3 % better than the naive forecast over 600 pairs" in words
    assert f"{world.last_day} (90 days since {world.day(0)})" in words
    assert "tests/synthetic.csv" in words
    assert "What to run" not in words
    # The shares the champion LSTM kept, and the best any share did on the blocks that chose them.
    assert "network's share kept, h1–h5: 0 0 0.25 0 0" in words
    assert "on its validation blocks: 0.999 1.001 0.962 0.997 1.000" in words


def test_the_page_is_self_contained(world: World) -> None:
    path = Path(write_report(world.store, world.settings, now=world.now))
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    # Images inlined; the other links are the archive's index and the charts' scripts, beside
    # the page (no CDN).
    scripts = script_paths()
    images = [link for link in page.links if link != "archive.html" and link not in scripts]
    assert images and all(link.startswith("data:image/png;base64,") for link in images)
    assert [link for link in page.links if link in scripts] == scripts
    for script in scripts:
        assert (path.parent / script).stat().st_size > 10_000
    assert "@import" not in html and "url(" not in html
    for src in page.images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    plots = world.settings.plots_dir
    assert (plots / "forecast.png").exists() and (plots / "metric_history.png").exists()
    # Written atomically: nothing but the page, its archived copy and the archive's index.
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [f"{world.last_day}.html", "archive.html", "assets", "index.html"]


def test_text_from_the_database_is_escaped(world: World) -> None:
    row = evaluation_rows(world, "classifier-v1", "classifier", days=1)[0]
    row |= {"data_date": world.now.date(), "model_family": "<script>alert(1)</script>"}
    insert_rows(world.store, "svm_model_evaluate", [row])
    html = Path(write_report(world.store, world.settings, now=world.now)).read_text()
    assert "<script>alert" not in html  # the page's own scripts aside, none from the database
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_latest_evaluation_plots_come_from_the_database(world: World, tmp_path: Path) -> None:
    """The monitoring step stores its plots in the database: the report, written from another,
    empty home, shows the latest of each kind."""
    source = Path(write_report(world.store, world.settings, now=world.now))
    png = (world.settings.plots_dir / "forecast.png").read_bytes()
    for day, name in [(6, "lstm-v1_2024-11-06.png"), (5, "lstm-v1_2024-11-05.png")]:
        world.store.figures.save(name, "evaluation-lstm", "lstm-v1", dt.date(2024, 11, day), png)
    world.store.figures.save(
        "classifier-v1_2024-11-06.png",
        "evaluation-classifier",
        "classifier-v1",
        dt.date(2024, 11, 6),
        png,
    )
    elsewhere = world.settings.replace(home=tmp_path / "elsewhere", report_url="")
    page = page_of(Path(write_report(world.store, elsewhere, now=world.now)))
    assert len(page.images) == 5  # the forecast, the history, the track record, two evaluations
    assert "lstm-v1_2024-11-06.png" in page.words
    assert "lstm-v1_2024-11-05.png" not in page.words
    assert "classifier-v1_2024-11-06.png" in page.words
    assert len(page_of(source).images) == 3  # the first page, before any was stored
    # The forecast figure is kept too, once per forecast however often the page is written.
    forecasts = [f for f in rows(world.store, "figures") if f["kind"] == "forecast"]
    assert len(forecasts) == 1 and forecasts[0]["png"][:8] == PNG_MAGIC


def test_an_empty_database_gives_a_page_that_says_what_to_run(empty: World) -> None:
    path = Path(write_report(empty.store, empty.settings, now=empty.now))
    page = page_of(path)
    words = page.words
    assert "What to run" in words and "No index data yet: run taiex run to load" in words
    assert "No forecast yet" in words and "No entry signal yet" in words
    assert "No champion model yet" in words
    assert page.forecast_dates == []
    assert page.images == []  # no blank plots: the words say it
    assert "run <code>taiex run</code>" in path.read_text(encoding="utf-8")


def test_data_without_models_asks_for_a_run(empty: World) -> None:
    empty.store.merge_rows(daily_rows(empty.history), source="tests")
    facts = report.gather(empty.store, empty.settings, now=empty.now)
    assert facts.todo == [
        "No LSTM forecaster yet: run `taiex run` to train it.",
        "No entry-signal classifier yet: run `taiex run` to train it.",
    ]
    words = page_of(Path(write_report(empty.store, empty.settings, now=empty.now))).words
    assert "No LSTM forecaster yet" in words


def test_champions_without_forecast_or_signal_ask_for_a_run(world: World) -> None:
    delete_rows(world.store, "forecasts")
    delete_rows(world.store, "signals")
    facts = report.gather(world.store, world.settings, now=world.now)
    assert facts.forecast is None and facts.signal is None
    assert facts.todo == ["No forecast yet: run `taiex run`.", "No signal yet: run `taiex run`."]


def test_a_forecast_older_than_the_data_is_flagged(world: World) -> None:
    newer = world.history.tail(1).copy()
    newer["date"] = newer["date"] + pd.Timedelta(days=3)  # the Monday after
    world.store.merge_rows(daily_rows(newer), source="tests")
    later = world.now + dt.timedelta(days=3)
    facts = report.gather(world.store, world.settings, now=later)
    assert facts.forecast is not None and facts.forecast.origin_date == world.last_day
    assert any(
        step.startswith(f"The latest forecast is based on {world.last_day}") for step in facts.todo
    )


def test_another_versions_forecast_is_shown_and_flagged(world: World) -> None:
    registry = Registry(world.store)
    champion = registry.champion("lstm")
    newcomer = register(registry, "lstm", world)
    assert registry.promote(newcomer, "test", expected=champion)
    facts = report.gather(world.store, world.settings, now=world.now)
    assert facts.forecast is not None and not facts.forecast.by_champion
    words = page_of(Path(write_report(world.store, world.settings, now=world.now))).words
    assert "which is no longer the champion" in words


# ---------------------------------------------------------------- the terminal and readings


def test_status_rows_say_the_same_in_plain_text(world: World) -> None:
    facts = report.gather(world.store, world.settings, now=world.now)
    rows = dict(status_rows(facts))
    assert rows["last trading day stored"].startswith(f"{world.last_day} (90 days")
    assert rows["entry signal"].startswith(f"{world.forecast_dates[0]}: 適合進場")
    assert "sMAPE 0.997 % vs naive sMAPE 1.000 % over 600 pairs" in rows["LSTM forecaster champion"]
    assert f"{world.forecast_values[0]:,.0f}" in rows["forecast 開盤 (open)"]
    assert rows["next step"].startswith("nothing to do")
    # Rich reads square brackets as markup: the values must have none.
    assert not any("[" in value for value in rows.values())


def test_status_rows_of_an_empty_database(empty: World) -> None:
    rows = dict(status_rows(report.gather(empty.store, empty.settings, now=empty.now)))
    assert rows["last trading day stored"] == "none: run `taiex run`"
    assert rows["last load"] == "never"
    assert rows["LSTM forecaster champion"] == "none: run `taiex run`"


def evaluation(kind: str, value: float | None, baseline: float | None, n: int) -> Evaluation:
    day = dt.date(2024, 11, 18)
    reason = None if value else "one class only"
    return Evaluation(kind, f"{kind}-v1", day, value, baseline, n, reason=reason, n_days=40)


READING_SETTINGS = Settings(lstm_smape_max=100, lstm_naive_margin=0.05, classifier_auc_min=0.8)


def reading(spec: Any, ev: Evaluation | None) -> str:
    """What the report says of ``ev``: the kind's words for its own decision."""
    decision = spec.decide(ev, READING_SETTINGS)
    text: str = spec.reading(ev, decision, READING_SETTINGS)
    return text


@pytest.mark.parametrize(
    ("value", "naive", "expected"),
    [
        (0.997, 1.0, "0.3 % better than the naive forecast over 600 pairs: the naive forecast is"),
        (0.80, 1.0, "20.0 % better than the naive forecast over 600 pairs: a real edge"),
        (1.02, 1.0, "2.0 % worse than the naive forecast over 600 pairs: no better than"),
        (1.20, 1.0, "20.0 % worse than the naive forecast over 600 pairs: a retrain is due"),
        (120.0, 130.0, "above the retrain threshold 100 %"),
        (None, 1.0, "No score yet: one class only"),
    ],
)
def test_lstm_reading(value: float | None, naive: float, expected: str) -> None:
    assert expected in reading(LSTM, evaluation("lstm", value, naive, 600))


@pytest.mark.parametrize(
    ("value", "trivial", "n", "expected"),
    [
        (0.95, 0.944, 40, "ranks days well; a lean, not a certainty; 40 days is a small sample"),
        (0.95, 0.944, 120, "ranks days well; a lean, not a certainty."),
        (0.90, 0.944, 40, "adds nothing over 'is the close above its MA20?'"),
        (0.70, 0.944, 40, "below the retrain threshold 0.8"),
        (None, 0.944, 40, "undefined over the last 40 days (one class only)"),
    ],
)
def test_classifier_reading(value: float | None, trivial: float, n: int, expected: str) -> None:
    assert expected in reading(CLASSIFIER, evaluation("classifier", value, trivial, n))


def test_a_reading_says_what_the_decision_decided() -> None:
    """The reading follows the kind's rule: a retrain it would order is announced, whatever the
    size of the gap, and a figure on too few days is not called a verdict."""
    tight = Settings(lstm_naive_margin=0.0)
    worse = evaluation("lstm", 1.001, 1.0, 600)
    assert LSTM.decide(worse, tight).retrain
    assert "a retrain is due" in LSTM.reading(worse, LSTM.decide(worse, tight), tight)
    assert "a retrain is due" not in reading(LSTM, worse)  # within the default 5 % margin


def test_readings_before_any_monitoring() -> None:
    assert reading(LSTM, None).startswith("Not monitored yet")
    assert reading(CLASSIFIER, None).startswith("Not monitored yet")


# ---------------------------------------------------------------- in a browser


def chromium_or_skip() -> str:
    found = find_chromium()
    if found is None:
        reason = "headless chromium not found (Debian: apt-get install chromium)"
        if os.environ.get("TAIEX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, but TAIEX_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    return found


@pytest.mark.browser
@pytest.mark.parametrize("filled", [True, False], ids=["filled", "empty"])
def test_the_page_in_headless_chromium(filled: bool, tmp_path: Path) -> None:
    executable = chromium_or_skip()
    built = fill(empty_world(tmp_path)) if filled else empty_world(tmp_path)
    try:
        path = Path(write_report(built.store, built.settings, now=built.now))
    finally:
        built.store.dispose()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-{'filled' if filled else 'empty'}.png"
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri())
        state = browser.evaluate(
            """({
                rows: [...document.querySelectorAll('#forecast-table tbody tr')]
                    .map(tr => tr.dataset.date),
                images: [...document.images].map(i => [i.complete, i.naturalWidth]),
                verdict: document.querySelector('#signal .verdict').textContent.trim(),
            })"""
        )
        browser.screenshot(shot)
    assert browser.errors == [], browser.errors
    # Nothing fetched but the page itself and the charts' scripts beside it (no chart on an
    # empty database: no script either).
    assert browser.requests == (page_requests(path) if filled else [path.as_uri()])
    assert all(done and width > 0 for done, width in state["images"])
    if filled:
        assert len(state["images"]) == 3  # the forecast, the history, the track record
        assert state["rows"] == [d.isoformat() for d in built.forecast_dates]
        assert state["verdict"] == "適合進場"
    else:
        assert state["images"] == []
        assert state["rows"] == [] and state["verdict"] == "–"
    assert shot.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.browser
def test_browser_errors_are_reported(tmp_path: Path) -> None:
    executable = chromium_or_skip()
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); nope();</script></body></html>")
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(page.as_uri())
    assert any("boom" in error for error in browser.errors)
    assert any("nope" in error for error in browser.errors)
    with pytest.raises(BrowserError):
        Chromium("/nonexistent/chromium", profile=tmp_path / "p2").__enter__()


def test_the_report_imports_no_model_code() -> None:
    """The report reads the database only: importing it loads no model, monitor or CLI."""
    code = (
        "import sys, taiex.report.page, taiex.plots; "
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn') "
        "or m in ('taiex.models.lstm', 'taiex.models.classifier', 'taiex.monitor', "
        "'taiex.pipeline', 'taiex.cli')))"
    )
    src = str(Path(report.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert found == ""


def test_a_missing_browser_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "find_chromium", lambda: None)
    monkeypatch.delenv("TAIEX_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="headless chromium not found"):
        chromium_or_skip()
    monkeypatch.setenv("TAIEX_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="TAIEX_REQUIRE_BROWSER=1"):
        chromium_or_skip()


# ---------------------------------------------------------------- the evaluation plots' details


def drawn_figure(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots hand to ``_save``, kept to look at."""
    from taiex import plots

    figures: list[Any] = []
    save = plots._save

    def keep(figure: Any, path: Path, *dpi: int) -> Path:
        figures.append(figure)
        return save(figure, path, *dpi)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def test_one_evaluation_shows_its_baseline_on_a_few_days_axis(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single monitoring run: the value and the baseline both visible, the date axis a few
    days around it (not 2025 … 2028)."""
    from matplotlib.dates import num2date

    from taiex.plots import metric_history_plot
    from taiex.report.page import metric_panel

    figures = drawn_figure(monkeypatch)
    rows = pd.DataFrame(evaluation_rows(world, "lstm-v1", "lstm", days=1))
    metric_history_plot([metric_panel(LSTM, rows, 100.0)], [], tmp_path / "one.png")
    (ax,) = figures[0].axes
    baseline = next(line for line in ax.get_lines() if line.get_label() == "naive sMAPE")
    assert len(baseline.get_xdata()) == 1
    assert baseline.get_marker() not in ("", "None", None, " ")  # a lone point needs a mark
    start, end = (num2date(x).date() for x in ax.get_xlim())
    assert start <= world.last_day <= end
    assert 2 <= (end - start).days <= 10


def test_the_trivial_score_and_the_days_that_did_not_have_distinct_colours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.colors import to_hex

    from taiex.plots import classifier_evaluation_plot

    figures = drawn_figure(monkeypatch)
    dates = pd.bdate_range("2024-10-01", periods=12)
    days = pd.DataFrame(
        {
            "date": dates,
            "label": [1.0, 0.0] * 6,
            "probability": [0.7, 0.3] * 6,
            "trivial": [0.01, -0.01] * 6,
        }
    )
    classifier_evaluation_plot(days, tmp_path / "c.png", "classifier")
    axes = figures[0].axes
    did_not = next(
        c for c in axes[0].collections if c.get_label().startswith("did not")
    ).get_facecolor()[0]
    right = axes[1]
    trivial = {to_hex(line.get_color()) for line in right.get_lines()}
    assert to_hex(did_not) not in trivial
    assert to_hex(right.yaxis.label.get_color()) not in {to_hex(did_not)}


# ---------------------------------------------------------------- words seen on the page


def test_the_last_load_of_a_monthly_run_sums_the_runs_months(world: World) -> None:
    """A TWSE run merges month by month: the last load is the whole run's, lest a first load of
    thousands of days read "0 new, 0 revised" (its last month adds none)."""
    stored = rows(world.store, "weighted_index")
    first, last = stored[0], stored[-1]
    world.store.delete_days(first["date"], first["date"], source="test")  # not the run's
    run = new_run()
    for row in (first, last):  # the first month's day is new again, the last month's is not
        day = DailyRow(
            row["date"], *(Decimal(str(row[c])) for c in ("open", "high", "low", "close"))
        )
        world.store.merge_rows([day], source="twse", month=f"{day.date:%Y-%m}", run=run)
    facts = report.gather(world.store, world.settings, now=world.now)
    text = dict(status_rows(facts))["last load"]
    span = f"{first['date']:%Y-%m} … {last['date']:%Y-%m}"
    assert f"from twse: 1 new, 0 revised (2 months, {span})" in text
    words = page_of(Path(write_report(world.store, world.settings, now=world.now))).words
    assert f"1 new, 0 revised (2 months, {span})" in words


def test_the_page_says_what_the_training_end_means_and_names_no_placeholder(
    world: World,
) -> None:
    words = page_of(Path(write_report(world.store, world.settings, now=world.now))).words
    end = world.day(-41)
    assert words.count(f"Trained on the days up to {end}; judged on the days after it.") == 2
    assert "..." not in words and "Saturday sessions, " not in words
    assert "0 session(s) not stored; 6 stored day(s) the calendar lacks" in words


def test_a_round_keeps_its_colour_in_the_track_plot_when_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colours go by round, not by position: a record of the pre-open round alone draws it in
    the pre-open round's colour, as every other chart does (it took the evening's blue)."""
    from matplotlib.colors import to_hex

    from taiex.plots import ROUND_COLOURS, track_plot

    figures = drawn_figure(monkeypatch)
    days = pd.to_datetime(["2024-11-01", "2024-11-04"])
    opens = pd.DataFrame(
        {
            "date": [*days, *days],
            "series": ["actual"] * 2 + ["pre-open"] * 2,
            "value": [100.0, 101.0, 100.5, 100.8],
        }
    )
    ratios = pd.DataFrame({"date": days, "round": "pre-open", "ratio": [0.9, 0.8]})
    growth = pd.DataFrame(columns=["date", "round", "strategy", "growth"])
    track_plot(opens, ratios, growth, tmp_path / "t.png", rolling_targets=20)
    served = next(
        line for line in figures[0].axes[0].get_lines() if line.get_label().startswith("pre-open")
    )
    assert to_hex(served.get_color()) == to_hex(ROUND_COLOURS["pre-open"])
