"""What the commands share: the option types, their parsers, and the pipeline's context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taiex.calendar import Month, taipei_today
from taiex.kinds import KIND_NAMES
from taiex.settings import Settings

if TYPE_CHECKING:
    from taiex.pipeline import Context


def load_settings() -> Settings:
    return Settings.from_env()


@contextmanager
def context() -> Iterator[Context]:
    """The pipeline's context on the settings, closed at the end of the command."""
    from taiex.pipeline import Context

    ctx = Context.open(load_settings())
    try:
        yield ctx
    finally:
        ctx.close()


def parse_month(value: str | None, option: str) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def not_future(value: dt.datetime | None) -> dt.datetime | None:
    """A data day must have happened: a day after today in Taipei is refused (a typo of the
    year), not read as "every stored day"."""
    today = taipei_today()
    if value is not None and value.date() > today:
        raise typer.BadParameter(f"{value.date()} is after today in Taipei ({today})")
    return value


def nonempty_path(text: str) -> Path:
    """A path argument; an empty one is refused (Path("") would be the current folder)."""
    if not text.strip():
        raise typer.BadParameter("the path is empty")
    return Path(text)


def check_kind(value: str) -> str:
    if value not in KIND_NAMES:
        names = " or ".join(KIND_NAMES)
        raise typer.BadParameter(f"{value!r} is not a kind of model: use {names}")
    return value


def day_of(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


AsOf = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="Act as if today were this date in Taipei (for reruns of a given day).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
# The same flag, on a command whose result is a table.
TableJsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
KindArg = Annotated[
    str,
    typer.Argument(
        help=f"The kind of model: {' or '.join(KIND_NAMES)}.", metavar="KIND", callback=check_kind
    ),
]
DayOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--day",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="The data day: use the stored days up to it (default: every stored day).",
        callback=not_future,
    ),
]
