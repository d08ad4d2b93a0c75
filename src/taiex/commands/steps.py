"""``taiex step``: one step of the daily job, its result printed as one line of JSON (what
Airflow's container tasks run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from taiex import console
from taiex.commands.common import AsOf, DayOption, KindArg, context, day_of, parse_month

app = typer.Typer(
    help="Run one step of the daily job and print its result as one line of JSON "
    "(for Airflow tasks and containers; `taiex run` runs them all)."
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
    months: Annotated[list[str], typer.Argument(help="Months YYYY-MM, as download printed.")],
    as_of: AsOf = None,
) -> None:
    """Stage the downloaded months in weighted_index_temp; prints the load id.

    Example: taiex step save 2026-07 2026-08
    """
    from taiex.pipeline import save_to_database

    parsed = [str(parse_month(text, "MONTHS")) for text in months]
    _step(save_to_database, parsed, day_of(as_of))


@app.command("merge")
def step_merge(load_id: Annotated[str, typer.Argument(help="The id save printed.")]) -> None:
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
