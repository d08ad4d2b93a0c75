"""`taiex simulate` on a small generated history with tiny models: the real pipeline replayed.

The history has 520 sessions; the simulations replay its last 25 (the first models train on the
days before, as `taiex run` would). Each simulation runs once per module and is shared.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.cli import app
from taiex.etl import import_csv
from taiex.settings import Settings
from taiex.simulation.records import DAYS, DECISIONS, FORECASTS, SIGNALS, VERSIONS, RunFolder
from taiex.simulation.replay import Request, simulate
from taiex.simulation.summary import Costs
from taiex.store import Store
from tests.series import TINY_CONFIG, synthetic_history
from tests.test_simulation_summary import check_summary

runner = CliRunner()
HISTORY = synthetic_history(n=520, start="2022-01-03", seed=5)
DATES = [d.date() for d in HISTORY["date"]]
START, END = DATES[-25], DATES[-1]
CHANGED_AFTER = DATES[-12]  # the second history differs from the day after this one on
# Columns that measure this machine (seconds) rather than what the loop served.
TIMING = {"seconds", "cpu_seconds"}


def make_home(root: Path, history: pd.DataFrame) -> Path:
    """A user's TAIEX_HOME with tiny models configured and ``history`` stored."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(TINY_CONFIG)
    path = root / "history.csv"
    history.to_csv(path, index=False, float_format="%.2f", date_format="%Y-%m-%d")
    store = Store(f"sqlite:///{root / 'taiex.db'}")
    store.create_schema()
    import_csv(store, path)
    store.dispose()
    return root


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"TAIEX_HOME": str(home)})


def changed_future(history: pd.DataFrame, after: dt.date) -> pd.DataFrame:
    """The same history up to ``after``, then another path: 8 % higher and noisier."""
    changed = history.copy()
    later = changed["date"].dt.date > after
    scale = 1.08 + 0.02 * pd.Series(range(later.sum())).mod(3).to_numpy()
    for column in ("open", "high", "low", "close"):
        changed.loc[later, column] = (changed.loc[later, column] * scale).round(2)
    return changed


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("simulate")
    return {
        "user": make_home(root / "user", HISTORY),
        "changed": make_home(root / "changed", changed_future(HISTORY, CHANGED_AFTER)),
        "runs": root / "runs",
    }


@pytest.fixture(scope="module")
def every5(homes: dict[str, Path]) -> RunFolder:
    """Retraining every 5 sessions: challengers, promotions or rejections, several versions."""
    out = homes["runs"] / "every5"
    simulate(settings_for(homes["user"]), out, Request(START, END, "every-5"))
    return RunFolder(out)


def table_text(folder: RunFolder, table: object, keep: object = None) -> list[str]:
    """A table's lines without its timing columns, optionally only the rows ``keep`` accepts."""
    with folder.file(table).open(newline="") as handle:  # type: ignore[arg-type]
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        if keep is None or keep(row):  # type: ignore[operator]
            out.append(",".join(f"{k}={v}" for k, v in row.items() if k not in TIMING))
    return out


# ---------------------------------------------------------------- what it writes


def test_every_session_is_served_and_judged(every5: RunFolder) -> None:
    sessions = DATES[-25:]
    forecasts = every5.read(FORECASTS)
    assert sorted(set(forecasts["origin_date"].dt.date)) == sessions
    assert (forecasts.groupby("origin_date").size() == 5).all()
    signals = every5.read(SIGNALS)
    assert signals["date"].dt.date.tolist() == sessions
    decisions = every5.read(DECISIONS)
    assert len(decisions) == 2 * len(sessions)
    assert every5.read(DAYS)["date"].dt.date.tolist() == sessions
    # every-5: both kinds are retrained on sessions 5, 10, ..., 25 and only then.
    retrained = decisions[decisions["retrain"] == 1]
    assert sorted(set(retrained["date"].dt.date)) == sessions[4::5]
    versions = every5.read(VERSIONS)
    assert (versions["trained_on_day"].dt.date >= START).all()
    assert len(versions) > 2  # the first two models and at least one challenger
    # The actual open is filled in where it is known: all but the targets after the last day.
    assert forecasts["actual"].isna().sum() == 1 + 2 + 3 + 4 + 5
    assert signals["label"].isna().sum() == 1
    summary = json.loads((every5.path / "summary.json").read_text())
    assert summary["policy"] == "every-5"
    assert summary["period"] == {"first": str(START), "last": str(END)}
    assert (every5.path / "index.html").stat().st_size > 10_000
    # No US close is stored: the evening round only, and the summary and the page say why.
    assert summary["rounds"] == ["evening"] and list(summary["by_round"]) == ["evening"]
    assert summary["preopen_off"].startswith("no US close of ^GSPC, ^IXIC, ^SOX, TSM is stored")
    for table in (FORECASTS, SIGNALS, DECISIONS, VERSIONS, DAYS):
        assert set(every5.read(table)["round"]) == {"evening"}, table.file
    assert (
        "Only the evening round was replayed: no US close"
        in (every5.path / "index.html").read_text()
    )


def test_each_served_row_came_from_a_model_trained_before_its_day(every5: RunFolder) -> None:
    versions = every5.read(VERSIONS).set_index("version")
    forecasts = every5.read(FORECASTS)
    signals = every5.read(SIGNALS)
    served = [(r.model_version, r.origin_date) for r in forecasts.itertuples()]
    served += [(r.model_version, r.date) for r in signals.itertuples()]
    assert len({v for v, _ in served}) >= 2
    for version, day in served:
        assert versions.loc[version, "train_end"] < day, (version, day)
        assert versions.loc[version, "trained_on_day"] <= day


def test_summary_equals_a_recomputation_from_the_tables(every5: RunFolder) -> None:
    summary = json.loads((every5.path / "summary.json").read_text())
    check_summary(every5, summary, Costs())
    assert summary["days"] == 25


def test_nothing_served_depends_on_a_later_day(homes: dict[str, Path], every5: RunFolder) -> None:
    """The same simulation on a history whose days after D differ: up to D, the same bytes."""
    out = homes["runs"] / "changed"
    simulate(settings_for(homes["changed"]), out, Request(START, END, "every-5"))
    changed = RunFolder(out)
    day = str(CHANGED_AFTER)

    def served_by(row: dict[str, str]) -> bool:
        return (row.get("origin_date") or row.get("date") or row["trained_on_day"]) <= day

    for table in (FORECASTS, SIGNALS, DECISIONS, VERSIONS, DAYS):
        mine, theirs = table_text(every5, table, served_by), table_text(changed, table, served_by)
        if table in (FORECASTS, SIGNALS):  # outcomes come later: compare what was served
            mine, theirs = _without_outcomes(mine, day), _without_outcomes(theirs, day)
        assert mine == theirs, table.file
        assert mine, table.file
    # ... and the changed days did change what came after (the test can fail).
    after = table_text(changed, FORECASTS, lambda r: r["origin_date"] > day)
    assert after != table_text(every5, FORECASTS, lambda r: r["origin_date"] > day)


def _without_outcomes(lines: list[str], day: str) -> list[str]:
    """Each line with its actual/label dropped when that outcome lies after ``day``."""
    kept = []
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split(","))
        outcome_day = fields.get("target_date") or _next_session(fields["date"])
        if outcome_day > day:
            fields.pop("actual", None)
            fields.pop("label", None)
        kept.append(",".join(f"{k}={v}" for k, v in fields.items()))
    return kept


def _next_session(day: str) -> str:
    return str(DATES[DATES.index(dt.date.fromisoformat(day)) + 1])


def test_policies_never_and_configured(homes: dict[str, Path]) -> None:
    never = RunFolder(homes["runs"] / "never")
    simulate(settings_for(homes["user"]), never.path, Request(DATES[-8], END, "never"))
    versions = never.read(VERSIONS)
    assert sorted(versions["version"]) == ["classifier-v1", "lstm-v1"]
    decisions = never.read(DECISIONS)
    assert decisions["retrain"].sum() == 0
    assert set(never.read(FORECASTS)["model_version"]) == {"lstm-v1"}
    # Configured thresholds that every champion breaks: each evening asks for a retrain.
    settings = settings_for(homes["user"]).replace(
        lstm_smape_max=0.0, classifier_auc_min=1.0, classifier_trivial_margin=-1.0
    )
    strict = RunFolder(homes["runs"] / "strict")
    simulate(settings, strict.path, Request(DATES[-6], END, "configured"))
    judged = strict.read(DECISIONS).dropna(subset=["metric"])
    assert len(judged) and (judged["retrain"] == 1).all()
    assert set(judged["reason"].str.contains("TAIEX_")) == {True}


def test_the_users_database_and_home_are_untouched(homes: dict[str, Path]) -> None:
    user = homes["user"]
    before = _digest(user / "taiex.db")
    listing = sorted(p.name for p in user.iterdir())
    simulate(settings_for(user), homes["runs"] / "untouched", Request(DATES[-3], END, "never"))
    assert _digest(user / "taiex.db") == before
    assert sorted(p.name for p in user.iterdir()) == listing  # no report, plots or models


def test_the_overnight_source_none_replays_the_evening_only(homes: dict[str, Path]) -> None:
    settings = settings_for(homes["user"]).replace(overnight_source="none")
    out = simulate(settings, homes["runs"] / "none", Request(DATES[-2], END, "never"))
    assert out.summary["rounds"] == ["evening"]
    assert out.summary["preopen_off"] == "TAIEX_OVERNIGHT_SOURCE=none: the pre-open round is off"
    days = RunFolder(out.folder).read(DAYS)
    assert days["round"].tolist() == ["evening", "evening"]
    assert "preopen-forecaster" not in out.summary["thresholds"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- resuming


def _cli(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
    env["TAIEX_HOME"] = str(home)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "taiex.cli", "simulate", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_days(folder: RunFolder, days: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        path = folder.file(DAYS)
        if path.exists() and len(path.read_text().splitlines()) > days:
            return
        if process.poll() is not None:
            pytest.fail(f"the simulation ended early: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    pytest.fail("the simulation made no progress")


def test_killed_or_interrupted_it_resumes_to_the_same_tables(
    homes: dict[str, Path], every5: RunFolder
) -> None:
    out = homes["runs"] / "resumed"
    folder = RunFolder(out)
    args = ("--from", str(START), "--to", str(END), "--out", str(out), "--policy", "every-5")
    first = _cli(homes["user"], *args)
    _wait_for_days(folder, 4, first)
    first.send_signal(signal.SIGKILL)  # no chance to clean up: mid-day, mid-write maybe
    first.wait()
    second = _cli(homes["user"], *args)
    _wait_for_days(folder, 12, second)
    second.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = second.communicate(timeout=120)
    assert second.returncode == 130, err
    assert "resume" in err
    third = _cli(homes["user"], *args)
    out_text, err = third.communicate(timeout=600)
    assert third.returncode == 0, err
    assert "already done" in out_text
    for table in (FORECASTS, SIGNALS, DECISIONS, VERSIONS, DAYS):
        assert table_text(folder, table) == table_text(every5, table), table.file
    summary = json.loads((out / "summary.json").read_text())
    expected = json.loads((every5.path / "summary.json").read_text())
    for name, figures in expected["by_round"].items():
        for key in ("forecast", "signal", "strategy"):
            assert summary["by_round"][name][key] == figures[key]


# ---------------------------------------------------------------- the command


def _never(homes: dict[str, Path]) -> Path:
    never = homes["runs"] / "never"
    if not (never / "summary.json").exists():
        simulate(settings_for(homes["user"]), never, Request(DATES[-8], END, "never"))
    return never


def test_cli_compare_prints_the_runs_side_by_side(
    homes: dict[str, Path], every5: RunFolder
) -> None:
    never = _never(homes)
    result = runner.invoke(app, ["simulate", "compare", str(every5.path), str(never)])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "every-5" in text and "never" in text
    assert "sMAPE h1" in text and "buy-and-hold" in text
    assert result.stderr == ""


def test_cli_the_old_compare_form_still_works_with_a_note(
    homes: dict[str, Path], every5: RunFolder
) -> None:
    """`taiex simulate --compare DIR…` (before the subcommand) works for one more release: the
    same table, and one line on stderr naming the new form."""
    folders = [str(every5.path), str(_never(homes))]
    new = runner.invoke(app, ["simulate", "compare", *folders])
    old = runner.invoke(app, ["simulate", "--compare", *folders])
    assert old.exit_code == 0, old.stderr
    assert old.stdout == new.stdout
    lines = old.stderr.strip().splitlines()
    assert len(lines) == 1, old.stderr
    assert "simulate --compare DIR…` is deprecated" in lines[0]
    assert "use `" in lines[0] and lines[0].endswith(" simulate compare DIR…`")


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        (None, "no summary (is "),
        ("{not json", "cannot be read"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_cli_compare_refuses_a_folder_without_a_summary(
    tmp_path: Path, summary: str | None, message: str
) -> None:
    if summary is not None:
        (tmp_path / "summary.json").write_text(summary)
    result = runner.invoke(app, ["simulate", "compare", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2023-01-10", "--to", "2023-01-02", "--out", "x"], "before --from"),
        (
            ["--from", "2023-01-02", "--to", "2023-02-01", "--out", "x", "--policy", "often"],
            "every-N",
        ),
        (["--from", "2023-01-02", "--to", "2023-02-01"], "--out"),
        (["--compare"], "--compare"),
        (["compare"], "Missing argument 'DIR...'"),
        (["--from", "2023-01-02", "compare", "x"], "--from is an option of the replay"),
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(
    ("policy", "setting", "named"),
    [("never", {}, "policy"), ("every-5", {"TAIEX_LSTM_DM_T_MAX": "1.5"}, "settings")],
)
def test_cli_refuses_a_folder_of_another_simulation(
    homes: dict[str, Path], every5: RunFolder, policy: str, setting: dict[str, str], named: str
) -> None:
    """Another policy, or another retrain rule (here the LSTM's Diebold-Mariano bound), is
    another simulation: resuming the folder with it would mix two."""
    env = {"TAIEX_HOME": str(homes["user"]), **setting}
    args = ["--from", str(START), "--to", str(END), "--out", str(every5.path), "--policy", policy]
    result = runner.invoke(app, ["simulate", *args], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_says_when_no_day_is_stored_in_the_range(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    env = {"TAIEX_HOME": str(homes["user"])}
    args = ["--from", "2030-01-01", "--to", "2030-02-01", "--out", str(tmp_path / "x")]
    result = runner.invoke(app, ["simulate", *args], env=env)
    assert result.exit_code == 1
    assert "no stored trading day between 2030-01-01 and 2030-02-01" in result.stderr


def test_a_finished_simulation_is_extended_not_shortened(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    from taiex.errors import InputError

    out = tmp_path / "extended"
    settings = settings_for(homes["user"])
    simulate(settings, out, Request(DATES[-4], DATES[-3], "never"))
    extended = simulate(settings, out, Request(DATES[-4], END, "never"))
    assert extended.days_run == 2 and extended.summary["days"] == 4
    assert RunFolder(out).read(DAYS)["date"].dt.date.tolist() == DATES[-4:]
    with pytest.raises(InputError, match="holds sessions up to"):
        simulate(settings, out, Request(DATES[-4], DATES[-2], "never"))


def test_cli_with_no_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    args = ["--from", "2023-01-02", "--to", "2023-02-01", "--out", str(tmp_path / "x")]
    result = runner.invoke(app, ["simulate", *args], env={"TAIEX_HOME": str(home)})
    assert result.exit_code == 1
    assert f"no database at {home / 'taiex.db'}" in result.stderr
    assert not home.exists()
