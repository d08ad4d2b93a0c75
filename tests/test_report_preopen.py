"""The report's pre-open section: the night's moves, the refreshed answers beside the evening's,
the round's state when it has not served, each pre-open kind's monitoring (issue 21).

The database is the one of tests/test_report.py (data to Friday 2024-11-01, evening champions,
forecasts, signals, evaluations), plus the pre-open round's rows and the night's US closes. The
kinds are found through ``PREOPEN_KINDS`` and what they serve, never by name; a kind serving
signals, which the round does not have yet, is stood in by the evening classifier's spec moved
to the pre-open round.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from taiex.kinds import KINDS, PREOPEN_KINDS, KindSpec
from taiex.models.registry import Registry
from taiex.overnight import nights
from taiex.overnight_source import UsClose
from taiex.report import facts as report
from taiex.report import page as report_page
from taiex.report import preopen as report_preopen
from taiex.report.page import write_report
from taiex.report.status import status_rows
from taiex.rounds import Round
from taiex.store.testing import insert_rows
from tests.browser import Chromium
from tests.test_report import (
    ARTIFACTS,
    PNG_MAGIC,
    World,
    chromium_or_skip,
    empty_world,
    evaluation_rows,
    fill,
    forecast_rows,
    page_of,
    page_requests,
    register,
)

FORECASTING = next(s for s in PREOPEN_KINDS if s.serves == "forecasts")
EVENING_FORECASTING = next(s for s in KINDS if s.serves == "forecasts")
SESSION = dt.date(2024, 11, 4)  # the XTAI session after the world's last day, Friday 2024-11-01
# 08:00 Taipei on that Monday: after the round of 07:30.
MORNING = dt.datetime(2024, 11, 4, 0, 0)
# The night's closes: the US session before TAIEX's close on Friday, and Friday's.
BASE_CLOSES = {"^GSPC": 5705.45, "^IXIC": 18095.15, "^SOX": 4929.65, "TSM": 190.0}
LAST_CLOSES = {"^GSPC": 5728.80, "^IXIC": 18239.92, "^SOX": 4835.99, "TSM": 192.0}
SHIFT = -34.0  # the pre-open forecast against the evening's, every horizon


def signals_spec() -> KindSpec:
    """The pre-open kind serving signals; the evening's classifier in its place until it exists."""
    found = next((s for s in PREOPEN_KINDS if s.serves == "signals"), None)
    if found is not None:
        return found
    evening = next(s for s in KINDS if s.serves == "signals")
    return dataclasses.replace(
        evening, name=f"preopen-{evening.name}", title="Pre-open classifier", round=Round.pre_open
    )


def store_closes(world: World, *, missing: str | None = None) -> None:
    """The night's closes of every symbol (but ``missing``'s last one)."""
    night = nights([world.last_day], [SESSION])[0]
    assert night.base is not None and night.last is not None and night.sessions
    rows = [
        UsClose(symbol, day, Decimal(str(closes[symbol])))
        for day, closes in ((night.base, BASE_CLOSES), (night.last, LAST_CLOSES))
        for symbol in world.settings.symbols
        if not (symbol == missing and day == night.last)
    ]
    world.store.overnight.merge(rows, source="tests")


def serve_preopen(world: World, origin: dt.date | None = None) -> list[Any]:
    """The pre-open forecaster's champion and its rows from ``origin`` (the last day)."""
    registry = Registry(world.store)
    version = register(registry, FORECASTING.name, world)
    registry.promote(version, "first model", expected=None)
    close = float(world.history["close"].iloc[-1])
    rows = [
        row | {"round": FORECASTING.round.value}
        for row in forecast_rows(
            version.version, origin or world.last_day, world.forecast_dates, close + SHIFT
        )
    ]
    insert_rows(world.store, "forecasts", rows)
    measured = evaluation_rows(world, version.version, EVENING_FORECASTING.name, days=12)
    insert_rows(
        world.store,
        FORECASTING.metric.table,
        [
            row | {"sMAPE": 0.8, "naive_sMAPE": 1.1, "round": FORECASTING.round.value}
            for row in measured
        ],
    )
    return rows


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = fill(empty_world(tmp_path))
    yield dataclasses.replace(built, now=MORNING)
    built.store.dispose()


@pytest.fixture
def signalling(world: World, monkeypatch: pytest.MonkeyPatch) -> KindSpec:
    """A pre-open kind serving signals, known to the report, and its signal from the last day
    (it turns the evening's 適合進場 into 不適合進場)."""
    spec = signals_spec()
    if spec not in PREOPEN_KINDS:
        monkeypatch.setattr(report, "ALL_KINDS", (*report.ALL_KINDS, spec))
        for module in (report_preopen, report_page):
            monkeypatch.setattr(module, "PREOPEN_KINDS", (*PREOPEN_KINDS, spec))
    row = {"model_version": f"{spec.name}-v1", "threshold": 0.5, "round": spec.round.value}
    row |= {"based_on": world.last_day, "target_date": world.forecast_dates[0]}
    row |= {"probability": 0.41, "signal": 0, "created_at": MORNING}
    insert_rows(world.store, "signals", [row])
    return spec


# ---------------------------------------------------------------- the facts


def test_the_night_and_the_refreshed_forecast_beside_the_evenings(world: World) -> None:
    store_closes(world)
    served = serve_preopen(world)
    facts = report.gather(world.store, world.settings, now=world.now)
    pre = facts.preopen
    assert pre is not None and pre.ever and pre.served and pre.due
    assert (pre.origin, pre.session) == (world.last_day, SESSION)
    night = pre.night
    assert night is not None and night.problem is None and not night.quiet
    moves = {m.symbol: m.percent for m in night.moves}
    for symbol, last in LAST_CLOSES.items():
        assert moves[symbol] == pytest.approx((last / BASE_CLOSES[symbol] - 1) * 100)
    assert night.largest is not None and night.largest.symbol == "^SOX"
    (comparison,) = pre.forecasts
    assert comparison.preopen is not None and comparison.evening is not None
    assert comparison.evening.model_version == "lstm-v1"  # the champion's, not lstm-v2's
    assert [r.date for r in comparison.rows] == world.forecast_dates
    for change, row, evening in zip(comparison.rows, served, world.forecast_values, strict=True):
        assert change.preopen is not None and change.preopen.forecast == pytest.approx(
            row["forecast"]
        )
        assert change.preopen.upper_95 == pytest.approx(row["upper_95"])
        assert change.evening is not None and change.evening.forecast == pytest.approx(evening)
        assert change.difference == pytest.approx(SHIFT)
    (line,) = pre.changes
    assert line.startswith("The night's ^SOX -1.9 % (its largest move; ^GSPC +0.4 %")
    first = world.forecast_values[0]
    assert (
        f"moved the first open ({world.forecast_dates[0]}) down 34 points "
        f"({SHIFT / first * 100:+.2f} %), from the evening's {first:,.2f} to {first + SHIFT:,.2f}."
    ) in line
    # Its monitoring: its own round's rows; the evening's panel keeps only the evening's.
    (champion,) = pre.champions
    assert champion.evaluation is not None
    assert (champion.evaluation.metric, champion.evaluation.baseline) == (0.8, 1.1)
    assert len(facts.evaluations[FORECASTING.name]) == 12
    assert len(facts.evaluations[EVENING_FORECASTING.name]) == 15
    lstm = facts.champion(EVENING_FORECASTING.name)
    assert lstm is not None and lstm.evaluation is not None
    assert lstm.evaluation.metric == pytest.approx(0.997)
    assert facts.todo == []
    rows = dict(status_rows(facts))
    assert rows["pre-open round"].startswith(f"{SESSION} from {world.last_day}: The night's ^SOX")


def test_a_missing_close_says_the_evening_stands_and_why(world: World) -> None:
    store_closes(world, missing="^SOX")
    older = world.day(-2)
    serve_preopen(world, origin=older)
    pre = report.gather(world.store, world.settings, now=world.now).preopen
    assert pre is not None and pre.ever and not pre.served
    assert pre.last_served == older
    assert pre.night is not None
    unknown = {m.symbol for m in pre.night.moves if m.move is None}
    assert unknown == {"^SOX"}
    assert pre.status.startswith(
        f"The pre-open round for {SESSION} has not served from the data to {world.last_day}: "
        "no ^SOX close for the US session of"
    )
    assert f"It last served from the data to {older}." in pre.status
    assert pre.changes == []
    (comparison,) = pre.forecasts
    assert comparison.preopen is None
    assert [r.evening.forecast for r in comparison.rows if r.evening] == pytest.approx(
        world.forecast_values
    )


def test_not_run_and_not_due(world: World) -> None:
    store_closes(world)
    serve_preopen(world, origin=world.day(-2))
    pre = report.gather(world.store, world.settings, now=world.now).preopen
    assert pre is not None and not pre.served
    assert "(not run, or it fell back): the evening's figures stand" in pre.status
    evening = MORNING - dt.timedelta(days=2)  # Saturday: the round is Monday's
    pre = report.gather(world.store, world.settings, now=evening).preopen
    assert pre is not None and not pre.due
    assert pre.status.startswith(f"The pre-open round for {SESSION} is due at 07:30 Taipei")


def test_a_quiet_night_is_flagged(world: World) -> None:
    """Martin Luther King Day 2025: New York closed on the Monday, so the night before the
    round of Tuesday 2025-01-21 closed no US session."""
    origin = dt.date(2025, 1, 20)
    store_closes(world)
    night = report_preopen._night(world.store, world.settings, origin, dt.date(2025, 1, 21))
    assert night.quiet and night.problem is None
    assert all(m.quiet and m.move == 0.0 and m.flag for m in night.moves)
    assert night.largest is None


def test_no_round_ever_or_the_round_off(world: World) -> None:
    pre = report.gather(world.store, world.settings, now=world.now).preopen
    assert pre is not None and not pre.ever
    words = page_of(Path(write_report(world.store, world.settings, now=world.now))).words
    assert "Before the open 開盤前: no pre-open round yet." in words
    assert "did the night move the outlook" not in words
    serve_preopen(world)
    off = world.settings.replace(overnight_source="none")
    facts = report.gather(world.store, off, now=world.now)
    assert facts.preopen is None
    assert dict(status_rows(facts))["pre-open round"] == "off (TAIEX_OVERNIGHT_SOURCE=none)"
    words = page_of(Path(write_report(world.store, off, now=world.now))).words
    assert "no pre-open round yet" not in words and "did the night move" not in words
    assert "off (TAIEX_OVERNIGHT_SOURCE=none)" in words


def test_the_signal_beside_the_evenings(world: World, signalling: KindSpec) -> None:
    store_closes(world)
    pre = report.gather(world.store, world.settings, now=world.now).preopen
    assert pre is not None and pre.served  # the signal alone served
    (signal,) = pre.signals
    assert signal.preopen is not None and signal.evening is not None
    assert (signal.evening.verdict, signal.preopen.verdict) == ("適合進場", "不適合進場")
    turned = "turned: 適合進場 (73 %) → 不適合進場 (41 %)."
    assert f"The entry signal for {world.forecast_dates[0]} {turned}" in pre.changes
    (forecast,) = pre.forecasts
    assert forecast.preopen is None  # the forecaster did not serve: said in its block


# ---------------------------------------------------------------- the page, in a browser


@pytest.mark.browser
def test_the_preopen_section_in_headless_chromium(
    world: World, signalling: KindSpec, tmp_path: Path
) -> None:
    executable = chromium_or_skip()
    store_closes(world)
    served = serve_preopen(world)
    path = Path(write_report(world.store, world.settings, now=world.now))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-preopen.png"
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri())
        state = browser.evaluate(
            f"""(() => {{
                const text = (el) => el ? el.textContent.replace(/\\s+/g, ' ').trim() : null;
                const cells = (tr) => [...tr.querySelectorAll('td')].map(text);
                const section = document.querySelector('#preopen');
                return {{
                    before: section.compareDocumentPosition(document.querySelector('#tomorrow'))
                        === Node.DOCUMENT_POSITION_FOLLOWING,
                    status: text(document.querySelector('#preopen-status')),
                    changes: [...document.querySelectorAll('#preopen-changes li')].map(text),
                    night: [...document.querySelectorAll('#night tbody tr')].map(cells),
                    forecast: [...document.querySelectorAll(
                        '#preopen-forecast-{FORECASTING.name} tbody tr')]
                        .map(tr => [tr.dataset.target, ...cells(tr)]),
                    signal: text(document.querySelector('#preopen-signal-{signalling.name}')),
                    champion: text(document.querySelector(
                        '#preopen-champions #champion-{FORECASTING.name}')),
                    evening: [...document.querySelectorAll('#forecast-table tbody tr')]
                        .map(tr => tr.dataset.date),
                    images: [...document.images].map(i => [i.complete, i.naturalWidth]),
                }};
            }})()"""
        )
        browser.screenshot(shot)
    assert browser.errors == [], browser.errors
    assert browser.requests == page_requests(path)
    assert state["before"]  # at 08:00 the night comes first
    assert state["status"].startswith(f"Refreshed for the session of {SESSION}")
    assert any(
        "moved the first open" in line and "down 34 points" in line for line in state["changes"]
    )
    assert any("turned: 適合進場 (73 %) → 不適合進場 (41 %)" in line for line in state["changes"])
    night = {row[0]: row for row in state["night"]}
    assert list(night) == list(world.settings.symbols)
    sox = (LAST_CLOSES["^SOX"] / BASE_CLOSES["^SOX"] - 1) * 100
    assert night["^SOX"][1:4] == ["4,929.65", "4,835.99", f"{sox:+.2f} %"]
    assert [row[0] for row in state["forecast"]] == [d.isoformat() for d in world.forecast_dates]
    for row, stored, evening in zip(state["forecast"], served, world.forecast_values, strict=True):
        _, _, horizon, evening_cell, preopen_cell, change = row
        assert horizon == str(stored["horizon"])
        assert evening_cell.startswith(f"{evening:,.2f}")
        assert preopen_cell.startswith(f"{stored['forecast']:,.2f}")
        assert f"80 %: {stored['lower_80']:,.2f} – {stored['upper_80']:,.2f}" in preopen_cell
        assert f"95 %: {stored['lower_95']:,.2f} – {stored['upper_95']:,.2f}" in preopen_cell
        assert change.startswith(f"{SHIFT:+,.2f}")
        assert math.isclose(float(change.split()[1]), SHIFT / evening * 100, abs_tol=0.006)
    assert "Evening: 適合進場 (73 %)" in state["signal"] and "不適合進場" in state["signal"]
    assert "sMAPE 0.800 %" in state["champion"] and "naive sMAPE 1.100 %" in state["champion"]
    assert state["evening"] == [d.isoformat() for d in world.forecast_dates]
    # The forecast, the evening's and the pre-open monitoring, the track record.
    assert len(state["images"]) == 4
    assert all(done and width > 0 for done, width in state["images"])
    assert shot.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.browser
def test_the_fallback_in_headless_chromium(world: World, tmp_path: Path) -> None:
    executable = chromium_or_skip()
    store_closes(world, missing="TSM")
    serve_preopen(world, origin=world.day(-2))
    path = Path(write_report(world.store, world.settings, now=world.now))
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri())
        state = browser.evaluate(
            f"""(() => {{
                const text = (el) => el ? el.textContent.replace(/\\s+/g, ' ').trim() : null;
                return {{
                    status: text(document.querySelector('#preopen-status')),
                    missing: text(document.querySelector('#preopen .preopen-missing')),
                    tsm: text(document.querySelector('#night tr[data-symbol="TSM"]')),
                    preopen: [...document.querySelectorAll(
                        '#preopen-forecast-{FORECASTING.name} td.preopen')].map(text),
                    evening: [...document.querySelectorAll(
                        '#preopen-forecast-{FORECASTING.name} td.evening')].map(text),
                }};
            }})()"""
        )
    assert browser.errors == [], browser.errors
    assert "has not served from the data to" in state["status"]
    assert "no TSM close for the US session of" in state["status"]
    assert "The evening's figures stand" in state["status"]
    assert "the evening's forecast stands" in state["missing"]
    assert "unknown: a close is not stored" in state["tsm"]
    assert state["preopen"] == ["–"] * 5
    assert [cell.split()[0] for cell in state["evening"]] == [
        f"{v:,.2f}" for v in world.forecast_values
    ]


def test_the_report_spells_no_kind() -> None:
    """The section is written over PREOPEN_KINDS and what each serves (tests/test_layering.py
    checks every generic module; this names the new one)."""
    source = Path(report_preopen.__file__).read_text(encoding="utf-8")
    for spec in (*KINDS, *PREOPEN_KINDS):
        assert f'"{spec.name}"' not in source
