"""What the ``taiex`` command prints: the consoles, the one-line error, the tables and the JSON
shapes (the progress bars are :mod:`taiex.progress`). The commands (:mod:`taiex.cli`,
:mod:`taiex.commands`) parse and call the library; this module only renders what it returned.

It imports Rich and the standard library at module level, nothing else: ``taiex status`` imports
it, and must stay free of model code (types come under ``TYPE_CHECKING``, and the few library
helpers a renderer needs are imported inside it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console, JustifyMethod
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from taiex.etl import DataStatus, MonthLoad
    from taiex.models.registry import ModelVersion
    from taiex.pipeline import Backtest, DataAge, Served
    from taiex.preopen_run import NightSummary, PreopenSummary
    from taiex.report.facts import ReportFacts
    from taiex.report.track import DayRecord, ServedForecast, ServedSignal
    from taiex.simulation.replay import Outcome
    from taiex.simulation.summary import Comparison

# A pipeline step's JSON-shaped result, as the pipeline returns it (`taiex run`, `evaluate`, ...).
Result = Mapping[str, Any]


class _Console(Console):
    """A console that wraps lines at the terminal's width on a terminal only: piped or
    redirected, every line is printed whole (a path is never broken in two, no line ends in
    spaces). Tables still fit the width, folding their cells."""

    @property
    def soft_wrap(self) -> bool:
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        """Console's constructor sets it; whether the output is a terminal decides instead."""


# Nothing taiex prints is Rich markup: paths, cells and TWSE's words are shown as they are ("[/b]"
# in a folder's name made `export-csv` end in a MarkupError after writing its file).
stdout = _Console(markup=False)
stderr = _Console(stderr=True, markup=False)

TAIPEI = ZoneInfo("Asia/Taipei")


def table(title: str | None = None, *, show_header: bool = True) -> Table:
    """A table of taiex's output: a cell too long for the terminal folds onto more lines, it is
    never cut with an ellipsis (nor is a header)."""
    return Table(title=title, show_header=show_header)


def add_column(table: Table, header: str = "", *, justify: JustifyMethod = "left") -> None:
    """A column that folds what does not fit (a value is never cut)."""
    table.add_column(header, justify=justify, overflow="fold")


def print_error(message: str) -> None:
    """``error: message`` on stderr, the message as plain text: brackets in a file name, a cell
    or a TWSE body are shown as they are, never read as Rich markup."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def say(text: str) -> None:
    """One plain line on stdout (no highlighting of numbers or paths)."""
    stdout.print(text, highlight=False)


def note(text: str) -> None:
    """One plain line on stderr, never wrapped (a deprecation)."""
    stderr.print(text, highlight=False, soft_wrap=True)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_json_line(data: object) -> None:
    """One compact line: a container's last line of output is its XCom (``taiex step``)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def log_time(local: dt.datetime) -> Text:
    """A log line's time, in ISO order and Taipei time like every other time taiex prints (Rich
    hands over the record's time as a naive local time)."""
    return Text(f"{local.astimezone(TAIPEI):%Y-%m-%d %H:%M:%S}")


class _LogHandler(RichHandler):
    """Rich's log lines on a terminal; piped or redirected, one plain line per record
    (``2026-12-07 14:52:09 WARNING message``, more lines of it indented): Rich would wrap it at
    80 columns, pad every line with spaces to the width and leave out a time that repeats."""

    def emit(self, record: logging.LogRecord) -> None:
        if self.console.is_terminal:
            super().emit(record)
            return
        try:
            when = dt.datetime.fromtimestamp(record.created, TAIPEI)
            lines = [line.rstrip() for line in self.format(record).splitlines()] or [""]
            text = "\n  ".join(
                [f"{when:%Y-%m-%d %H:%M:%S} {record.levelname} {lines[0]}", *lines[1:]]
            )
            self.console.file.write(text + "\n")
        except Exception:
            self.handleError(record)


def configure_logging(level: int) -> None:
    """taiex's logs through Rich on stderr at ``level`` (once, however often a test invokes),
    each with its time in Taipei."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_taiex", False):
            root.removeHandler(handler)
    handler = _LogHandler(
        console=stderr,
        show_path=False,
        markup=False,
        rich_tracebacks=False,
        log_time_format=log_time,
    )
    handler._taiex = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    logging.getLogger("taiex").setLevel(level)
    root.setLevel(max(level, logging.INFO) if level > logging.DEBUG else logging.DEBUG)


# ---------------------------------------------------------------- loads


def print_loads(loads: Sequence[MonthLoad]) -> None:
    inserted = sum(load.result.inserted for load in loads)
    updated = sum(load.result.updated for load in loads)
    fetched = sum(load.source == "twse" for load in loads)
    say(
        f"{len(loads)} months ({fetched} from TWSE, {len(loads) - fetched} from the cache): "
        f"{inserted} new days, {updated} revised"
    )


# ---------------------------------------------------------------- status


def print_status(facts: ReportFacts, database: str, as_json: bool) -> None:
    """``taiex status``: the rows of :func:`taiex.report.status.status_rows` and the gaps against
    the XTAI calendar, as a table or as JSON (the data facts and those rows as ``summary``)."""
    from taiex.report.status import status_rows

    rows = [("database", database), *status_rows(facts), *gap_rows(facts.data)]
    if as_json:
        overnight = [
            {"symbol": s.symbol, "last": s.last, "expected": s.expected, "fresh": s.fresh}
            for s in facts.overnight
        ]
        print_json(
            {**status_json(facts.data, database), "overnight": overnight, "summary": dict(rows)}
        )
        return
    shown = table("taiex (加權指數)", show_header=False)
    add_column(shown)
    add_column(shown)
    for key, value in rows:
        shown.add_row(key, Text(value))
    stdout.print(shown)


def status_json(data: DataStatus, database: str) -> dict[str, object]:
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


def _extra_days_text(data: DataStatus) -> str:
    """How many stored days the XTAI calendar does not list, and what they are."""
    extra, suspect = len(data.extra_days), len(data.suspect_days)
    if not extra:
        return "0"
    known = f"{extra - suspect} known TWSE Saturday session(s)"
    return f"{extra} ({known}, {suspect} suspect)" if suspect else f"{extra} ({known})"


def gap_rows(data: DataStatus) -> list[tuple[str, str]]:
    missing = data.missing_sessions
    latest = f" (latest: {', '.join(map(str, missing[-5:]))})" if missing else ""
    rows = [
        ("XTAI sessions not stored", f"{len(missing)}{latest}"),
        ("stored days XTAI lacks", _extra_days_text(data)),
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


# ---------------------------------------------------------------- what the champions serve

_SIGNAL_LABELS = {1: "enter (適合進場)", 0: "stay out (不適合進場)"}


def print_served(
    served: Sequence[Served],
    as_json: bool,
    age: DataAge | None = None,
    remark: str | None = None,
) -> None:
    """``taiex predict``: a warning per skipped artifact on stderr, then the line saying how
    far the data lags (when it does), ``remark`` (what was not served), and each kind's answer
    as its table or line, or all of them as one JSON object."""
    for part in served:
        for skipped in part.skipped:
            stderr.print(Text(f"warning: skipped {skipped}", style="yellow"))
    if as_json:
        print_json(
            {
                **{key: value for part in served for key, value in served_json(part).items()},
                "skipped_artifacts": [skipped for part in served for skipped in part.skipped],
                **({"data_age": age} if age is not None else {}),
                **({"remark": remark} if remark else {}),
            }
        )
        return
    if age is not None and age["message"]:
        say(age["message"])
    if remark:
        say(remark)
    for part in served:
        _RENDER[part.spec.serves](part)


def served_json(part: Served) -> dict[str, object]:
    """One champion's answer in ``taiex predict --json``."""
    from taiex.frames import FORECAST_VALUES
    from taiex.kinds.evaluation import as_count, as_date, as_float

    if part.spec.serves == "forecasts":
        rows = part.rows
        return {
            "origin_date": as_date(rows[0]["origin_date"]).isoformat(),
            "lstm_version": part.version,
            "forecast": [
                {
                    "date": as_date(row["target_date"]).isoformat(),
                    "horizon": row["horizon"],
                    **{c: round(as_float(row[c]), 2) for c in FORECAST_VALUES},
                }
                for row in rows
            ],
        }
    row = part.rows[0]
    return {
        "signal": {
            "version": part.version,
            "date": as_date(row["target_date"]).isoformat(),
            "based_on": as_date(row["based_on"]).isoformat(),
            "probability": round(as_float(row["probability"]), 4),
            "signal": row["signal"],
            "threshold": row["threshold"],
            "label": _SIGNAL_LABELS[as_count(row["signal"])],
        }
    }


def _forecast_table(part: Served) -> None:
    from taiex.kinds.evaluation import as_date

    rows = part.rows
    shown = table(f"TAIEX open (開盤) forecast from {rows[0]['origin_date']} · {part.version}")
    for column in ("date", "h", "forecast", "80% interval", "95% interval", "naive"):
        add_column(shown, column, justify="right")
    for r in rows:
        shown.add_row(
            as_date(r["target_date"]).isoformat(),
            str(r["horizon"]),
            f"{r['forecast']:,.2f}",
            f"{r['lower_80']:,.2f} … {r['upper_80']:,.2f}",
            f"{r['lower_95']:,.2f} … {r['upper_95']:,.2f}",
            f"{r['naive']:,.2f}",
        )
    stdout.print(shown)


def _signal_line(signal: Result, version: str) -> str:
    label = _SIGNAL_LABELS[int(signal["signal"])]
    return (
        f"signal for {signal['date']}: {label}, P(close > MA20) = {signal['probability']:.3f} "
        f"(threshold {signal['threshold']:g}; {version})"
    )


def _print_signal(part: Served) -> None:
    row = part.rows[0]
    say(_signal_line({**row, "date": row["target_date"]}, part.version))


# How `taiex predict` shows what a kind serves (a store repository's name).
_RENDER = {"forecasts": _forecast_table, "signals": _print_signal}


def print_day_record(record: DayRecord, as_json: bool, age: DataAge | None = None) -> None:
    """``taiex predict --day D`` for a past day: what each round served from the data to D,
    beside what happened (the actual opens, the signal's outcome), or one JSON object."""
    if as_json:
        print_json({**day_record_json(record), **({"data_age": age} if age else {})})
        return
    say(f"What was served from the data to {record.day}, and what happened:")
    for round_name in record.rounds:
        forecasts = [f for f in record.forecasts if f.round == round_name]
        if forecasts:
            _served_forecast_table(round_name, forecasts)
        for signal in (s for s in record.signals if s.round == round_name):
            say(_served_signal_line(signal))


def day_record_json(record: DayRecord) -> dict[str, object]:
    """``predict --json --day D`` for a past day: by round, its forecast and its signal."""
    rounds: dict[str, dict[str, object]] = {}
    for f in record.forecasts:
        part = rounds.setdefault(f.round, {})
        forecast = part.setdefault("forecast", {"version": f.model_version, "rows": []})
        forecast["rows"].append(  # type: ignore[index]
            {
                "date": f.target.isoformat(),
                "horizon": f.horizon,
                "forecast": round(f.forecast, 2),
                "lower_80": round(f.lower_80, 2),
                "upper_80": round(f.upper_80, 2),
                "naive": round(f.naive, 2),
                "actual": f.actual,
                "status": f.status,
                "smape": f.smape,
                "naive_smape": f.naive_smape,
            }
        )
    for s in record.signals:
        rounds.setdefault(s.round, {})["signal"] = {
            "version": s.model_version,
            "date": s.target.isoformat(),
            "based_on": s.based_on.isoformat(),
            "probability": round(s.probability, 4),
            "signal": s.signal,
            "threshold": s.threshold,
            "close": s.close,
            "ma20": s.ma20,
            "outcome": s.label,
            "correct": s.correct,
            "status": s.status,
        }
    return {"day": record.day.isoformat(), "served": rounds}


def _served_forecast_table(round_name: str, rows: Sequence[ServedForecast]) -> None:
    first = rows[0]
    shown = table(
        f"{round_name} forecast of the open (開盤) from {first.origin} · {first.model_version}; "
        f"naive (the close of {first.origin}) {first.naive:,.2f}"
    )
    for column in ("date", "h", "forecast", "80% interval", "actual open", "sMAPE % (naive)"):
        add_column(shown, column, justify="right")
    for f in rows:
        scored = f.smape is not None and f.naive_smape is not None
        shown.add_row(
            f.target.isoformat(),
            str(f.horizon),
            f"{f.forecast:,.2f}",
            f"{f.lower_80:,.0f}–{f.upper_80:,.0f}",
            f"{f.actual:,.2f}" if f.actual is not None else f.status,
            f"{f.smape:.3f} ({f.naive_smape:.3f})" if scored else "–",
        )
    stdout.print(shown)


def _served_signal_line(s: ServedSignal) -> str:
    served = (
        f"{s.round} signal for {s.target}: {_SIGNAL_LABELS[s.signal]}, P(close > MA20) = "
        f"{s.probability:.3f} (threshold {s.threshold:g}; {s.model_version})"
    )
    if s.label is None or s.close is None or s.ma20 is None:
        return f"{served}; what happened: {s.status}, the close after {s.based_on} is not stored"
    side = "above" if s.label else "not above"
    verdict = "right" if s.correct else "wrong"
    return (
        f"{served}; what happened: the close {s.close:,.2f} was {side} the MA20 of "
        f"{s.based_on} ({s.ma20:,.2f}): {verdict}"
    )


# ---------------------------------------------------------------- monitoring and the daily job


def print_monitoring(result: Mapping[str, Result], as_json: bool) -> None:
    """``taiex evaluate`` and ``taiex monitor``: per kind, the champion's figure beside its
    baseline, the retrain decision, and the challenger's fate."""
    if as_json:
        print_json(result)
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


def print_run(result: Result, as_json: bool) -> None:
    """``taiex run``: what the data step loaded, what each kind served, the monitoring, and
    where the report is."""
    from taiex.kinds import KINDS

    if as_json:
        print_json(result)
        return
    age = result.get("data_age")
    if age is not None and age["message"]:
        say(age["message"])
    data = result["data"]
    if result["nothing_new"]:
        say(f"TWSE has nothing new after {data['last_date']}.")
    else:
        say(f"{data['inserted']} new days, {data['updated']} revised; last {data['last_date']}")
    for spec in KINDS:
        _SUMMARY[spec.serves](result["served"][spec.name])
    print_monitoring(result["monitor"], as_json=False)
    say(f"report: {result['outputs']['report']}")


def print_preopen_run(result: PreopenSummary, as_json: bool) -> None:
    """``taiex run --round pre-open``: the round, the US closes, the night, what was served
    (the evening's, saying why, when the round cannot serve), the monitoring, the report."""
    if as_json:
        print_json(result)
        return
    say(
        f"pre-open round for the session of {result['session']} (issued "
        f"{result['issued_at'][:16].replace('T', ' ')} Taipei), from the close of "
        f"{result['origin']}"
    )
    data = result["data"]
    if data is not None:
        say(f"TWSE: {data['inserted']} new days, {data['updated']} revised")
    overnight = result["overnight"]
    if overnight["error"]:
        say(f"US closes not updated: {overnight['error']}")
    else:
        say(
            f"US closes from {overnight['source']} through {overnight['through']}: "
            f"{overnight['inserted']} new, {overnight['updated']} revised"
        )
    say(_night_line(result["night"]))
    if result["fallback"]:
        say(f"fallback: the evening's answer stands, because {result['fallback']}")
    from taiex.kinds import get

    for name, part in result["served"].items():
        _SUMMARY[get(name).serves](part)
    print_monitoring(result["monitor"], as_json=False)
    if result["outputs"]:
        say(f"report: {result['outputs']['report']}")


def _night_line(night: NightSummary) -> str:
    if night["quiet"]:
        return "night: no US session closed since the origin's close (moves 0)"
    moves = ", ".join(
        f"{symbol} {'unknown' if value is None else f'{value * 100:+.2f} %'}"
        for symbol, value in night["moves"].items()
    )
    sessions = ", ".join(night["sessions"])
    return f"night (US session {sessions}): {moves}"


def _forecast_summary(forecast: Result) -> None:
    say(
        f"forecast from {forecast['origin_date']} ({forecast['version']}): "
        + ", ".join(
            f"{d} {v:,.2f}" for d, v in zip(forecast["dates"], forecast["forecast"], strict=True)
        )
    )


def _signal_summary(signal: Result) -> None:
    say(_signal_line(signal, signal["version"]))


# How `taiex run` sums up what a kind served (a store repository's name).
_SUMMARY = {"forecasts": _forecast_summary, "signals": _signal_summary}


# ---------------------------------------------------------------- models


def print_versions(versions: Sequence[ModelVersion], as_json: bool) -> None:
    """``taiex models list``: one row per registered version (``--json``: every field)."""
    if as_json:
        print_json([v.summary() for v in versions])
        return
    shown = table("models (taiex models list --json has every field)")
    for column in ("version", "status", "trained to", "decision", "score", "champion's"):
        add_column(shown, column)
    for v in versions:
        shown.add_row(
            Text(v.version),
            v.status,
            str(v.train_end),
            Text(v.decision or ""),
            "" if v.score is None else f"{v.score:.4f}",
            "" if v.champion_score is None else f"{v.champion_score:.4f}",
        )
    stdout.print(shown)


def print_backtest(result: Backtest, written: Path) -> None:
    """``taiex backtest``: the summary in words, then where the rows (and the plot) went."""
    stdout.print(Text(result.text))
    say(
        f"wrote {len(result.rows)} rows to {written}"
        + (f"; plot {result.plot}" if result.plot else "")
    )


# ---------------------------------------------------------------- simulations


def print_simulation(outcome: Outcome) -> None:
    """What the replay would have served, in plain words, and where its files are."""
    from taiex.simulation.page import plain_words

    total = outcome.summary["days"]
    for line in plain_words(outcome.summary):
        say(line)
    say(
        f"{outcome.days_run} session(s) simulated now, {total - outcome.days_run} already done; "
        f"the tables, summary.json and index.html are in {outcome.folder}"
    )


def print_interrupted(days_run: int, out: Path) -> None:
    stderr.print(
        f"interrupted after {days_run} session(s) of this run; every finished one "
        f"is kept in {out}: run the same command again to resume",
        highlight=False,
    )


def print_comparison(comparison: Comparison) -> None:
    """``taiex simulate compare``: one column per simulation folder, one row per figure."""
    shown = table("simulations side by side")
    add_column(shown)
    for name in comparison.names:
        add_column(shown, name, justify="right")
    for label, values in comparison.rows:
        shown.add_row(label, *values)
    stdout.print(shown)
