"""The taiex command through Typer's CliRunner: output, exit codes, one-line errors."""

from __future__ import annotations

import datetime as dt
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
from tests.conftest import on_taipei_day
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
    with on_taipei_day(dt.date(2024, 11, 30)):
        code, _, err = run("backfill", "--since", "2024-10")
    assert code == 0, err
    asked = len(twse.requests)
    with on_taipei_day(dt.date(2024, 12, 20)):
        code, out, err = run("update")
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


@pytest.mark.parametrize("folders", [("a[", "b]"), ("[red]",), ("[bold]x[",)])
def test_paths_with_brackets_are_printed_as_they_are(
    env: Settings, tmp_path: Path, folders: tuple[str, ...]
) -> None:
    """A path like a[/b]/c.csv was read as Rich markup: the closing tag [/b] made export-csv end
    in a MarkupError traceback after writing its file, and [red] vanished from the output."""
    source = tmp_path.joinpath(*folders, "[i]in.csv")
    source.parent.mkdir(parents=True)
    source.write_text("date,open,high,low,close\n2024-01-02,100.00,110.00,90.00,95.50\n")
    assert run("import-csv", str(source))[0] == 0
    target = source.with_name("[i]out.csv")
    code, out, err = run("export-csv", str(target))
    assert (code, err) == (0, "")
    assert out.replace("\n", "") == f"wrote 1 rows to {target}"  # (wrapped at 80 columns)
    code, out, _ = run("status")
    assert code == 0 and "csv:[i]in.csv" in out


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
    """`taiex status` reads facts only: no plotting library, no torch or scikit-learn, no HTTP
    client (each is time at every start: BENCHMARKS.md, "Speed")."""
    code = (
        "import sys; from typer.testing import CliRunner; from taiex.cli import app; "
        "result = CliRunner().invoke(app, ['status']); "
        "assert result.exit_code == 0, result.output; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'torch', 'sklearn', 'matplotlib', 'skops', 'httpx'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_entry_point_keeps_exit_codes_and_output(env: Settings) -> None:
    """`taiex` ends its process without the interpreter's teardown (taiex.cli.leave): the whole
    output still reaches a pipe, a log line to stderr too, and each exit code stays."""

    def taiex(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from taiex.cli import main; main()", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    status = taiex("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["rows"] == 0  # all of it, flushed
    store = Store.from_settings(env)
    with store.lock("etl"):
        locked = taiex("backfill", "--since", "2024-12", "--as-of", "2024-12-31")
    assert locked.returncode == EXIT_LOCKED
    assert "already running" in locked.stderr
    misused = taiex("status", "--bogus")
    assert misused.returncode == 2
    assert misused.stderr.startswith("error: No such option: --bogus")
    assert taiex("--version").stdout.startswith("taiex ")


def test_status_flags_suspect_days_and_delete_removes_them(env: Settings, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "date,open,high,low,close\n"
        "2024-11-29,100.00,101.00,99.00,100.50\n"
        "2024-11-30,100.00,101.00,99.00,100.50\n"  # a Saturday XTAI does not list
        "2024-12-02,100.00,101.00,99.00,100.50\n"
    )
    with on_taipei_day(dt.date(2024, 12, 31)):
        assert run("import-csv", str(source))[0] == 0
        code, out, _ = run("status")
        assert code == 0 and "suspect days" in out and "2024-11-30" in out
        # What the calendar lacks is said, not left as a placeholder.
        assert "known TWSE" in out and "(Saturday sessions, ...)" not in out
        code, out, err = run("delete", "--from", "2024-11-30")
        assert code == 0, err
        assert "deleted 1 day: 2024-11-30" in out
        facts = json.loads(run("status", "--json")[1])
    assert facts["suspect_days"] == [] and facts["rows"] == 2
    assert facts["last_load"]["source"] == "delete 2024-11-30…2024-11-30"
    assert facts["last_load"]["rows"] == 1
    # The last load says what the delete did, not "0 new, 0 revised".
    assert facts["summary"]["last load"].endswith(
        "from delete 2024-11-30…2024-11-30: 1 day removed"
    )


def test_every_new_command_has_help_with_an_example() -> None:
    code, out, _ = run("delete", "--help")
    assert code == 0 and "Example: taiex delete" in out


def test_usage_error_classes_are_the_ones_typer_raises() -> None:
    """`taiex.cli.usage_error_classes` is the one reach into Typer's private copy of click (Typer
    exports neither class). When a Typer release moves or renames them, this fails, saying so."""
    import typer
    from typer.main import get_command

    from taiex.cli import usage_error_classes

    fix = (
        f"Typer {typer.__version__} no longer raises these classes: find the usage errors it "
        "raises now and return them from taiex.cli.usage_error_classes"
    )
    usage, no_args_is_help = usage_error_classes()
    assert issubclass(typer.BadParameter, usage) and issubclass(no_args_is_help, usage), fix

    tiny = typer.Typer(no_args_is_help=True)

    @tiny.command()
    def one(n: int) -> None:
        """A command with a number."""

    @tiny.command()
    def two() -> None:
        """Another command, so that the app is a group."""

    command = get_command(tiny)
    for args in (["one", "--n", "x"], ["nosuch"], ["one", "--what"]):
        with pytest.raises(Exception) as raised:
            command.main(args, prog_name="tiny", standalone_mode=False)
        assert isinstance(raised.value, usage), f"{fix} ({args}: {type(raised.value)})"
        assert not isinstance(raised.value, no_args_is_help), fix
    with pytest.raises(Exception) as raised:
        command.main([], prog_name="tiny", standalone_mode=False)
    assert isinstance(raised.value, no_args_is_help), f"{fix} (no arguments: {type(raised.value)})"


@pytest.mark.parametrize("args", [["backfill", "--since", "2024-1x"], ["nosuch"], ["db"]])
def test_usage_errors_are_one_line_with_exit_code_2(env: Settings, args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.rstrip().endswith(" --help`)")
    assert len(err.strip().splitlines()) == 1, err


def test_no_arguments_show_the_help() -> None:
    _, out, err = run()
    assert "Usage:" in out + err and "simulate" in out + err
    assert "error:" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "--day", "2024-02-30"],
        ["run", "--as-of", "garbage"],
        ["delete", "--from", "20241203"],
    ],
)
def test_a_bad_date_says_the_form_of_a_date(env: Settings, args: list[str]) -> None:
    """Not Typer's "Value error, ... does not match the formats '%Y-%m-%d'."."""
    code, _, err = run(*args)
    assert code == 2
    assert f"Invalid value for '{args[1]}': {args[2]!r} is not a date YYYY-MM-DD" in err
    assert "Value error" not in err and "%Y" not in err
