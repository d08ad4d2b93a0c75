"""`taiex backtest lstm --round pre-open`: the pre-open forecaster through the product's data
path (stored TAIEX days, stored US closes, the nights of taiex.overnight), on the real data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.cli import app
from taiex.models.backtest import backtest_preopen
from taiex.overnight import night_moves_frame
from tests.series import REAL_DATA

SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")
TRAIN_UNTIL, START, END = "2022-12-31", "2023-01-01", "2023-06-30"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def real() -> tuple[pd.DataFrame, dict[str, dict[dt.date, float]]]:
    history = pd.read_csv(REAL_DATA / "taiex_daily.csv", parse_dates=["date"])
    history = history[history["date"] <= "2024-12-31"].reset_index(drop=True)
    us = pd.read_csv(REAL_DATA / "us_closes.csv", parse_dates=["date"])
    closes = {
        s: dict(zip(rows["date"].dt.date, rows["close"], strict=True))
        for s, rows in us.groupby("symbol")
    }
    return history, closes


def moves_of(history: pd.DataFrame, closes: dict[str, dict[dt.date, float]]) -> pd.DataFrame:
    return night_moves_frame(list(history["date"].dt.date), closes, SYMBOLS)


def test_the_command_runs_on_the_stored_data(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "pre.csv"
    args = ("backtest", "lstm", "--round", "pre-open", "--train-until", TRAIN_UNTIL)
    assert cli("import-csv", str(REAL_DATA / "taiex_daily.csv"))[0] == 0
    code, _, err = cli(*args, "--from", START, "--to", END, "--out", str(out))
    assert code == 1 and err.strip().startswith("error: no US closes stored: load them first")
    assert cli("overnight", "import-csv", str(REAL_DATA / "us_closes.csv"))[0] == 0
    code, text, err = cli(*args, "--from", START, "--to", END, "--out", str(out))
    assert code == 0, err
    rows = pd.read_csv(out, parse_dates=["origin_date", "target_date"])
    assert list(rows.columns) == [
        "origin_date", "horizon", "target_date", "forecast", "lower_80", "upper_80",
        "lower_95", "upper_95", "actual", "naive",
    ]  # fmt: skip
    assert rows["origin_date"].min() == pd.Timestamp("2023-01-03")
    # The h1 target is the next stored day, and its actual is that day's open.
    history = pd.read_csv(REAL_DATA / "taiex_daily.csv", parse_dates=["date"])
    first = rows[rows["horizon"] == 1].iloc[0]
    after = history[history["date"] > first["origin_date"]].iloc[0]
    assert first["target_date"] == after["date"] and first["actual"] == after["open"]
    assert (home / "plots" / "backtest_lstm_pre-open.png").is_file()
    assert "backtest_lstm_pre-open.png" in "".join(text.split())  # piped output wraps (#23)


def test_the_command_gives_what_the_module_gives(
    home: Path, tmp_path: Path, real: tuple[pd.DataFrame, dict[str, dict[dt.date, float]]]
) -> None:
    history, closes = real
    cli("import-csv", str(REAL_DATA / "taiex_daily.csv"))
    cli("overnight", "import-csv", str(REAL_DATA / "us_closes.csv"))
    out = tmp_path / "pre.csv"
    args = ("--train-until", TRAIN_UNTIL, "--from", START, "--to", END, "--out", str(out))
    assert cli("backtest", "lstm", "--round", "pre-open", *args)[0] == 0
    stored = pd.read_csv(out)
    direct = backtest_preopen(
        history, moves_of(history, closes), train_until=TRAIN_UNTIL, start=START, end=END
    ).rows
    # The CSV keeps 4 decimals; the stored history holds 2 (the file's own).
    assert len(stored) == len(direct)
    pd.testing.assert_series_equal(
        stored["forecast"], direct["forecast"].reset_index(drop=True), check_exact=False, atol=1e-4
    )


def test_a_close_counts_only_from_when_it_was_published(
    real: tuple[pd.DataFrame, dict[str, dict[dt.date, float]]],
) -> None:
    """Moving the US close of a session changes the forecasts of the rounds issued after it
    was published, and of none before (2023-03-10's close: usable from 05:30 Taipei on the 11th,
    first read by the round of Monday 03-13 from origin 03-10)."""
    history, closes = real
    moved = {s: dict(days) for s, days in closes.items()}
    day = dt.date(2023, 3, 10)
    moved["^SOX"][day] *= 1.05
    period = {"train_until": TRAIN_UNTIL, "start": START, "end": END}
    before = backtest_preopen(history, moves_of(history, closes), **period).rows
    after = backtest_preopen(history, moves_of(history, moved), **period).rows
    changed = before["forecast"].to_numpy() != after["forecast"].to_numpy()
    origins = sorted(set(before.loc[changed, "origin_date"].dt.date))
    # The night of 03-10 (read at 03-13's round) and of 03-13 (its base is 03-10's close).
    assert origins == [dt.date(2023, 3, 10), dt.date(2023, 3, 13)]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("backtest", "classifier", "--round", "pre-open"), 1, "taiex backtest preopen-classifier"),
        (("backtest", "lstm", "--round", "morning"), 2, "Invalid value for '--round'"),
    ],
)
def test_bad_rounds_are_one_line(
    home: Path, tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    cli("import-csv", str(REAL_DATA / "taiex_daily.csv"))
    cli("overnight", "import-csv", str(REAL_DATA / "us_closes.csv"))
    period = ("--train-until", TRAIN_UNTIL, "--from", START, "--to", END)
    got, _, err = cli(*args, *period, "--out", str(tmp_path / "x.csv"))
    assert got == code and message in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
