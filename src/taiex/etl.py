"""Loading the history: which months to fetch, the raw landing cache, staging and merge.

Every month goes raw → staging → merge on its own: its response is saved verbatim under
``$TAIEX_HOME/raw/`` (atomically, with a small sidecar saying when and from where), then merged
in one transaction. A backfill stopped anywhere (an error, Ctrl-C, SIGKILL) loses nothing that was
merged, and a rerun takes the finished months from the cache.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from taiex.calendar import Month, month_range, sessions_between
from taiex.errors import InputError, UpstreamFormatError
from taiex.files import write_atomic
from taiex.source import FIRST_MONTH, DailyRow, TwseClient, ohlc_problem, parse_month
from taiex.store import PRICE_COLUMNS, LoadRecord, MergeResult, Store, load_id_for

log = logging.getLogger(__name__)

TAIPEI = ZoneInfo("Asia/Taipei")
ETL_LOCK = "etl"


def taipei_today() -> dt.date:
    """Today in Taipei, the day TWSE's data belongs to."""
    return dt.datetime.now(TAIPEI).date()


@dataclass(frozen=True)
class DataStatus:
    """What is stored, how fresh it is, and how it lines up with the XTAI calendar."""

    rows: int
    first_date: dt.date | None
    last_date: dt.date | None
    last_load: LoadRecord | None
    missing_sessions: list[dt.date]  # XTAI sessions with no stored row
    extra_days: list[dt.date]  # stored days XTAI does not list (Saturday sessions, ...)


def data_status(store: Store) -> DataStatus:
    dates = store.stored_dates()
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
    )


# ---------------------------------------------------------------- the raw landing cache


@dataclass(frozen=True)
class CachedMonth:
    body: bytes
    url: str
    fetched_on: dt.date


class RawCache:
    """One file a month under ``root`` (``YYYYMM.json``, verbatim) and a sidecar ``.meta.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, month: Month) -> Path:
        return (
            self.root
            / f"{month.year:04d}"
            / f"MI_5MINS_HIST_{month.year:04d}{month.month:02d}.json"
        )

    def _meta_path(self, month: Month) -> Path:
        return self.path(month).with_suffix(".meta.json")

    def read(self, month: Month) -> CachedMonth | None:
        """The cached response, or None when absent or damaged (then it is fetched again)."""
        try:
            body = self.path(month).read_bytes()
            meta = json.loads(self._meta_path(month).read_text(encoding="utf-8"))
            if hashlib.sha256(body).hexdigest() != meta["sha256"]:
                log.warning(
                    "raw cache for %s does not match its checksum; fetching it again", month
                )
                return None
            return CachedMonth(body, meta["url"], dt.date.fromisoformat(meta["fetched_on"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("raw cache for %s is unreadable (%s); fetching it again", month, exc)
            return None

    @staticmethod
    def parse(month: Month, cached: CachedMonth) -> list[DailyRow] | None:
        """The cached month's rows, or None (with a warning) when they do not parse."""
        try:
            return parse_month(cached.body, month)
        except UpstreamFormatError as exc:
            log.warning("raw cache for %s does not parse (%s); fetching it again", month, exc)
            return None

    def write(self, month: Month, body: bytes, url: str, fetched_on: dt.date) -> None:
        """Save ``body`` verbatim; the sidecar goes last, so a half-written pair reads as absent."""
        meta = {
            "month": str(month),
            "url": url,
            "fetched_on": fetched_on.isoformat(),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        write_atomic(self.path(month), body)
        write_atomic(self._meta_path(month), json.dumps(meta, indent=1).encode())


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
    ) -> None:
        self.store = store
        self.client = client
        self.cache = cache
        self.today = today or taipei_today()
        self.revision_days = revision_days

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
        self.cache.write(month, fetched.body, fetched.url, self.today)
        if not fetched.rows and month < Month.of(self.today):
            log.warning("TWSE has no rows for past month %s", month)
        return fetched.rows, "twse"

    def fresh_rows(self, month: Month) -> list[DailyRow]:
        """The month's rows from a cache entry fetched on or after today (as a download of the
        same run left it), else from TWSE: a month is never asked twice in one day."""
        cached = self.cache.read(month)
        rows = self.cache.parse(month, cached) if cached else None
        if cached is not None and rows is not None and cached.fetched_on >= self.today:
            return rows
        return self.rows(month)[0]

    def load_month(self, month: Month, refresh: bool = False) -> MonthLoad:
        """Fetch (or take from the cache) one month and merge it in one transaction."""
        started = time.perf_counter()
        rows, source = self.rows(month, refresh)
        result = self.store.merge_rows(rows, source=source, month=str(month))
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


def read_csv_rows(path: Path) -> list[DailyRow]:
    """Rows of a ``date,open,high,low,close`` file, validated like TWSE rows.

    Any bad line raises InputError naming the file, the line and why; nothing is loaded then.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(_csv_rows(handle, path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _csv_rows(handle: Iterator[str], path: Path) -> Iterator[DailyRow]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != CSV_HEADER:
        raise InputError(f"{path}: line 1 must be the header {','.join(CSV_HEADER)}, got {header}")
    seen: dict[dt.date, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        row = _csv_row(cells, f"{path}: line {line}")
        if row.date in seen:
            raise InputError(f"{path}: line {line}: date {row.date} repeats line {seen[row.date]}")
        seen[row.date] = line
        yield row


def _csv_row(cells: list[str], where: str) -> DailyRow:
    if len(cells) != len(CSV_HEADER):
        raise InputError(f"{where}: expected {len(CSV_HEADER)} values, got {len(cells)}: {cells}")
    try:
        date = dt.date.fromisoformat(cells[0].strip())
    except ValueError as exc:
        raise InputError(f"{where}: {cells[0]!r} is not a date (YYYY-MM-DD)") from exc
    prices = []
    for name, cell in zip(PRICE_COLUMNS, cells[1:], strict=True):
        try:
            value = Decimal(cell.strip().replace(",", ""))
        except ArithmeticError as exc:
            raise InputError(f"{where}: {name} {cell!r} is not a number") from exc
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            raise InputError(f"{where}: {name} {cell!r} is not a price with at most 2 decimals")
        prices.append(value.quantize(Decimal("0.01")))
    row = DailyRow(date, *prices)
    problem = ohlc_problem(row)
    if problem:
        raise InputError(f"{where}: {problem}")
    return row


def import_csv(store: Store, path: Path) -> MergeResult:
    """Merge a CSV file in one transaction (all of it or, on any bad line, none of it)."""
    rows = read_csv_rows(path)
    with store.lock(ETL_LOCK):
        return store.merge_rows(rows, source=f"csv:{path.name}")


def export_csv(store: Store, path: Path) -> int:
    """Write every stored day to ``path`` (atomically), 2 decimals; returns the row count."""
    rows = store.read_rows()
    lines = [",".join(CSV_HEADER)]
    lines += [
        ",".join([r.date.isoformat(), *(f"{getattr(r, c):.2f}" for c in PRICE_COLUMNS)])
        for r in rows
    ]
    try:
        write_atomic(path, ("\n".join(lines) + "\n").encode())
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return len(rows)
