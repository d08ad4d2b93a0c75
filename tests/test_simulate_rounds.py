"""`taiex simulate` replays both rounds of each session (docs/design.md, "Two rounds a day"):
on the real index (tests/data/taiex_daily.csv, from mid-2021 to keep the first models cheap)
with the stored US closes of tests/data/us_closes.csv, tiny models and the `never` policy.

The main simulation replays 2024-03-04 … 2024-03-11 (6 sessions) and is shared; the others are
as short as what they test allows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from taiex.errors import InputError
from taiex.etl import import_csv
from taiex.overnight_load import import_overnight_csv
from taiex.settings import Settings
from taiex.simulation.records import DAYS, DECISIONS, FORECASTS, SIGNALS, VERSIONS, RunFolder
from taiex.simulation.replay import Request, simulate
from taiex.simulation.summary import Costs
from taiex.store import Store
from tests.series import REAL_DATA, TINY_CONFIG
from tests.test_simulate import table_text
from tests.test_simulation_summary import check_summary

SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")
START, END = dt.date(2024, 3, 4), dt.date(2024, 3, 11)
SESSIONS = [
    dt.date(2024, 3, 4),
    dt.date(2024, 3, 5),
    dt.date(2024, 3, 6),
    dt.date(2024, 3, 7),
    dt.date(2024, 3, 8),
    dt.date(2024, 3, 11),
]
DAY = dt.date(2024, 3, 6)  # the session whose pre-open answer the look-ahead tests watch


def real_history() -> pd.DataFrame:
    history = pd.read_csv(REAL_DATA / "taiex_daily.csv", parse_dates=["date"])
    keep = (history["date"] >= "2021-06-01") & (history["date"] <= "2024-06-28")
    return history[keep].reset_index(drop=True)


def us_closes() -> pd.DataFrame:
    return pd.read_csv(REAL_DATA / "us_closes.csv", parse_dates=["date"])


def make_home(root: Path, closes: pd.DataFrame | None) -> Path:
    """A TAIEX_HOME with tiny models, the real index and ``closes`` (none when None)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(TINY_CONFIG)
    history = root / "history.csv"
    real_history().to_csv(history, index=False, date_format="%Y-%m-%d")
    store = Store(f"sqlite:///{root / 'taiex.db'}")
    store.create_schema()
    import_csv(store, history)
    if closes is not None:
        path = root / "us.csv"
        closes.to_csv(path, index=False, date_format="%Y-%m-%d")
        import_overnight_csv(store, path, SYMBOLS, dt.date(2025, 1, 1), allow_large_moves=True)
    store.dispose()
    return root


def moved_from(day: dt.date) -> pd.DataFrame:
    """The US closes with every close dated ``day`` or later 10 % higher."""
    closes = us_closes()
    later = closes["date"].dt.date >= day
    closes.loc[later, "close"] = (closes.loc[later, "close"] * 1.1).round(4)
    return closes


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"TAIEX_HOME": str(home)})


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rounds")
    return {"user": make_home(root / "user", us_closes()), "runs": root / "runs"}


@pytest.fixture(scope="module")
def both(homes: dict[str, Path]) -> RunFolder:
    out = homes["runs"] / "both"
    simulate(settings_for(homes["user"]), out, Request(START, END, "never"))
    return RunFolder(out)


def _rows(folder: RunFolder, table: object, round_name: str) -> pd.DataFrame:
    frame = folder.read(table)  # type: ignore[arg-type]
    return frame[frame["round"] == round_name]


def test_each_session_replays_its_pre_open_round_then_its_evening(both: RunFolder) -> None:
    days = both.read(DAYS)
    assert list(zip(days["date"].dt.date, days["round"], strict=True)) == [
        (day, name) for day in SESSIONS for name in ("pre-open", "evening")
    ]
    assert (days["fallback"] == "").all()  # every close the nights needed is stored
    # The pre-open round of each session starts from the stored day before it; its first target
    # is that session, whose open it forecasts with the night's US moves.
    preopen = _rows(both, FORECASTS, "pre-open")
    origins = [dt.date(2024, 3, 1), *SESSIONS[:-1]]
    assert sorted(set(preopen["origin_date"].dt.date)) == origins
    h1 = preopen[preopen["horizon"] == 1]
    assert h1["target_date"].dt.date.tolist() == SESSIONS
    assert set(preopen["model_version"]) == {"preopen-forecaster-v1"}
    assert (h1["actual"].notna()).all()  # every pre-open round's session is replayed
    evening = _rows(both, FORECASTS, "evening")
    assert sorted(set(evening["origin_date"].dt.date)) == SESSIONS
    assert set(evening["model_version"]) == {"lstm-v1"}
    # The same origin, two rounds: the same naive (the origin's close), other forecasts.
    pairs = preopen.merge(evening, on=["origin_date", "horizon"], suffixes=("_pre", "_eve"))
    assert len(pairs) == 5 * 5
    assert (pairs["naive_pre"] == pairs["naive_eve"]).all()
    assert (pairs["forecast_pre"] != pairs["forecast_eve"]).any()
    # Each round's signal is its own kind's, for the same session.
    signals = both.read(SIGNALS)
    assert set(signals["round"]) == {"evening", "pre-open"}
    assert set(signals[signals["round"] == "pre-open"]["model_version"]) == {
        "preopen-classifier-v1"
    }
    decisions = both.read(DECISIONS)
    assert decisions.groupby("round")["kind"].apply(set).to_dict() == {
        "evening": {"lstm", "classifier"},
        "pre-open": {"preopen-forecaster", "preopen-classifier"},
    }
    versions = both.read(VERSIONS)
    assert dict(zip(versions["version"], versions["round"], strict=True)) == {
        "preopen-forecaster-v1": "pre-open",
        "preopen-classifier-v1": "pre-open",
        "lstm-v1": "evening",
        "classifier-v1": "evening",
    }


def test_the_summary_gives_each_round_beside_its_baselines(both: RunFolder) -> None:
    summary = json.loads((both.path / "summary.json").read_text())
    check_summary(both, summary, Costs())
    assert summary["rounds"] == ["evening", "pre-open"] and summary["preopen_off"] is None
    assert summary["days"] == 6
    assert summary["settings"]["overnight_symbols"] == list(SYMBOLS)
    assert summary["settings"]["preopen_time"] == "07:30"
    preopen = summary["by_round"]["pre-open"]
    assert preopen["rounds"] == 6 and preopen["fallbacks"] == 0
    h1 = preopen["forecast"]["horizons"][0]
    assert h1["n"] == 6 and h1["naive_smape"] > 0 and h1["ratio_naive"] is not None
    # Each pre-open signal's session is replayed: six labelled days, as the evening's count.
    assert preopen["signal"]["n"] == 6
    assert summary["by_round"]["evening"]["forecast"]["horizons"][0]["n"] == 5
    assert summary["loop"]["kinds"]["preopen-forecaster"]["round"] == "pre-open"
    html = (both.path / "index.html").read_text()
    assert 'data-round="pre-open"' in html and 'data-round="evening"' in html


def test_a_us_close_of_the_night_after_changes_nothing_of_the_round(
    homes: dict[str, Path], both: RunFolder
) -> None:
    """The US session dated ``DAY`` closes at 05:00 Taipei on the next day, after the pre-open
    round of ``DAY`` (07:30 on ``DAY``): closes dated ``DAY`` or later, all different, change
    nothing the simulation served up to ``DAY``. Those dated the day before change the round of
    ``DAY`` (its night), and nothing before it: the test can fail."""
    settings = settings_for(make_home(homes["runs"] / "after-home", moved_from(DAY)))
    after = RunFolder(homes["runs"] / "after")
    simulate(settings, after.path, Request(START, DAY, "never"))

    for table in (FORECASTS, DECISIONS, VERSIONS):
        mine = [_served(line) for line in table_text(both, table) if _served_by(line, DAY)]
        theirs = [_served(line) for line in table_text(after, table) if _served_by(line, DAY)]
        assert mine == theirs and mine, table.file

    changed = moved_from(DAY - dt.timedelta(days=1))
    settings = settings_for(make_home(homes["runs"] / "before-home", changed))
    before = RunFolder(homes["runs"] / "before")
    simulate(settings, before.path, Request(START, DAY, "never"))
    mine, theirs = _rows(both, FORECASTS, "pre-open"), _rows(before, FORECASTS, "pre-open")
    origin = pd.Timestamp(SESSIONS[SESSIONS.index(DAY) - 1])
    earlier = mine["origin_date"] < origin
    assert (
        mine[earlier]["forecast"].tolist()
        == theirs[theirs["origin_date"] < origin]["forecast"].tolist()
    )
    assert (
        mine[mine["origin_date"] == origin]["forecast"].tolist()
        != theirs[theirs["origin_date"] == origin]["forecast"].tolist()
    )
    # The evening round reads no US close.
    evening = "round=evening,"
    assert [line for line in table_text(before, SIGNALS) if line.startswith(evening)] == [
        line for line in table_text(after, SIGNALS) if line.startswith(evening)
    ]


def _served(line: str) -> str:
    """A table line without its outcome (an actual open is filled in at the end, from the days
    the simulation covers)."""
    return ",".join(part for part in line.split(",") if not part.startswith("actual="))


def _served_by(line: str, day: dt.date) -> bool:
    """Whether a table line (``table_text``) was written by a round of a session up to ``day``:
    a pre-open forecast's origin is the session before its round's."""
    fields = dict(part.split("=", 1) for part in line.split(","))
    written = fields.get("trained_on_day") or fields.get("date") or fields["origin_date"]
    if "origin_date" in fields and fields["round"] == "pre-open":
        return written < str(day)
    return written <= str(day)


def test_a_stop_between_the_tables_and_the_commit_resumes_to_the_same_tables(
    homes: dict[str, Path], both: RunFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after a session's rows reached the tables but before its commit, the resumed run
    drops them, the pre-open rows from the session before included, and redoes the session."""
    from taiex.simulation.scratch import ScratchDatabase

    commit = ScratchDatabase.commit
    calls = {"n": 0}

    def stop_at_the_third(self: ScratchDatabase) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        commit(self)

    out = homes["runs"] / "stopped"
    settings = settings_for(homes["user"])
    monkeypatch.setattr(ScratchDatabase, "commit", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        simulate(settings, out, Request(START, END, "never"))
    folder = RunFolder(out)
    assert SESSIONS[2] in set(_rows(folder, DAYS, "pre-open")["date"].dt.date)
    monkeypatch.setattr(ScratchDatabase, "commit", commit)
    resumed = simulate(settings, out, Request(START, END, "never"))
    assert resumed.days_run == 4
    for table in (FORECASTS, SIGNALS, DECISIONS, VERSIONS, DAYS):
        assert table_text(folder, table) == table_text(both, table), table.file
    # Another round set is another simulation: the folder is refused, not mixed.
    off = settings.replace(overnight_source="none")
    with pytest.raises(InputError, match="rounds"):
        simulate(off, out, Request(START, END, "never"))
