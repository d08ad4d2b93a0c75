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
    with loader.store.lock(ETL_LOCK), _month_progress(loader, months, refresh) as advance:
        return load_months(loader, months, refresh=refresh, on_month=advance)


@contextmanager
def _month_progress(loader: Any, months: list[Month], refresh: bool) -> Iterator[Any]:
    """A progress bar of months with an ETA; yields the callback that advances it."""
    to_fetch = sum(loader.needs_fetch(m, refresh) for m in months)
    eta = _EtaColumn(to_fetch, len(months) - to_fetch, loader.client.limiter.interval)
    columns = (BarColumn(), MofNCompleteColumn(), TextColumn("months"), eta)
    with Progress(TextColumn("[bold]{task.description}"), *columns, console=stderr) as bar:
        task = bar.add_task("loading", total=len(months))

        def advance(load: Any) -> None:
            eta.done(load.source == "twse", load.seconds)
            bar.update(task, advance=1, description=f"loaded {load.month}")

        yield advance


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
    """Show what is stored and what the models say: rows, first and last day, last load,
    freshness, the forecast, the signal, the champions beside their baselines, and gaps
    against the XTAI calendar.

    Example: taiex status --json
    """
    from taiex.report import gather, status_rows
    from taiex.store import Store

    settings = _settings()
    store = Store.from_settings(settings)
    facts = gather(store, settings)
    rows = [("database", _safe_url(settings.database_url)), *status_rows(facts)]
    rows += _gap_rows(facts.data)
    if as_json:
        _print_json({**_status_json(facts.data, settings), "summary": dict(rows)})
        return
    table = Table(title="taiex (加權指數)", show_header=False)
    for key, value in rows:
        table.add_row(key, value)
    stdout.print(table)


def _status_json(data: Any, settings: Settings) -> dict[str, Any]:
    load = data.last_load
    return {
        "database": _safe_url(settings.database_url),
        "rows": data.rows,
        "first_date": data.first_date,
        "last_date": data.last_date,
        "last_load": None if load is None else {**load.__dict__, "loaded_at": f"{load.loaded_at}Z"},
        "missing_sessions": data.missing_sessions,
        "extra_days": data.extra_days,
    }


def _gap_rows(data: Any) -> list[tuple[str, str]]:
    missing = data.missing_sessions
    latest = f" (latest: {', '.join(map(str, missing[-5:]))})" if missing else ""
    return [
        ("XTAI sessions not stored", f"{len(missing)}{latest}"),
        ("stored days XTAI lacks", f"{len(data.extra_days)} (Saturday sessions, ...)"),
    ]


# ---------------------------------------------------------------- models

KindArg = Annotated[str, typer.Argument(help="lstm or classifier.", metavar="KIND")]
KINDS = ("lstm", "classifier")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise typer.BadParameter(f"{kind!r} is not lstm or classifier", param_hint="KIND")
    return kind


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
        typer.Option(formats=["%Y-%m-%d"], help="Last day to train on (default: the last stored)."),
    ] = None,
) -> None:
    """Train a model on the stored days up to --until and register it.

    The first model of a kind becomes champion; later ones stay challengers (see `taiex monitor`,
    which judges them on days neither model trained on, and `taiex models promote`).

    Example: taiex train lstm --until 2024-12-31
    """
    from taiex.pipeline import train as run_train

    with _context() as ctx:
        result = run_train(ctx, _kind(kind), until.date() if until else None)
    role = "champion" if result["promoted"] else "challenger"
    stdout.print(
        f"{result['version']} ({role}) trained on {result['train_start']} … {result['train_end']}",
        highlight=False,
    )


@app.command()
def predict(as_json: JsonFlag = False) -> None:
    """Forecast the next 5 trading days' opening levels and the entry signal, from the champions.

    Forecasts start from the last stored trading day. When a champion's artifact is damaged, the
    last good former champion is used, and the output says so.

    Example: taiex predict --json
    """
    from taiex.models.registry import Registry
    from taiex.monitor import spec_for

    with _context() as ctx:
        history = ctx.history()
        registry = Registry(ctx.store)
        lstm = registry.load_champion("lstm", spec_for("lstm", ctx.settings).from_bytes)
        classifier = registry.load_champion(
            "classifier", spec_for("classifier", ctx.settings).from_bytes
        )
        frame = lstm.model.predict(history)
        signal = classifier.model.signal(history)
    for note in [*lstm.skipped, *classifier.skipped]:
        stderr.print(f"[yellow]warning:[/] skipped {note}", highlight=False)
    if as_json:
        _print_json(_prediction_json(frame, signal, lstm, classifier, history))
        return
    stdout.print(_forecast_table(frame, lstm.version.version, history))
    stdout.print(_signal_line(signal, classifier.version.version), highlight=False)


def _prediction_json(
    frame: Any, signal: dict[str, Any], lstm: Any, classifier: Any, history: Any
) -> dict[str, Any]:
    rows = [
        {
            "date": _day(r.date).isoformat(),
            "horizon": int(r.horizon),
            **{c: round(float(getattr(r, c)), 2) for c in _FORECAST_VALUES},
        }
        for r in frame.itertuples()
    ]
    return {
        "origin_date": history["date"].iloc[-1].date().isoformat(),
        "lstm_version": lstm.version.version,
        "forecast": rows,
        "signal": {
            "version": classifier.version.version,
            "date": signal["date"].isoformat(),
            "based_on": signal["based_on"].isoformat(),
            "probability": round(float(signal["probability"]), 4),
            "signal": int(signal["signal"]),
            "threshold": float(signal["threshold"]),
            "label": _SIGNAL_LABELS[int(signal["signal"])],
        },
        "skipped_artifacts": [*lstm.skipped, *classifier.skipped],
    }


_FORECAST_VALUES = ("forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive")
_SIGNAL_LABELS = {1: "enter (適合進場)", 0: "stay out (不適合進場)"}


def _day(value: Any) -> dt.date:
    import pandas as pd

    return value if type(value) is dt.date else pd.Timestamp(value).date()


def _forecast_table(frame: Any, version: str, history: Any) -> Table:
    origin = history["date"].iloc[-1].date()
    table = Table(title=f"TAIEX open (開盤) forecast from {origin} · {version}")
    for column in ("date", "h", "forecast", "80% interval", "95% interval", "naive"):
        table.add_column(column, justify="right")
    for r in frame.itertuples():
        table.add_row(
            _day(r.date).isoformat(),
            str(r.horizon),
            f"{r.forecast:,.2f}",
            f"{r.lower_80:,.2f} … {r.upper_80:,.2f}",
            f"{r.lower_95:,.2f} … {r.upper_95:,.2f}",
            f"{r.naive:,.2f}",
        )
    return table


def _signal_line(signal: dict[str, Any], version: str) -> str:
    label = _SIGNAL_LABELS[int(signal["signal"])]
    return (
        f"signal for {signal['date']}: {label}, P(close > MA20) = {signal['probability']:.3f} "
        f"(threshold {signal['threshold']:g}; {version})"
    )


backtest_app = typer.Typer(help="Walk-forward backtests of a freshly trained, unregistered model.")
app.add_typer(backtest_app, name="backtest")

TrainUntil = Annotated[
    dt.datetime, typer.Option("--train-until", formats=["%Y-%m-%d"], help="Last training day.")
]
FromDate = Annotated[
    dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day scored.")
]
ToDate = Annotated[
    dt.datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="Last day scored (default: the last)."),
]
OutFile = Annotated[Path, typer.Option("--out", help="CSV file to write.")]


@backtest_app.command("lstm")
def backtest_lstm(
    train_until: TrainUntil, start: FromDate, out: OutFile, end: ToDate = None
) -> None:
    """Train on days <= --train-until, forecast from every origin in [--from, --to].

    The model is not registered and never sees a target. Prints sMAPE per horizon beside the
    naive forecast's, their ratio, and the intervals' coverage.

    Example: taiex backtest lstm --train-until 2024-12-31 --from 2025-01-01 --out bt.csv
    """
    from taiex.models.backtest import backtest_lstm as backtest
    from taiex.models.lstm import LSTMConfig

    with _context() as ctx:
        result = _backtest(ctx, backtest, (LSTMConfig, "lstm"), train_until, start, end)
        _write_csv(result.rows, out)
        plot = _backtest_plot(ctx, result.rows, f"LSTM backtest from {start:%Y-%m-%d}")
    stdout.print(_summary_table(result.summary))
    stdout.print(f"wrote {len(result.rows)} rows to {out}; plot {plot}", highlight=False)


def _summary_table(summary: Any) -> Table:
    table = Table(title="sMAPE (%) on days the model never saw")
    columns = ("horizon", "model", "naive", "ratio", "80% coverage", "95% coverage", "pairs")
    for column in columns:
        table.add_column(column, justify="right")
    for r in summary.itertuples():
        table.add_row(
            str(r.horizon),
            f"{r.smape_model:.4f}",
            f"{r.smape_naive:.4f}",
            f"{r.ratio:.3f}",
            f"{r.coverage_80:.1%}",
            f"{r.coverage_95:.1%}",
            str(r.n),
        )
    return table


@backtest_app.command("classifier")
def backtest_classifier(
    train_until: TrainUntil, start: FromDate, out: OutFile, end: ToDate = None
) -> None:
    """Run a fresh tournament on days <= --train-until, score every day in [--from, --to].

    The model is not registered. Prints the tournament table and the ROC AUC beside the trivial
    close/MA20 score's on the same days.

    Example: taiex backtest classifier --train-until 2024-12-31 --from 2025-01-01 --out bt.csv
    """
    from taiex.models.backtest import backtest_classifier as backtest
    from taiex.models.classifier import ClassifierConfig
    from taiex.models.tournament import format_table

    with _context() as ctx:
        config = (ClassifierConfig, "classifier")
        result = _backtest(ctx, backtest, config, train_until, start, end)
        _write_csv(result.rows, out)
    stdout.print(format_table(result.table), highlight=False)
    auc = "undefined" if result.auc is None else f"{result.auc:.4f}"
    trivial = "undefined" if result.trivial_auc is None else f"{result.trivial_auc:.4f}"
    note = f" ({result.auc_note})" if result.auc_note else ""
    stdout.print(
        f"winner {result.model.winner_}: ROC AUC {auc}{note}; trivial close/MA20 score {trivial}; "
        f"{len(result.rows)} days written to {out}",
        highlight=False,
    )


def _backtest(
    ctx: Any,
    backtest: Any,
    config: tuple[Any, str],
    train_until: dt.datetime,
    start: dt.datetime,
    end: dt.datetime | None,
) -> Any:
    """Run a model module's ``backtest`` with the config file's settings for it."""
    from taiex.monitor import model_config

    config_class, section = config
    return backtest(
        ctx.history(),
        train_until=train_until.date(),
        start=start.date(),
        end=end.date() if end else None,
        config=model_config(config_class, getattr(ctx.settings, section), section),
    )


def _write_csv(frame: Any, path: Path) -> None:
    from taiex.errors import InputError

    try:
        frame.to_csv(path, index=False, float_format="%.4f", date_format="%Y-%m-%d")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _backtest_plot(ctx: Any, rows: Any, title: str) -> Path:
    from taiex.plots import backtest_plot

    return backtest_plot(rows, ctx.settings.plots_dir / "backtest_lstm.png", title)


models_app = typer.Typer(help="The model registry: versions, champions, rollback.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List every registered model with its status, training range and trial.

    Example: taiex models list --json
    """
    from taiex.models.registry import Registry

    with _context() as ctx:
        versions = Registry(ctx.store).versions()
    if as_json:
        _print_json([v.summary() for v in versions])
        return
    table = Table(title="models (taiex models list --json has every field)")
    for column in ("version", "status", "trained to", "decision", "score", "champion's"):
        table.add_column(column, no_wrap=True)
    for v in versions:
        table.add_row(
            v.version,
            v.status,
            str(v.train_end),
            v.decision or "",
            "" if v.score is None else f"{v.score:.4f}",
            "" if v.champion_score is None else f"{v.champion_score:.4f}",
        )
    stdout.print(table)


@models_app.command("rollback")
def models_rollback(kind: KindArg) -> None:
    """Give the championship back to the version that held it before the current champion.

    Example: taiex models rollback lstm
    """
    from taiex.models.registry import Registry

    with _context() as ctx:
        version = Registry(ctx.store).rollback(_kind(kind))  # type: ignore[arg-type]
    stdout.print(f"{version.version} is the {kind} champion again", highlight=False)


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="e.g. lstm-v3")]) -> None:
    """Make a registered version the champion by hand (recorded as a manual decision).

    Example: taiex models promote lstm-v3
    """
    from taiex.errors import StorageError
    from taiex.models.registry import Registry

    kind = _kind(version.rsplit("-v", 1)[0])
    with _context() as ctx:
        registry = Registry(ctx.store)
        target = registry.get(kind, version)
        registry.artifact(target)  # never crown a damaged artifact
        current = registry.champion(kind)
        if not registry.promote(target, "promoted by hand", expected=current):
            raise StorageError(f"the {kind} champion changed meanwhile; try again")
        registry.record_trial(
            target, decision="manual", reason="promoted by hand", score=None, champion_score=None
        )
    stdout.print(f"{version} is the {kind} champion", highlight=False)


# ---------------------------------------------------------------- monitoring and the daily job


@app.command()
def evaluate(as_json: JsonFlag = False) -> None:
    """Measure the champions on the days they never trained on and store the figures.

    The LSTM: sMAPE over the last 120 trading days (every target from each of its 5 origins),
    beside the naive forecast's. The classifier: ROC AUC of its probabilities over the last 40
    labelled days, beside the trivial close/MA20 score's. Plots go to $TAIEX_HOME/plots/evaluate/.

    Example: taiex evaluate --json
    """
    from taiex.pipeline import evaluate as run_evaluate

    with _context() as ctx:
        result = {kind: run_evaluate(ctx, kind) for kind in KINDS}
    _print_monitoring(result, as_json)


@app.command()
def monitor(as_json: JsonFlag = False) -> None:
    """Evaluate the champions, decide, retrain what degraded and promote only what is better.

    Example: taiex monitor --json
    """
    from taiex.pipeline import monitor as run_monitor

    with _context() as ctx:
        result = {kind: run_monitor(ctx, kind) for kind in KINDS}
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
        stdout.print(
            f"[bold]{kind}[/] {part['champion'] or '-'}: {part['metric_name']} {shown}{base}; "
            f"retrain: {'yes' if part['retrain'] else 'no'} — {part['reason']}",
            highlight=False,
        )
        challenger = part.get("challenger")
        if challenger:
            verdict = "promoted" if challenger["promoted"] else "not promoted"
            stdout.print(
                f"  challenger {challenger['version']}: {verdict} — {challenger['reason']}"
            )


@app.command()
def run(as_of: AsOf = None, as_json: JsonFlag = False) -> None:
    """The daily job: update the data (the whole history on an empty database), train any
    missing model, classify, forecast, monitor, and write the report.

    Forecasts start from the last stored trading day. Run twice on the same data, it changes
    nothing.

    Example: taiex run
    """
    from taiex.etl import ETL_LOCK
    from taiex.pipeline import months_to_load, run_models, update_data

    day = as_of.date() if as_of else None
    # The whole job holds the load lock: a second `taiex run` stops at once (exit code 75).
    with _context() as ctx, ctx.store.lock(ETL_LOCK):
        loader = ctx.loader(day)
        with _month_progress(loader, months_to_load(ctx, day), refresh=False) as advance:
            data = update_data(ctx, day, on_month=advance)
        loader.client.close()
        result = run_models(ctx, data)
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
    forecast = result["forecast"]
    stdout.print(
        f"forecast from {forecast['origin_date']} ({forecast['version']}): "
        + ", ".join(
            f"{d} {v:,.2f}" for d, v in zip(forecast["dates"], forecast["forecast"], strict=True)
        ),
        highlight=False,
    )
    signal = result["signal"]
    stdout.print(
        _signal_line({**signal, "date": signal["date"]}, signal["version"]), highlight=False
    )
    _print_monitoring(result["monitor"], as_json=False)
    stdout.print(f"report: {result['outputs']['report']}", highlight=False)


@app.command()
def report() -> None:
    """Write the HTML report ($TAIEX_HOME/report/index.html) from what the database holds.

    Example: taiex report
    """
    from taiex.pipeline import draw_outputs

    with _context() as ctx:
        path = draw_outputs(ctx)["report"]
    stdout.print(f"report: {path}", highlight=False)


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

    _step(download, as_of.date() if as_of else None)


@step_app.command("save")
def step_save(
    months: Annotated[list[str], typer.Argument(help="Months YYYY-MM, as download printed.")],
    as_of: AsOf = None,
) -> None:
    """Stage the downloaded months in weighted_index_temp; prints the load id.

    Example: taiex step save 2026-07 2026-08
    """
    from taiex.pipeline import save_to_database

    _step(save_to_database, months, as_of.date() if as_of else None)


@step_app.command("merge")
def step_merge(load_id: Annotated[str, typer.Argument(help="The id save printed.")]) -> None:
    """Merge a staged load into weighted_index in one transaction.

    Example: taiex step merge 3f2a...
    """
    from taiex.pipeline import merge

    _step(merge, load_id)


@step_app.command("classify")
def step_classify() -> None:
    """Store the entry signal for the next trading day (trains the first classifier if none).

    Example: taiex step classify
    """
    from taiex.pipeline import classify

    _step(classify)


@step_app.command("forecast")
def step_forecast() -> None:
    """Store the 5-day forecast from the last stored day (trains the first LSTM if none).

    Example: taiex step forecast
    """
    from taiex.pipeline import forecast

    _step(forecast)


@step_app.command("outputs")
def step_outputs() -> None:
    """Draw the plots and write the report.

    Example: taiex step outputs
    """
    from taiex.pipeline import draw_outputs

    _step(draw_outputs)


@step_app.command("evaluate")
def step_evaluate(kind: KindArg) -> None:
    """Evaluate one champion, store the figure, say whether to retrain.

    Example: taiex step evaluate lstm
    """
    from taiex.pipeline import evaluate as run_evaluate

    _step(run_evaluate, _kind(kind))


@step_app.command("retrain")
def step_retrain(kind: KindArg) -> None:
    """Train a challenger and promote it only if it is better.

    Example: taiex step retrain classifier
    """
    from taiex.pipeline import retrain

    _step(retrain, _kind(kind))


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
