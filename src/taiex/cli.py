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

# Typer 0.29 carries its own copy of click: its usage errors are these classes, not click's.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from taiex import __version__
from taiex.calendar import Month, taipei_today
from taiex.errors import LockedError, OutputError, TaiexError
from taiex.kinds import KIND_NAMES, KINDS
from taiex.settings import Settings

log = logging.getLogger("taiex")

EXIT_ERROR = 1
EXIT_USAGE = 2
# A lock held by another run is temporary: EX_TEMPFAIL tells schedulers to try again later.
EXIT_LOCKED = 75

# Nothing taiex prints is Rich markup: paths, cells and TWSE's words are shown as they are ("[/b]"
# in a folder's name made `export-csv` end in a MarkupError after writing its file).
stdout = Console(markup=False)
stderr = Console(stderr=True, markup=False)


class _TaiexGroup(typer.core.TyperGroup):
    """Turns TaiexError into one line and an exit code, unless ``--debug``; a usage error of a
    command into one line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TaiexError as exc:
            if ctx.meta.get("taiex.debug"):
                raise
            print_error(str(exc))
            raise typer.Exit(EXIT_LOCKED if isinstance(exc, LockedError) else EXIT_ERROR) from exc
        except UsageError as exc:
            if isinstance(exc, NoArgsIsHelpError):
                raise
            command = exc.ctx.command_path if exc.ctx else ctx.command_path
            print_error(f"{exc.format_message()} (see `{command} --help`)")
            raise typer.Exit(EXIT_USAGE) from exc


def print_error(message: str) -> None:
    """``error: message`` on stderr, the message as plain text: brackets in a file name, a cell
    or a TWSE body are shown as they are, never read as Rich markup."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


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


def _month(value: str | None, option: str) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _not_future(value: dt.datetime | None) -> dt.datetime | None:
    """A data day must have happened: a day after today in Taipei is refused (a typo of the
    year), not read as "every stored day"."""
    today = taipei_today()
    if value is not None and value.date() > today:
        raise typer.BadParameter(f"{value.date()} is after today in Taipei ({today})")
    return value


def _path(text: str) -> Path:
    """A path argument; an empty one is refused (Path("") would be the current folder)."""
    if not text.strip():
        raise typer.BadParameter("the path is empty")
    return Path(text)


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
    from taiex.pipeline import backfill as run_backfill

    with _context() as ctx, _RichProgress() as progress:
        loads = run_backfill(
            ctx,
            _month(since, "--since"),
            _month(until, "--until"),
            refresh=refresh,
            as_of=_day_of(as_of),
            progress=progress,
        )
    _print_loads(loads)


@app.command()
def update(as_of: AsOf = None) -> None:
    """Load the months since the last stored day (the current month, usually).

    During the first days of a month the previous month is asked again too, as TWSE revises.

    Example: taiex update
    """
    from taiex.pipeline import update as run_update

    with _context() as ctx, _RichProgress() as progress:
        loads = run_update(ctx, _day_of(as_of), progress=progress)
    _print_loads(loads)


class _RichProgress:
    """The pipeline's progress as a Rich bar of months with an ETA (shown only once loading
    starts, so a run refused by the lock prints its one line and nothing else)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None
        self._eta: _EtaColumn | None = None

    def __enter__(self) -> _RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def loading(self, months: int, to_fetch: int, interval: float) -> None:
        if not months:
            return
        self._eta = _EtaColumn(to_fetch, months - to_fetch, interval)
        columns = (BarColumn(), MofNCompleteColumn(), TextColumn("months"), self._eta)
        self._bar = Progress(TextColumn("[bold]{task.description}"), *columns, console=stderr)
        self._bar.start()
        self._task = self._bar.add_task("loading", total=months)

    def loaded(self, load: Any) -> None:
        if self._bar is None or self._eta is None:
            return
        self._eta.done(load.source == "twse", load.seconds)
        self._bar.update(self._task, advance=1, description=f"loaded {load.month}")

    def step(self, name: str) -> None:
        if self._bar is not None and name != "data":
            self._bar.stop()
            self._bar = None
        log.info("step: %s", name)


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
    path: Annotated[
        Path,
        typer.Argument(help="CSV with the header date,open,high,low,close.", parser=_path),
    ],
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
    path: Annotated[
        Path, typer.Argument(help="Where to write date,open,high,low,close.", parser=_path)
    ],
) -> None:
    """Write every stored day to a CSV file.

    Example: taiex export-csv history.csv
    """
    from taiex.etl import export_csv as run_export
    from taiex.store import Store

    count = run_export(Store.from_settings(_settings()), path)
    stdout.print(f"wrote {count} rows to {path}", highlight=False)


@app.command()
def delete(
    start: Annotated[
        dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day to remove.")
    ],
    end: Annotated[
        dt.datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day to remove (default: --from)."),
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
    days = delete_days(Store.from_settings(_settings()), first, last)
    span = f"{days[0]} … {days[-1]}" if days else "nothing stored there"
    stdout.print(f"deleted {len(days)} days from {first} to {last} ({span})", highlight=False)


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Show what is stored and what the models say: rows, first and last day, last load,
    freshness, the forecast, the signal, the champions beside their baselines, and gaps
    against the XTAI calendar.

    Example: taiex status --json
    """
    from taiex.report.facts import gather
    from taiex.report.status import status_rows
    from taiex.store import Store, redact_url

    settings = _settings()
    facts = gather(Store.from_settings(settings), settings)
    rows = [("database", redact_url(settings.database_url)), *status_rows(facts)]
    rows += _gap_rows(facts.data)
    if as_json:
        _print_json(
            {**_status_json(facts.data, redact_url(settings.database_url)), "summary": dict(rows)}
        )
        return
    table = Table(title="taiex (加權指數)", show_header=False)
    for key, value in rows:
        table.add_row(key, Text(value))
    stdout.print(table)


def _status_json(data: Any, database: str) -> dict[str, Any]:
    load = data.last_load
    return {
        "database": database,
        "rows": data.rows,
        "first_date": data.first_date,
        "last_date": data.last_date,
        "last_load": None if load is None else {**load.__dict__, "loaded_at": f"{load.loaded_at}Z"},
        "missing_sessions": data.missing_sessions,
        "extra_days": data.extra_days,
        "suspect_days": data.suspect_days,
        "limit_breaks": data.limit_breaks,
    }


def _gap_rows(data: Any) -> list[tuple[str, str]]:
    missing = data.missing_sessions
    latest = f" (latest: {', '.join(map(str, missing[-5:]))})" if missing else ""
    rows = [
        ("XTAI sessions not stored", f"{len(missing)}{latest}"),
        ("stored days XTAI lacks", f"{len(data.extra_days)} (Saturday sessions, ...)"),
    ]
    suspects = data.suspect_days
    if suspects:
        shown = ", ".join(map(str, suspects[:5])) + (" …" if len(suspects) > 5 else "")
        rows.append(
            (
                "suspect days",
                f"{len(suspects)} stored days are neither XTAI sessions nor known TWSE "
                f"Saturday sessions: {shown}; remove with `taiex delete --from DAY`",
            )
        )
    breaks = data.limit_breaks
    if breaks:
        rows.append(
            (
                "moves beyond the daily limit",
                f"{len(breaks)}, first: {breaks[0]}; correct the day with `taiex import-csv` "
                "or remove it with `taiex delete --from DAY`",
            )
        )
    return rows


# ---------------------------------------------------------------- models


def _kind(value: str) -> str:
    if value not in KIND_NAMES:
        names = " or ".join(KIND_NAMES)
        raise typer.BadParameter(f"{value!r} is not a kind of model: use {names}")
    return value


KindArg = Annotated[
    str,
    typer.Argument(
        help=f"The kind of model: {' or '.join(KIND_NAMES)}.", metavar="KIND", callback=_kind
    ),
]
DayOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--day",
        formats=["%Y-%m-%d"],
        help="The data day: use the stored days up to it (default: every stored day).",
        callback=_not_future,
    ),
]


def _day_of(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


@contextmanager
def _context() -> Iterator[Any]:
    from taiex.pipeline import Context

    ctx = Context.open(_settings())
    try:
        yield ctx
    finally:
        ctx.close()


@app.command()
def train(
    kind: KindArg,
    until: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day to train on (default: the last stored).",
            callback=_not_future,
        ),
    ] = None,
) -> None:
    """Train a model on the stored days up to --until and register it.

    The first model of a kind becomes champion; later ones stay challengers (see `taiex monitor`,
    which judges them on days neither model trained on, and `taiex models promote`).

    Example: taiex train lstm --until 2024-12-31
    """
    from taiex.pipeline import train as run_train

    with _context() as ctx:
        result = run_train(ctx, kind, _day_of(until))
    role = "champion" if result["promoted"] else "challenger"
    stdout.print(
        f"{result['version']} ({role}) trained on {result['train_start']} … {result['train_end']}",
        highlight=False,
    )


@app.command()
def predict(as_json: JsonFlag = False, day: DayOption = None) -> None:
    """Forecast the next 5 trading days' opening levels and the entry signal, from the champions.

    Forecasts start from the last stored trading day (or --day). When a champion's artifact is
    damaged, the last good former champion is used, and the output says so.

    Example: taiex predict --json
    """
    from taiex.pipeline import predict as run_predict

    with _context() as ctx:
        served = run_predict(ctx, _day_of(day))
    for part in served:
        for note in part.skipped:
            stderr.print(Text(f"warning: skipped {note}", style="yellow"))
    if as_json:
        _print_json(
            {
                **{key: value for part in served for key, value in _served_json(part).items()},
                "skipped_artifacts": [note for part in served for note in part.skipped],
            }
        )
        return
    for part in served:
        _RENDER[part.spec.serves](part)


_SIGNAL_LABELS = {1: "enter (適合進場)", 0: "stay out (不適合進場)"}


def _served_json(part: Any) -> dict[str, Any]:
    """One champion's answer in ``taiex predict --json``."""
    from taiex.frames import FORECAST_VALUES

    if part.spec.serves == "forecasts":
        rows = part.rows
        return {
            "origin_date": rows[0]["origin_date"].isoformat(),
            "lstm_version": part.version,
            "forecast": [
                {
                    "date": row["target_date"].isoformat(),
                    "horizon": row["horizon"],
                    **{c: round(row[c], 2) for c in FORECAST_VALUES},
                }
                for row in rows
            ],
        }
    row = part.rows[0]
    return {
        "signal": {
            "version": part.version,
            "date": row["target_date"].isoformat(),
            "based_on": row["based_on"].isoformat(),
            "probability": round(row["probability"], 4),
            "signal": row["signal"],
            "threshold": row["threshold"],
            "label": _SIGNAL_LABELS[row["signal"]],
        }
    }


def _forecast_table(part: Any) -> None:
    rows = part.rows
    table = Table(
        title=f"TAIEX open (開盤) forecast from {rows[0]['origin_date']} · {part.version}"
    )
    for column in ("date", "h", "forecast", "80% interval", "95% interval", "naive"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r["target_date"].isoformat(),
            str(r["horizon"]),
            f"{r['forecast']:,.2f}",
            f"{r['lower_80']:,.2f} … {r['upper_80']:,.2f}",
            f"{r['lower_95']:,.2f} … {r['upper_95']:,.2f}",
            f"{r['naive']:,.2f}",
        )
    stdout.print(table)


def _signal_line(signal: dict[str, Any], version: str) -> str:
    label = _SIGNAL_LABELS[int(signal["signal"])]
    return (
        f"signal for {signal['date']}: {label}, P(close > MA20) = {signal['probability']:.3f} "
        f"(threshold {signal['threshold']:g}; {version})"
    )


def _print_signal(part: Any) -> None:
    row = part.rows[0]
    signal = {**row, "date": row["target_date"]}
    stdout.print(_signal_line(signal, part.version), highlight=False)


# How `taiex predict` shows what a kind serves (a store repository's name).
_RENDER = {"forecasts": _forecast_table, "signals": _print_signal}


TrainUntil = Annotated[
    dt.datetime,
    typer.Option(
        "--train-until", formats=["%Y-%m-%d"], help="Last training day.", callback=_not_future
    ),
]
FromDate = Annotated[
    dt.datetime,
    typer.Option("--from", formats=["%Y-%m-%d"], help="First day scored.", callback=_not_future),
]
ToDate = Annotated[
    dt.datetime | None,
    typer.Option(
        "--to",
        formats=["%Y-%m-%d"],
        help="Last day scored (default: the last).",
        callback=_not_future,
    ),
]
OutFile = Annotated[Path, typer.Option("--out", help="CSV file to write.", parser=_path)]


@app.command("backtest")
def backtest(
    kind: KindArg, train_until: TrainUntil, start: FromDate, out: OutFile, end: ToDate = None
) -> None:
    """Walk-forward test of a freshly trained, unregistered model: train on days <=
    --train-until, score every day in [--from, --to] beside the kind's baseline.

    The LSTM: sMAPE per horizon beside the naive forecast's, their ratio, the intervals'
    coverage. The classifier: the tournament's table, ROC AUC beside the trivial close/MA20
    score's. Writes every scored row to --out.

    Example: taiex backtest lstm --train-until 2024-12-31 --from 2025-01-01 --out bt.csv
    """
    from taiex.files import check_target
    from taiex.pipeline import backtest as run_backtest

    check_target(out, make_parents=False)  # before the training, not after it
    with _context() as ctx:
        if ctx.store.holds_file(out):
            raise OutputError(f"{out}: is a file of the database; write the backtest elsewhere")
        result = run_backtest(ctx, kind, train_until.date(), start.date(), _day_of(end))
    stdout.print(Text(result.text))
    stdout.print(
        f"wrote {len(result.rows)} rows to {write_csv(result.rows, out)}"
        + (f"; plot {result.plot}" if result.plot else ""),
        highlight=False,
    )


def write_csv(frame: Any, path: Path) -> Path:
    """``frame`` as CSV at ``path``, whole or not at all (never through a link or a device)."""
    from taiex.files import write_atomic

    text = frame.to_csv(index=False, float_format="%.4f", date_format="%Y-%m-%d")
    return write_atomic(path, text.encode(), make_parents=False)


models_app = typer.Typer(help="The model registry: versions, champions, rollback.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List every registered model with its status, training range and trial.

    Example: taiex models list --json
    """
    with _context() as ctx:
        versions = ctx.registry().versions()
    if as_json:
        _print_json([v.summary() for v in versions])
        return
    table = Table(title="models (taiex models list --json has every field)")
    for column in ("version", "status", "trained to", "decision", "score", "champion's"):
        table.add_column(column, no_wrap=True)
    for v in versions:
        table.add_row(
            Text(v.version),
            v.status,
            str(v.train_end),
            Text(v.decision or ""),
            "" if v.score is None else f"{v.score:.4f}",
            "" if v.champion_score is None else f"{v.champion_score:.4f}",
        )
    stdout.print(table)


@models_app.command("rollback")
def models_rollback(kind: KindArg) -> None:
    """Give the championship back to the version that held it before the current champion.

    Example: taiex models rollback lstm
    """
    from taiex.pipeline import rollback

    with _context() as ctx:
        version = rollback(ctx, kind)
    stdout.print(f"{version.version} is the {version.kind} champion again", highlight=False)


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="e.g. lstm-v3")]) -> None:
    """Make a registered version the champion by hand (recorded as a manual decision); its
    artifact must load in full first.

    Example: taiex models promote lstm-v3
    """
    from taiex.pipeline import promote

    with _context() as ctx:
        promoted = promote(ctx, version)
    stdout.print(f"{promoted.version} is the {promoted.kind} champion", highlight=False)


# ---------------------------------------------------------------- monitoring and the daily job


@app.command()
def evaluate(as_json: JsonFlag = False, day: DayOption = None) -> None:
    """Measure the champions on the days they never trained on and store the figures.

    The LSTM: sMAPE over the last 120 trading days (every target from each of its 5 origins),
    beside the naive forecast's. The classifier: ROC AUC of its probabilities over the last 40
    labelled days, beside the trivial close/MA20 score's. Plots go to $TAIEX_HOME/plots/evaluate/.

    Example: taiex evaluate --json
    """
    from taiex.pipeline import evaluate as run_evaluate

    with _context() as ctx:
        result = {kind: run_evaluate(ctx, kind, _day_of(day)) for kind in KIND_NAMES}
    _print_monitoring(result, as_json)


@app.command()
def monitor(as_json: JsonFlag = False, day: DayOption = None) -> None:
    """Evaluate the champions, decide, retrain what degraded and promote only what is better.

    Example: taiex monitor --json
    """
    from taiex.pipeline import monitor as run_monitor

    with _context() as ctx:
        result = {kind: run_monitor(ctx, kind, _day_of(day)) for kind in KIND_NAMES}
    _print_monitoring(result, as_json)


def _print_monitoring(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(result)
        return
    for kind, part in result.items():
        metric = part["metric"]
        baseline = part["baseline"]
        shown = "undefined" if metric is None else f"{metric:.4f}"
        base = "" if baseline is None else f" (baseline {baseline:.4f})"
        line = Text(kind, style="bold")
        line.append(
            f" {part['champion'] or '-'}: {part['metric_name']} {shown}{base}; "
            f"retrain: {'yes' if part['retrain'] else 'no'} — {part['reason']}"
        )
        stdout.print(line)
        challenger = part.get("challenger")
        if challenger:
            verdict = "promoted" if challenger["promoted"] else "not promoted"
            stdout.print(
                Text(f"  challenger {challenger['version']}: {verdict} — {challenger['reason']}")
            )


@app.command()
def run(as_of: AsOf = None, as_json: JsonFlag = False) -> None:
    """The daily job: update the data (the whole history on an empty database), train any
    missing model, classify, forecast, monitor, and write the report.

    Forecasts start from the last stored trading day. Run twice on the same data, it changes
    nothing.

    Example: taiex run
    """
    from taiex.pipeline import run as run_job

    with _context() as ctx, _RichProgress() as progress:
        result = run_job(ctx, _day_of(as_of), progress)
    if as_json:
        _print_json(result)
        return
    data = result["data"]
    if result["nothing_new"]:
        stdout.print(f"TWSE has nothing new after {data['last_date']}.", highlight=False)
    else:
        stdout.print(
            f"{data['inserted']} new days, {data['updated']} revised; last {data['last_date']}",
            highlight=False,
        )
    for spec in KINDS:
        _SUMMARY[spec.serves](result["served"][spec.name])
    _print_monitoring(result["monitor"], as_json=False)
    stdout.print(f"report: {result['outputs']['report']}", highlight=False)


def _forecast_summary(forecast: dict[str, Any]) -> None:
    stdout.print(
        f"forecast from {forecast['origin_date']} ({forecast['version']}): "
        + ", ".join(
            f"{d} {v:,.2f}" for d, v in zip(forecast["dates"], forecast["forecast"], strict=True)
        ),
        highlight=False,
    )


def _signal_summary(signal: dict[str, Any]) -> None:
    stdout.print(_signal_line(signal, signal["version"]), highlight=False)


# How `taiex run` sums up what a kind served (a store repository's name).
_SUMMARY = {"forecasts": _forecast_summary, "signals": _signal_summary}


@app.command()
def report() -> None:
    """Write the HTML report ($TAIEX_HOME/report/index.html) from what the database holds.

    Example: taiex report
    """
    from taiex.pipeline import draw_outputs

    with _context() as ctx:
        path = draw_outputs(ctx)["report"]
    stdout.print(f"report: {path}", highlight=False)


db_app = typer.Typer(help="The database schema: its migration revision, and upgrades.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest revision (on an empty database: create it).

    A database made before migrations existed is checked and adopted; other commands upgrade
    on their own when needed, this one does nothing else.

    Example: taiex db upgrade
    """
    from taiex.store import Store

    store = Store(_settings().database_url)
    try:
        before = store.revision()
        after = store.upgrade()
    finally:
        store.dispose()
    change = "unchanged" if before == after else f"was {before or 'none'}"
    stdout.print(f"database schema at revision {after} ({change})", highlight=False)


@db_app.command("current")
def db_current() -> None:
    """Print the database schema's revision ("none" before the first upgrade).

    Example: taiex db current
    """
    from taiex.store import Store

    store = Store(_settings().database_url)
    try:
        revision = store.revision()
    finally:
        store.dispose()
    stdout.print(revision or "none", highlight=False)


step_app = typer.Typer(
    help="Run one step of the daily job and print its result as one line of JSON "
    "(for Airflow tasks and containers; `taiex run` runs them all)."
)
app.add_typer(step_app, name="step")


def _step(function: Any, *args: Any) -> None:
    with _context() as ctx:
        result = function(ctx, *args)
    # One compact line: a container's last line of output is its XCom.
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")


@step_app.command("download")
def step_download(as_of: AsOf = None) -> None:
    """Fetch the months to load into the raw cache; prints their list.

    Example: taiex step download --as-of 2026-08-18
    """
    from taiex.pipeline import download

    _step(download, _day_of(as_of))


@step_app.command("save")
def step_save(
    months: Annotated[list[str], typer.Argument(help="Months YYYY-MM, as download printed.")],
    as_of: AsOf = None,
) -> None:
    """Stage the downloaded months in weighted_index_temp; prints the load id.

    Example: taiex step save 2026-07 2026-08
    """
    from taiex.pipeline import save_to_database

    parsed = [str(_month(text, "MONTHS")) for text in months]
    _step(save_to_database, parsed, _day_of(as_of))


@step_app.command("merge")
def step_merge(load_id: Annotated[str, typer.Argument(help="The id save printed.")]) -> None:
    """Merge a staged load into weighted_index in one transaction.

    Example: taiex step merge d20260818-2026-07-2026-08
    """
    from taiex.pipeline import merge

    _step(merge, load_id)


@step_app.command("serve")
def step_serve(kind: KindArg, day: DayOption = None) -> None:
    """Store what a champion says for the session after the data day: the LSTM's forecast, the
    classifier's signal (trains the first model of the kind if there is none).

    Example: taiex step serve lstm --day 2026-08-18
    """
    from taiex.pipeline import serve

    _step(serve, kind, _day_of(day))


@step_app.command("outputs")
def step_outputs() -> None:
    """Draw the plots and write the report.

    Example: taiex step outputs
    """
    from taiex.pipeline import draw_outputs

    _step(draw_outputs)


@step_app.command("evaluate")
def step_evaluate(kind: KindArg, day: DayOption = None) -> None:
    """Evaluate one champion on the data up to the data day, store the figure, say whether to
    retrain.

    Example: taiex step evaluate lstm --day 2026-08-18
    """
    from taiex.pipeline import evaluate as run_evaluate

    _step(run_evaluate, kind, _day_of(day))


@step_app.command("retrain")
def step_retrain(kind: KindArg, day: DayOption = None) -> None:
    """Train a challenger on the data up to the data day and promote it only if it is better.

    Example: taiex step retrain classifier --day 2026-08-18
    """
    from taiex.pipeline import retrain

    _step(retrain, kind, _day_of(day))


# ---------------------------------------------------------------- simulate


@app.command()
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
        _compare_simulations(folders or [])
        return
    if folders:
        raise typer.BadParameter("folders are given only with --compare", param_hint="FOLDERS")
    request = _simulation_request(start, end, out, policy, fee, exit_tax)
    assert out is not None
    _run_simulation(request, out)


def _simulation_request(
    start: dt.datetime | None,
    end: dt.datetime | None,
    out: Path | None,
    policy: str,
    fee: float,
    exit_tax: float,
) -> Any:
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


def _run_simulation(request: Any, out: Path) -> None:
    from taiex.simulation.page import plain_words
    from taiex.simulation.replay import simulate as replay

    progress = _SimulationProgress()
    try:
        with progress:
            outcome = replay(_settings(), out, request, progress)
    except KeyboardInterrupt:
        stderr.print(
            f"interrupted after {progress.days_run} session(s) of this run; every finished one "
            f"is kept in {out}: run the same command again to resume",
            highlight=False,
        )
        raise typer.Exit(130) from None
    total = outcome.summary["days"]
    for line in plain_words(outcome.summary):
        stdout.print(line, highlight=False)
    stdout.print(
        f"{outcome.days_run} session(s) simulated now, {total - outcome.days_run} already done; "
        f"the tables, summary.json and index.html are in {out}",
        highlight=False,
    )


class _SimulationProgress:
    """The replay's progress: a bar of sessions with the day and step at work, and an ETA. It
    appears once the replay starts, so a refused run prints its one error line and nothing
    else."""

    def __init__(self) -> None:
        from rich.progress import TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sessions"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr,
        )
        self.task: Any = None
        self.days_run = 0

    def __enter__(self) -> _SimulationProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()

    def started(self, total: int, done: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("simulating", total=total, completed=done)

    def step(self, name: str) -> None:
        self.bar.update(self.task, description=name)

    def day_done(self, day: Any) -> None:
        self.days_run += 1
        self.bar.update(self.task, completed=day.done, description=f"{day.day} done")


def _compare_simulations(folders: list[Path]) -> None:
    from taiex.errors import InputError
    from taiex.simulation.summary import comparison

    if not folders:
        raise typer.BadParameter(
            "--compare needs one or more simulation folders", param_hint="--compare"
        )
    summaries = {}
    for folder in folders:
        path = folder / "summary.json"
        try:
            summaries[str(folder)] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InputError(f"{path}: no summary (is {folder} a finished simulation?)") from exc
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from exc
    table = Table(title="simulations side by side")
    table.add_column("")
    for name in summaries:
        table.add_column(name, justify="right")
    for label, values in comparison(summaries):
        table.add_row(label, *values)
    stdout.print(table)


def main() -> None:
    """The console entry point."""
    app()


if __name__ == "__main__":
    main()
