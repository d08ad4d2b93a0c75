"""Issue 23's "seen" items outside the report page: stale data said by `run` and `predict`, and
`run --as-of` storing no day after it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.calendar import sessions_between
from taiex.cli import app
from taiex.models.backtest import summarise
from taiex.settings import Settings
from taiex.store import Store
from tests.conftest import on_taipei_day
from tests.series import TINY_CONFIG
from tests.test_run import DAY1, DAY2, up_to
from tests.twse_server import TwseServer

runner = CliRunner()


@pytest.fixture
def tiny(env: Settings) -> Settings:
    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(TINY_CONFIG)
    return env


def invoke(day: dt.date, *args: str) -> Any:
    """``taiex ARGS`` with the real clock at noon of ``day`` in Taipei; exit code 0."""
    with on_taipei_day(day):
        result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.stderr + str(result.exception)
    return result


def test_run_as_of_stores_no_later_day_and_a_later_run_stores_them(
    tiny: Settings, twse: TwseServer
) -> None:
    # TWSE's December holds the days after the 13th: a run as of the 13th stores none of them.
    middle = dt.date(2024, 12, 13)
    twse.set_history(up_to(DAY2), today=DAY2)
    first = json.loads(invoke(middle, "run", "--json", "--as-of", str(middle)).stdout)
    store = Store.from_settings(tiny)
    assert store.summary()["last_date"] == middle
    assert first["data"]["last_date"] == str(middle)
    assert first["served"]["lstm"]["origin_date"] == str(middle)
    assert first["data_age"]["stale"] is False
    # A later load without --as-of stores the rest of the month.
    invoke(DAY2, "update")
    assert store.summary()["last_date"] == DAY2
    assert store.summary()["rows"] == len(up_to(DAY2))


def test_run_and_predict_say_the_data_is_stale(tiny: Settings, twse: TwseServer) -> None:
    twse.set_history(up_to(DAY1), today=DAY1)
    fresh = json.loads(invoke(DAY1, "run", "--json", "--as-of", str(DAY1)).stdout)
    assert fresh["data_age"] == {
        "last_stored": str(DAY1),
        "last_session": None,
        "sessions_behind": 0,
        "stale": False,
        "message": None,
    }
    # Weeks later TWSE still serves nothing after DAY1: the run says how far behind it is.
    later = dt.date(2025, 2, 10)
    twse.set_history(up_to(DAY1), today=later)
    missed = sessions_between(DAY1 + dt.timedelta(days=1), later - dt.timedelta(days=1))
    assert len(missed) > 10
    stale = json.loads(invoke(later, "run", "--json").stdout)["data_age"]
    assert stale["stale"] is True
    assert stale["sessions_behind"] == len(missed)
    assert stale["last_session"] == str(missed[-1])
    line = f"the last stored day is {DAY1}, {len(missed)} sessions behind"
    assert line in stale["message"]
    assert line in invoke(later, "run").stdout
    assert line in invoke(later, "predict").stdout
    predicted = json.loads(invoke(later, "predict", "--json").stdout)
    assert predicted["data_age"]["sessions_behind"] == len(missed)
    assert predicted["origin_date"] == str(DAY1)

    # --day after the last stored day: the forecast served is DAY1's, and it says so.
    asked = dt.date(2025, 1, 20)
    text = invoke(later, "predict", "--day", str(asked)).stdout
    assert f"the forecast served is the one from {DAY1}, the last stored day before {asked}" in (
        " ".join(text.split())
    )
    answer = json.loads(invoke(later, "predict", "--json", "--day", str(asked)).stdout)
    assert answer["origin_date"] == str(DAY1)
    assert answer["data_age"]["stale"] is True
    assert answer["data_age"]["last_stored"] == str(DAY1)
    # On or before the last stored day, nothing to say.
    same = json.loads(invoke(later, "predict", "--json", "--day", str(DAY1)).stdout)
    assert same["data_age"]["stale"] is False and same["data_age"]["message"] is None
    # The run served from DAY1: --day DAY1 shows that, its outcome pending; an earlier day,
    # from which nothing was served, gets the champions' answer now, and says so.
    assert same["day"] == str(DAY1) and "evening" in same["served"]
    assert same["served"]["evening"]["signal"]["status"] == "pending"
    earlier = up_to(DAY1)["date"].iloc[-10].date()
    text = " ".join(invoke(later, "predict", "--day", str(earlier)).stdout.split())
    assert (
        f"nothing was served from the data to {earlier} (served days: {DAY1} … {DAY1}): below, "
        f"what the champions say now from the data to {earlier}"
    ) in text
    answer = json.loads(invoke(later, "predict", "--json", "--day", str(earlier)).stdout)
    assert answer["origin_date"] == str(earlier) and answer["remark"].startswith("nothing was")


def test_the_backtest_plot_counts_the_pairs_of_the_table(
    tiny: Settings, twse: TwseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backtest lstm --to D`: the last origins' targets after D are in the CSV, but neither in
    the table nor in the plot (its headline counted them, its axis ran past D)."""
    import taiex.plots

    drawn: list[pd.DataFrame] = []
    original = taiex.plots.backtest_plot

    def spy(rows: pd.DataFrame, path: Path, title: str) -> Path:
        drawn.append(rows.copy())
        return original(rows, path, title)

    monkeypatch.setattr(taiex.plots, "backtest_plot", spy)
    twse.set_history(up_to(DAY2), today=DAY2)
    invoke(DAY2, "backfill", "--since", "2023-01")
    out = tmp_path / "bt.csv"
    end = dt.date(2024, 11, 29)
    args = ["--train-until", "2024-10-31", "--from", "2024-11-01", "--to", str(end)]
    invoke(DAY2, "backtest", "lstm", *args, "--out", str(out))
    rows = pd.read_csv(out, parse_dates=["target_date"])
    assert rows["target_date"].max().date() > end  # the CSV keeps the later targets
    table = summarise(rows, end)
    (plotted,) = drawn
    assert len(plotted) == table["n"].sum()
    assert pd.to_datetime(plotted["target_date"]).max().date() <= end
    assert f"over {table['n'].sum():,} pairs" in taiex.plots._pairs_subtitle(plotted)
