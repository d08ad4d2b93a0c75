"""`taiex run --round pre-open` end to end on the real index and the real US closes (issue 21):
the round it makes, the night it knows, what it stores and monitors, its reruns, its fallback."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.calendar import TAIPEI
from taiex.cli import app
from taiex.preopen_run import round_for
from taiex.settings import Settings
from taiex.store import Store
from taiex.store.testing import rows
from tests.series import TINY_CONFIG

runner = CliRunner()
DATA = Path(__file__).parent / "data"
US = pd.read_csv(DATA / "us_closes.csv", parse_dates=["date"])
SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")


def load(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, us: pd.DataFrame) -> Settings:
    """The real index 2019 … 2024 and the US closes ``us`` (also the source), loaded as a user
    loads them."""
    home.mkdir(parents=True)
    (home / "config.toml").write_text(TINY_CONFIG)
    index = pd.read_csv(DATA / "taiex_daily.csv")
    index = index[(index["date"] >= "2019-01-01") & (index["date"] <= "2024-12-31")]
    index.to_csv(tmp_path / "index.csv", index=False)
    invoke("import-csv", str(tmp_path / "index.csv"))
    source = tmp_path / "us.csv"
    us.assign(date=us["date"].dt.date).to_csv(source, index=False)
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", f"csv:{source}")
    invoke("overnight", "import-csv", str(source))
    return Settings.from_env()


@pytest.fixture
def stored(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return load(home, tmp_path, monkeypatch, US)


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.stdout + result.stderr + repr(result.exception)
    return result.stdout if code == 0 else result.stderr


def preopen(*args: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(invoke("run", "--round", "pre-open", "--json", *args))
    return summary


def table(settings: Settings, name: str) -> list[dict[str, Any]]:
    store = Store.from_settings(settings)
    try:
        return rows(store, name)
    finally:
        store.dispose()


def close(symbol: str, day: str) -> float:
    return float(US[(US["symbol"] == symbol) & (US["date"] == day)]["close"].iloc[0])


def test_the_round_knows_the_night_published_before_it_stores_its_round_and_reruns(
    stored: Settings,
) -> None:
    summary = preopen("--as-of", "2024-12-31")
    # As if today were 2024-12-31 at 07:30: the round of that session, from the close before.
    assert (summary["session"], summary["origin"]) == ("2024-12-31", "2024-12-30")
    assert summary["issued_at"] == "2024-12-31T07:30:00+08:00"
    night = summary["night"]
    # US 2024-12-30 closed at 05:00 Taipei on the 31st: known. Known at 13:30 on the 30th: the
    # 27th's close (the 30th's session had not opened).
    assert (night["base"], night["last"], night["sessions"]) == (
        "2024-12-27",
        "2024-12-30",
        ["2024-12-30"],
    )
    for symbol in SYMBOLS:
        expected = math.log(close(symbol, "2024-12-30") / close(symbol, "2024-12-27"))
        assert night["moves"][symbol] == pytest.approx(expected, rel=1e-4)  # rounded to 6 places
    assert summary["fallback"] is None
    served = summary["served"]["preopen-forecaster"]
    assert served["origin_date"] == "2024-12-30"
    assert served["dates"][:2] == ["2024-12-31", "2025-01-02"]
    forecasts = table(stored, "forecasts")
    evaluations = table(stored, "lstm_model_evaluate")
    assert {row["round"] for row in forecasts} == {"pre-open"}
    assert [row["forecast"] for row in forecasts] == pytest.approx(served["forecast"], abs=0.006)
    assert [row["round"] for row in evaluations] == ["pre-open"]
    assert summary["monitor"]["preopen-forecaster"]["metric"] is not None
    # A rerun for the same round changes nothing and answers the same.
    before = {t: table(stored, t) for t in ("forecasts", "lstm_model_evaluate", "model_versions")}
    again = preopen("--as-of", "2024-12-31")
    assert {t: table(stored, t) for t in before} == before
    assert (again["served"], again["night"]) == (summary["served"], summary["night"])


def test_a_close_not_published_yet_leaves_the_evening_answer_and_says_why(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The round of 2024-12-31 needs the US close of 2024-12-30: neither stored nor at the source.
    stored = load(home, tmp_path, monkeypatch, US[US["date"] < "2024-12-30"])
    summary = preopen("--as-of", "2024-12-31")
    assert "^GSPC" in summary["fallback"] and "2024-12-30" in summary["fallback"]
    assert summary["night"]["moves"]["^GSPC"] is None
    # The evening's answer stands: the evening kinds served from the same origin.
    evening = summary["served"]
    assert "preopen-forecaster" not in evening
    assert {part["origin_date"] for part in evening.values() if "origin_date" in part} == {
        "2024-12-30"
    }
    assert {row["round"] for row in table(stored, "forecasts")} == {"evening"}
    text = invoke("run", "--round", "pre-open", "--as-of", "2024-12-31")
    assert "the evening's answer stands" in text


def test_the_round_is_off_when_there_is_no_source(
    stored: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "none")
    message = invoke("run", "--round", "pre-open", "--as-of", "2024-12-31", code=1)
    assert message.startswith("error: ") and "pre-open round is off" in message
    assert message.count("\n") == 1


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (dt.datetime(2024, 12, 31, 7, 0, tzinfo=TAIPEI), dt.date(2024, 12, 31)),  # before the open
        (dt.datetime(2024, 12, 31, 9, 0, tzinfo=TAIPEI), dt.date(2025, 1, 2)),  # TAIEX is open
        (dt.datetime(2025, 1, 4, 8, 0, tzinfo=TAIPEI), dt.date(2025, 1, 6)),  # a Saturday
        (dt.datetime(2024, 2, 8, 8, 0, tzinfo=TAIPEI), dt.date(2024, 2, 15)),  # Lunar New Year
        (dt.datetime(2024, 12, 30, 23, 0, tzinfo=dt.UTC), dt.date(2024, 12, 31)),  # 07:00 Taipei
    ],
)
def test_a_live_round_is_todays_until_the_open(now: dt.datetime, session: dt.date) -> None:
    when = round_for(None, dt.time(7, 30), now)
    assert when.session == session
    assert when.issued_at == dt.datetime.combine(session, dt.time(7, 30), tzinfo=TAIPEI)


def test_as_of_a_day_without_a_session_is_the_next_sessions_round() -> None:
    assert round_for(dt.date(2024, 2, 10), dt.time(7, 30)).session == dt.date(2024, 2, 15)
    assert round_for(dt.date(2024, 12, 31), dt.time(8, 15)).issued_at.time() == dt.time(8, 15)


def test_a_healthy_pre_open_forecaster_is_refitted_on_its_schedule() -> None:
    """bench/preopen.py refits monthly; the served forecaster is refitted once its training end
    is more than ``refit_sessions`` sessions behind, however good its figures (the first
    champion, kept for 2018-2024 by its figures alone, served h1 0.691 against 0.639)."""
    from taiex.kinds import Decision, get
    from taiex.models.registry import ModelVersion
    from taiex.monitor import due_by_age

    spec = get("preopen-forecaster")
    assert spec.refit_sessions == 141  # the 120-day window, plus a month
    days = pd.bdate_range("2024-01-01", periods=200)
    history = pd.DataFrame({"date": days})
    healthy = Decision(False, "sMAPE 0.24 ≤ 100", "healthy")

    def champion(train_end: pd.Timestamp) -> ModelVersion:
        return ModelVersion(
            id=1,
            kind=spec.name,
            version=f"{spec.name}-v1",
            status="champion",
            train_start=dt.date(2016, 6, 27),
            train_end=train_end.date(),
            params={},
            metrics={},
            sha256="0" * 64,
            created_at=dt.datetime(2024, 1, 1),
        )

    assert due_by_age(spec, champion(days[-142]), history, healthy) == healthy  # 141 behind
    due = due_by_age(spec, champion(days[-143]), history, healthy)  # 142 behind
    assert due.retrain and due.code == "age" and "142 sessions ago" in due.reason
    # A kind without a schedule, and a decision that retrains already, are left as they are.
    assert due_by_age(get("lstm"), champion(days[0]), history, healthy) == healthy
    worse = Decision(True, "worse than naive", "baseline")
    assert due_by_age(spec, champion(days[0]), history, worse) == worse
