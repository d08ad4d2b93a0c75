"""``taiex schedule --print``: the crontab lines, or the systemd units, that run both rounds on
one machine without Airflow (the evening at 15:30, the pre-open round at 07:30 Taipei, Mon-Fri)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

TZ = "Asia/Taipei"
# (name, time of day, the options of `taiex run`)
ROUNDS = (("evening", "15:30", ()), ("preopen", "07:30", ("--round", "pre-open")))


def taiex_path() -> str:
    """This installation's absolute ``taiex``: beside the running Python, else on PATH."""
    beside = Path(sys.executable).parent / "taiex"
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("taiex")
    return str(Path(found).absolute()) if found else str(beside.absolute())


def crontab(taiex: str) -> str:
    lines = [f"CRON_TZ={TZ}", "# m h dom mon dow  command"]
    for name, at, options in ROUNDS:
        hour, minute = at.split(":")
        command = shlex.join([taiex, "run", *options])
        lines.append(f"# taiex, the {name} round")
        lines.append(f"{int(minute)} {int(hour)} * * 1-5 {command}")
    return "\n".join(lines) + "\n"


def systemd(taiex: str) -> str:
    parts = []
    for name, at, options in ROUNDS:
        command = shlex.join([taiex, "run", *options])
        parts.append(
            f"# ~/.config/systemd/user/taiex-{name}.service\n"
            "[Unit]\n"
            f"Description=taiex {name} round\n\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"ExecStart={command}\n"
        )
        parts.append(
            f"# ~/.config/systemd/user/taiex-{name}.timer\n"
            "[Unit]\n"
            f"Description=taiex {name} round, Mon-Fri {at} {TZ}\n\n"
            "[Timer]\n"
            f"OnCalendar=Mon..Fri {at} {TZ}\n"
            "Persistent=true\n\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        )
    parts.append(
        "# then: systemctl --user daemon-reload && "
        "systemctl --user enable --now taiex-evening.timer taiex-preopen.timer\n"
    )
    return "\n".join(parts)


def schedule(
    print_it: Annotated[
        bool, typer.Option("--print", help="Print the schedule (nothing is installed).")
    ] = False,
    use_systemd: Annotated[
        bool, typer.Option("--systemd", help="systemd service and timer units, not crontab lines.")
    ] = False,
) -> None:
    """A local schedule for both rounds without Airflow: the evening at 15:30, the pre-open
    round at 07:30 Taipei, Monday to Friday, with this installation's taiex.

    Example: taiex schedule --print >> my-crontab; taiex schedule --print --systemd
    """
    if not print_it:
        raise typer.BadParameter("nothing is installed for you: add --print", param_hint="--print")
    taiex = taiex_path()
    # Plain text, never wrapped to the terminal's width: it is pasted into files.
    typer.echo(systemd(taiex) if use_systemd else crontab(taiex), nl=False)
