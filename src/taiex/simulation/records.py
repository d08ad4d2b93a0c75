"""The files a simulation writes to its folder, their columns, and the resume bookkeeping.

Each table is a CSV file with a fixed header. Rows are appended day by day, each file flushed and
synced before the day is committed (the scratch database's checkpoint is the commit, see
:mod:`taiex.simulation.replay`). What is done is what is in the folder: on resume, every row of a
day after the last committed one, and any line a kill cut in half, is dropped, and that day is
redone. Values are written in one fixed format, so the same simulation on one machine gives the
same bytes.

Every row records its round (docs/design.md, "Two rounds a day"): ``evening`` or ``pre-open``. A
session's pre-open round runs before its evening: its forecasts and signals start from the
session before (their ``origin_date`` or ``date``), so a pre-open row of those tables belongs to
the session after its origin day, and is kept on resume only when that day is before the last
session done (:attr:`Table.origin_keyed`).

The outcomes of what was served (a forecast's ``actual`` open, a signal's ``label``, the pre-open
strategy's trading price, the next session's open) are not known when it is served;
:meth:`RunFolder.fill_outcomes` writes them in from the history when the simulation ends.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from taiex.errors import InputError
from taiex.files import write_atomic
from taiex.rounds import Round

ColumnKind = Literal["date", "int", "bool", "level", "ratio", "seconds", "text"]
_DECIMALS = {"level": 4, "ratio": 6, "seconds": 3}


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind

    def format(self, value: Any) -> str:
        """The value as CSV text; None or NaN is the empty string."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if value is pd.NaT:
            return ""
        if self.kind == "date":
            return (value if type(value) is dt.date else pd.Timestamp(value).date()).isoformat()
        if self.kind in ("int", "bool"):
            return str(int(value))
        if self.kind == "text":
            return str(value)
        return f"{float(value):.{_DECIMALS[self.kind]}f}"


@dataclass(frozen=True)
class Table:
    """One CSV file: its name, its columns, and the column holding the day a row was written;
    ``origin_keyed``: for a pre-open row, that column holds its origin, the session before the
    one whose round wrote it."""

    file: str
    key: str
    columns: tuple[Column, ...]
    origin_keyed: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def dates(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "date"]

    def lines(self, rows: Iterable[Mapping[str, Any]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows:
            writer.writerow([c.format(row.get(c.name)) for c in self.columns])
        return buffer.getvalue()

    def header(self) -> str:
        return ",".join(self.names) + "\n"


def _columns(spec: str) -> tuple[Column, ...]:
    """``"date:date horizon:int ..."`` as columns."""
    return tuple(Column(*p.split(":")) for p in spec.split())  # type: ignore[arg-type]


# What was served: one row per round, origin and horizon, the columns of `taiex backtest lstm`,
# the drift random walk's forecast beside the naive one, and the version that served it (on a
# pre-open round that fell back, the evening's).
FORECASTS = Table(
    "forecasts.csv",
    "origin_date",
    _columns(
        "round:text origin_date:date horizon:int target_date:date forecast:level lower_80:level "
        "upper_80:level lower_95:level upper_95:level actual:level naive:level drift:level "
        "model_version:text"
    ),
    origin_keyed=True,
)
# The entry signal served by each round for the session after ``date``, its label once known,
# the trivial close/MA20 - 1 score of ``date``, its close, and the price the round's strategy
# trades at: the evening's at that close, the pre-open round's at the next session's open (an
# outcome, filled in at the end).
SIGNALS = Table(
    "signals.csv",
    "date",
    _columns(
        "round:text date:date probability:ratio signal:int label:int model_version:text "
        "trivial:ratio close:level trade_price:level"
    ),
    origin_keyed=True,
)
# What monitoring found and did, one row per session, round and kind (``date``: the session
# whose round it was; a pre-open round judges the data up to the session before).
DECISIONS = Table(
    "decisions.csv",
    "date",
    _columns(
        "round:text date:date kind:text champion:text metric:ratio baseline:ratio "
        "threshold:ratio retrain:bool reason:text challenger:text challenger_score:ratio "
        "champion_score:ratio promoted:bool served_by:text"
    ),
)
# Every model trained, with the session whose round trained it and the seconds it took.
VERSIONS = Table(
    "versions.csv",
    "trained_on_day",
    _columns(
        "round:text kind:text version:text train_start:date train_end:date "
        "trained_on_day:date seconds:seconds"
    ),
)
# The cost of each session's rounds: CPU seconds of the process (every thread) and wall seconds;
# for a pre-open round that served the evening's answer, why.
DAYS = Table(
    "days.csv",
    "date",
    _columns("round:text date:date cpu_seconds:seconds seconds:seconds fallback:text"),
)

TABLES = (FORECASTS, SIGNALS, DECISIONS, VERSIONS, DAYS)


class RunFolder:
    """The folder of one simulation: its tables, its settings file and its scratch database."""

    SETTINGS = "simulation.json"
    SUMMARY = "summary.json"
    PAGE = "index.html"
    DATABASE = "scratch.db"  # the committed state: the end of the last day done
    WORK = "scratch-work.db"  # the day in progress; renamed over DATABASE to commit it

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, table: Table) -> Path:
        return self.path / table.file

    @property
    def database(self) -> Path:
        return self.path / self.DATABASE

    @property
    def work_database(self) -> Path:
        return self.path / self.WORK

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot create the folder ({exc.strerror})") from exc

    # ------------------------------------------------------------ writing

    def append(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows (the header first when the file is new), synced to disk."""
        path = self.file(table)
        text = table.lines(rows)
        if not path.exists() or path.stat().st_size == 0:
            text = table.header() + text
        if not text:
            return
        with path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def truncate_after(self, day: dt.date | None) -> dict[str, int]:
        """Keep only whole rows of days up to ``day`` (none when None) in every table.

        Returns how many lines each file lost: the rows of the day a stop cut short.
        """
        dropped = {}
        for table in TABLES:
            path = self.file(table)
            if not path.exists():
                continue
            kept, lost = _rows_up_to(table, path.read_text(encoding="utf-8"), day)
            if lost:
                write_atomic(path, (table.header() + kept).encode("utf-8"))
            dropped[table.file] = lost
        return dropped

    def rewrite(self, table: Table, frame: pd.DataFrame) -> None:
        """Replace a table's file with ``frame``'s rows (atomically)."""
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        write_atomic(self.file(table), (table.header() + table.lines(records)).encode("utf-8"))

    # ------------------------------------------------------------ reading

    def read(self, table: Table) -> pd.DataFrame:
        """A table as a DataFrame with its columns typed (dates as datetime64); empty if absent."""
        return read_table(table, self.file(table))

    def fill_outcomes(self, history: pd.DataFrame) -> None:
        """Write each served forecast's actual open, each signal's label and each pre-open
        signal's trading price (the next session's open), where the history holds them (the
        days after the simulation's last day stay empty)."""
        from taiex.features import entry_labels

        dates = pd.to_datetime(history["date"])
        opens = pd.Series(history["open"].to_numpy(float), index=dates)
        forecasts = self.read(FORECASTS)
        if not forecasts.empty:
            forecasts["actual"] = opens.reindex(forecasts["target_date"]).to_numpy()
            self.rewrite(FORECASTS, forecasts)
        signals = self.read(SIGNALS)
        if not signals.empty:
            labels = pd.Series(entry_labels(history).to_numpy(), index=dates)
            signals["label"] = labels.reindex(signals["date"]).to_numpy()
            next_open = pd.Series(opens.to_numpy()[1:], index=dates[:-1])
            preopen = (signals["round"] == Round.pre_open.value).to_numpy()
            signals.loc[preopen, "trade_price"] = next_open.reindex(
                signals.loc[preopen, "date"]
            ).to_numpy()
            self.rewrite(SIGNALS, signals)


def read_table(table: Table, path: Path) -> pd.DataFrame:
    if not path.exists():
        return _empty(table)
    try:
        frame = pd.read_csv(
            path,
            dtype={c.name: str for c in table.columns if c.kind == "text"},
            keep_default_na=False,
            na_values={c.name: [""] for c in table.columns if c.kind != "text"},
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot be read as the {table.file} table ({exc})") from exc
    if list(frame.columns) != table.names:
        raise InputError(
            f"{path}: the columns are not those of {table.file}: {list(frame.columns)}"
        )
    for column in table.columns:
        if column.kind == "date":
            frame[column.name] = pd.to_datetime(frame[column.name])
        elif column.kind != "text":
            frame[column.name] = pd.to_numeric(frame[column.name]).astype(float)
    return frame


def _empty(table: Table) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=float) for name in table.names})
    for column in table.columns:
        if column.kind == "date":
            frame[column.name] = pd.Series(dtype="datetime64[ns]")
        elif column.kind == "text":
            frame[column.name] = pd.Series(dtype=str)
    return frame


def _rows_up_to(table: Table, text: str, day: dt.date | None) -> tuple[str, int]:
    """The whole rows of ``text`` (a table's file) whose key day is at most ``day``, as text,
    and how many lines were dropped (header excluded)."""
    lines = text.splitlines(keepends=True)[1:]
    kept: list[str] = []
    for line in lines:
        if _whole_row(table, line, day):
            kept.append(line)
    return "".join(kept), len(lines) - len(kept)


def _whole_row(table: Table, line: str, day: dt.date | None) -> bool:
    if day is None or not line.endswith("\n"):
        return False  # no day is kept, or the line was cut before its end
    fields = next(csv.reader([line]))
    if len(fields) != len(table.columns):
        return False
    row = dict(zip(table.names, fields, strict=True))
    try:
        written = dt.date.fromisoformat(row[table.key])
    except ValueError:
        return False
    if table.origin_keyed and row.get("round") == Round.pre_open.value:
        # Its origin is a stored day before the session whose round wrote it: that session is
        # at most ``day`` exactly when the origin is before ``day`` (a session done).
        return written < day
    return written <= day
