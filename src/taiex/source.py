"""The TWSE client: one month of MI_5MINS_HIST, fetched politely, parsed and validated.

``GET {url}?date=YYYYMM01&response=json`` answers the whole month of that date (see
docs/design.md, "The TWSE endpoint").
Parsing is pure (:func:`parse_month`), so the raw landing cache can be parsed again without the
network. The client (:class:`TwseClient`) owns the rate limit and the retry loop; every failure it
gives up on ends as one :class:`~taiex.errors.FetchError` naming the month, the URL and the last
response. Each request is bounded: the whole of it (connect, headers, body) in time, the body in
size, so a server that trickles or never stops cannot hold a job (or its lock) or fill memory.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from taiex import __version__
from taiex.calendar import FIRST_TRADING_DAY, Month, sessions_between
from taiex.errors import FetchError, UpstreamFormatError, WrongMonthError
from taiex.settings import TWSE_MAX_BYTES, Settings, url_host

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

FIELDS = ("日期", "開盤指數", "最高指數", "最低指數", "收盤指數")
STAT_OK = "OK"
# Both mean "an empty month", not a failure: before 1999-01 or a month not yet begun.
STAT_NO_DATA = "很抱歉，沒有符合條件的資料!"
STAT_FUTURE = "查詢日期大於今日，請重新查詢!"
FIRST_MONTH = Month(1999, 1)
ROC_OFFSET = 1911

# TAIEX has never been near a million points; NUMERIC(12, 2) holds below 10**10. Anything from
# here up is a typo or an attack, refused before any backend (SQLite would store Infinity).
PRICE_LIMIT = Decimal(1_000_000)
CENT = Decimal("0.01")

_ROC_DATE = re.compile(r"^(\d{2,3})/(\d{2})/(\d{2})$", re.ASCII)
# A price as TWSE and the CSV files write it (thousands commas optional), matched in full.
PRICE_TEXT = re.compile(r"\d{1,3}(,\d{3})*(\.\d+)?|\d+(\.\d+)?", re.ASCII)


@dataclass(frozen=True)
class DailyRow:
    """One trading day of the index, exactly as TWSE publishes it (2 decimals)."""

    date: dt.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def price_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be an index level as TWSE publishes it, or None when it can."""
    if not value.is_finite():
        return "is not a finite number"
    if not 0 < value < PRICE_LIMIT:
        return f"is outside (0, {PRICE_LIMIT:,}), the range of index levels"
    if value != value.quantize(CENT):
        return "has more than 2 decimals"
    return None


def price_value(text: str) -> Decimal:
    """A text that :data:`PRICE_TEXT` matches, to the cent; ValueError saying why it cannot be an
    index level (:func:`price_problem`)."""
    value = Decimal(text.replace(",", ""))  # the pattern admits only numbers
    problem = price_problem(value)
    if problem:
        raise ValueError(problem)
    return value.quantize(CENT)


def ohlc_problem(row: DailyRow) -> str | None:
    """Why ``row`` is not a consistent day of prices, or None when it is."""
    if min(row.open, row.high, row.low, row.close) <= 0:
        return "prices must be positive"
    if row.low > min(row.open, row.close):
        return f"low {row.low} is above open {row.open} or close {row.close}"
    if row.high < max(row.open, row.close):
        return f"high {row.high} is below open {row.open} or close {row.close}"
    return None


# TWSE caps each stock's daily move at a fixed share of its reference price (the previous close):
# 7 % until 2015-05-29, 10 % from 2015-06-01. The weighted index is a weighted average of those
# prices (its divisor adjusted for ex-rights days and listings so that it stays continuous), so
# none of a session's prices lies further than the cap from the previous session's close. The real
# history keeps to it: at most 6.79 % before the switch (2009-04-30), 9.80 % after (2025-04-07).
# Each entry: the first day a cap applies, the cap in percent.
DAILY_LIMITS = ((FIRST_TRADING_DAY, Decimal(7)), (dt.date(2015, 6, 1), Decimal(10)))
# Percentage points allowed beyond the cap for rounding (the index and its constituents are
# published to the cent); far below any typo's error.
DAILY_LIMIT_TOLERANCE = Decimal("0.05")


def daily_limit(day: dt.date) -> Decimal:
    """The cap in percent on the move from the previous session's close to any price of ``day``."""
    limit = DAILY_LIMITS[0][1]
    for start, cap in DAILY_LIMITS:  # by date: the last one begun applies
        if start <= day:
            limit = cap
    return limit


def move_problem(previous: DailyRow, row: DailyRow) -> str | None:
    """Why ``row`` cannot follow ``previous`` as the next session (a price further from its close
    than :func:`daily_limit` plus :data:`DAILY_LIMIT_TOLERANCE`), or None when it can."""
    limit = daily_limit(row.date)
    reference = previous.close
    for name in ("open", "high", "low", "close"):
        value: Decimal = getattr(row, name)
        move = (value / reference - 1) * 100
        if abs(move) > limit + DAILY_LIMIT_TOLERANCE:
            direction = "above" if move > 0 else "below"
            return (
                f"{row.date} {name} {value:.2f} is {abs(move):.1f} % {direction} the previous "
                f"session's close {reference:.2f} ({previous.date}); TAIEX moves at most "
                f"{limit} % a day"
            )
    return None


def limit_breaks(
    rows: Sequence[DailyRow], among: Collection[dt.date] | None = None
) -> Iterator[tuple[DailyRow, DailyRow, str]]:
    """The pairs of consecutive ``rows`` (sorted by date) that break :func:`move_problem`, with
    the problem; only pairs with a day in ``among`` when given.

    Two days with an XTAI session between them have a hole between them (a missing day), so
    nothing says how far apart they may be: they are not compared.
    """
    if len(rows) < 2:
        return
    sessions = sessions_between(rows[0].date, rows[-1].date)
    for previous, row in itertools.pairwise(rows):
        if among is not None and previous.date not in among and row.date not in among:
            continue
        after = bisect.bisect_right(sessions, previous.date)
        if after < len(sessions) and sessions[after] < row.date:
            continue
        problem = move_problem(previous, row)
        if problem:
            yield previous, row, problem


# ---------------------------------------------------------------- parsing (pure)


def parse_roc_date(text: str) -> dt.date:
    """``"113/12/02"`` or ``" 89/01/04"`` (ROC year, leading space before ROC 100) to a date."""
    match = _ROC_DATE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a ROC date (YYY/MM/DD)")
    year, month, day = (int(part) for part in match.groups())
    try:
        return dt.date(year + ROC_OFFSET, month, day)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date: {exc}") from exc


def parse_price(text: str) -> Decimal:
    """``"22,456.50"`` to ``Decimal("22456.50")``; ``"--"``, empty or other text: ValueError."""
    cleaned = text.strip() if isinstance(text, str) else None
    if not cleaned or cleaned.strip("-") == "":
        raise ValueError(f"empty cell {text!r}")
    if len(cleaned) > 40 or not PRICE_TEXT.fullmatch(cleaned):
        raise ValueError(f"{text[:40]!r} is not a number")
    try:
        return price_value(cleaned)
    except ValueError as exc:
        raise ValueError(f"{text!r} {exc}") from exc


def parse_row(cells: Sequence[Any], where: str) -> DailyRow:
    """One ``data`` row (date, open, high, low, close as strings) to a validated DailyRow."""
    if not isinstance(cells, list | tuple) or len(cells) != len(FIELDS):
        raise UpstreamFormatError(f"expected {len(FIELDS)} cells", where=where, row=cells)
    try:
        date = parse_roc_date(cells[0])
        open_, high, low, close = (parse_price(cell) for cell in cells[1:])
    except ValueError as exc:
        raise UpstreamFormatError(str(exc), where=where, row=cells) from exc
    row = DailyRow(date, open_, high, low, close)
    problem = ohlc_problem(row)
    if date < FIRST_TRADING_DAY or date.weekday() == 6:
        problem = f"{date} is before {FIRST_TRADING_DAY} or a Sunday: never a TWSE session"
    if problem:
        raise UpstreamFormatError(problem, where=where, row=cells)
    return row


def parse_month(body: bytes | str, month: Month) -> list[DailyRow]:
    """A whole MI_5MINS_HIST response for ``month`` to its rows, sorted by date.

    The no-data and future-month answers give an empty list. Anything else that is not a clean
    month raises :class:`UpstreamFormatError` (or :class:`WrongMonthError` when the response
    holds another month) that says which row and why.
    """
    where = f"TWSE {month}"
    payload = _decode(body, where)
    stat = payload.get("stat")
    if stat in (STAT_NO_DATA, STAT_FUTURE):
        return []
    if stat != STAT_OK:
        raise UpstreamFormatError(f"unexpected stat {stat!r}", where=where)
    _check_fields(payload.get("fields"), where)
    _check_response_month(payload.get("date"), month, where)
    data = payload.get("data")
    if not isinstance(data, list):
        raise UpstreamFormatError("'data' is missing or not a list", where=where)
    rows = [parse_row(cells, f"{where} row {i + 1}") for i, cells in enumerate(data)]
    _check_dates(rows, month, where, data)
    return sorted(rows, key=lambda row: row.date)


def _decode(body: bytes | str, where: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UpstreamFormatError(f"not JSON ({exc})", where=where) from exc
    except RecursionError as exc:
        raise UpstreamFormatError("JSON nested too deeply to be TWSE's", where=where) from exc
    if not isinstance(payload, dict):
        raise UpstreamFormatError("the JSON is not an object", where=where)
    return payload


def _check_fields(fields: Any, where: str) -> None:
    # The column order is what the parser relies on: without ``fields`` an open and a close
    # swapped would pass every row check, so a month without them is refused, never guessed.
    if fields is None:
        raise UpstreamFormatError("the response has no 'fields' (the column order)", where=where)
    if not isinstance(fields, list) or fields != list(FIELDS):
        raise UpstreamFormatError(f"unexpected fields {fields!r}", where=where)


def _check_response_month(date_field: Any, month: Month, where: str) -> None:
    if date_field is None:
        return
    text = str(date_field)
    if len(text) < 6 or text[:6] != f"{month.year:04d}{month.month:02d}":
        raise WrongMonthError(f"the response is for date {text!r}", where=where)


def _check_dates(rows: list[DailyRow], month: Month, where: str, data: list[Any]) -> None:
    seen: dict[dt.date, int] = {}
    for i, row in enumerate(rows):
        if Month.of(row.date) != month:
            raise WrongMonthError(
                f"date {row.date} is outside the month asked for",
                where=f"{where} row {i + 1}",
                row=data[i],
            )
        if row.date in seen:
            raise UpstreamFormatError(
                f"date {row.date} repeats row {seen[row.date] + 1}",
                where=f"{where} row {i + 1}",
                row=data[i],
            )
        seen[row.date] = i


# ---------------------------------------------------------------- politeness


class RateLimiter:
    """At least ``interval`` seconds between the starts of two requests, across threads."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last_start: float | None = None

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        with self._lock:
            if self._last_start is not None:
                remaining = self._last_start + self.interval - self._clock()
                if remaining > 0:
                    sleep(remaining)
            self._last_start = self._clock()


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(url: str, interval: float) -> RateLimiter:
    """One limiter per host in this process, so every client of a host shares its budget.

    The host is compared as DNS does (``WWW.TWSE.com.tw.`` is ``www.twse.com.tw``).
    """
    host = f"{url_host(url)}:{urlsplit(url).port or ''}"
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(host)
        if limiter is None:
            limiter = _LIMITERS[host] = RateLimiter(interval)
        limiter.interval = interval
        return limiter


# ---------------------------------------------------------------- the client


@dataclass(frozen=True)
class FetchedMonth:
    """A good response: its bytes as received (for the raw cache) and its parsed rows."""

    month: Month
    url: str
    body: bytes
    rows: list[DailyRow]


class _RetryableError(Exception):
    """One failed attempt worth another try; ``blocked`` asks for a longer wait."""

    def __init__(self, reason: str, body: str = "", blocked: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body
        self.blocked = blocked


# A block page asks for patience: wait this many times the usual backoff before the next try.
BLOCK_FACTOR = 5.0


class TwseClient:
    """Fetches months from MI_5MINS_HIST with a rate limit, retries and validation."""

    def __init__(
        self,
        url: str,
        *,
        session: httpx.Client | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 2.0,
        max_bytes: int = TWSE_MAX_BYTES,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        # Imported here: only a fetch needs httpx; `taiex status` and the model steps read the
        # rows' types from this module and never fetch.
        import httpx

        self.url = url
        self.session = session or httpx.Client(
            headers={"User-Agent": f"taiex/{__version__}", "Accept": "application/json"},
            follow_redirects=True,
        )
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.limiter = limiter or RateLimiter(0.0)
        self._sleep = sleep
        self._jitter = jitter

    @classmethod
    def from_settings(cls, settings: Settings) -> TwseClient:
        return cls(
            settings.twse_url,
            timeout=settings.twse_timeout,
            retries=settings.twse_retries,
            backoff=settings.twse_backoff,
            max_bytes=settings.twse_max_bytes,
            limiter=shared_limiter(settings.twse_url, settings.twse_min_interval),
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TwseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def month_url(self, month: Month) -> str:
        return f"{self.url}?date={month.year:04d}{month.month:02d}01&response=json"

    def fetch_month(self, month: Month) -> FetchedMonth:
        """The month's validated rows; FetchError after the last retry, typed errors on bad rows."""
        url = self.month_url(month)
        last: _RetryableError | None = None
        for attempt in range(self.retries + 1):
            if last is not None:
                self._pause(attempt, last, month)
            try:
                return self._attempt(month, url)
            except _RetryableError as retry:
                last = retry
        assert last is not None
        raise FetchError(
            f"TWSE failed {self.retries + 1} times, last: {last.reason}",
            month=str(month),
            url=url,
            last_body=last.body,
        )

    def _pause(self, attempt: int, last: _RetryableError, month: Month) -> None:
        # Exponential backoff with jitter in [0.5, 1.5): clients retrying together drift apart.
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + self._jitter())
        if last.blocked:
            delay *= BLOCK_FACTOR
        log.warning(
            "TWSE %s: %s; try %d of %d in %.1f s",
            month,
            last.reason,
            attempt + 1,
            self.retries + 1,
            delay,
        )
        self._sleep(delay)

    def _attempt(self, month: Month, url: str) -> FetchedMonth:
        log.debug("GET %s", url)
        response, body = self._get(url)
        text = body.decode("utf-8", errors="replace")
        if response.status_code in (403, 429):
            raise _RetryableError(f"HTTP {response.status_code} (blocked?)", text, blocked=True)
        if response.status_code >= 500:
            raise _RetryableError(f"HTTP {response.status_code}", text)
        if response.status_code != 200:
            raise FetchError(
                f"HTTP {response.status_code}", month=str(month), url=url, last_body=text
            )
        if _looks_like_html(response, body):
            raise _RetryableError(
                "an HTML page instead of JSON (TWSE blocks this way)", text, blocked=True
            )
        try:
            rows = parse_month(body, month)
        except WrongMonthError as exc:
            raise _RetryableError(f"wrong month: {exc}", text) from exc
        except UpstreamFormatError as exc:
            if isinstance(exc.__cause__, _UNREADABLE):
                raise _RetryableError(f"malformed JSON: {exc}", text) from exc
            raise
        return FetchedMonth(month, url, body, rows)

    def _get(self, url: str) -> tuple[httpx.Response, bytes]:
        """The response and its body, whole within ``timeout`` seconds and ``max_bytes`` bytes.

        httpx's timeouts bound each read, not the whole: a server sending a byte a second never
        trips them. So the request runs in a helper thread that this one waits for at most
        ``timeout``; when the deadline passes the helper is told to stop and abandoned (its own
        reads end within one more ``timeout``).
        """
        download = _Download(self.session, url, self.timeout, self.max_bytes)
        # The helper waits its turn at the rate limit itself, right before it sends: the gap
        # between two requests is then the limiter's, not the limiter's plus a thread's start.
        download.before = lambda: self.limiter.wait(self._sleep)
        worker = threading.Thread(target=download.run, name="twse-get", daemon=True)
        worker.start()
        download.started.wait()
        worker.join(self.timeout)
        if worker.is_alive():
            download.cancelled.set()
            raise _RetryableError(f"no complete response within {self.timeout:g} s")
        return download.result()


class _Download:
    """One GET read in a helper thread, its body streamed under a size bound."""

    def __init__(self, session: httpx.Client, url: str, timeout: float, max_bytes: int) -> None:
        self.session = session
        self.url = url
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.cancelled = threading.Event()
        self.started = threading.Event()  # set once the rate limit let the request go
        self.before: Callable[[], None] = lambda: None
        self._response: httpx.Response | None = None
        self._body = b""
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            try:
                self.before()
            finally:
                self.started.set()
            self._read()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            self._error = exc

    def result(self) -> tuple[httpx.Response, bytes]:
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response, self._body

    def _read(self) -> None:
        import httpx  # loaded already: TwseClient made the session

        try:
            with self.session.stream("GET", self.url, timeout=self.timeout) as response:
                self._response = response
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise _RetryableError(self._too_large(f"announces {declared} bytes"))
                chunks: list[bytes] = []
                size = 0
                # Decoded bytes are what memory holds: counting them bounds a gzip bomb too.
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _RetryableError(self._too_large("goes on"))
                    if self.cancelled.is_set():
                        return
                    chunks.append(chunk)
                self._body = b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise _RetryableError(f"timed out after {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise _RetryableError(f"connection failed ({type(exc).__name__}: {exc})") from exc
        except httpx.HTTPError as exc:
            # A body that does not match its Content-Encoding, a redirect loop, ...
            raise _RetryableError(f"bad response ({type(exc).__name__}: {exc})") from exc

    def _too_large(self, what: str) -> str:
        return f"the response {what}, beyond TAIEX_TWSE_MAX_BYTES={self.max_bytes}"


# What a response that did not arrive whole or sane gives (worth another try).
_UNREADABLE = (json.JSONDecodeError, UnicodeDecodeError, RecursionError)


def _looks_like_html(response: httpx.Response, body: bytes) -> bool:
    content_type = response.headers.get("content-type", "")
    return "html" in content_type or body.lstrip()[:1] == b"<"
