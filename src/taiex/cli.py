"""The ``taiex`` command: thin commands that open the store, call one library function, and print.

Every expected failure is a :class:`~taiex.errors.TaiexError`; it ends the command with a one-line
``error: ...`` on stderr and a non-zero exit code (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from taiex import __version__
from taiex.calendar import Month
from taiex.errors import LockedError, TaiexError
from taiex.settings import Settings

log = logging.getLogger("taiex")

EXIT_ERROR = 1
# A lock held by another run is temporary: EX_TEMPFAIL tells schedulers to try again later.
EXIT_LOCKED = 75

stdout = Console()
stderr = Console(stderr=True)


class _TaiexGroup(typer.core.TyperGroup):
    """Turns TaiexError into one line and an exit code, unless ``--debug``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TaiexError as exc:
            if ctx.meta.get("taiex.debug"):
                raise
            stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_LOCKED if isinstance(exc, LockedError) else EXIT_ERROR) from exc


app = typer.Typer(
    cls=_TaiexGroup,
    help="Daily data and forecasts for the TAIEX (發行量加權股價指數).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"taiex {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Daily data and forecasts for the TAIEX (發行量加權股價指數).

    Settings come from TAIEX_* environment variables (TAIEX_HOME, TAIEX_DB_URL, ...).
    """
    ctx.meta["taiex.debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    _configure_logging(level)


def _configure_logging(level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_taiex", False):
            root.removeHandler(handler)
    handler = RichHandler(console=stderr, show_path=False, markup=False, rich_tracebacks=False)
    handler._taiex = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    logging.getLogger("taiex").setLevel(level)
    root.setLevel(max(level, logging.INFO) if level > logging.DEBUG else logging.DEBUG)


# ---------------------------------------------------------------- shared options and helpers

AsOf = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Act as if today were this date in Taipei (for reruns of a given day).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings() -> Settings:
    return Settings.from_env()


@contextmanager
def _loader(as_of: dt.datetime | None) -> Iterator[Any]:
    from taiex.etl import Loader, RawCache
    from taiex.source import TwseClient
    from taiex.store import Store

    settings = _settings()
    store = Store.from_settings(settings)
    with TwseClient.from_settings(settings) as client:
        yield Loader(
            store,
            client,
            RawCache(settings.raw_dir),
            today=as_of.date() if as_of else None,
            revision_days=settings.revision_days,
        )
    store.dispose()


def _month(value: str | None, option: str) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# ---------------------------------------------------------------- data commands


@app.command()
def backfill(
    since: Annotated[
        str | None, typer.Option(help="First month, YYYY-MM (default 1999-01).", show_default=False)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last month, YYYY-MM (default this month).", show_default=False),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask TWSE again even for months in the raw cache.")
    ] = False,
    as_of: AsOf = None,
) -> None:
    """Load every month from --since to --until into the database.

    Months already complete in the raw cache are not asked again; a rerun after a failure
    continues where it stopped.

    Example: taiex backfill --since 2024-01
    """
    from taiex.etl import backfill_months

    with _loader(as_of) as loader:
        months = backfill_months(_month(since, "--since"), _month(until, "--until"), loader.today)
        loads = _load_with_progress(loader, months, refresh)
    _print_loads(loads)


@app.command()
def update(as_of: AsOf = None) -> None:
    """Load the months since the last stored day (the current month, usually).

    During the first days of a month the previous month is asked again too, as TWSE revises.

    Example: taiex update
    """
    from taiex.etl import load_months, update_months

    with _loader(as_of) as loader:
        last = loader.store.summary()["last_date"]
        months = update_months(loader.today, last, loader.revision_days)
        loads = load_months(loader, months)
    _print_loads(loads)


def _load_with_progress(loader: Any, months: list[Month], refresh: bool) -> list[Any]:
    from taiex.etl import ETL_LOCK, load_months

    # The lock comes before the bar, so that a refused run prints its one line and nothing else.
    with loader.store.lock(ETL_LOCK):
        to_fetch = sum(loader.needs_fetch(m, refresh) for m in months)
        eta = _EtaColumn(to_fetch, len(months) - to_fetch, loader.client.limiter.interval)
        columns = (BarColumn(), MofNCompleteColumn(), TextColumn("months"), eta)
        with Progress(TextColumn("[bold]{task.description}"), *columns, console=stderr) as bar:
            task = bar.add_task("backfill", total=len(months))

            def advance(load: Any) -> None:
                eta.done(load.source == "twse", load.seconds)
                bar.update(task, advance=1, description=f"backfill {load.month}")

            return load_months(loader, months, refresh=refresh, on_month=advance)


class _EtaColumn(ProgressColumn):
    """Time left: months still to fetch pay the rate limit, cached months only the merge."""

    def __init__(self, fetch: int, cached: int, interval: float) -> None:
        super().__init__()
        self.fetch_left = fetch
        self.cached_left = cached
        self.interval = interval
        self.fetch_seconds: list[float] = []
        self.cached_seconds: list[float] = []

    def done(self, fetched: bool, seconds: float) -> None:
        if fetched:
            self.fetch_left = max(0, self.fetch_left - 1)
            self.fetch_seconds.append(seconds)
        else:
            self.cached_left = max(0, self.cached_left - 1)
            self.cached_seconds.append(seconds)

    def seconds_left(self) -> float:
        fetch = _mean(self.fetch_seconds, default=0.5)
        cached = _mean(self.cached_seconds, default=0.02)
        return self.fetch_left * max(fetch, self.interval) + self.cached_left * cached

    def render(self, task: Task) -> Text:
        seconds = round(self.seconds_left())
        return Text(f"ETA {seconds // 60}:{seconds % 60:02d}", style="progress.remaining")


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _print_loads(loads: list[Any]) -> None:
    inserted = sum(load.result.inserted for load in loads)
    updated = sum(load.result.updated for load in loads)
    fetched = sum(load.source == "twse" for load in loads)
    stdout.print(
        f"{len(loads)} months ({fetched} from TWSE, {len(loads) - fetched} from the cache): "
        f"{inserted} new days, {updated} revised",
        highlight=False,
    )


@app.command("import-csv")
def import_csv(
    path: Annotated[Path, typer.Argument(help="CSV with the header date,open,high,low,close.")],
) -> None:
    """Merge a CSV of daily rows, validated like TWSE rows (all of it or nothing).

    Example: taiex import-csv taiex_daily.csv
    """
    from taiex.etl import import_csv as run_import
    from taiex.store import Store

    store = Store.from_settings(_settings())
    result = run_import(store, path)
    stdout.print(
        f"{result.rows} rows: {result.inserted} new, {result.updated} revised, "
        f"{result.unchanged} unchanged",
        highlight=False,
    )


@app.command("export-csv")
def export_csv(
    path: Annotated[Path, typer.Argument(help="Where to write date,open,high,low,close.")],
) -> None:
    """Write every stored day to a CSV file.

    Example: taiex export-csv history.csv
    """
    from taiex.etl import export_csv as run_export
    from taiex.store import Store

    count = run_export(Store.from_settings(_settings()), path)
    stdout.print(f"wrote {count} rows to {path}", highlight=False)


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Show what is stored: rows, first and last day, last load, gaps against the XTAI calendar.

    Example: taiex status --json
    """
    from taiex.etl import data_status
    from taiex.store import Store

    settings = _settings()
    facts = data_status(Store.from_settings(settings))
    if as_json:
        _print_json(_status_json(facts, settings))
        return
    table = Table(title="taiex data (加權指數)", show_header=False)
    for key, value in _status_rows(facts, settings):
        table.add_row(key, value)
    stdout.print(table)


def _status_json(facts: Any, settings: Settings) -> dict[str, Any]:
    load = facts.last_load
    return {
        "database": _safe_url(settings.database_url),
        "rows": facts.rows,
        "first_date": facts.first_date,
        "last_date": facts.last_date,
        "last_load": None if load is None else {**load.__dict__, "loaded_at": f"{load.loaded_at}Z"},
        "missing_sessions": facts.missing_sessions,
        "extra_days": facts.extra_days,
    }


def _status_rows(facts: Any, settings: Settings) -> list[tuple[str, str]]:
    load = facts.last_load
    last_load = (
        "never"
        if load is None
        else f"{load.loaded_at:%Y-%m-%d %H:%M} UTC from {load.source} "
        f"({load.inserted} new, {load.updated} revised)"
    )
    missing = facts.missing_sessions
    return [
        ("database", _safe_url(settings.database_url)),
        ("rows", f"{facts.rows:,}"),
        ("first day", str(facts.first_date or "-")),
        ("last day", str(facts.last_date or "-")),
        ("last load", last_load),
        (
            "XTAI sessions not stored",
            f"{len(missing)}"
            + (f" (latest: {', '.join(map(str, missing[-5:]))})" if missing else ""),
        ),
        ("stored days XTAI lacks", f"{len(facts.extra_days)} (Saturday sessions, ...)"),
    ]


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


def main() -> None:
    """The console entry point."""
    app()


if __name__ == "__main__":
    main()
