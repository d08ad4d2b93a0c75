"""`taiex schedule --print [--systemd]`: crontab lines and systemd units that parse."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from taiex.cli import app
from taiex.commands.schedule import taiex_path

runner = CliRunner()


def printed(*args: str) -> str:
    result = runner.invoke(app, ["schedule", "--print", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_crontab_lines_parse_and_name_this_taiex() -> None:
    lines = [line for line in printed().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "CRON_TZ=Asia/Taipei"
    jobs = [line.split(None, 5) for line in lines[1:]]
    assert [job[:5] for job in jobs] == [
        ["30", "15", "*", "*", "1-5"],
        ["30", "7", "*", "*", "1-5"],
    ]
    commands = [job[5] for job in jobs]
    assert commands == [f"{taiex_path()} run", f"{taiex_path()} run --round pre-open"]
    assert Path(taiex_path()).is_absolute()


def test_the_systemd_units_parse() -> None:
    text = printed("--systemd")
    calendars = re.findall(r"^OnCalendar=(.*)$", text, re.MULTILINE)
    assert calendars == ["Mon..Fri 15:30 Asia/Taipei", "Mon..Fri 07:30 Asia/Taipei"]
    assert re.findall(r"^ExecStart=(.*)$", text, re.MULTILINE) == [
        f"{taiex_path()} run",
        f"{taiex_path()} run --round pre-open",
    ]
    # Each unit: sections in brackets, then key=value lines.
    for line in text.splitlines():
        assert not line or line.startswith(("#", "[")) or re.fullmatch(r"[A-Za-z]+=\S.*", line)
    assert text.count("[Timer]") == 2 and text.count("[Service]") == 2


def test_without_print_nothing_is_installed() -> None:
    result = runner.invoke(app, ["schedule"])
    assert result.exit_code == 2 and "--print" in result.stderr
