"""US closes for the pre-open round: the sources that give them, and the checks every close
passes before it is stored (docs/design.md, "Overnight data").

``TAIEX_OVERNIGHT_SOURCE`` names the source: ``yahoo`` (Yahoo Finance through the ``yfinance``
library, the default), ``csv:PATH_OR_URL`` (a ``date,symbol,close`` file or HTTP(S) URL: how a
licensed feed plugs in, and how the tests run) or ``none`` (no pre-open round).

A close is a positive decimal below :data:`MAX_CLOSE` with at most :data:`CLOSE_DECIMALS`
decimals, dated on an XNYS session that New York has closed (not today before its close), of a
symbol asked for (``TAIEX_OVERNIGHT_SYMBOLS``). A move of more than :data:`MAX_MOVE` between two
consecutive sessions of a symbol is refused unless a second fetch gives the same closes (an
import names it, and takes it with ``--allow-large-moves``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import math
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from taiex.errors import InputError, SourceError
from taiex.overnight import closed_through, first_us_session, is_us_session

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
MAX_CLOSE = Decimal(10_000_000)
CLOSE_DECIMALS = 4  # what is stored; Yahoo's floats are rounded to it
MAX_MOVE = 0.25  # a day's move beyond this needs a second look
CSV_COLUMNS = ("date", "symbol", "close")
MAX_CELL = 40
MAX_LINE = 1_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_CLOSE_TEXT = re.compile(r"\d{1,9}(\.\d{1,4})?", re.ASCII)


@dataclass(frozen=True, order=True)
class UsClose:
    """One symbol's official close on one US trading date (New York)."""

    symbol: str
    date: dt.date
    close: Decimal


def last_closed_day(now: dt.datetime | None = None) -> dt.date:
    """The last US date whose session, if any, has closed (the real clock unless ``now`` is
    given): today in New York after its close, the day before while it trades. What a load may
    store, and ask Yahoo for: during the session Yahoo's row of today is the live price."""
    return closed_through(now or dt.datetime.now(dt.UTC))


def close_problem(row: UsClose, symbols: Sequence[str], today: dt.date) -> str | None:
    """Why ``row`` cannot be stored, or None. ``today`` is the last US date closed so far
    (:func:`last_closed_day`)."""
    if row.symbol not in symbols:
        return f"{row.symbol!r} is not a symbol of TAIEX_OVERNIGHT_SYMBOLS ({', '.join(symbols)})"
    if not row.close.is_finite() or row.close <= 0:
        return f"{row.symbol} close {row.close} on {row.date} is not a positive price"
    if row.close >= MAX_CLOSE:
        return f"{row.symbol} close {row.close} on {row.date} is not below {MAX_CLOSE:,}"
    if row.date > today:
        return (
            f"{row.symbol} close dated {row.date}: New York has not closed that day yet "
            f"(closed through {today})"
        )
    if row.date < first_us_session():
        return (
            f"{row.symbol} close dated {row.date} is before {first_us_session()}, where the "
            "XNYS calendar taiex reads starts"
        )
    if not is_us_session(row.date):
        return f"{row.symbol} close dated {row.date}: that day is not an XNYS session"
    return None


def checked(
    rows: Iterable[UsClose], symbols: Sequence[str], today: dt.date, where: str
) -> list[UsClose]:
    """``rows`` when every one can be stored; InputError naming ``where`` (the source) and the
    first that cannot."""
    rows = list(rows)
    for row in rows:
        problem = close_problem(row, symbols, today)
        if problem:
            raise InputError(f"{where}: {problem}")
    return rows


def large_moves(
    rows: Sequence[UsClose], stored: Mapping[str, Mapping[dt.date, Decimal]]
) -> list[tuple[UsClose, str]]:
    """The new or revised closes among ``rows`` that move more than :data:`MAX_MOVE` from the
    close of the session before or after them (``rows`` over ``stored``), each with why.
    Two closes with an XNYS session missing between them are not compared."""
    merged: dict[str, dict[dt.date, Decimal]] = {s: dict(days) for s, days in stored.items()}
    changed = []
    for row in rows:
        days = merged.setdefault(row.symbol, {})
        if days.get(row.date) != row.close:
            changed.append(row)
        days[row.date] = row.close
    found, pairs = [], set()
    for row in changed:
        for neighbour in _neighbours(merged[row.symbol], row.date):
            before, after = sorted([(row.date, row.close), neighbour])
            move = float(after[1] / before[1]) - 1.0
            if abs(move) > MAX_MOVE and (row.symbol, before[0]) not in pairs:
                pairs.add((row.symbol, before[0]))  # a pair of new closes is one move
                found.append((row, _move_text(row.symbol, before, after, move)))
    return found


def _neighbours(days: Mapping[dt.date, Decimal], day: dt.date) -> Iterator[tuple[dt.date, Decimal]]:
    for step in (-1, 1):
        other = _adjacent_session(day, step)
        if other in days:
            yield other, days[other]


def _adjacent_session(day: dt.date, step: int) -> dt.date:
    other = day
    for _ in range(10):  # no XNYS break is longer than a few days
        other += dt.timedelta(days=step)
        if is_us_session(other):
            return other
    return other


def _move_text(
    symbol: str, before: tuple[dt.date, Decimal], after: tuple[dt.date, Decimal], move: float
) -> str:
    return (
        f"{symbol} moves {100 * move:+.1f} % from {before[1]} on {before[0]} to {after[1]} on "
        f"{after[0]}, beyond ±{100 * MAX_MOVE:.0f} % in a day"
    )


# ---------------------------------------------------------------- CSV


def parse_close_csv(
    lines: Iterable[str],
    where: str,
    symbols: Sequence[str],
    today: dt.date,
    *,
    since: dt.date | None = None,
    line_of: dict[tuple[str, dt.date], int] | None = None,
) -> list[UsClose]:
    """The closes of a ``date,symbol,close`` text (columns in any order, extra columns
    ignored), each checked (:func:`close_problem`); InputError naming ``where`` and the line.
    ``lines`` are the physical lines, with their line breaks (:func:`csv_lines`) or without.
    Rows dated before ``since`` are skipped unchecked (a feed's older history, not asked for);
    ``line_of``, when given, receives the line of each close (symbol, date)."""
    reader = csv.reader(_bounded(lines, where))
    header = _record(reader, where, 1)
    if header is None:
        raise InputError(f"{where}: the file is empty; expected a header with date,symbol,close")
    names = [cell.strip().lower() for cell in header]
    shown = [cell[:MAX_CELL] for cell in header[:10]]
    missing = [name for name in CSV_COLUMNS if name not in names]
    if missing:
        raise InputError(f"{where}: line 1: the header lacks {', '.join(missing)}: {shown}")
    repeated = [name for name in CSV_COLUMNS if names.count(name) > 1]
    if repeated:
        raise InputError(
            f"{where}: line 1: the header names {', '.join(repeated)} more than once: {shown}"
        )
    index = [names.index(name) for name in CSV_COLUMNS]
    rows: dict[tuple[str, dt.date], tuple[Decimal, int]] = {}
    last = reader.line_num
    while (cells := _record(reader, where, last + 1)) is not None:
        number, last = last + 1, reader.line_num  # a record's first line (a quoted cell spans)
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            hint = " (a thousands separator in a number?)" if len(cells) > len(header) else ""
            values = f"{len(cells)} value" + ("" if len(cells) == 1 else "s")
            raise InputError(
                f"{where}: line {number}: {values} where the header has {len(header)}{hint}"
            )
        row = _csv_close(cells, index, f"{where}: line {number}", symbols, today, since)
        if row is None:
            continue
        key = (row.symbol, row.date)
        if key in rows and rows[key][0] != row.close:
            raise InputError(
                f"{where}: line {number}: {row.symbol} on {row.date} repeats line "
                f"{rows[key][1]} with another close"
            )
        rows[key] = (row.close, number)
    if line_of is not None:
        line_of.update({key: number for key, (_, number) in rows.items()})
    return sorted(UsClose(s, d, close) for (s, d), (close, _) in rows.items())


def csv_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their line breaks, split at \\n, \\r\\n and \\r only (as
    an editor numbers them; ``str.splitlines`` also splits at \\x1c, \\x85, \\u2028, ...)."""
    return iter(io.StringIO(text, newline=""))


def _bounded(lines: Iterable[str], where: str) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise InputError(f"{where}: line {number} is longer than {MAX_LINE:,} characters")
        yield line


def _record(reader: Iterator[list[str]], where: str, line: int) -> list[str] | None:
    """The next CSV record, which starts on ``line``, or None at the end; InputError for one
    that csv cannot read (a quote never closed makes the rest of the file one cell, beyond csv's
    field limit)."""
    try:
        return next(reader, None)
    except csv.Error as exc:
        raise InputError(f"{where}: line {line}: not a CSV record ({exc})") from exc


def _csv_close(
    cells: list[str],
    index: list[int],
    where: str,
    symbols: Sequence[str],
    today: dt.date,
    since: dt.date | None,
) -> UsClose | None:
    date_text, symbol, close_text = (cells[i].strip() for i in index)
    if any(len(text) > MAX_CELL for text in (date_text, symbol, close_text)):
        raise InputError(f"{where}: a value is longer than {MAX_CELL} characters")
    if not _ISO_DATE.fullmatch(date_text):
        raise InputError(f"{where}: {date_text!r} is not a date (YYYY-MM-DD)")
    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError as exc:
        raise InputError(f"{where}: {date_text!r} is not a date (YYYY-MM-DD)") from exc
    if since is not None and date < since:
        return None
    if not _CLOSE_TEXT.fullmatch(close_text):
        raise InputError(
            f"{where}: close {close_text!r} is not a decimal number with at most "
            f"{CLOSE_DECIMALS} decimals"
        )
    row = UsClose(symbol, date, Decimal(close_text))
    problem = close_problem(row, symbols, today)
    if problem:
        raise InputError(f"{where}: {problem}")
    return row


# ---------------------------------------------------------------- sources


class OvernightSource(Protocol):
    """Where US closes come from: ``fetch`` gives every close of ``symbols`` from ``start`` to
    ``end`` (US dates, both included) that the source has, checked; SourceError when it cannot
    be reached or answers nothing usable."""

    name: str

    def fetch(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> list[UsClose]: ...  # pragma: no cover


class CsvSource:
    """A ``date,symbol,close`` file, or the same text at an HTTP(S) URL (read whole, at most
    ``max_bytes``; a URL's answer whole within ``timeout`` seconds)."""

    def __init__(self, location: str, *, timeout: float = 30.0, max_bytes: int = 50 << 20) -> None:
        self.location = location
        self.name = f"csv:{location}"
        self.timeout = timeout
        self.max_bytes = max_bytes
        # The line of each close of the last fetch, (symbol, date) -> line, for a later refusal.
        self.line_of: dict[tuple[str, dt.date], int] = {}

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> list[UsClose]:
        self.line_of = {}
        # A close after ``end`` is not wrong (a round replayed as of a past day asks for less
        # than the file holds); one after the real clock's last close is.
        rows = parse_close_csv(
            csv_lines(self._text()),
            self.location,
            symbols,
            max(end, last_closed_day()),
            since=start,
            line_of=self.line_of,
        )
        return [row for row in rows if start <= row.date <= end]

    def _text(self) -> str:
        if self.location.lower().startswith(("http://", "https://")):
            return self._download()
        path = Path(self.location).expanduser()
        try:
            # Read whole, but never more than max_bytes: a device (/dev/zero) has no size to
            # check first, and would be read until memory runs out.
            with path.open("rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        if len(data) > self.max_bytes:
            raise InputError(f"{path}: larger than {self.max_bytes:,} bytes")
        return _decoded(data, str(path), InputError)

    def _download(self) -> str:
        """The body at the URL, whole within ``timeout`` seconds. httpx's timeout bounds each
        read, not the whole: a server sending a byte a second never trips it. So the request
        runs in a helper thread that this one waits for at most ``timeout``; past that the
        helper is told to stop and abandoned (its own reads end within one more ``timeout``)."""
        body: list[bytes] = []
        failure: list[BaseException] = []
        cancelled = threading.Event()

        def run() -> None:
            try:
                body.append(self._read(cancelled))
            except BaseException as exc:  # handed to the waiting thread, which raises it
                failure.append(exc)

        worker = threading.Thread(target=run, name="overnight-csv-get", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            cancelled.set()
            raise SourceError(f"{self.location}: no complete answer within {self.timeout:g} s")
        if failure:
            raise failure[0]
        return _decoded(body[0], self.location, SourceError)

    def _read(self, cancelled: threading.Event) -> bytes:
        import httpx

        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=True) as client,
                client.stream("GET", self.location) as response,
            ):
                response.raise_for_status()
                body = io.BytesIO()
                for chunk in response.iter_bytes():
                    if cancelled.is_set():
                        break
                    body.write(chunk)
                    if body.tell() > self.max_bytes:
                        raise SourceError(
                            f"{self.location}: the answer is larger than {self.max_bytes:,} bytes"
                        )
            return body.getvalue()
        except httpx.InvalidURL as exc:  # not an httpx.HTTPError
            raise SourceError(f"{self.location}: not a valid URL ({exc})") from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise SourceError(
                f"{self.location}: HTTP {status} {exc.response.reason_phrase}"
            ) from exc
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split())
            raise SourceError(f"{self.location}: {type(exc).__name__}: {reason}") from exc


def _decoded(data: bytes, where: str, error: type[InputError | SourceError]) -> str:
    """``data`` as UTF-8 text (a BOM dropped); ``error`` naming the line that is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{where}: line {line}: not UTF-8 text ({exc.reason})") from exc


class YahooSource:
    """Yahoo Finance's daily closes through ``yfinance`` (unadjusted: ``auto_adjust=False``)."""

    name = "yahoo"

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> list[UsClose]:
        import pandas as pd

        frame = self._download(symbols, start, end)
        rows = []
        for symbol in symbols:
            if symbol not in frame.columns:
                continue
            series = frame[symbol].dropna()
            for day, value in zip(pd.DatetimeIndex(series.index).date, series, strict=True):
                if not math.isfinite(float(value)):
                    continue
                close = round(Decimal(repr(float(value))), CLOSE_DECIMALS)
                rows.append(UsClose(symbol, day, close))
        if not rows:
            raise SourceError(
                f"yahoo: no close for {', '.join(symbols)} from {start} to {end} "
                "(Yahoo answered nothing usable)"
            )
        return checked(sorted(rows), symbols, end, self.name)

    @staticmethod
    def _download(symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """The ``Close`` table (dates by symbols) as yfinance gives it."""
        import pandas as pd

        try:
            import yfinance
        except ImportError as exc:
            raise SourceError(
                "yahoo: the yfinance library is not installed (pip install yfinance, a "
                "dependency of taiex), or set TAIEX_OVERNIGHT_SOURCE=csv:PATH_OR_URL"
            ) from exc
        try:
            with _quiet_yfinance():
                frame = _yahoo_download(yfinance, symbols, start, end)
        except Exception as exc:  # yfinance raises what its HTTP stack raises; all mean the same
            raise SourceError(f"yahoo: {type(exc).__name__}: {exc}") from exc
        if frame is None or frame.empty or "Close" not in frame.columns.get_level_values(0):
            raise SourceError(f"yahoo: no data for {', '.join(symbols)} from {start} to {end}")
        closes = frame["Close"]  # with a multi-level index, a frame of dates by symbols
        assert isinstance(closes, pd.DataFrame)
        return closes


def _yahoo_download(
    yfinance: Any, symbols: Sequence[str], start: dt.date, end: dt.date
) -> pd.DataFrame | None:
    frame: pd.DataFrame | None = yfinance.download(
        list(symbols),
        start=start.isoformat(),
        end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
        auto_adjust=False,
        actions=False,
        progress=False,
        threads=False,
        group_by="column",
        multi_level_index=True,
    )
    return frame


@contextlib.contextmanager
def _quiet_yfinance() -> Iterator[None]:
    """yfinance logs each failed symbol at ERROR and warns about pandas: the load's one
    ``SourceError`` says what failed, so its own lines would only bury it."""
    logger = logging.getLogger("yfinance")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def overnight_source(setting: str) -> OvernightSource | None:
    """The source ``TAIEX_OVERNIGHT_SOURCE`` names; None for ``none``."""
    if setting == "none":
        return None
    if setting == "yahoo":
        return YahooSource()
    if setting.startswith("csv:") and setting[4:].strip():
        return CsvSource(setting[4:].strip())
    raise InputError(f"TAIEX_OVERNIGHT_SOURCE={setting!r}: use yahoo, csv:PATH_OR_URL or none")
