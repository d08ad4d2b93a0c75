"""The simulation's tables, figures, comparison and page, on generated tables (no model runs)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from taiex.metrics import MIN_DM_PAIRS
from taiex.simulation.page import plain_words, write_page
from taiex.simulation.records import (
    DAYS,
    DECISIONS,
    FORECASTS,
    SIGNALS,
    TABLES,
    VERSIONS,
    RunFolder,
)
from taiex.simulation.summary import (
    MIN_SESSIONS_TO_ANNUALISE,
    STRATEGIES,
    Costs,
    comparison,
    drift_forecast,
    strategy_returns,
    summarise,
)
from tests.series import synthetic_history


def fake_run(
    path: Path, days: int = 90, seed: int = 3, *, preopen: bool = False
) -> tuple[RunFolder, pd.DataFrame]:
    """A folder holding the tables a simulation of ``days`` sessions would write: forecasts with
    noise around the truth, probabilities loosely tied to the labels, decisions and versions;
    with ``preopen``, the pre-open round's too (a signal included, as a pre-open signal kind
    would serve, and a fallback every 11th session)."""
    rng = np.random.default_rng(seed)
    history = synthetic_history(n=days + 80, seed=seed)
    dates = [d.date() for d in history["date"]]
    closes = history["close"].to_numpy(float)
    start = 60
    folder = RunFolder(path)
    folder.create()
    for i in range(start, start + days):
        day = dates[i]
        if preopen:
            _fake_preopen(folder, history, i, rng)
        targets = dates[i + 1 : i + 6]
        drift = drift_forecast(closes[: i + 1], 5)
        forecasts = []
        for h, target in enumerate(targets, start=1):
            level = closes[i] * (1 + rng.normal(0, 0.004 * h))
            forecasts.append(
                {
                    "round": "evening",
                    "origin_date": day,
                    "horizon": h,
                    "target_date": target,
                    "forecast": level,
                    "lower_80": level * (1 - 0.01 * h),
                    "upper_80": level * (1 + 0.01 * h),
                    "lower_95": level * (1 - 0.015 * h),
                    "upper_95": level * (1 + 0.015 * h),
                    "actual": None,
                    "naive": closes[i],
                    "drift": drift[h - 1],
                    "model_version": "lstm-v1" if i < start + 40 else "lstm-v2",
                }
            )
        folder.append(FORECASTS, forecasts)
        ma20 = closes[i - 19 : i + 1].mean()
        trivial = closes[i] / ma20 - 1
        probability = float(np.clip(0.5 + 8 * trivial + rng.normal(0, 0.15), 0, 1))
        folder.append(
            SIGNALS,
            [
                {
                    "round": "evening",
                    "date": day,
                    "probability": probability,
                    "signal": int(probability >= 0.5),
                    "label": None,
                    "model_version": "classifier-v1",
                    "trivial": trivial,
                    "close": closes[i],
                    "trade_price": closes[i],
                }
            ],
        )
        retrain = i % 17 == 0
        folder.append(
            DECISIONS,
            [
                {
                    "round": "evening",
                    "date": day,
                    "kind": kind,
                    "champion": f"{kind}-v1",
                    "metric": rng.uniform(0.5, 1.5) if kind == "lstm" else rng.uniform(0.7, 1),
                    "baseline": rng.uniform(0.5, 1.5) if kind == "lstm" else rng.uniform(0.7, 1),
                    "threshold": 100.0 if kind == "lstm" else 0.8,
                    "retrain": retrain,
                    "reason": "a reason, with a comma",
                    "challenger": f"{kind}-v{i}" if retrain else None,
                    "challenger_score": 0.9 if retrain else None,
                    "champion_score": 0.95 if retrain else None,
                    "promoted": retrain and kind == "lstm",
                    "served_by": f"{kind}-v1",
                }
                for kind in ("lstm", "classifier")
            ],
        )
        if retrain or i == start:
            folder.append(
                VERSIONS,
                [
                    {
                        "round": "evening",
                        "kind": kind,
                        "version": f"{kind}-v{i}",
                        "train_start": dates[0],
                        "train_end": dates[i - 1],
                        "trained_on_day": day,
                        "seconds": 1.5,
                    }
                    for kind in ("lstm", "classifier")
                ],
            )
        folder.append(
            DAYS, [{"round": "evening", "date": day, "cpu_seconds": 0.25, "seconds": 0.5}]
        )
    folder.fill_outcomes(history[history["date"] <= pd.Timestamp(dates[start + days - 1])])
    return folder, history


def _fake_preopen(
    folder: RunFolder, history: pd.DataFrame, i: int, rng: np.random.Generator
) -> None:
    """The pre-open round of session ``i``: from the origin ``i - 1``, nearer the truth."""
    dates = [d.date() for d in history["date"]]
    closes, opens = history["close"].to_numpy(float), history["open"].to_numpy(float)
    origin, session = dates[i - 1], dates[i]
    drift = drift_forecast(closes[:i], 5)
    rows = []
    for h, target in enumerate(dates[i : i + 5], start=1):
        level = opens[i + h - 1] * (1 + rng.normal(0, 0.002 * h))
        rows.append(
            {
                "round": "pre-open",
                "origin_date": origin,
                "horizon": h,
                "target_date": target,
                "forecast": level,
                "lower_80": level * (1 - 0.01 * h),
                "upper_80": level * (1 + 0.01 * h),
                "lower_95": level * (1 - 0.015 * h),
                "upper_95": level * (1 + 0.015 * h),
                "naive": closes[i - 1],
                "drift": drift[h - 1],
                "model_version": "preopen-forecaster-v1",
            }
        )
    folder.append(FORECASTS, rows)
    ma20 = closes[i - 20 : i].mean()
    trivial = closes[i - 1] / ma20 - 1
    probability = float(np.clip(0.5 + 10 * trivial + rng.normal(0, 0.1), 0, 1))
    signal = {
        "round": "pre-open",
        "date": origin,
        "probability": probability,
        "signal": int(probability >= 0.5),
        "model_version": "preopen-classifier-v1",
        "trivial": trivial,
        "close": closes[i - 1],
    }
    folder.append(SIGNALS, [signal])
    decision = {
        "round": "pre-open",
        "date": session,
        "kind": "preopen-forecaster",
        "champion": "preopen-forecaster-v1",
        "metric": rng.uniform(0.3, 1.0),
        "baseline": rng.uniform(0.5, 1.5),
        "threshold": 100.0,
        "retrain": False,
        "reason": "healthy",
        "promoted": False,
        "served_by": "preopen-forecaster-v1",
    }
    folder.append(DECISIONS, [decision])
    fallback = "no TSM close for the US session of ..." if i % 11 == 0 else None
    day = {"round": "pre-open", "date": session, "cpu_seconds": 0.1, "seconds": 0.2}
    folder.append(DAYS, [{**day, "fallback": fallback}])


# ---------------------------------------------------------------- the tables


def test_tables_round_trip_and_outcomes_stop_at_the_last_day(tmp_path: Path) -> None:
    folder, history = fake_run(tmp_path / "run", days=30)
    forecasts = folder.read(FORECASTS)
    assert list(forecasts.columns) == FORECASTS.names
    assert len(forecasts) == 150
    last = folder.read(DAYS)["date"].max()
    # Targets after the last simulated day have no actual yet; the others have the true open.
    after = forecasts["target_date"] > last
    assert forecasts.loc[after, "actual"].isna().all() and after.sum() == 15
    opens = history.set_index("date")["open"]
    known = forecasts[~after]
    assert np.allclose(known["actual"], opens.reindex(known["target_date"]).to_numpy(), atol=5e-5)
    signals = folder.read(SIGNALS)
    assert signals["label"].isna().sum() == 1  # the last day's label needs tomorrow's close
    decisions = folder.read(DECISIONS)
    assert set(decisions["reason"]) == {"a reason, with a comma"}
    assert decisions["challenger"].tolist().count("") == (decisions["retrain"] == 0).sum()


def test_values_have_one_fixed_format(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    row = {
        "round": "evening",
        "date": dt.date(2020, 1, 2),
        "probability": 1 / 3,
        "signal": 1,
        "label": float("nan"),
        "model_version": "classifier-v1",
        "trivial": np.float64(-0.0123456789),
        "close": 12345.678901,
        "trade_price": 12345.678901,
    }
    folder.append(SIGNALS, [row])
    folder.append(SIGNALS, [{**row, "date": pd.Timestamp("2020-01-03"), "trade_price": None}])
    assert folder.file(SIGNALS).read_text() == (
        "round,date,probability,signal,label,model_version,trivial,close,trade_price\n"
        "evening,2020-01-02,0.333333,1,,classifier-v1,-0.012346,12345.6789,12345.6789\n"
        "evening,2020-01-03,0.333333,1,,classifier-v1,-0.012346,12345.6789,\n"
    )


def test_truncate_keeps_whole_rows_of_done_days_only(tmp_path: Path) -> None:
    folder, _ = fake_run(tmp_path / "run", days=12)
    days = folder.read(DAYS)["date"].dt.date.tolist()
    done = days[7]
    before = {t.file: folder.file(t).read_text() for t in TABLES}
    # A kill in the middle of the next day's rows: a line cut in half at the end of a file.
    with folder.file(FORECASTS).open("a") as handle:
        handle.write(f"evening,{days[-1] + dt.timedelta(days=3)},1,2020-")
    dropped = folder.truncate_after(done)
    assert dropped["forecasts.csv"] == 5 * 4 + 1
    for table in TABLES:
        frame = folder.read(table)
        assert (frame[table.key].dt.date <= done).all()
        text = folder.file(table).read_text()
        assert before[table.file].startswith(text)  # the kept rows are the same bytes
    assert len(folder.read(DAYS)) == 8
    folder.truncate_after(None)
    assert all(folder.read(t).empty for t in TABLES)


def test_a_file_with_other_columns_is_an_input_error(tmp_path: Path) -> None:
    from taiex.errors import InputError

    folder = RunFolder(tmp_path)
    folder.file(SIGNALS).write_text("date,p\n2020-01-02,0.5\n")
    with pytest.raises(InputError, match=r"signals\.csv"):
        folder.read(SIGNALS)


# ---------------------------------------------------------------- the figures


def test_summary_equals_a_recomputation_from_the_csv_files(tmp_path: Path) -> None:
    folder, _ = fake_run(tmp_path / "run")
    costs = Costs(fee_pct=0.2, exit_tax_pct=0.3)
    summary = json.loads(json.dumps(summarise(folder, costs, {"policy": "configured"})))
    check_summary(folder, summary, costs)
    loop = summary["loop"]
    assert loop["kinds"]["classifier"]["promotions"] == 0
    assert summary["days"] == 90 and summary["policy"] == "configured"


def check_summary(folder: RunFolder, summary: dict, costs: Costs) -> None:
    """Every figure of ``summary`` recomputed from the folder's CSV files by plain code, each
    round on its own rows."""
    days = pd.read_csv(folder.file(DAYS), keep_default_na=False)
    assert summary["rounds"] == list(summary["by_round"])
    assert summary["rounds"][0] == "evening"
    assert set(days["round"]) == set(summary["rounds"])
    for name, figures in summary["by_round"].items():
        mine = days[days["round"] == name]
        assert figures["rounds"] == len(mine)
        assert figures["fallbacks"] == (mine["fallback"] != "").sum()
        assert figures["cpu_seconds"] == pytest.approx(mine["cpu_seconds"].sum())
        _check_round(folder, name, figures, costs)

    loop = summary["loop"]
    decisions = pd.read_csv(folder.file(DECISIONS), keep_default_na=False)
    versions = pd.read_csv(folder.file(VERSIONS))
    assert set(loop["kinds"]) == set(decisions["kind"])
    for kind, figures in loop["kinds"].items():
        mine = decisions[decisions["kind"] == kind]
        assert {figures["round"]} == set(mine["round"])
        assert figures["retrain_decisions"] == (mine["retrain"] == 1).sum()
        assert figures["promotions"] == (mine["promoted"] == 1).sum()
        tried = set(mine["challenger"]) - {""}
        trained = versions[versions["kind"] == kind]["version"]
        assert figures["challengers"] == sum(v in tried for v in trained)
        assert figures["models_trained"] == (versions["kind"] == kind).sum()
        assert figures["days_judged"] == (mine["metric"] != "").sum()
    assert loop["cpu_seconds"] == pytest.approx(days["cpu_seconds"].sum())
    assert summary["days"] == days["date"].nunique()


def _check_round(folder: RunFolder, name: str, summary: dict, costs: Costs) -> None:
    forecasts = pd.read_csv(folder.file(FORECASTS), parse_dates=["origin_date"])
    forecasts = forecasts[forecasts["round"] == name]
    assert summary["forecast"]["pairs"] == forecasts["actual"].notna().sum()
    for figures in summary["forecast"]["horizons"]:
        rows = forecasts[(forecasts["horizon"] == figures["horizon"]) & forecasts["actual"].notna()]
        rows = rows.sort_values("origin_date")
        a = rows["actual"].tolist()
        assert figures["n"] == len(a)
        for column, key in (
            ("forecast", "smape"),
            ("naive", "naive_smape"),
            ("drift", "drift_smape"),
        ):
            expected = sum(
                200 * abs(f - y) / (abs(f) + abs(y)) for f, y in zip(rows[column], a, strict=True)
            ) / len(a)
            assert figures[key] == pytest.approx(expected, rel=1e-12)
        assert figures["ratio_naive"] == pytest.approx(figures["smape"] / figures["naive_smape"])
        if len(a) < MIN_DM_PAIRS:  # too few pairs for a Diebold-Mariano t
            assert figures["dm_t_naive"] is None and figures["dm_t_drift"] is None
        else:
            assert figures["dm_t_naive"] == pytest.approx(
                _dm(rows["forecast"], rows["naive"], a, figures["horizon"]), rel=1e-9
            )
            assert figures["dm_t_drift"] == pytest.approx(
                _dm(rows["forecast"], rows["drift"], a, figures["horizon"]), rel=1e-9
            )
        inside = [
            lo <= y <= hi for lo, hi, y in zip(rows["lower_80"], rows["upper_80"], a, strict=True)
        ]
        assert figures["coverage_80"] == pytest.approx(sum(inside) / len(a))

    signals = pd.read_csv(folder.file(SIGNALS))
    signals = signals[signals["round"] == name].reset_index(drop=True)
    known = signals.dropna(subset=["label"])
    figures = summary["signal"]
    assert figures["n"] == len(known)
    if known.empty:
        assert summary["strategy"]["days"] == max(signals["trade_price"].notna().sum() - 1, 0)
        return
    if known["label"].nunique() < 2:  # one class only: no ROC AUC
        assert figures["roc_auc"] is None and figures["roc_auc_undefined"]
    else:
        assert figures["roc_auc"] == pytest.approx(
            roc_auc_score(known["label"], known["probability"])
        )
        assert figures["trivial_roc_auc"] == pytest.approx(
            roc_auc_score(known["label"], known["trivial"])
        )
    assert figures["brier"] == pytest.approx(((known["probability"] - known["label"]) ** 2).mean())
    rule = (known["trivial"] > 0).astype(float)
    assert figures["trivial_rule_brier"] == pytest.approx(((rule - known["label"]) ** 2).mean())
    rates, ones, seen = [], 0.0, 0
    for label in signals["label"]:
        rates.append(ones / seen if seen else 0.5)
        if not math.isnan(label):
            ones, seen = ones + label, seen + 1
    base = [r for r, lab in zip(rates, signals["label"], strict=True) if not math.isnan(lab)]
    assert figures["base_rate_brier"] == pytest.approx(
        np.mean((np.array(base) - known["label"]) ** 2)
    )

    _check_strategy(summary["strategy"], signals.dropna(subset=["trade_price"]), costs)


def _dm(forecast: pd.Series, baseline: pd.Series, actual: list[float], lag: int) -> float:
    def terms(values: pd.Series) -> np.ndarray:
        f, y = np.asarray(values, float), np.asarray(actual, float)
        return 200 * np.abs(f - y) / (np.abs(f) + np.abs(y))

    d = terms(forecast) - terms(baseline)
    n, mean = len(d), d.mean()
    gamma = [((d[k:] - mean) * (d[: n - k] - mean)).sum() / n for k in range(lag + 1)]
    variance = gamma[0] + 2 * sum((1 - k / (lag + 1)) * gamma[k] for k in range(1, lag + 1))
    return mean / math.sqrt(variance / n)


def _check_strategy(figures: dict, signals: pd.DataFrame, costs: Costs) -> None:
    """The strategy's figures replayed day by day, as a person would with a spreadsheet (at the
    prices the round trades at: the evening's closes, the pre-open round's next opens)."""
    closes, held = signals["trade_price"].tolist(), signals["signal"].tolist()
    equity, position, returns, switches = 1.0, 0, [], 0
    for t in range(len(closes) - 1):
        cost = 0.0
        if held[t] != position:
            switches += 1
            cost = costs.fee_pct / 100 + (costs.exit_tax_pct / 100 if position else 0.0)
            position = held[t]
        day = (1 - cost) * (1 + position * (closes[t + 1] / closes[t] - 1)) - 1
        returns.append(day)
        equity *= 1 + day
    mine = figures["signal"]
    assert mine["total_return"] == pytest.approx(equity - 1, rel=1e-10)
    assert mine["switches"] == switches
    assert mine["annual_volatility"] == pytest.approx(np.std(returns, ddof=1) * math.sqrt(245))
    assert mine["sharpe"] == pytest.approx(
        np.mean(returns) / np.std(returns, ddof=1) * math.sqrt(245)
    )
    curve = np.cumprod(1 + np.array(returns))
    peaks = np.maximum.accumulate(np.concatenate([[1.0], curve]))[1:]
    assert mine["max_drawdown"] == pytest.approx((curve / peaks - 1).min())
    hold = figures["buy_and_hold"]
    expected = (1 - costs.fee_pct / 100) * closes[-1] / closes[0] - 1
    assert hold["total_return"] == pytest.approx(expected, rel=1e-10)
    assert hold["switches"] == 1


def test_strategy_on_numbers_worked_by_hand() -> None:
    signals = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]),
            "signal": [1, 0, 1, 0],
            "trivial": [0.1, 0.1, -0.1, 0.1],
            "close": [100.0, 110.0, 99.0, 99.0],
        }
    )
    signals["trade_price"] = signals["close"]
    returns = strategy_returns(signals, Costs())
    buy, sell = 0.001425, 0.002425
    assert returns["signal"].tolist() == pytest.approx([(1 - buy) * 1.1 - 1, -sell, -buy])
    assert returns["buy_and_hold"].tolist() == pytest.approx([(1 - buy) * 1.1 - 1, -0.1, 0.0])
    # The trivial rule is in on the first two days and out on the third.
    assert returns["trivial_rule"].tolist() == pytest.approx([(1 - buy) * 1.1 - 1, -0.1, -sell])


def test_drift_forecast_extends_the_average_change() -> None:
    assert drift_forecast([100.0, 104.0, 108.0], 3) == [112.0, 116.0, 120.0]
    assert drift_forecast([50.0], 2) == [50.0, 50.0]


# ---------------------------------------------------------------- the faces


def test_comparison_and_plain_words(tmp_path: Path) -> None:
    first, _ = fake_run(tmp_path / "a", days=40, seed=1)
    second, _ = fake_run(tmp_path / "b", days=60, seed=2)
    summaries = {
        "a": summarise(first, Costs(), {"policy": "never", "period": {"first": "x", "last": "y"}}),
        "b": summarise(second, Costs(), {"policy": "every-20"}),
    }
    rows = dict(comparison(summaries))
    assert rows["policy"] == ["never", "every-20"]
    assert rows["days"] == ["40", "60"]
    assert rows["rounds"] == ["evening", "evening"]
    h1 = summaries["b"]["by_round"]["evening"]["forecast"]["horizons"][0]
    assert rows["evening: sMAPE h1 (%)"][1] == f"{h1['smape']:.4f}"
    assert rows["period"] == ["x … y", "–"]
    assert not any(label.startswith("pre-open") for label in rows)
    words = " ".join(plain_words(summaries["a"]))
    assert "From x to y (40 sessions)" in words
    assert (
        f"{summaries['a']['by_round']['evening']['forecast']['horizons'][0]['smape']:.2f} %"
        in words
    )


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    folder, _ = fake_run(tmp_path / "run", days=70)
    about = {
        "policy": "configured",
        "period": {"first": "2020-03-26", "last": "2020-07-01"},
        "thresholds": {"lstm": 100.0, "classifier": 0.8},
    }
    summary = summarise(folder, Costs(), about)
    path = write_page(folder, summary, Costs())
    html = path.read_text()
    assert path == folder.path / "index.html"
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 4
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched
    assert "<script" not in html
    assert f"{summary['by_round']['evening']['forecast']['horizons'][0]['smape']:.4f}" in html
    assert 'data-strategy="buy_and_hold"' in html


def test_comparison_labels_are_each_used_once(tmp_path: Path) -> None:
    folder, _ = fake_run(tmp_path / "a", days=30)
    labels = [label for label, _ in comparison({"a": summarise(folder, Costs(), {"policy": "x"})})]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "cannot be read (nested too deeply)"),
        (b" " * 10_000_001, "larger than 10,000,000 bytes: not a summary"),
        (b"\xff{}", "cannot be read ('utf-8' codec can't decode byte 0xff"),
    ],
)
def test_compare_refuses_a_hostile_summary_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """Deep JSON was a RecursionError traceback; a summary.json linked to /dev/zero was read
    until memory ran out (19 GB before it was stopped)."""
    from taiex.errors import InputError
    from taiex.simulation.summary import compare_folders

    (tmp_path / "summary.json").write_bytes(content)
    with pytest.raises(InputError) as caught:
        compare_folders([tmp_path])
    assert str(caught.value).startswith(f"{tmp_path / 'summary.json'}: {message}")


# ---------------------------------------------------------------- the two rounds


def test_each_round_is_summarised_on_its_own_rows(tmp_path: Path) -> None:
    folder, history = fake_run(tmp_path / "run", days=60, preopen=True)
    costs = Costs()
    summary = json.loads(json.dumps(summarise(folder, costs, {"policy": "configured"})))
    assert summary["rounds"] == ["evening", "pre-open"]
    check_summary(folder, summary, costs)
    evening, preopen = summary["by_round"]["evening"], summary["by_round"]["pre-open"]
    assert evening["rounds"] == preopen["rounds"] == summary["days"] == 60
    assert preopen["fallbacks"] == sum(1 for i in range(60, 120) if i % 11 == 0)
    # The pre-open round's h1 pairs: one a session, its target that session; the evening's
    # last forecast has no actual yet, the pre-open round's (from the day before) has.
    assert preopen["forecast"]["horizons"][0]["n"] == 60
    assert evening["forecast"]["horizons"][0]["n"] == 59
    # Its fake forecasts are nearer the truth: the figures did not mix the rounds.
    assert preopen["forecast"]["horizons"][0]["smape"] < evening["forecast"]["horizons"][0]["smape"]
    # The pre-open strategy trades at the open of the session after each signal's day.
    signals = folder.read(SIGNALS)
    early = signals[signals["round"] == "pre-open"]
    opens = history.set_index("date")["open"]
    after = [history["date"][history["date"] > d].iloc[0] for d in early["date"]]
    assert np.allclose(early["trade_price"], opens.reindex(after).to_numpy(), atol=5e-5)
    later = signals[signals["round"] == "evening"]
    assert (later["trade_price"] == later["close"]).all()
    assert preopen["strategy"]["days"] == 59 and preopen["signal"]["n"] == 60


def test_strategy_of_the_pre_open_round_worked_by_hand() -> None:
    """In at the open after a 1, out at the open after a 0: open-to-open returns."""
    signals = pd.DataFrame(
        {
            "round": "pre-open",
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]),
            "signal": [1, 1, 0, 1],
            "trivial": [0.1, 0.1, 0.1, 0.1],
            "close": [500.0, 500.0, 500.0, 500.0],  # the origin's close: not what it trades at
            "trade_price": [100.0, 120.0, 90.0, 90.0],  # the next opens
        }
    )
    returns = strategy_returns(signals, Costs())
    buy, sell = 0.001425, 0.002425
    assert returns["signal"].tolist() == pytest.approx([(1 - buy) * 1.2 - 1, -0.25, -sell])
    # A signal whose session is after the last day (no open yet) is left out.
    signals.loc[3, "trade_price"] = float("nan")
    assert len(strategy_returns(signals, Costs())) == 2


def test_resume_drops_the_pre_open_rows_of_the_session_after_the_last_done(
    tmp_path: Path,
) -> None:
    """A pre-open row's origin is the session before the one whose round wrote it: with the
    session ``done`` committed, its pre-open rows (origin the session before) stay, and those of
    the next session (origin ``done``) go with the rest of that session."""
    folder, _ = fake_run(tmp_path / "run", days=12, preopen=True)
    sessions = sorted(set(folder.read(DAYS)["date"].dt.date))
    done = sessions[7]
    folder.truncate_after(done)
    forecasts = folder.read(FORECASTS)
    preopen = forecasts[forecasts["round"] == "pre-open"]
    assert preopen["origin_date"].max().date() == sessions[6]
    assert len(preopen) == 5 * 8  # sessions 0 … 7, each from the day before
    evening = forecasts[forecasts["round"] == "evening"]
    assert evening["origin_date"].max().date() == done
    for table, per_session in ((SIGNALS, 1), (DECISIONS, 2), (DAYS, 1)):  # evening's per session
        size = folder.read(table).groupby("round").size()
        assert size.to_dict() == {"evening": 8 * per_session, "pre-open": 8}, table.file
    decisions = folder.read(DECISIONS)
    assert decisions["date"].dt.date.max() == done


def test_both_rounds_compared_and_on_the_page(tmp_path: Path) -> None:
    both, _ = fake_run(tmp_path / "both", days=40, preopen=True)
    evening, _ = fake_run(tmp_path / "evening", days=40)
    about = {
        "policy": "never",
        "period": {"first": "2020-01-01", "last": "2020-03-01"},
        "thresholds": {"lstm": 100.0, "classifier": 0.8, "preopen-forecaster": 100.0},
    }
    off = "TAIEX_OVERNIGHT_SOURCE=none: the pre-open round is off"
    summaries = {
        "both": summarise(both, Costs(), {**about, "rounds": ["evening", "pre-open"]}),
        "evening": summarise(evening, Costs(), {**about, "preopen_off": off}),
    }
    rows = dict(comparison(summaries))
    preopen = summaries["both"]["by_round"]["pre-open"]
    assert rows["pre-open: sMAPE h1 (%)"] == [
        f"{preopen['forecast']['horizons'][0]['smape']:.4f}",
        "–",
    ]
    assert rows["pre-open: rounds / fallbacks"] == ["40 / 4", "–"]
    assert rows["rounds"] == ["evening, pre-open", "evening"]
    words = " ".join(plain_words(summaries["evening"]))
    assert f"Only the evening round was replayed: {off}." in words
    words = " ".join(plain_words(summaries["both"]))
    assert "The pre-open round" in words and "trading at the next open" in words
    html = write_page(both, summaries["both"], Costs()).read_text()
    assert 'data-round="pre-open"' in html and 'data-round="evening"' in html
    assert f"{preopen['forecast']['horizons'][0]['smape']:.4f}" in html
    # 40 sessions: no round has a rolling ratio yet, said instead of two empty charts.
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 5
    assert html.count("No rolling sMAPE ratio yet") == 2
    html = write_page(evening, summaries["evening"], Costs()).read_text()
    assert 'id="evening-only"' in html and 'data-round="pre-open"' not in html


def test_compare_reads_a_summary_written_before_the_rounds(tmp_path: Path) -> None:
    """A summary.json of an older taiex held the evening's figures at its top."""
    from taiex.simulation.summary import compare_folders

    folder, _ = fake_run(tmp_path / "new", days=30)
    summary = summarise(folder, Costs(), {"policy": "never"})
    old = {k: v for k, v in summary.items() if k not in ("by_round", "rounds")}
    old.update(summary["by_round"]["evening"])
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps(old))
    (folder.path / "summary.json").write_text(json.dumps(summary))
    rows = dict(compare_folders([tmp_path / "old", folder.path]).rows)
    assert rows["evening: sMAPE h1 (%)"][0] == rows["evening: sMAPE h1 (%)"][1] != "–"


def test_a_one_month_run_has_no_empty_chart_and_no_yearly_return(tmp_path: Path) -> None:
    """Issue 23: a month's run drew an empty ratio chart about 600 px tall and compounded 22
    sessions into a return "a year"."""
    folder, _ = fake_run(tmp_path / "run", days=22)
    about = {"policy": "configured", "period": {"first": "2020-03-26", "last": "2020-04-27"}}
    summary = summarise(folder, Costs(), about)
    strategy = summary["by_round"]["evening"]["strategy"]
    assert strategy["days"] < MIN_SESSIONS_TO_ANNUALISE
    assert all(strategy[key]["annual_return"] is None for key in STRATEGIES)
    html = write_page(folder, summary, Costs()).read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 3  # no ratio chart
    assert not (folder.path / "plots" / "ratio.png").exists()
    assert "No rolling sMAPE ratio yet" in html
    yearly = re.findall(
        r'data-strategy="\w+">(?:\s*<td[^>]*>.*?</td>){2}\s*<td[^>]*>(.*?)</td>', html
    )
    assert yearly == ["—", "—", "—"]
    assert "too few to compound into a yearly return" in html
    assert "seconds spent training" in html and "training s<" not in html


def test_a_long_enough_run_has_a_yearly_return(tmp_path: Path) -> None:
    folder, _ = fake_run(tmp_path / "run", days=MIN_SESSIONS_TO_ANNUALISE + 1)
    summary = summarise(folder, Costs(), {"policy": "configured"})
    mine = summary["by_round"]["evening"]["strategy"]["signal"]
    days = summary["by_round"]["evening"]["strategy"]["days"]
    assert mine["annual_return"] == pytest.approx((1 + mine["total_return"]) ** (245 / days) - 1)


def test_a_signal_identical_to_the_trivial_rule_is_drawn_over_it_and_says_so() -> None:
    from taiex.simulation.plots import equity_lines

    returns = pd.DataFrame({"signal": [0.01, -0.02], "trivial_rule": [0.01, -0.02]})
    returns["buy_and_hold"] = [0.0, 0.01]
    lines = equity_lines(returns)
    assert lines[-1][0] == "signal" and lines[-1][3] != "-"  # last, dashed: over the rule
    assert "identical to the trivial rule" in lines[-1][1]
    returns["signal"] = [0.0, 0.0]
    lines = equity_lines(returns)
    assert lines[0][:2] == ("signal", "signal strategy")
