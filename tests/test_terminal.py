"""What the taiex command looks like in a terminal and through a pipe: help text, placeholders,
wrapping, tables, log times."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from taiex import console
from taiex.cli import app
from taiex.settings import Settings

runner = CliRunner()
WIDTH = 140


def _commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group under ``taiex`` (the root too), with its path of names."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


COMMANDS = [path for path, _ in _commands()]


def _help(path: list[str]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _description(help_text: str) -> list[str]:
    """The help's prose: its lines after the usage line, up to the first panel."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    return [line.strip() for line in lines[start:end]]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "taiex")
def test_help_reflows_paragraphs(path: list[str]) -> None:
    """A line of the help's prose ends early only at a paragraph's end: it is broken mid-sentence
    when the next line, in the same paragraph, starts with a word that would have fitted on it
    (the prose is WIDTH - 2 columns wide). An ``Example:`` line stays a line of its own, whole."""
    lines = _description(_help(path))
    room = WIDTH - 2
    for line, following in itertools.pairwise(lines):
        if not line or not following or following.startswith("Example:"):
            continue
        word = following.split()[0]
        assert len(line) + 1 + len(word) > room, f"broken mid-paragraph:\n{line}\n{following}"
    examples = [line for line in lines if line.startswith("Example:")]
    assert examples, f"`taiex {' '.join(path)} --help` has no example"
    for example in examples:
        assert example.startswith("Example: ") and "taiex " in example, example


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "taiex")
def test_every_placeholder_is_a_plain_metavar(path: list[str]) -> None:
    """DATE, PATH, MONTH..., never ``<bool>``, ``<%Y-%m-%d>``, ``<Path>``, ``{path}`` or
    ``<list[Path]>``; a flag shows none."""
    command = {tuple(p): c for p, c in _commands()}[tuple(path)]
    for param in command.params:
        takes_value = isinstance(param, typer.core.TyperArgument) or not (
            param.is_flag or param.count  # type: ignore[attr-defined]
        )
        if takes_value:
            assert param.metavar and re.fullmatch(r"[A-Z]+(-[A-Z]+)*(\.\.\.)?", param.metavar), (
                f"{path} {param.name}: {param.metavar!r}"
            )
    shown = _help(path)
    assert not re.search(r"<[^\s<>]+>|\{\w+\}|list\[", shown), shown


def test_piped_output_is_not_wrapped(env: Settings, tmp_path: Path) -> None:
    """Through a pipe (CliRunner's output is not a terminal), a line is printed whole: a long path
    is not broken, no line ends in spaces."""
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "export with spaces.csv"
    deep.parent.mkdir(parents=True)
    source = Path(__file__).parent / "data" / "taiex_daily.csv"
    assert runner.invoke(app, ["import-csv", str(source)]).exit_code == 0
    result = runner.invoke(app, ["export-csv", str(deep)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert f"to {deep}\n" in result.stdout
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_status_folds_values_instead_of_cutting_them(
    env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """At 80 columns the database's long path is folded onto more lines of its cell, whole."""
    home = tmp_path / ("a-rather-long-folder-name-" * 3) / "home"
    monkeypatch.setenv("TAIEX_HOME", str(home))
    result = runner.invoke(app, ["status"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout.split("next step")[0]
    cells = "".join(
        line.split("│")[2].strip() for line in result.stdout.splitlines() if line.count("│") == 3
    )
    assert str(home / "taiex.db") in cells


def test_simulate_compare_does_not_cut_headers(capsys: pytest.CaptureFixture[str]) -> None:
    from taiex.simulation.summary import Comparison

    names = ["a-simulation-with-a-long-folder-name", "another-simulation-named-at-length"]
    comparison = Comparison(names=names, rows=[("sMAPE ratio", ["0.98", "1.01"])])
    console.stdout.width = 60
    try:
        console.print_comparison(comparison)
    finally:
        console.stdout._width = None  # back to the terminal's (or COLUMNS) width
    shown = capsys.readouterr().out
    assert "…" not in shown
    header_lines = [line.split("┃")[1:-1] for line in shown.splitlines() if line.count("┃") == 4]
    headers = [
        "".join(cell.strip() for cell in column) for column in zip(*header_lines, strict=True)
    ]
    assert headers[1:] == names


def test_log_times_are_iso_and_taipei(capsys: pytest.CaptureFixture[str]) -> None:
    utc_midnight = dt.datetime(2026, 6, 12, 15, 50, 10, tzinfo=dt.UTC)
    assert console.log_time(utc_midnight.astimezone()).plain == "2026-06-12 23:50:10"
    console.configure_logging(logging.INFO)
    logging.getLogger("taiex.test").info("a line")
    err = capsys.readouterr().err
    assert re.match(r"\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ", err), err


def test_piped_log_lines_are_whole_and_end_in_no_space(capsys: pytest.CaptureFixture[str]) -> None:
    console.configure_logging(logging.INFO)
    long = "TWSE was slow for 2026-08 at /tmp/a/very/long/path/" + "x" * 120
    logging.getLogger("taiex.test").warning(long)
    logging.getLogger("taiex.test").warning("a second line")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].endswith(f"WARNING {long}")
    assert lines[1].endswith("WARNING a second line") and lines[1][:4].isdigit()
    assert all(line == line.rstrip() for line in lines)


def test_status_and_predict_give_the_same_advice_on_an_empty_home(env: Settings) -> None:
    status = runner.invoke(app, ["status"])
    predict = runner.invoke(app, ["predict"])
    assert status.exit_code == 0 and predict.exit_code == 1
    assert "run `taiex run`" in status.stdout
    assert "run `taiex run`" in predict.stderr and "backfill" not in predict.stderr


def test_delete_says_what_it_removed_once(env: Settings, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "date,open,high,low,close\n"
        "2024-11-28,100.00,101.00,99.00,100.50\n"
        "2024-11-29,100.00,101.00,99.00,100.50\n"
        "2024-12-02,100.00,101.00,99.00,100.50\n"
    )
    assert runner.invoke(app, ["import-csv", str(source)]).exit_code == 0
    one = runner.invoke(app, ["delete", "--from", "2024-12-02"])
    assert one.stdout == "deleted 1 day: 2024-12-02\n"
    two = runner.invoke(app, ["delete", "--from", "2024-11-28", "--to", "2024-11-30"])
    assert two.stdout == "deleted 2 days: 2024-11-28 … 2024-11-29\n"
    none = runner.invoke(app, ["delete", "--from", "2024-11-28"])
    assert none.stdout == "deleted nothing: no day stored in 2024-11-28\n"
