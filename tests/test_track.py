"""The live track record (issue 23, item 3): computed from a real database holding a few served
days of both rounds, against a recomputation by hand; its page section and chart; `taiex predict
--day D` for a past day; the empty case."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.cli import app
from taiex.models.registry import Registry
from taiex.report import track as track_module
from taiex.report.page import write_report
from taiex.report.track import NO_SESSION, PENDING, TrackRecord, chart_data, track_record
from taiex.rounds import Round
from taiex.simulation.summary import Costs
from taiex.store import Store
from taiex.store.testing import delete_rows, insert_rows, update_rows
from tests.series import synthetic_history
from tests.test_report import World, daily_rows, empty_world, page_of

EVENING, PREOPEN = Round.evening.value, Round.pre_open.value
# Sums of a few floats in another order than numpy's: equal to far below a cent of a percent.
TOLERANCE = 1e-9
FEE, TAX = 0.1425 / 100, 0.1 / 100  # taiex simulate's default costs


@dataclass(frozen=True)
class Served:
    world: World
    days: list[dt.date]  # the stored sessions
    evening: list[dt.date]  # the days each round served from
    preopen: list[dt.date]
    signals: dict[tuple[str, dt.date], int]
    saturday: dt.date  # a target on a day with no session


def session_after(days: list[dt.date], day: dt.date, h: int) -> dt.date:
    """The h-th business day after ``day`` (the synthetic history is on business days)."""
    return (pd.Timestamp(day) + pd.offsets.BDay(h)).date()


def forecast_value(round_name: str, origin: dt.date, h: int, close: float) -> float:
    """A served forecast that is sometimes better, sometimes worse than naive."""
    sign = 1 if (origin.toordinal() + h) % 3 else -1
    return close * (1 + sign * 0.002 * h) + (7.0 if round_name == PREOPEN else 0.0)


def served_rows(world: World, round_name: str, version: str, origin: dt.date) -> list[Any]:
    close = close_of(world, origin)
    rows = []
    for h in range(1, 6):
        value = forecast_value(round_name, origin, h, close)
        rows.append(
            {
                "model_version": version,
                "round": round_name,
                "origin_date": origin,
                "horizon": h,
                "target_date": session_after([], origin, h),
                "forecast": value,
                "lower_80": value - 100 * h**0.5,
                "upper_80": value + 100 * h**0.5,
                "lower_95": value - 160 * h**0.5,
                "upper_95": value + 160 * h**0.5,
                "naive": close,
                "created_at": dt.datetime.combine(
                    origin, dt.time(8 if round_name == EVENING else 23)
                ),
            }
        )
    return rows


def close_of(world: World, day: dt.date) -> float:
    frame = world.history
    return float(frame.loc[frame["date"] == pd.Timestamp(day), "close"].iloc[0])


def open_of(world: World, day: dt.date) -> float | None:
    frame = world.history
    found = frame.loc[frame["date"] == pd.Timestamp(day), "open"]
    return float(found.iloc[0]) if len(found) else None


def serve(world: World) -> Served:
    """The history, then 12 evenings and 7 pre-open rounds of forecasts and signals, the last
    ones pending; an earlier version's forecast from one day, replaced by a rerun's; one
    forecast for a Saturday (no session)."""
    store = world.store
    store.merge_rows(daily_rows(world.history), source="tests/synthetic.csv")
    days = [pd.Timestamp(d).date() for d in world.history["date"]]
    evening, preopen = days[-12:], days[-8:-1]
    for origin in evening:
        insert_rows(store, "forecasts", served_rows(world, EVENING, "lstm-v1", origin))
    for origin in preopen:
        insert_rows(
            store, "forecasts", served_rows(world, PREOPEN, "preopen-forecaster-v1", origin)
        )
    # A rerun after a promotion stored lstm-v2's forecast from this day later: it is what was
    # served, lstm-v1's earlier one is not.
    replaced = evening[3]
    later = [
        {**row, "model_version": "lstm-v2", "forecast": row["forecast"] + 50.0}
        | {"created_at": dt.datetime.combine(replaced, dt.time(9))}
        for row in served_rows(world, EVENING, "lstm-v1", replaced)
    ]
    insert_rows(store, "forecasts", later)
    saturday = next(
        d for d in (days[-20] + dt.timedelta(days=i) for i in range(7)) if d.weekday() == 5
    )
    insert_rows(
        store,
        "forecasts",
        [
            {**served_rows(world, PREOPEN, "preopen-forecaster-v1", days[-20])[0]}
            | {"target_date": saturday, "horizon": 1}
        ],
    )
    pattern = [1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0]
    signals: dict[tuple[str, dt.date], int] = {}
    for round_name, based in ((EVENING, evening), (PREOPEN, preopen)):
        version = "classifier-v1" if round_name == EVENING else "preopen-classifier-v1"
        for i, day in enumerate(based):
            signal = pattern[(i + (0 if round_name == EVENING else 2)) % len(pattern)]
            signals[(round_name, day)] = signal
            insert_rows(
                store,
                "signals",
                [
                    {
                        "model_version": version,
                        "round": round_name,
                        "based_on": day,
                        "target_date": session_after(days, day, 1),
                        "probability": 0.3 + 0.4 * signal,
                        "signal": signal,
                        "threshold": 0.5,
                        "created_at": dt.datetime.combine(day, dt.time(8)),
                    }
                ],
            )
    return Served(world, days, evening, preopen, signals, saturday)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    world = empty_world(tmp_path)
    yield serve(world)
    world.store.dispose()


# ---------------------------------------------------------------- by hand


def by_hand_pairs(s: Served, round_name: str) -> list[tuple[dt.date, float, float, float]]:
    """(target, forecast, naive, actual) of every scored pair a round served, as served."""
    origins = s.evening if round_name == EVENING else s.preopen
    pairs = []
    for origin in origins:
        close = close_of(s.world, origin)
        for h in range(1, 6):
            target = session_after(s.days, origin, h)
            actual = open_of(s.world, target)
            if actual is None:
                continue
            value = forecast_value(round_name, origin, h, close)
            if round_name == EVENING and origin == s.evening[3]:
                value += 50.0  # lstm-v2's, stored last
            pairs.append((target, value, close, actual))
    return pairs


def smape_by_hand(pairs: list[tuple[float, float]]) -> float:
    """docs/design.md: 100/n * sum 2|F - A| / (|A| + |F|)."""
    return 100.0 / len(pairs) * sum(2 * abs(f - a) / (abs(a) + abs(f)) for f, a in pairs)


def growth_by_hand(prices: list[float], held: list[int]) -> float:
    """Growth of 1: hold between price k and k + 1 when held[k]; the fee on each entry, the
    fee and the tax on each exit; flat before the first price; marked at the last price."""
    growth, before = 1.0, 0
    for k in range(len(prices) - 1):
        cost = FEE if held[k] > before else FEE + TAX if held[k] < before else 0.0
        change = prices[k + 1] / prices[k] - 1
        growth *= (1 - cost) * (1 + held[k] * change)
        before = held[k]
    return growth


# ---------------------------------------------------------------- the record


def test_the_forecasts_and_their_ratio_to_naive_equal_a_recomputation_by_hand(
    served: Served,
) -> None:
    record = track_record(served.world.store, rolling_targets=5)
    assert record.first_served == served.days[-20]
    assert record.rounds == (EVENING, PREOPEN)
    for part in record.forecasts:
        pairs = by_hand_pairs(served, part.round)
        scored = [f for f in part.served if f.actual is not None]
        assert len(scored) == len(pairs) > 0
        overall = part.overall
        assert overall is not None
        model = smape_by_hand([(f, a) for _, f, _, a in pairs])
        naive = smape_by_hand([(n, a) for _, _, n, a in pairs])
        assert overall.smape == pytest.approx(model, abs=TOLERANCE)
        assert overall.naive_smape == pytest.approx(naive, abs=TOLERANCE)
        assert overall.ratio == pytest.approx(model / naive, abs=TOLERANCE)
        # The rolling ratio of the last scored day: the pairs of the last 5 target days.
        targets = sorted({t for t, *_ in pairs})
        window = set(targets[-5:])
        last = part.rolling[-1]
        assert (last.last, last.days) == (targets[-1], 5)
        inside = [(f, n, a) for t, f, n, a in pairs if t in window]
        assert last.pairs == len(inside)
        expected = smape_by_hand([(f, a) for f, _, a in inside]) / smape_by_hand(
            [(n, a) for _, n, a in inside]
        )
        assert last.ratio == pytest.approx(expected, abs=TOLERANCE)
        assert len(part.rolling) == len(targets)


def test_pending_and_closed_days_are_kept_and_not_scored(served: Served) -> None:
    record = track_record(served.world.store)
    evening = record.forecasts[0]
    # Every served pair is in the record: 12 origins x 5 horizons, the rerun's replacing.
    assert len(evening.served) == 12 * 5
    pending = [f for f in evening.served if f.status == PENDING]
    assert pending and all(f.actual is None and f.smape is None for f in pending)
    assert {f.target for f in pending} == {
        session_after(served.days, served.days[-1], h) for h in range(1, 6)
    }
    closed = [f for f in record.forecasts[1].served if f.target == served.saturday]
    assert [f.status for f in closed] == [NO_SESSION]
    # The page's rows: the next session after the last stored day is pending, not dropped.
    last = record.sessions[-1]
    assert last.status == PENDING and last.actual is None
    assert set(last.forecasts) == {EVENING}
    both = next(s for s in record.sessions if s.date == served.days[-2])
    assert set(both.forecasts) == {EVENING, PREOPEN}
    assert both.actual == pytest.approx(open_of(served.world, served.days[-2]), abs=0.005)
    assert both.forecasts[PREOPEN].forecast == pytest.approx(
        forecast_value(PREOPEN, served.days[-3], 1, close_of(served.world, served.days[-3])),
        abs=TOLERANCE,
    )


def test_the_signals_outcomes_equal_a_recomputation_by_hand(served: Served) -> None:
    record = track_record(served.world.store)
    closes = served.world.history["close"].to_numpy(float)
    for s in record.signals:
        i = served.days.index(s.based_on)
        assert s.signal == served.signals[(s.round, s.based_on)]
        if i + 1 == len(served.days):
            assert (s.label, s.status, s.correct) == (None, PENDING, None)
            continue
        ma20 = sum(closes[i - 19 : i + 1]) / 20
        assert s.ma20 == pytest.approx(ma20, abs=TOLERANCE)
        assert s.close == pytest.approx(closes[i + 1], abs=TOLERANCE)
        assert s.label == int(closes[i + 1] > ma20)
        assert s.correct == (s.signal == s.label)


@pytest.mark.parametrize("round_name", [EVENING, PREOPEN])
def test_the_strategy_grows_with_costs_as_by_hand(served: Served, round_name: str) -> None:
    record = track_record(served.world.store)
    (strategy,) = [s for s in record.strategies if s.round == round_name]
    based = served.evening if round_name == EVENING else served.preopen
    days = served.days
    if round_name == EVENING:  # from close to close
        priced = [(d, close_of(served.world, d)) for d in based]
    else:  # from the open of the session after the signal's day to the next
        priced = [
            (days[days.index(d) + 1], open_of(served.world, days[days.index(d) + 1])) for d in based
        ]
    prices = [float(p) for _, p in priced if p is not None]
    held = [served.signals[(round_name, d)] for d in based][: len(prices)]
    signal, hold = strategy.line("signal"), strategy.line("buy_and_hold")
    assert signal is not None and hold is not None
    assert strategy.days == len(prices) - 1
    assert 1 + signal.total_return == pytest.approx(growth_by_hand(prices, held), abs=TOLERANCE)
    assert 1 + hold.total_return == pytest.approx(
        growth_by_hand(prices, [1] * len(prices)), abs=TOLERANCE
    )
    # The chart's growth ends where the figures do, dated by the last price.
    assert strategy.growth[-1].date == priced[len(prices) - 1][0]
    assert strategy.growth[-1].growth["signal"] == pytest.approx(
        1 + signal.total_return, abs=TOLERANCE
    )


def test_other_costs_change_the_growth(served: Served) -> None:
    free = track_record(served.world.store, costs=Costs(0.0, 0.0)).strategies[0].line("signal")
    paid = track_record(served.world.store).strategies[0].line("signal")
    assert free is not None and paid is not None
    assert free.switches > 0 and free.total_return > paid.total_return


def test_the_chart_data_are_plain_frames_of_the_record(served: Served) -> None:
    record = track_record(served.world.store)
    chart = chart_data(record)
    actual = chart.opens[chart.opens["series"] == "actual"]
    assert len(actual) == sum(s.actual is not None for s in record.sessions)
    assert set(chart.opens["series"]) == {"actual", EVENING, PREOPEN}
    assert set(chart.ratios["round"]) == {EVENING, PREOPEN}
    assert chart.ratios["ratio"].iloc[-1] == pytest.approx(
        next(p for p in record.forecasts if p.round == chart.ratios["round"].iloc[-1])
        .rolling[-1]
        .ratio
    )
    assert set(chart.growth["strategy"]) == {"signal", "trivial_rule", "buy_and_hold"}


# ---------------------------------------------------------------- the page


def test_the_page_has_the_track_record(served: Served) -> None:
    world = served.world
    path = write_report(world.store, world.settings, now=world.now)
    page = page_of(Path(path))
    words = page.words
    assert "Track record" in words
    assert f"since {served.days[-20]}" in words
    assert "pending" in words
    assert any(src.startswith("data:image/png;base64,") for src in page.images)
    html = Path(path).read_text(encoding="utf-8")
    assert 'id="track-sessions"' in html and 'id="track-signals"' in html
    assert 'id="track-strategy"' in html
    assert (world.settings.plots_dir / "track_record.png").is_file()


def test_no_served_forecast_is_said_in_one_line(tmp_path: Path) -> None:
    world = empty_world(tmp_path)
    world.store.merge_rows(daily_rows(world.history), source="tests/synthetic.csv")
    record = track_record(world.store)
    assert record.empty and record == TrackRecord(
        None, None, world.last_day, Costs(), track_module.ROLLING_TARGETS
    )
    path = write_report(world.store, world.settings, now=world.now)
    html = Path(path).read_text(encoding="utf-8")
    assert "No served forecast yet" in page_of(Path(path)).words
    assert 'id="track-sessions"' not in html
    world.store.dispose()


# ---------------------------------------------------------------- taiex predict --day


@pytest.fixture
def cli_env(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    settings = served.world.settings
    monkeypatch.setenv("TAIEX_HOME", str(settings.home))
    monkeypatch.setenv("TAIEX_DB_URL", settings.database_url)
    return served


def test_predict_for_a_past_day_shows_what_was_served_and_what_happened(
    cli_env: Served,
) -> None:
    s = cli_env
    day = s.preopen[2]
    runner = CliRunner()
    result = runner.invoke(app, ["predict", "--json", "--day", str(day)])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["day"] == str(day)
    assert set(answer["served"]) == {EVENING, PREOPEN}
    evening = answer["served"][EVENING]
    assert evening["forecast"]["version"] == "lstm-v1"
    rows = evening["forecast"]["rows"]
    assert [r["horizon"] for r in rows] == [1, 2, 3, 4, 5]
    first = rows[0]
    actual = open_of(s.world, session_after(s.days, day, 1))
    assert first["actual"] == pytest.approx(actual, abs=0.005)
    assert first["smape"] == pytest.approx(
        smape_by_hand([(first["forecast"], actual)]),
        abs=1e-3,  # the forecast is rounded
    )
    signal = answer["served"][PREOPEN]["signal"]
    assert signal["signal"] == s.signals[(PREOPEN, day)]
    assert signal["correct"] == (signal["signal"] == signal["outcome"])
    assert answer["data_age"]["stale"] is False
    text = runner.invoke(app, ["predict", "--day", str(day)])
    assert text.exit_code == 0, text.stderr
    words = " ".join(text.stdout.split())
    assert f"What was served from the data to {day}" in words
    assert "evening forecast" in words and "pre-open forecast" in words
    assert "what happened: the close" in words


def test_predict_for_the_last_day_shows_its_outcomes_as_pending(cli_env: Served) -> None:
    day = cli_env.days[-1]
    result = CliRunner().invoke(app, ["predict", "--json", "--day", str(day)])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    rows = answer["served"][EVENING]["forecast"]["rows"]
    assert {r["status"] for r in rows} == {PENDING}
    assert all(r["actual"] is None for r in rows)
    assert answer["served"][EVENING]["signal"]["status"] == PENDING


def test_the_record_reads_alike_on_every_backend(store: Store) -> None:
    """The served rows as each database returns them (dates, doubles, the round), the version
    stored last from a day being the one served."""
    history = synthetic_history(n=40, start="2024-09-02", seed=3)
    store.merge_rows(daily_rows(history), source="tests/synthetic.csv")
    days = [pd.Timestamp(d).date() for d in history["date"]]
    close = float(history["close"].iloc[-3])
    rows = []
    for version, value, hour in (("lstm-v1", close + 40, 8), ("lstm-v2", close - 25, 9)):
        row = {
            "model_version": version,
            "round": EVENING,
            "origin_date": days[-3],
            "horizon": 1,
            "target_date": days[-2],
            "forecast": value,
            "naive": close,
            "created_at": dt.datetime.combine(days[-3], dt.time(hour)),
        }
        rows.append(row | {f"{b}_{level}": value for b in ("lower", "upper") for level in (80, 95)})
    insert_rows(store, "forecasts", rows)
    record = track_record(store)
    (part,) = record.forecasts
    (served,) = part.served
    assert (served.model_version, served.forecast) == ("lstm-v2", pytest.approx(close - 25))
    actual = float(history["open"].iloc[-2])
    assert served.actual == pytest.approx(actual, abs=0.005)
    assert part.overall is not None
    assert part.overall.ratio == pytest.approx(
        smape_by_hand([(close - 25, actual)]) / smape_by_hand([(close, actual)]), rel=1e-6
    )


def test_a_signal_without_its_ma20_says_so(tmp_path: Path) -> None:
    world = empty_world(tmp_path)
    history = world.history.iloc[:30]
    world.store.merge_rows(daily_rows(history), source="tests/synthetic.csv")
    days = [pd.Timestamp(d).date() for d in history["date"]]
    signal = {"model_version": "classifier-v1", "round": EVENING, "probability": 0.7}
    signal |= {"signal": 1, "threshold": 0.5}
    insert_rows(
        world.store,
        "signals",
        [
            signal
            | {"based_on": days[i], "target_date": session_after(days, days[i], 1)}
            | {"created_at": dt.datetime.combine(days[i], dt.time(8))}
            for i in (5, 25, 29)
        ],
    )
    record = track_record(world.store)
    assert [(s.based_on, s.status) for s in record.signals] == [
        (days[5], track_module.NO_MA20),
        (days[25], track_module.KNOWN),
        (days[29], PENDING),
    ]
    assert record.signals[0].label is None and record.signals[1].label in (0, 1)
    world.store.dispose()


def test_predict_for_a_day_without_a_session_shows_what_was_served_from_the_day_before(
    cli_env: Served,
) -> None:
    """A Saturday inside the served days: its data is the Friday's, from which both rounds
    served; the data is not behind (later days are stored)."""
    s = cli_env
    saturday = next(
        s.evening[0] + dt.timedelta(days=i)
        for i in range(1, 8)
        if (s.evening[0] + dt.timedelta(days=i)).weekday() == 5
    )
    friday = saturday - dt.timedelta(days=1)
    assert friday in s.evening and saturday < s.days[-1]
    runner = CliRunner()
    result = runner.invoke(app, ["predict", "--json", "--day", str(saturday)])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["day"] == str(friday)
    assert answer["served"][EVENING]["forecast"]["rows"][0]["date"] == str(
        session_after(s.days, friday, 1)
    )
    age = answer["data_age"]
    assert (age["last_stored"], age["stale"], age["sessions_behind"]) == (str(friday), False, 0)
    assert (
        age["message"] == f"--day {saturday} is not a stored day: the data to it ends on {friday}"
    )
    text = runner.invoke(app, ["predict", "--day", str(saturday)])
    assert text.exit_code == 0, text.stderr
    words = " ".join(text.stdout.split())
    assert "after the last stored day" not in words and "nothing was served" not in words
    assert f"{age['message']} What was served from the data to {friday}" in words


def test_predict_before_the_first_stored_day_names_it(cli_env: Served) -> None:
    first = cli_env.days[0]
    result = CliRunner().invoke(app, ["predict", "--day", str(first - dt.timedelta(days=30))])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: --day {first - dt.timedelta(days=30)} is before the first stored day, {first}"
    )


def test_a_stored_value_that_is_not_a_number_is_left_out_and_named(
    cli_env: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """An infinite forecast (a double any backend stores) does not turn the round's ratios
    into nan: the pair is left out, a warning names it, and the JSON stays JSON."""
    s = cli_env
    origin = s.evening[0]
    update_rows(
        s.world.store,
        "forecasts",
        {"forecast": math.inf},
        origin_date=origin,
        horizon=1,
        model_version="lstm-v1",
    )
    with caplog.at_level(logging.WARNING, logger="taiex.report.track"):
        record = track_record(s.world.store)
    assert f"lstm-v1 (evening) from {origin}, h1: forecast inf" in caplog.text
    (part,) = (p for p in record.forecasts if p.round == EVENING)
    assert (origin, 1) not in {(f.origin, f.horizon) for f in part.served}
    kept = [p for p in by_hand_pairs(s, EVENING) if p[0] != session_after(s.days, origin, 1)]
    assert part.overall is not None
    assert part.overall.smape == pytest.approx(
        smape_by_hand([(f, a) for _, f, _, a in kept]), abs=TOLERANCE
    )
    assert all(math.isfinite(r.smape) for r in part.rolling)
    result = CliRunner().invoke(app, ["predict", "--json", "--day", str(origin)])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout, parse_constant=pytest.fail)
    assert [r["horizon"] for r in answer["served"][EVENING]["forecast"]["rows"]] == [2, 3, 4, 5]


def test_predict_says_a_signal_s_day_has_no_ma20(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = empty_world(tmp_path)
    history = world.history.iloc[:30]
    world.store.merge_rows(daily_rows(history), source="tests/synthetic.csv")
    day = pd.Timestamp(history["date"].iloc[5]).date()
    signal = {"model_version": "classifier-v1", "round": EVENING, "probability": 0.7}
    signal |= {"signal": 1, "threshold": 0.5, "based_on": day}
    signal |= {"target_date": session_after([], day, 1), "created_at": dt.datetime(2024, 7, 8)}
    insert_rows(world.store, "signals", [signal])
    monkeypatch.setenv("TAIEX_HOME", str(world.settings.home))
    monkeypatch.setenv("TAIEX_DB_URL", world.settings.database_url)
    result = CliRunner().invoke(app, ["predict", "--day", str(day)])
    assert result.exit_code == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert words.endswith(
        f"what happened: not known, {day} has fewer than 20 stored days up to it (no MA20)"
    )
    world.store.dispose()


def test_a_perfect_forecast_s_ratio_of_zero_is_charted(tmp_path: Path) -> None:
    world = empty_world(tmp_path)
    world.store.merge_rows(daily_rows(world.history), source="tests/synthetic.csv")
    origin = pd.Timestamp(world.history["date"].iloc[-3]).date()
    target = session_after([], origin, 1)
    exact = open_of(world, target)
    assert exact is not None
    row = served_rows(world, EVENING, "lstm-v1", origin)[0] | {"forecast": exact}
    insert_rows(world.store, "forecasts", [row])
    record = track_record(world.store)
    (part,) = record.forecasts
    assert part.overall is not None and part.overall.ratio == 0.0
    ratios = chart_data(record).ratios
    assert list(ratios["ratio"]) == [0.0] and list(ratios["date"]) == [pd.Timestamp(target)]
    world.store.dispose()


def test_a_signal_for_a_closed_day_is_judged_and_shown_on_the_next_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typhoon closes TWSE on the day a signal was served for (the calendar did not know):
    the close that decides is the next session's, and the page's row and predict say which."""
    world = empty_world(tmp_path)
    closed = pd.Timestamp(world.history["date"].iloc[-5]).date()
    history = world.history[world.history["date"] != pd.Timestamp(closed)]
    world.store.merge_rows(daily_rows(history), source="tests/synthetic.csv")
    days = [pd.Timestamp(d).date() for d in history["date"]]
    before = days[days.index(session_after([], closed, 1)) - 1]
    after = session_after([], closed, 1)
    signal = {"model_version": "classifier-v1", "round": EVENING, "probability": 0.7}
    signal |= {"signal": 1, "threshold": 0.5, "based_on": before, "target_date": closed}
    insert_rows(world.store, "signals", [signal | {"created_at": dt.datetime(2024, 7, 8)}])
    record = track_record(world.store)
    (row,) = record.signal_days
    assert (row.date, row.based_on) == (after, before)
    (served,) = record.signals
    assert served.close == pytest.approx(close_of(world, after), abs=TOLERANCE)
    monkeypatch.setenv("TAIEX_HOME", str(world.settings.home))
    monkeypatch.setenv("TAIEX_DB_URL", world.settings.database_url)
    result = CliRunner().invoke(app, ["predict", "--day", str(before)])
    assert result.exit_code == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert f"what happened: the close of {after} (no session on {closed})" in words
    world.store.dispose()


def test_served_rows_without_any_stored_day_are_pending(served: Served) -> None:
    """Every stored day deleted (by hand, or a restore of the index alone): what was served is
    kept, nothing is scored, and the page is written."""
    store = served.world.store
    store.delete_days(served.days[0], served.days[-1], source="tests")
    record = track_record(store)
    assert record.first_served == served.days[-20] and record.last_stored is None
    assert {f.status for part in record.forecasts for f in part.served} == {PENDING}
    assert {s.status for s in record.signals} == {PENDING}
    assert all(part.overall is None for part in record.forecasts)
    assert record.strategies and all(not s.lines for s in record.strategies)
    path = write_report(store, served.world.settings, now=served.world.now)
    assert "Track record" in Path(path).read_text(encoding="utf-8")


def test_a_rerun_by_a_model_trained_past_its_day_is_not_in_the_record(served: Served) -> None:
    """`taiex run --as-of` an earlier day, after a model trained on later data was promoted,
    stores that model's answer from the day: it saw the targets, so it is no forecast, and the
    figures leave it out (what the loop served the day itself stays)."""
    s = served
    trained_to = s.evening[5]
    version = champion(Registry(s.world.store), s.days[0], trained_to)
    assert version.version == "lstm-v1"  # the version that served the evenings
    record = track_record(s.world.store)
    (part,) = (p for p in record.forecasts if p.round == EVENING)
    # lstm-v2's rerun from evening[3] has no registered version: it stays.
    kept = {s.evening[3], *(d for d in s.evening if d >= trained_to)}
    assert {f.origin for f in part.served} == kept
    pairs = []
    for origin in kept:
        close = close_of(s.world, origin)
        for h in range(1, 6):
            actual = open_of(s.world, session_after(s.days, origin, h))
            value = forecast_value(EVENING, origin, h, close) + (
                50 if origin == s.evening[3] else 0
            )
            if actual is not None:
                pairs.append((value, actual))
    assert part.overall is not None and part.overall.pairs == len(pairs)
    assert part.overall.smape == pytest.approx(smape_by_hand(pairs), abs=TOLERANCE)
    assert record.first_served == s.days[-20]  # the pre-open round's Saturday row


def test_the_answer_served_live_stays_beside_a_later_rerun_that_saw_its_targets(
    served: Served,
) -> None:
    s = served
    registry = Registry(s.world.store)
    for train_end in (s.days[0], s.evening[-1]):  # lstm-v1 (served live), lstm-v2 (the rerun)
        champion(registry, s.days[0], train_end)
    record = track_record(s.world.store)
    (part,) = (p for p in record.forecasts if p.round == EVENING)
    rerun = [f for f in part.served if f.origin == s.evening[3]]
    assert [f.model_version for f in rerun] == ["lstm-v1"] * 5
    close = close_of(s.world, s.evening[3])
    assert rerun[0].forecast == pytest.approx(
        forecast_value(EVENING, s.evening[3], 1, close), abs=TOLERANCE
    )


def champion(registry: Registry, start: dt.date, end: dt.date) -> Any:
    """A new lstm version trained on ``start`` … ``end``, made champion (as served ones were)."""
    version = registry.register(
        "lstm", b"an lstm", train_start=start, train_end=end, params={}, metrics={}
    )
    assert registry.promote(version, "test", registry.champion("lstm"))
    return version


def test_a_version_never_champion_was_never_served(served: Served) -> None:
    """The loop stores champions' answers only: rows of a version never champion (stored by a
    tool, or by hand) are in neither the record nor ``predict --day``, as the report's forecast
    never shows them; the answer stored before them from that day is what was served."""
    s = served
    registry = Registry(s.world.store)
    champion(registry, s.days[0], s.days[0])  # lstm-v1, which served the evenings
    never = registry.register(
        "lstm", b"an lstm", train_start=s.days[0], train_end=s.days[0], params={}, metrics={}
    )
    origin = s.evening[-1]
    insert_rows(s.world.store, "forecasts", served_rows(s.world, EVENING, never.version, origin))
    record = track_record(s.world.store)
    (part,) = (p for p in record.forecasts if p.round == EVENING)
    assert {f.model_version for f in part.served} == {"lstm-v1"}
    day = track_module.day_record(s.world.store, origin)
    assert {f.model_version for f in day.forecasts} == {"lstm-v1"}


def test_the_strategy_counts_the_sessions_it_spans_when_days_were_not_served(
    served: Served,
) -> None:
    """The loop did not run on two evenings: the position of the signal before them is held
    across them, and "over N sessions" counts every session from the first price to the last."""
    s = served
    for day in s.evening[4:6]:
        delete_rows(s.world.store, "signals", based_on=day, round=EVENING)
    record = track_record(s.world.store)
    (strategy,) = [x for x in record.strategies if x.round == EVENING]
    spanned = s.days.index(s.evening[-1]) - s.days.index(s.evening[0])
    assert strategy.days == spanned == len(s.evening) - 1
    based = [d for d in s.evening if d not in s.evening[4:6]]
    prices = [close_of(s.world, d) for d in based]
    signal = strategy.line("signal")
    assert signal is not None
    held = [s.signals[(EVENING, d)] for d in based]
    assert 1 + signal.total_return == pytest.approx(growth_by_hand(prices, held), abs=TOLERANCE)
