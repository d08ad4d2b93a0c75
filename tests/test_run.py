"""`taiex run` end to end against a local TWSE server: empty home, a later day, the same day."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.cli import app
from taiex.settings import Settings
from taiex.store import Store
from taiex.store.testing import rows, update_rows
from tests.conftest import on_taipei_day
from tests.series import TINY_CONFIG, synthetic_history
from tests.twse_server import TwseServer

runner = CliRunner()
FULL = synthetic_history(n=520, start="2023-01-02", seed=11)
DAY1 = FULL["date"].iloc[-2].date()
DAY2 = FULL["date"].iloc[-1].date()


def up_to(day: dt.date) -> pd.DataFrame:
    return FULL[FULL["date"].dt.date <= day]


@pytest.fixture
def server(env: Settings, twse: TwseServer) -> TwseServer:
    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(TINY_CONFIG)
    twse.set_history(up_to(DAY1), today=DAY1)
    return twse


def run(*args: str) -> dict[str, Any]:
    """`taiex run --json`; with --as-of, on that day in Taipei (the day a fetch is stamped)."""
    day = dt.date.fromisoformat(args[args.index("--as-of") + 1]) if "--as-of" in args else None
    with on_taipei_day(day) if day else contextlib.nullcontext():
        result = runner.invoke(app, ["run", "--json", *args])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    return json.loads(result.stdout)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the job writes (the load log aside), without ids."""
    tables = (
        "weighted_index",
        "forecasts",
        "signals",
        "model_versions",
        "lstm_model_evaluate",
        "svm_model_evaluate",
    )
    return {
        table: sorted(
            tuple(str(v) for k, v in row.items() if k != "id") for row in rows(store, table)
        )
        for table in tables
    }


def test_a_day_then_the_next_then_the_same_again(
    server: TwseServer, env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Healthy thresholds: no retrain, so each day adds exactly one forecast and one signal.
    monkeypatch.setenv("TAIEX_LSTM_NAIVE_MARGIN", "10")
    monkeypatch.setenv("TAIEX_CLASSIFIER_AUC_MIN", "0")
    first = run("--as-of", str(DAY1))
    store = Store.from_settings(env)
    assert store.summary()["rows"] == len(up_to(DAY1))
    assert first["data"]["inserted"] == len(up_to(DAY1))
    forecast, signal = first["served"]["lstm"], first["served"]["classifier"]
    assert forecast["origin_date"] == str(DAY1)  # the last stored day, not today
    assert forecast["version"] == "lstm-v1" and signal["version"] == "classifier-v1"
    assert first["monitor"]["lstm"]["evaluation"]["days"] == 120
    assert first["monitor"]["classifier"]["evaluation"]["days"] == 40
    report = Path(first["outputs"]["report"])
    assert report.exists() and "lstm-v1" in report.read_text()
    assert list((env.plots_dir / "evaluate").glob("lstm*.png"))

    before = snapshot(store)
    server.set_history(up_to(DAY2), today=DAY2)
    second = run("--as-of", str(DAY2))
    after = snapshot(store)
    assert second["data"]["inserted"] == 1 and second["data"]["updated"] == 0
    # Only the new day was added: every old row is exactly as it was, timestamps included.
    assert set(before["weighted_index"]) < set(after["weighted_index"])
    assert len(after["weighted_index"]) == len(before["weighted_index"]) + 1
    assert second["served"]["lstm"]["origin_date"] == str(DAY2)
    assert len(after["forecasts"]) == len(before["forecasts"]) + 5
    assert len(after["signals"]) == len(before["signals"]) + 1

    third = run("--as-of", str(DAY2))
    assert third["nothing_new"]
    assert snapshot(store) == after

    # Last week's model steps, cleared and rerun, compute last week's answers: they read the
    # history up to their data day, not the latest, and add nothing.
    for kind in ("lstm", "classifier"):
        rerun = runner.invoke(app, ["step", "serve", kind, "--day", str(DAY1)])
        assert rerun.exit_code == 0, rerun.stderr
        again = json.loads(rerun.stdout)
        assert {k: v for k, v in again.items() if k != "skipped_artifacts"} == {
            k: v for k, v in first["served"][kind].items() if k != "skipped_artifacts"
        }
    rerun = runner.invoke(app, ["step", "evaluate", "lstm", "--day", str(DAY1)])
    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["metric"] == first["monitor"]["lstm"]["metric"]
    assert snapshot(store) == after


def test_nothing_new_is_said_and_exits_zero(server: TwseServer, env: Settings) -> None:
    run("--as-of", str(DAY1))
    result = runner.invoke(app, ["run", "--as-of", str(DAY1 + dt.timedelta(days=1))])
    assert result.exit_code == 0, result.stderr
    assert f"TWSE has nothing new after {DAY1}" in result.stdout


def test_predict_falls_back_from_a_corrupt_champion_and_says_so(
    server: TwseServer, env: Settings
) -> None:
    run("--as-of", str(DAY1))
    store = Store.from_settings(env)
    # A second LSTM becomes champion by hand; then its artifact is damaged.
    assert runner.invoke(app, ["train", "lstm"]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", "lstm-v2"]).exit_code == 0
    update_rows(store, "model_versions", {"artifact": b"damaged"}, version="lstm-v2")
    result = runner.invoke(app, ["predict", "--json"])
    assert result.exit_code == 0, result.stderr
    prediction = json.loads(result.stdout)
    assert prediction["lstm_version"] == "lstm-v1"
    assert "lstm-v2: the artifact fails its checksum" in result.stderr
    assert len(prediction["forecast"]) == 5

    update_rows(store, "model_versions", {"artifact": b""})  # no good LSTM left: one clear line
    result = runner.invoke(app, ["predict"])
    assert result.exit_code == 1
    assert "error: no usable lstm model" in result.stderr and "Traceback" not in result.stderr


def test_predict_without_models_says_what_to_run(server: TwseServer, env: Settings) -> None:
    assert runner.invoke(app, ["backfill", "--as-of", str(DAY1)]).exit_code == 0
    result = runner.invoke(app, ["predict"])
    assert result.exit_code == 1
    assert "run `taiex train lstm`" in result.stderr


def test_monitor_json_with_thresholds_no_model_meets(
    server: TwseServer, env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("--as-of", str(DAY1))
    monkeypatch.setenv("TAIEX_LSTM_SMAPE_MAX", "0")
    monkeypatch.setenv("TAIEX_CLASSIFIER_AUC_MIN", "1")
    monkeypatch.setenv("TAIEX_CLASSIFIER_TRIVIAL_MARGIN", "-1")
    result = runner.invoke(app, ["monitor", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    for kind in ("lstm", "classifier"):
        part = report[kind]
        assert part["retrain"] is True
        assert set(part) >= {"metric", "threshold", "retrain", "reason", "challenger"}
        challenger = part["challenger"]
        assert challenger["version"] == f"{kind}-v2"
        assert set(challenger) >= {"version", "score", "champion_score", "promoted"}
    assert report["lstm"]["threshold"] == 0.0 and report["classifier"]["threshold"] == 1.0
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    decisions = {v["version"]: v["decision"] for v in listed}
    assert decisions["lstm-v2"] in ("promoted", "rejected")
    assert decisions["classifier-v2"] in ("promoted", "rejected")


def test_backtests_write_their_csv_and_print_baselines(
    server: TwseServer, env: Settings, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["backfill", "--as-of", str(DAY1)]).exit_code == 0
    cut = FULL["date"].iloc[420].date()
    start = FULL["date"].iloc[421].date()
    out = tmp_path / "lstm.csv"
    args = ["--train-until", str(cut), "--from", str(start), "--out", str(out)]
    result = runner.invoke(app, ["backtest", "lstm", *args])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    rows = pd.read_csv(out)
    assert list(rows.columns) == [
        "origin_date", "horizon", "target_date", "forecast", "lower_80", "upper_80",
        "lower_95", "upper_95", "actual", "naive",
    ]  # fmt: skip
    assert rows["origin_date"].min() == str(start)
    assert "naive" in result.stdout and "DM t" in result.stdout and "score 95" in result.stdout
    # Coverage is printed once as a percentage (it was printed as "8100.0%").
    percents = [float(p) for p in re.findall(r"(\d+(?:\.\d+)?)%", result.stdout)]
    assert len(percents) == 2 * 5 and all(0 <= p <= 100 for p in percents)
    assert (env.plots_dir / "backtest_lstm.png").exists()

    out = tmp_path / "classifier.csv"
    args = ["--train-until", str(cut), "--from", str(start), "--out", str(out)]
    result = runner.invoke(app, ["backtest", "classifier", *args])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    days = pd.read_csv(out)
    assert list(days.columns) == ["date", "probability", "signal", "label"]
    assert "trivial close/MA20 score" in result.stdout and "logistic_regression" in result.stdout

    result = runner.invoke(
        app,
        ["backtest", "lstm", "--train-until", str(start), "--from", str(cut), "--out", str(out)],
    )
    assert result.exit_code == 1 and "error:" in result.stderr


def test_models_promote_and_rollback_from_the_command_line(
    server: TwseServer, env: Settings
) -> None:
    run("--as-of", str(DAY1))
    assert runner.invoke(app, ["train", "classifier"]).exit_code == 0  # classifier-v2
    result = runner.invoke(app, ["models", "promote", "classifier-v2"])
    assert result.exit_code == 0 and "classifier-v2 is the classifier champion" in result.stdout
    result = runner.invoke(app, ["models", "rollback", "classifier"])
    assert (
        result.exit_code == 0 and "classifier-v1 is the classifier champion again" in result.stdout
    )
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    status = {v["version"]: (v["status"], v["decision"]) for v in listed}
    assert status["classifier-v1"] == ("champion", "initial")
    assert status["classifier-v2"] == ("retired", "rolled back")
    result = runner.invoke(app, ["models", "rollback", "wrong"])
    assert result.exit_code == 2 and "'wrong' is not a kind of model" in result.stderr
