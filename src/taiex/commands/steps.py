"""``taiex step``: one step of the daily job or of the pre-open round, its result printed as one
line of JSON (what the Airflow DAGs' container tasks run)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated

import typer

from taiex import console
from taiex.commands.common import (
    AsOf,
    DayOption,
    KindArg,
    context,
    day_of,
    not_future,
    parse_month,
)

app = typer.Typer(
    help="Run one step of the daily job and print its result as one line of JSON "
    "(for Airflow tasks and containers; `taiex run` runs them all).\n\n"
    "Example: taiex step download --as-of 2026-08-18"
)


def _step(function: Callable[..., object], *args: object) -> None:
    with context() as ctx:
        result = function(ctx, *args)
    console.print_json_line(result)


@app.command("download")
def step_download(as_of: AsOf = None) -> None:
    """Fetch the months to load into the raw cache; prints their list.

    Example: taiex step download --as-of 2026-08-18
    """
    from taiex.pipeline import download

    _step(download, day_of(as_of))


@app.command("save")
def step_save(
    months: Annotated[
        list[str], typer.Argument(metavar="MONTH...", help="Months YYYY-MM, as download printed.")
    ],
    as_of: AsOf = None,
) -> None:
    """Stage the downloaded months in weighted_index_temp; prints the load id.

    Example: taiex step save 2026-07 2026-08
    """
    from taiex.pipeline import save_to_database

    parsed = [str(parse_month(text, "MONTHS")) for text in months]
    _step(save_to_database, parsed, day_of(as_of))


@app.command("merge")
def step_merge(
    load_id: Annotated[str, typer.Argument(metavar="LOAD-ID", help="The id save printed.")],
) -> None:
    """Merge a staged load into weighted_index in one transaction.

    Example: taiex step merge d20260818-2026-07-2026-08
    """
    from taiex.pipeline import merge

    _step(merge, load_id)


@app.command("serve")
def step_serve(kind: KindArg, day: DayOption = None) -> None:
    """Store what a champion says for the session after the data day: the LSTM's forecast, the
    classifier's signal (trains the first model of the kind if there is none).

    Example: taiex step serve lstm --day 2026-08-18
    """
    from taiex.pipeline import serve

    _step(serve, kind, day_of(day))


@app.command("outputs")
def step_outputs() -> None:
    """Draw the plots and write the report.

    Example: taiex step outputs
    """
    from taiex.pipeline import draw_outputs

    _step(draw_outputs)


@app.command("evaluate")
def step_evaluate(kind: KindArg, day: DayOption = None) -> None:
    """Evaluate one champion on the data up to the data day, store the figure, say whether to
    retrain.

    Example: taiex step evaluate lstm --day 2026-08-18
    """
    from taiex.pipeline import evaluate as run_evaluate

    _step(run_evaluate, kind, day_of(day))


@app.command("retrain")
def step_retrain(kind: KindArg, day: DayOption = None) -> None:
    """Train a challenger on the data up to the data day and promote it only if it is better.

    Example: taiex step retrain classifier --day 2026-08-18
    """
    from taiex.pipeline import retrain

    _step(retrain, kind, day_of(day))


SessionOption = Annotated[
    dt.datetime,
    typer.Option(
        "--session",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="The XTAI session whose pre-open round this is (the DAG run's day, Taipei).",
        callback=not_future,
    ),
]


@app.command("overnight")
def step_overnight(
    session: SessionOption,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail when the source fails (for a retry) instead of printing why with "
            "nothing new stored.",
        ),
    ] = False,
) -> None:
    """Fetch and store the US closes the pre-open round of the session may know; prints what
    was stored (or why the source failed). Fails when TAIEX_OVERNIGHT_SOURCE=none.

    Example: taiex step overnight --session 2026-08-19
    """
    from taiex.preopen_run import overnight_step

    _step(functools.partial(overnight_step, strict=strict), session.date())


@app.command("night")
def step_night(
    session: SessionOption,
    update_error: Annotated[
        str | None,
        typer.Option(
            "--update-error",
            metavar="TEXT",
            help="Why the download of US closes failed (for the reason).",
        ),
    ] = None,
) -> None:
    """The origin and the night of the pre-open round of the session, and whether it falls back
    to the evening's answer (a close it may know is not stored); prints them.

    Example: taiex step night --session 2026-08-19
    """
    from taiex.preopen_run import night_step

    _step(night_step, session.date(), update_error)
