"""``taiex simulate``: replay both rounds of the daily loop over past sessions (``taiex simulate
--from … --to … --out DIR``), and compare finished replays round by round (``taiex simulate
compare DIR…``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import typer.core

from taiex import console
from taiex.commands.common import load_settings
from taiex.progress import SimulationProgress

if TYPE_CHECKING:
    from taiex.simulation.replay import Request


class _SimulateGroup(typer.core.TyperGroup):
    """``taiex simulate`` replays; ``taiex simulate compare DIR…`` compares finished replays.

    The form before the subcommand, ``taiex simulate --compare DIR…``, still works for this
    release: it is read as ``compare DIR…``, with a note on stderr.
    """

    # TyperGroup types the context with its private click copy's class (as in taiex.cli).
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        options = args[: args.index("--")] if "--" in args else args
        if "--compare" in options:
            at = options.index("--compare")
            console.note(
                f"note: `{ctx.command_path} --compare DIR…` is deprecated (removed in the next "
                f"release): use `{ctx.command_path} compare DIR…`"
            )
            args = ["compare", *args[:at], *args[at + 1 :]]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_SimulateGroup, subcommand_metavar="[compare DIR...]")

# The replay's defaults: an option other than these given with `simulate compare` is refused.
_POLICY, _FEE, _EXIT_TAX = "configured", 0.1425, 0.1


@app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="First session replayed.",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            "--to",
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="Last session replayed.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Folder for the tables, summary.json and index.html; a folder holding the same "
            "simulation is resumed where it stopped.",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            metavar="POLICY",
            help="When to retrain: configured (the thresholds of the settings), never (the first "
            "models serve throughout) or every-N (every N sessions; promoted by the usual rule).",
        ),
    ] = _POLICY,
    fee: Annotated[
        float,
        typer.Option(
            "--fee", metavar="PERCENT", help="The strategy's broker fee on each side, in percent."
        ),
    ] = _FEE,
    exit_tax: Annotated[
        float,
        typer.Option(
            "--exit-tax", metavar="PERCENT", help="The strategy's tax on each exit, in percent."
        ),
    ] = _EXIT_TAX,
) -> None:
    """Replay the daily loop over past sessions and measure what it would have served.

    Every session from --from to --to is run as the jobs would have run it: its pre-open round
    (07:30, with the US closes published by then) and its evening round, each with only the
    data stored up to its time, on a scratch database in --out (your database, models and
    report are not touched). With TAIEX_OVERNIGHT_SOURCE=none, or no US close stored, only the
    evening round is replayed, and the summary says so. Every figure is given per round, beside
    its baselines. Interrupted (Ctrl-C, or killed), the same command resumes.
    `taiex simulate compare DIR…` prints finished simulations side by side (`taiex simulate
    --compare DIR…` still works in this release).

    Example: taiex simulate --from 2020-01-01 --to 2021-12-31 --out sim-2020 --policy never
    Example: taiex simulate compare sim-2020 sim-2020-never
    """
    if ctx.invoked_subcommand is not None:
        replay_options = (
            ("--from", start is not None),
            ("--to", end is not None),
            ("--out", out is not None),
            ("--policy", policy != _POLICY),
            ("--fee", fee != _FEE),
            ("--exit-tax", exit_tax != _EXIT_TAX),
        )
        for option, given in replay_options:
            if given:
                raise typer.BadParameter(
                    f"{option} is an option of the replay, not of `simulate "
                    f"{ctx.invoked_subcommand}`",
                    param_hint=option,
                )
        return
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
            raise typer.BadParameter(
                f"{option} is required (or `taiex simulate compare DIR…`)", param_hint=option
            )
    assert start is not None and end is not None
    try:
        return Request(start.date(), end.date(), policy, Costs(fee, exit_tax))
    except InputError as exc:
        # The message starts with the option it is about.
        hint = next((o for o in ("--policy", "--fee", "--exit-tax") if o in str(exc)), "--to")
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


@app.command("compare")
def simulate_compare(
    folders: Annotated[
        list[Path],
        typer.Argument(
            help="Folders of finished simulations (each one's --out).",
            metavar="DIR...",
            show_default=False,
        ),
    ],
) -> None:
    """Print the summaries of finished simulations side by side, round by round.

    Example: taiex simulate compare sim-2020 sim-2020-never
    """
    from taiex.simulation.summary import compare_folders

    console.print_comparison(compare_folders(folders))
