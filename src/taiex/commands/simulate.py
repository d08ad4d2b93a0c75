"""``taiex simulate``: replay the daily loop over past sessions, or compare finished replays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taiex import console
from taiex.commands.common import load_settings
from taiex.progress import SimulationProgress

if TYPE_CHECKING:
    from taiex.simulation.replay import Request


def simulate(
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            "--from", formats=["%Y-%m-%d"], help="First session replayed.", show_default=False
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], help="Last session replayed.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the tables, summary.json and index.html; a folder holding the same "
            "simulation is resumed where it stopped.",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="When to retrain: configured (the thresholds of the settings), never (the first "
            "models serve throughout) or every-N (every N sessions; promoted by the usual rule).",
        ),
    ] = "configured",
    fee: Annotated[
        float, typer.Option("--fee", help="The strategy's broker fee on each side, in percent.")
    ] = 0.1425,
    exit_tax: Annotated[
        float, typer.Option("--exit-tax", help="The strategy's tax on each exit, in percent.")
    ] = 0.1,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Print the summaries of the folders given side by side."),
    ] = False,
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Simulation folders (with --compare).", show_default=False),
    ] = None,
) -> None:
    """Replay the daily loop over past sessions and measure what it would have served.

    Every session from --from to --to is run as the daily job would have run that evening, with
    only the data stored up to that day, on a scratch database in --out (your database, models
    and report are not touched). Interrupted (Ctrl-C, or killed), the same command resumes.

    Example: taiex simulate --from 2020-01-01 --to 2021-12-31 --out sim-2020 --policy never
    Example: taiex simulate --compare sim-2020 sim-2020-never
    """
    if compare:
        from taiex.simulation.summary import compare_folders

        if not folders:
            raise typer.BadParameter(
                "--compare needs one or more simulation folders", param_hint="--compare"
            )
        console.print_comparison(compare_folders(folders))
        return
    if folders:
        raise typer.BadParameter("folders are given only with --compare", param_hint="FOLDERS")
    from taiex.simulation.replay import simulate as replay

    request = _simulation_request(start, end, out, policy, fee, exit_tax)
    assert out is not None
    progress = SimulationProgress()
    try:
        with progress:
            outcome = replay(load_settings(), out, request, progress)
    except KeyboardInterrupt:
        console.print_interrupted(progress.days_run, out)
        raise typer.Exit(130) from None
    console.print_simulation(outcome)


def _simulation_request(
    start: dt.datetime | None,
    end: dt.datetime | None,
    out: Path | None,
    policy: str,
    fee: float,
    exit_tax: float,
) -> Request:
    from taiex.errors import InputError
    from taiex.simulation.replay import Request
    from taiex.simulation.summary import Costs

    for value, option in ((start, "--from"), (end, "--to"), (out, "--out")):
        if value is None:
            raise typer.BadParameter(f"{option} is required (or --compare)", param_hint=option)
    assert start is not None and end is not None
    try:
        return Request(start.date(), end.date(), policy, Costs(fee, exit_tax))
    except InputError as exc:
        # The message starts with the option it is about.
        hint = next((o for o in ("--policy", "--fee", "--exit-tax") if o in str(exc)), "--to")
        raise typer.BadParameter(str(exc), param_hint=hint) from exc
