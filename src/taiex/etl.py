"""Loading the history: which months to fetch, the raw landing cache, staging and merge.

Every month goes raw → staging → merge on its own: its response is saved verbatim under
``$TAIEX_HOME/raw/`` (atomically, with a small sidecar saying when and from where), then merged
in one transaction. A backfill stopped anywhere (an error, Ctrl-C, SIGKILL) loses nothing that was
merged, and a rerun takes the finished months from the cache.

Two days matter and are kept apart: the day a load acts as of (``today``, which ``--as-of`` sets,
never later than the real one) and the real day of each fetch (``clock``), which alone decides
whether a cached month is final. A pretended day must never freeze a month.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from taiex.calendar import (
    TAIPEI,
    Month,
    check_as_of,
    day_problem,
    month_range,
    sessions_between,
    taipei_today,
    unlisted_days,
)
from taiex.errors import InputError, OutputError, PriceMoveError, UpstreamFormatError
from taiex.files import write_atomic
from taiex.source import (
    FIRST_MONTH,
    PRICE_TEXT,
    DailyRow,
    TwseClient,
    limit_breaks,
    ohlc_problem,
    parse_month,
    price_value,
)
from taiex.store import PRICE_COLUMNS, LoadRecord, MergeResult, Store, load_id_for, new_run

log = logging.getLogger(__name__)

__all__ = ["TAIPEI", "taipei_today"]  # kept importable from here for the callers of old
ETL_LOCK = "etl"


@dataclass(frozen=True)
class DataStatus:
    """What is stored, how fresh it is, and how it lines up with the XTAI calendar."""

    rows: int
    first_date: dt.date | None
    last_date: dt.date | None
    last_load: LoadRecord | None
    missing_sessions: list[dt.date]  # XTAI sessions with no stored row
    extra_days: list[dt.date]  # stored days XTAI does not list (Saturday sessions, ...)
    # Stored days that are neither XTAI sessions nor known extra TWSE sessions: likely invented
    # (a CSV typo, a future date); `taiex delete` removes them.
    suspect_days: list[dt.date] = dataclasses.field(default_factory=list)
    # Consecutive stored sessions further apart than TWSE's daily limit, each as the refusal a
    # load would give: stored before the rule, or made consecutive by a delete.
    limit_breaks: list[str] = dataclasses.field(default_factory=list)


def data_status(store: Store) -> DataStatus:
    rows = store.read_rows()
    dates = [row.date for row in rows]
    missing: list[dt.date] = []
    extra: list[dt.date] = []
    if dates:
        sessions = set(sessions_between(dates[0], dates[-1]))
        stored = set(dates)
        missing = sorted(sessions - stored)
        extra = sorted(stored - sessions)
    return DataStatus(
        rows=len(dates),
        first_date=dates[0] if dates else None,
        last_date=dates[-1] if dates else None,
        last_load=store.last_load(),
        missing_sessions=missing,
        extra_days=extra,
        suspect_days=unlisted_days(extra),
        limit_breaks=[problem for _, _, problem in limit_breaks(rows)],
    )


# ---------------------------------------------------------------- the raw landing cache


@dataclass(frozen=True)
class CachedMonth:
    body: bytes
    url: str
    fetched_on: dt.date


class RawCache:
    """TWSE's latest response for each month, verbatim, in the database (``twse_responses``,
    with its URL, sha256 and fetch day): any worker reads what another one fetched."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, month: Month) -> CachedMonth | None:
        """The cached response, or None when absent or damaged (then it is fetched again)."""
        stored = self.store.responses.get(str(month))
        if stored is None:
            return None
        if not stored.intact:
            log.warning("raw cache for %s does not match its checksum; fetching it again", month)
            return None
        return CachedMonth(stored.body, stored.url, stored.fetched_on)

    @staticmethod
    def parse(month: Month, cached: CachedMonth) -> list[DailyRow] | None:
        """The cached month's rows, or None (with a warning) when they do not parse."""
        try:
            return parse_month(cached.body, month)
        except UpstreamFormatError as exc:
            log.warning("raw cache for %s does not parse (%s); fetching it again", month, exc)
            return None

    def write(self, month: Month, body: bytes, url: str, fetched_on: dt.date) -> None:
        """Keep ``body`` verbatim as the month's response, replacing the one before."""
        self.store.responses.save(str(month), body, url, fetched_on)


def as_of_day(as_of: dt.date | None, clock: Callable[[], dt.date] = taipei_today) -> dt.date:
    """The day a load acts as of: ``as_of`` when given (InputError when it is later than the
    real day in Taipei, or before TWSE's first day), else the real day."""
    real = clock()
    return check_as_of(as_of, real) if as_of else real


def is_final(month: Month, fetched_on: dt.date, rows: int, revision_days: int) -> bool:
    """Whether a response fetched on ``fetched_on`` is the month's last word.

    TWSE revises recent days, so a month counts as final only when it was fetched more than
    ``revision_days`` after its end. An empty past month is never final: every month since 1999
    has trading days, so an empty answer is worth asking again.
    """
    return rows > 0 and fetched_on > month.last_day + dt.timedelta(days=revision_days)


# ---------------------------------------------------------------- loading months


@dataclass(frozen=True)
class MonthLoad:
    """What loading one month did: where its rows came from and what the merge changed."""

    month: Month
    source: str  # "twse" or "cache"
    result: MergeResult
    seconds: float


class Loader:
    """Loads months into a Store from TWSE through the raw cache."""

    def __init__(
        self,
        store: Store,
        client: TwseClient,
        cache: RawCache,
        *,
        today: dt.date | None = None,
        revision_days: int = 5,
        clock: Callable[[], dt.date] = taipei_today,
    ) -> None:
        """``today`` is the day to act as of (default: the real one, never later); ``clock``
        gives the real day in Taipei, stamped on every fetch."""
        self.store = store
        self.client = client
        self.cache = cache
        self.clock = clock
        self.today = as_of_day(today, clock)
        self.revision_days = revision_days
        self.run = new_run()  # this load's months are recorded as one run (Store.last_load)

    def needs_fetch(self, month: Month, refresh: bool = False) -> bool:
        """Whether loading ``month`` will ask TWSE (used for the plan and the ETA)."""
        return refresh or self._final_cached_rows(month) is None

    def rows(self, month: Month, refresh: bool = False) -> tuple[list[DailyRow], str]:
        """The month's rows and where they came from: the cache when final there, else TWSE
        (and the response then lands in the cache)."""
        rows = None if refresh else self._final_cached_rows(month)
        if rows is not None:
            return rows, "cache"
        fetched = self.client.fetch_month(month)
        # The real day of the fetch, not --as-of: finality depends on when TWSE really answered.
        self.cache.write(month, fetched.body, fetched.url, self.clock())
        if not fetched.rows and month < Month.of(self.today):
            log.warning("TWSE has no rows for past month %s", month)
        return fetched.rows, "twse"

    def fresh_rows(self, month: Month) -> list[DailyRow]:
        """The month's rows from a cache entry fetched on or after today (as a download of the
        same run left it), else from TWSE: a month is never asked twice in one day."""
        cached = self.cache.read(month)
        rows = self.cache.parse(month, cached) if cached else None
        if cached is None or rows is None or cached.fetched_on < self.today:
            rows = self.rows(month)[0]
        return self.up_to_today(rows)

    def up_to_today(self, rows: list[DailyRow]) -> list[DailyRow]:
        """The ``rows`` of days up to the day the load acts as of: TWSE's month holds the days
        after an ``--as-of`` day, which a load as of that day must not store (a later load
        without it stores them)."""
        return [row for row in rows if row.date <= self.today]

    def load_month(self, month: Month, refresh: bool = False) -> MonthLoad:
        """Fetch (or take from the cache) one month and merge it in one transaction."""
        started = time.perf_counter()
        rows, source = self.rows(month, refresh)
        rows = self.up_to_today(rows)
        try:
            result = self.store.merge_rows(rows, source=source, month=str(month), run=self.run)
        except PriceMoveError as exc:
            cached = " as cached" if source == "cache" else ""
            where = f"TWSE {month}{cached} ({self.client.month_url(month)})"
            raise UpstreamFormatError(str(exc), where=where) from exc
        if result.inserted or result.updated:
            log.info("%s: %d new, %d revised", month, result.inserted, result.updated)
        return MonthLoad(month, source, result, time.perf_counter() - started)

    def _final_cached_rows(self, month: Month) -> list[DailyRow] | None:
        cached = self.cache.read(month)
        rows = self.cache.parse(month, cached) if cached else None
        if cached is None or rows is None:
            return None
        return rows if is_final(month, cached.fetched_on, len(rows), self.revision_days) else None


def backfill_months(since: Month | None, until: Month | None, today: dt.date) -> list[Month]:
    """The months a backfill covers: ``since`` (default 1999-01) to ``until`` (default now)."""
    first = since or FIRST_MONTH
    last = until or Month.of(today)
    if first < FIRST_MONTH:
        raise InputError(f"--since {first} is before {FIRST_MONTH}, the first month TWSE serves")
    if last > Month.of(today):
        raise InputError(f"--until {last} is in the future (today is {today})")
    if last < first:
        raise InputError(f"--until {last} is before --since {first}")
    return month_range(first, last)


def update_months(today: dt.date, last_stored: dt.date | None, revision_days: int) -> list[Month]:
    """The months an update loads: from the last stored day's month to the current one.

    During the first ``revision_days`` days of a month the previous month is loaded again too
    (TWSE revises). A job that did not run for weeks thus catches up on every month it missed.
    """
    current = Month.of(today)
    first = Month.of(last_stored) if last_stored else FIRST_MONTH
    if today.day <= revision_days:
        first = min(first, current.previous())
    return month_range(min(first, current), current)


def stage_months(loader: Loader, months: Sequence[Month]) -> str:
    """Stage the rows of ``months`` for a later merge (the DAG's save step); returns the load id.

    The id is derived from the data day (``loader.today``) and the months, so a retried or
    cleared save of the same run replaces its own staged rows instead of adding orphans. The
    rows come from a cache entry fetched on or after the data day, else from TWSE.
    """
    for month in months:  # before any request: TWSE has nothing to say about these
        if month < FIRST_MONTH:
            raise InputError(f"month {month} is before {FIRST_MONTH}, the first month TWSE serves")
        if month > Month.of(loader.today):
            raise InputError(f"month {month} is after the data day {loader.today}")
    rows = [row for month in months for row in loader.fresh_rows(month)]
    load_id = load_id_for(loader.today, months)
    return loader.store.stage_rows(rows, load_id=load_id)


def load_months(
    loader: Loader,
    months: list[Month],
    *,
    refresh: bool = False,
    on_month: Callable[[MonthLoad], None] | None = None,
) -> list[MonthLoad]:
    """Load ``months`` in order under the ETL lock; each month is its own transaction."""
    loads = []
    with loader.store.lock(ETL_LOCK):
        for month in months:
            load = loader.load_month(month, refresh=refresh)
            loads.append(load)
            if on_month:
                on_month(load)
    return loads


# ---------------------------------------------------------------- CSV import and export

CSV_HEADER = ["date", *PRICE_COLUMNS]
# Rows staged per INSERT while a file streams through: memory holds one batch, never the file.
CSV_BATCH_ROWS = 2_000
# No date or price is this long; a longer cell is refused before anything parses it.
CSV_MAX_CELL = 40
# Nor is any line this long: a longer one is refused before the csv module splits it (a line
# of a billion commas would otherwise become a list of a billion strings).
CSV_MAX_LINE = 1_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def read_csv_rows(path: Path, today: dt.date | None = None) -> list[DailyRow]:
    """Rows of a ``date,open,high,low,close`` file, validated like TWSE rows.

    Any bad line raises InputError naming the file, the line and why.
    """
    with _csv_file(path) as handle:
        return list(csv_rows(NumberedLines(handle, path), path, today or taipei_today()))


@contextlib.contextmanager
def _csv_file(path: Path) -> Iterator[TextIO]:
    """``path`` opened as UTF-8 text; read and decode errors become InputError naming it."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


class NumberedLines:
    """The non-blank lines of a text file, read in chunks, with the number of the last one given.

    Memory holds one chunk and one line at most: a line longer than ``limit`` is an InputError
    before anything splits it, and blank lines (any number of them) are skipped in C, a chunk at
    a time, never one Python step per line.
    """

    CHUNK = 1 << 20
    _NON_BLANK = re.compile(r"^[ \t\r\f\v]*\S[^\n]*", re.MULTILINE)

    def __init__(self, handle: TextIO, path: Path, limit: int = CSV_MAX_LINE) -> None:
        self.handle = handle
        self.path = path
        self.limit = limit
        self.number = 0  # the line number of the last line given (1 for the first line)
        self._newlines = 0  # newlines before the block being read

    def __iter__(self) -> Iterator[str]:
        carry = ""
        while chunk := self.handle.read(self.CHUNK):
            text = carry + chunk
            end = text.rfind("\n") + 1
            yield from self._lines(text[:end])
            carry = text[end:]
            if len(carry) > self.limit:
                self._too_long(self._newlines + 1)
        if carry:
            yield from self._lines(carry + "\n")

    def _lines(self, block: str) -> Iterator[str]:
        position = 0
        for match in self._NON_BLANK.finditer(block):
            self._newlines += block.count("\n", position, match.start())
            position = match.start()
            self.number = self._newlines + 1
            if match.end() - match.start() > self.limit:
                self._too_long(self.number)
            yield match.group() + "\n"
        self._newlines += block.count("\n", position)

    def _too_long(self, number: int) -> None:
        raise InputError(f"{self.path}: line {number} is longer than {self.limit:,} characters")


def csv_rows(lines: NumberedLines, path: Path, today: dt.date) -> Iterator[DailyRow]:
    """The validated rows of CSV ``lines``, one at a time (InputError at the first bad line).

    Dates must lie in [1999-01-05, ``today``] and not on a Sunday; a date may appear once. As at
    most one row a day fits in that range, the memory of the repeat check stays small.
    """
    reader = csv.reader(lines)
    header = _next_record(reader, lines)
    if header is None:
        raise InputError(f"{path}: the file is empty; expected the header {','.join(CSV_HEADER)}")
    if [h.strip().lower() for h in header] != CSV_HEADER:
        shown = [h[:CSV_MAX_CELL] for h in header[:10]]
        raise InputError(
            f"{path}: line {max(lines.number, 1)} must be the header {','.join(CSV_HEADER)}, "
            f"got {shown}"
        )
    seen: dict[dt.date, int] = {}
    while (cells := _next_record(reader, lines)) is not None:
        line = lines.number
        if not any(cell.strip() for cell in cells):
            continue
        row = _csv_row(cells, f"{path}: line {line}", today)
        if row.date in seen:
            raise InputError(f"{path}: line {line}: date {row.date} repeats line {seen[row.date]}")
        seen[row.date] = line
        yield row


def _next_record(reader: Iterator[list[str]], lines: NumberedLines) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:  # a field beyond csv's limit, a NUL byte, ...
        raise InputError(f"{lines.path}: line {lines.number}: not a CSV record ({exc})") from exc


def _csv_row(cells: list[str], where: str, today: dt.date) -> DailyRow:
    if len(cells) != len(CSV_HEADER):
        shown = [cell[:CSV_MAX_CELL] for cell in cells[:10]]
        raise InputError(f"{where}: expected {len(CSV_HEADER)} values, got {len(cells)}: {shown}")
    for name, cell in zip(CSV_HEADER, cells, strict=True):
        if len(cell) > CSV_MAX_CELL:
            raise InputError(f"{where}: {name} is {len(cell):,} characters long, not a value")
    date = _csv_date(cells[0], where, today)
    prices = [
        _csv_price(name, cell, where) for name, cell in zip(PRICE_COLUMNS, cells[1:], strict=True)
    ]
    row = DailyRow(date, *prices)
    problem = ohlc_problem(row)
    if problem:
        raise InputError(f"{where}: {problem}")
    return row


def _csv_date(cell: str, where: str, today: dt.date) -> dt.date:
    text = cell.strip()
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        date = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{where}: {cell!r} is not a date (YYYY-MM-DD)") from exc
    problem = day_problem(date, today)
    if problem:
        raise InputError(f"{where}: {problem}")
    return date


def _csv_price(name: str, cell: str, where: str) -> Decimal:
    text = cell.strip()
    if not PRICE_TEXT.fullmatch(text):
        raise InputError(f"{where}: {name} {cell!r} is not a number")
    try:
        return price_value(text)
    except ValueError as exc:
        raise InputError(f"{where}: {name} {cell!r} is not a price: it {exc}") from exc


def _batches(rows: Iterable[DailyRow], size: int) -> Iterator[list[DailyRow]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def import_csv(store: Store, path: Path, *, today: dt.date | None = None) -> MergeResult:
    """Merge a CSV file in one transaction (all of it or, on any bad line, none of it).

    The file streams through in batches, validated as it goes and staged inside the one
    transaction, so memory stays flat whatever the file's size. ``today`` (default: today in
    Taipei) is the last day a row may carry.
    """
    today = today or taipei_today()
    line_of: dict[dt.date, int] = {}  # for a refused move (PriceMoveError), found after the file

    def numbered(lines: NumberedLines) -> Iterator[DailyRow]:
        for row in csv_rows(lines, path, today):
            line_of[row.date] = lines.number
            yield row

    with store.lock(ETL_LOCK), _csv_file(path) as handle:
        batches = _batches(numbered(NumberedLines(handle, path)), CSV_BATCH_ROWS)
        try:
            return store.merge_batches(batches, source=f"csv:{path.name}")
        except PriceMoveError as exc:
            raise InputError(f"{path}: line {line_of[exc.day]}: {exc}") from exc


def delete_days(store: Store, start: dt.date, end: dt.date | None = None) -> list[dt.date]:
    """Remove the stored days in ``[start, end]`` (``end`` default: ``start``) under the ETL lock,
    in one transaction logged in ``etl_loads``; returns the days removed."""
    end = end or start
    if end < start:
        raise InputError(f"--to {end} is before --from {start}")
    with store.lock(ETL_LOCK):
        days = store.delete_days(start, end, source=f"delete {start}…{end}")
    if days:
        log.info("deleted %d days from %s to %s", len(days), days[0], days[-1])
    return days


def export_csv(store: Store, path: Path) -> int:
    """Write every stored day to ``path`` (atomically), 2 decimals; returns the row count.

    Only a regular file or a new path in an existing folder is written (OutputError otherwise).
    """
    if store.holds_file(path):
        raise OutputError(f"{path}: is a file of the database; export elsewhere")
    rows = store.read_rows()
    lines = [",".join(CSV_HEADER)]
    lines += [
        ",".join([r.date.isoformat(), *(f"{getattr(r, c):.2f}" for c in PRICE_COLUMNS)])
        for r in rows
    ]
    write_atomic(path, ("\n".join(lines) + "\n").encode(), make_parents=False)
    return len(rows)
