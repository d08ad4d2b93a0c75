"""The ``taiex`` command: thin commands that parse their options, call one library function, and
print the result through :mod:`taiex.console`.

Every expected failure is a :class:`~taiex.errors.TaiexError`; it ends the command with a one-line
``error: ...`` on stderr and a non-zero exit code (``--debug`` shows the traceback instead). A
misused command is one line too, with exit code 2.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from taiex import __version__, console
from taiex.commands import db, models, overnight, schedule, simulate, steps
from taiex.commands.common import (
    AsOf,
    DayOption,
    JsonFlag,
    KindArg,
    TableJsonFlag,
    context,
    day_of,
    load_settings,
    nonempty_path,
    not_future,
    parse_month,
)
from taiex.errors import LockedError, OutputError, TaiexError
from taiex.kinds import of_round
from taiex.progress import LoadProgress
from taiex.rounds import Round

if TYPE_CHECKING:
    from taiex.report.track import DayRecord
    from taiex.store import Store

EXIT_ERROR = 1
EXIT_USAGE = 2
# A lock held by another run is temporary: EX_TEMPFAIL tells schedulers to try again later.
EXIT_LOCKED = 75


def usage_error_classes() -> tuple[type[typer.TyperException], type[typer.TyperException]]:
    """Typer's usage error, and its subclass that means "no arguments: show the help".

    Typer 0.29 carries its own copy of click: its usage errors are not click's classes, and it
    exports neither (only their subclass ``typer.BadParameter``). This is the one reach into its
    private module; tests/test_cli.py::test_usage_error_classes_are_the_ones_typer_raises fails,
    saying what to change here, when a Typer release moves them.
    """
    try:
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError as exc:
        raise ImportError(
            f"Typer {typer.__version__} moved its usage errors: find where it defines UsageError "
            "and NoArgsIsHelpError now, and import them from there in "
            "taiex.cli.usage_error_classes"
        ) from exc
    return UsageError, NoArgsIsHelpError


_USAGE_ERROR, _NO_ARGS_IS_HELP = usage_error_classes()


def reflow(doc: str) -> str:
    """A docstring as help text: each paragraph (a blank line separates them) on one line, for
    the terminal to wrap at its width; an ``Example:`` line stays on a line of its own."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if lines and not line.startswith("Example:") and not lines[-1].startswith("Example:"):
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def reflow_help(app: typer.Typer) -> None:
    """Gives every command and group of ``app`` its docstring (or help) reflowed: Typer keeps a
    docstring's line breaks after its first paragraph, breaking sentences at any width."""
    for command in app.registered_commands:
        doc = command.help if isinstance(command.help, str) else inspect.getdoc(command.callback)
        if doc:
            command.help = reflow(doc)
    callback = app.registered_callback
    if callback is not None:
        doc = callback.help if isinstance(callback.help, str) else inspect.getdoc(callback.callback)
        if doc:
            callback.help = reflow(doc)
    if isinstance(app.info.help, str):
        app.info.help = reflow(app.info.help)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def _plain_metavars(command: typer.core.TyperCommand | typer.core.TyperGroup) -> None:
    """Shows each parameter of ``command`` and its subcommands by its metavar alone (DATE, PATH,
    KIND...), where Typer's Rich help adds ``<%Y-%m-%d>``, ``<Path>``, ``{path}``, and ``<bool>``
    beside every flag, ``--help`` included."""
    for param in command.params:
        _plain_metavar(param)
    get_help_option = command.get_help_option

    def plain_help_option(ctx: typer.Context) -> object:
        option = get_help_option(ctx)
        if option is not None:
            _plain_metavar(option)
        return option

    # Typer creates the --help option when it first formats or parses (an instance's method).
    command.get_help_option = plain_help_option  # type: ignore[method-assign,assignment]
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def _plain_metavar(param: object) -> None:
    if isinstance(param, typer.core.TyperArgument):
        name = param.metavar or (param.name or "").upper()
        usage = name if param.required else f"[{name}]"
        # The name column shows the metavar; no type beside it, no braces in the usage line.
        param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        param._usage_display_name = lambda: usage  # type: ignore[method-assign]
    elif isinstance(param, typer.core.TyperOption) and (param.is_flag or param.count):
        param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


class _TaiexGroup(typer.core.TyperGroup):
    """Turns TaiexError into one line and an exit code, unless ``--debug``; a usage error of a
    command into one line and exit code 2. Its parameters, and every subcommand's, show plain
    metavars in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self)

    # TyperGroup types the context with its private click copy's class; typer.Context is the
    # public subclass every callback is typed with.
    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TaiexError as exc:
            if ctx.meta.get("taiex.debug"):
                raise
            console.print_error(str(exc))
            raise typer.Exit(EXIT_LOCKED if isinstance(exc, LockedError) else EXIT_ERROR) from exc
        except _USAGE_ERROR as exc:
            if isinstance(exc, _NO_ARGS_IS_HELP):
                raise
            # A usage error carries the context of the command it is about, when it knows it.
            where = getattr(exc, "ctx", None) or ctx
            console.print_error(f"{exc.format_message()} (see `{where.command_path} --help`)")
            raise typer.Exit(EXIT_USAGE) from exc


app = typer.Typer(
    cls=_TaiexGroup,
    help="Daily data and forecasts for the TAIEX (發行量加權股價指數).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        console.stdout.print(f"taiex {__version__}")
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

    Settings come from TAIEX_* environment variables (TAIEX_HOME, TAIEX_DB_URL, ...). Every
    command's --help has an example.

    Example: taiex run
    """
    ctx.meta["taiex.debug"] = debug
    console.configure_logging(
        logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    )


# ---------------------------------------------------------------- data commands


@app.command()
def backfill(
    since: Annotated[
        str | None,
        typer.Option(
            metavar="MONTH", help="First month, YYYY-MM (default 1999-01).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            metavar="MONTH", help="Last month, YYYY-MM (default this month).", show_default=False
        ),
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
    from taiex.pipeline import backfill as run_backfill

    with context() as ctx, LoadProgress() as progress:
        loads = run_backfill(
            ctx,
            parse_month(since, "--since"),
            parse_month(until, "--until"),
            refresh=refresh,
            as_of=day_of(as_of),
            progress=progress,
        )
    console.print_loads(loads)


@app.command()
def update(as_of: AsOf = None) -> None:
    """Load the months since the last stored day (the current month, usually).

    During the first days of a month the previous month is asked again too, as TWSE revises.

    Example: taiex update
    """
    from taiex.pipeline import update as run_update

    with context() as ctx, LoadProgress() as progress:
        loads = run_update(ctx, day_of(as_of), progress=progress)
    console.print_loads(loads)


@app.command("import-csv")
def import_csv(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="CSV with the header date,open,high,low,close.",
            parser=nonempty_path,
        ),
    ],
) -> None:
    """Merge a CSV of daily rows, validated like TWSE rows (all of it or nothing).

    Example: taiex import-csv taiex_daily.csv
    """
    from taiex.etl import import_csv as run_import
    from taiex.store import Store

    result = run_import(Store.from_settings(load_settings()), path)
    console.say(
        f"{result.rows} rows: {result.inserted} new, {result.updated} revised, "
        f"{result.unchanged} unchanged"
    )


@app.command("export-csv")
def export_csv(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH", help="Where to write date,open,high,low,close.", parser=nonempty_path
        ),
    ],
) -> None:
    """Write every stored day to a CSV file.

    Example: taiex export-csv history.csv
    """
    from taiex.etl import export_csv as run_export
    from taiex.store import Store

    count = run_export(Store.from_settings(load_settings()), path)
    console.say(f"wrote {count} rows to {path}")


@app.command()
def delete(
    start: Annotated[
        dt.datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], metavar="DATE", help="First day to remove."),
    ],
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            "--to",
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="Last day to remove (default: --from).",
        ),
    ] = None,
) -> None:
    """Remove the stored days from --from to --to (an invented or mistyped day), in one
    transaction logged as a load; `taiex status` lists suspect days and stored days beyond
    TWSE's daily limit from the session before.

    Example: taiex delete --from 2030-01-02
    """
    from taiex.etl import delete_days
    from taiex.store import Store

    first = start.date()
    last = end.date() if end else first
    days = delete_days(Store.from_settings(load_settings()), first, last)
    console.say(deleted_text(days, first, last))


def deleted_text(days: list[dt.date], first: dt.date, last: dt.date) -> str:
    """What ``taiex delete`` removed, said once: "deleted 1 day: 2026-08-18"."""
    asked = str(first) if first == last else f"{first} … {last}"
    if not days:
        return f"deleted nothing: no day stored in {asked}"
    if len(days) == 1:
        return f"deleted 1 day: {days[0]}"
    return f"deleted {len(days)} days: {days[0]} … {days[-1]}"


@app.command()
def status(as_json: TableJsonFlag = False) -> None:
    """Show what is stored and what the models say: rows, first and last day, last load,
    freshness, the forecast, the signal, the champions beside their baselines, and gaps
    against the XTAI calendar.

    Example: taiex status --json
    """
    from taiex.report.facts import gather
    from taiex.store import Store, redact_url

    settings = load_settings()
    facts = gather(Store.from_settings(settings), settings)
    console.print_status(facts, redact_url(settings.database_url), as_json)


# ---------------------------------------------------------------- models


@app.command()
def train(
    kind: KindArg,
    until: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="Last day to train on (default: the last stored).",
            callback=not_future,
        ),
    ] = None,
) -> None:
    """Train a model on the stored days up to --until and register it.

    The first model of a kind becomes champion; later ones stay challengers (see `taiex monitor`,
    which judges them on days neither model trained on, and `taiex models promote`).

    Example: taiex train lstm --until 2024-12-31
    """
    from taiex.pipeline import train as run_train

    with context() as ctx:
        result = run_train(ctx, kind, day_of(until))
    role = "champion" if result["promoted"] else "challenger"
    console.say(
        f"{result['version']} ({role}) trained on {result['train_start']} … {result['train_end']}"
    )


RoundOption = Annotated[
    Round,
    typer.Option(
        "--round",
        metavar="ROUND",
        help="evening (after the close) or pre-open (with the night's US closes).",
    ),
]
# A backtest's round: an evening kind's by default, a pre-open kind's own (it has no other).
BacktestRound = Annotated[
    Round | None,
    typer.Option(
        "--round",
        metavar="ROUND",
        help="evening (after the close) or pre-open (with the night's US closes); default: the "
        "kind's own round.",
    ),
]


@app.command()
def predict(
    as_json: JsonFlag = False, day: DayOption = None, round_name: RoundOption = Round.evening
) -> None:
    """Forecast the next 5 trading days' opening levels and the entry signal, from the champions.

    Forecasts start from the last stored trading day (or --day). When a champion's artifact is
    damaged, the last good former champion is used, and the output says so. --round pre-open:
    the pre-open round's champions, with the night after that day (its US closes stored).

    --day on or before the last stored day: what each round served from the data to that day,
    beside the actual opens and the signal's outcome (pending while not stored); the champions
    answer only when nothing was served from it, and the output says so.

    Example: taiex predict --json
    """
    from taiex.pipeline import data_age
    from taiex.pipeline import predict as run_predict

    asked = day_of(day)
    with context() as ctx:
        record = _past_day(ctx.store, asked)
        if record is not None and record.served:
            console.print_day_record(record, as_json, data_age(ctx.store, day=asked))
            return
        served = run_predict(ctx, asked, round_name)
        age = data_age(ctx.store, day=asked)
    remark = None
    if record is not None:
        since = (
            f" (served days: {record.first_served} … {record.last_served})"
            if record.first_served
            else " (nothing was served yet)"
        )
        remark = (
            f"nothing was served from the data to {record.day}{since}: below, what the "
            f"champions say now from the data to {record.day}"
        )
    console.print_served(served, as_json, age, remark)


def _past_day(store: Store, day: dt.date | None) -> DayRecord | None:
    """What was served from the data to ``day`` when it is a stored day's (None for a later
    day, whose answer comes from the last stored day, or without --day)."""
    from taiex.report.track import day_record

    last = store.summary()["last_date"] if day is not None else None
    if day is None or last is None or day > last:
        return None
    return day_record(store, day)


TrainUntil = Annotated[
    dt.datetime,
    typer.Option(
        "--train-until",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="Last training day.",
        callback=not_future,
    ),
]
FromDate = Annotated[
    dt.datetime,
    typer.Option(
        "--from",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="First day scored.",
        callback=not_future,
    ),
]
ToDate = Annotated[
    dt.datetime | None,
    typer.Option(
        "--to",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="Last day scored (default: the last).",
        callback=not_future,
    ),
]
OutFile = Annotated[
    Path, typer.Option("--out", metavar="PATH", help="CSV file to write.", parser=nonempty_path)
]


@app.command("backtest")
def backtest(
    kind: KindArg,
    train_until: TrainUntil,
    start: FromDate,
    out: OutFile,
    end: ToDate = None,
    round_name: BacktestRound = None,
) -> None:
    """Walk-forward test of a freshly trained, unregistered model: train on days <=
    --train-until, score every day in [--from, --to] beside the kind's baseline.

    The LSTM: sMAPE per horizon beside the naive forecast's, their ratio, the intervals'
    coverage. The classifier: the tournament's table, ROC AUC beside the trivial close/MA20
    score's. Writes every scored row to --out.

    --round pre-open tests the pre-open round's forecaster instead: the evening's level plus
    the night's US moves (stored with `taiex overnight`), each known only from 30 minutes after
    its close.

    Example: taiex backtest lstm --train-until 2024-12-31 --from 2025-01-01 --out bt.csv
    """
    from taiex.files import check_target, write_csv
    from taiex.pipeline import backtest as run_backtest

    check_target(out, make_parents=False)  # before the training, not after it
    with context() as ctx:
        if ctx.store.holds_file(out):
            raise OutputError(f"{out}: is a file of the database; write the backtest elsewhere")
        result = run_backtest(ctx, kind, train_until.date(), start.date(), day_of(end), round_name)
    console.print_backtest(result, write_csv(result.rows, out))


# ---------------------------------------------------------------- monitoring and the daily job


@app.command()
def evaluate(
    as_json: JsonFlag = False, day: DayOption = None, round_name: RoundOption = Round.evening
) -> None:
    """Measure the champions on the days they never trained on and store the figures.

    The LSTM: sMAPE over the last 120 trading days (every target from each of its 5 origins),
    beside the naive forecast's. The classifier: ROC AUC of its probabilities over the last 40
    labelled days, beside the trivial close/MA20 score's. Plots go to $TAIEX_HOME/plots/evaluate/.

    Example: taiex evaluate --json
    """
    from taiex.pipeline import evaluate as run_evaluate

    with context() as ctx:
        result = {
            spec.name: run_evaluate(ctx, spec.name, day_of(day)) for spec in of_round(round_name)
        }
    console.print_monitoring(result, as_json)


@app.command()
def monitor(
    as_json: JsonFlag = False, day: DayOption = None, round_name: RoundOption = Round.evening
) -> None:
    """Evaluate the champions, decide, retrain what degraded and promote only what is better.

    Example: taiex monitor --json
    """
    from taiex.pipeline import monitor as run_monitor

    with context() as ctx:
        result = {
            spec.name: run_monitor(ctx, spec.name, day_of(day)) for spec in of_round(round_name)
        }
    console.print_monitoring(result, as_json)


@app.command()
def run(
    as_of: AsOf = None, as_json: JsonFlag = False, round_name: RoundOption = Round.evening
) -> None:
    """The daily job: update the data (the whole history on an empty database), train any
    missing model, classify, forecast, monitor, and write the report.

    Forecasts start from the last stored trading day. Run twice on the same data, it changes
    nothing.

    --round pre-open runs the round before TAIEX opens (07:30, TAIEX_PREOPEN_TIME): it fetches
    the night's US closes and refreshes the forecast and the signal with them; when a close it
    needs is not there yet, the evening's answer stands and it says why. With --as-of DAY, the
    round of the first session on or after DAY.

    Example: taiex run --round pre-open --as-of 2024-12-31
    """
    if round_name is Round.pre_open:
        from taiex.preopen_run import run_preopen

        with context() as ctx, LoadProgress() as progress:
            preopen = run_preopen(ctx, day_of(as_of), progress)
        console.print_preopen_run(preopen, as_json)
        return
    from taiex.pipeline import run as run_job

    with context() as ctx, LoadProgress() as progress:
        result = run_job(ctx, day_of(as_of), progress)
    console.print_run(result, as_json)


@app.command()
def report() -> None:
    """Write the HTML report ($TAIEX_HOME/report/index.html) from what the database holds.

    Example: taiex report
    """
    from taiex.pipeline import draw_outputs

    with context() as ctx:
        path = draw_outputs(ctx)["report"]
    console.say(f"report: {path}")


# The groups in the order `taiex --help` has always listed them.
app.add_typer(simulate.app, name="simulate")
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.add_typer(steps.app, name="step")
app.add_typer(overnight.app, name="overnight")
app.command(name="schedule")(schedule.schedule)
reflow_help(app)


def main() -> None:
    """The console entry point."""
    app()


if __name__ == "__main__":
    main()
