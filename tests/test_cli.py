"""The taiex command through Typer's CliRunner: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from taiex.cli import EXIT_LOCKED, app
from taiex.settings import Settings
from taiex.store import Store
from tests.twse_server import TwseServer

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_backfill_then_status(env: Settings, history: pd.DataFrame) -> None:
    code, out, err = run("backfill", "--since", "2023-11", "--as-of", "2024-12-31")
    assert code == 0, err
    assert f"14 months (14 from TWSE, 0 from the cache): {len(history)} new days, 0 revised" in out
    assert "14/14 months" in err  # the progress bar goes to stderr
    code, out, _ = run("status", "--json")
    facts = json.loads(out)
    assert (facts["rows"], facts["first_date"], facts["last_date"]) == (
        len(history),
        "2023-11-01",
        "2024-12-31",
    )
    assert facts["last_load"]["month"] == "2024-12"


def test_update_loads_from_the_last_stored_month(env: Settings, twse: TwseServer) -> None:
    code, _, err = run("backfill", "--since", "2024-10", "--as-of", "2024-11-30")
    assert code == 0, err
    asked = len(twse.requests)
    code, out, err = run("update", "--as-of", "2024-12-20")
    assert code == 0, err
    assert twse.months_asked()[asked:] == ["2024-11", "2024-12"]
    assert "2 months (2 from TWSE, 0 from the cache)" in out


def test_expected_failure_is_one_line_without_traceback(env: Settings, twse: TwseServer) -> None:
    twse.inject("2024-12", *["500"] * 10)
    code, _out, err = run("backfill", "--since", "2024-12", "--as-of", "2024-12-31")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "month 2024-12" in lines[0] and twse.url in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(env: Settings, twse: TwseServer) -> None:
    twse.inject("2024-12", *["500"] * 10)
    result = runner.invoke(
        app, ["--debug", "backfill", "--since", "2024-12", "--as-of", "2024-12-31"]
    )
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "FetchError"


def test_bad_month_option_is_a_usage_error(env: Settings) -> None:
    code, _, err = run("backfill", "--since", "2024-1x")
    assert code == 2
    assert "not a month" in err


def test_a_month_before_1999_is_refused(env: Settings) -> None:
    code, _, err = run("backfill", "--since", "1998-12", "--as-of", "2024-12-31")
    assert code == 1
    assert "before 1999-01" in err


def test_locked_database_exits_75(env: Settings) -> None:
    store = Store.from_settings(env)
    with store.lock("etl"):
        code, _, err = run("backfill", "--since", "2024-12", "--as-of", "2024-12-31")
    assert code == EXIT_LOCKED
    assert "already running" in err


def test_import_and_export(env: Settings, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("date,open,high,low,close\n2024-01-02,100.00,110.00,90.00,95.50\n")
    code, out, _ = run("import-csv", str(source))
    assert code == 0 and "1 new" in out
    code, _, err = run("import-csv", str(tmp_path / "missing.csv"))
    assert code == 1 and "missing.csv: cannot read" in err
    target = tmp_path / "out.csv"
    code, out, _ = run("export-csv", str(target))
    assert code == 0 and target.read_text() == source.read_text()


def test_bad_setting_is_one_line(env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAIEX_TWSE_RETRIES", "many")
    code, _, err = run("status")
    assert code == 1
    assert "TAIEX_TWSE_RETRIES='many' is not a valid value" in err


def test_every_command_has_help_with_an_example() -> None:
    for command in ("backfill", "update", "import-csv", "export-csv", "status"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "Example: taiex" in out, command


def test_status_imports_neither_matplotlib_nor_model_code(env: Settings) -> None:
    """`taiex status` reads facts only: no plotting library, no torch or scikit-learn."""
    code = (
        "import sys; from typer.testing import CliRunner; from taiex.cli import app; "
        "result = CliRunner().invoke(app, ['status']); "
        "assert result.exit_code == 0, result.output; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'torch', 'sklearn', 'matplotlib', 'skops'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
