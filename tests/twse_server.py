"""A local HTTP server that speaks TWSE's MI_5MINS_HIST format, with injectable faults.

It serves a history the tests give it (a DataFrame with date, open, high, low, close), month by
month, exactly as the real endpoint does: ROC dates (a leading space before ROC 100), thousands
separators, the no-data and future-month ``stat`` texts. Faults are queued per month (or for any
month with ``"*"``) and each is used by one request.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from taiex.calendar import Month

PATH = "/rwd/zh/TAIEX/MI_5MINS_HIST"
FIELDS = ["日期", "開盤指數", "最高指數", "最低指數", "收盤指數"]
NO_DATA = {"stat": "很抱歉，沒有符合條件的資料!"}
FUTURE = {"stat": "查詢日期大於今日，請重新查詢!", "fields": [], "data": []}

FAULTS = (
    "500",  # a 5xx page
    "403",  # refused (a block)
    "html",  # an HTML page with status 200 (TWSE's block page)
    "drop",  # the connection closes without a response
    "truncated",  # the JSON is cut in the middle
    "malformed",  # not JSON at all
    "timeout",  # no answer within the client's timeout
    "wrong_month",  # the rows of another month
    "dash_cell",  # a row with "--" in a price cell
    "bad_ohlc",  # a row whose low is above its close
    "duplicate",  # a date twice
    # Hostile answers (tests/test_hostile.py): each must end in one clear error, never a hang.
    "slow_loris",  # a valid body trickled a byte at a time (never a read timeout)
    "endless",  # a body that never ends (no Content-Length, close-delimited)
    "huge",  # a valid month padded with spaces to HUGE_BYTES, without Content-Length
    "gzip_mismatch",  # Content-Encoding: gzip on a body that is not gzip
    "redirect_loop",  # a redirect to a page that redirects to itself
    "deep_json",  # arrays nested far deeper than any parser's recursion limit
    "no_fields",  # the month without "fields", its open and close columns swapped
)
HUGE_BYTES = 3_000_000
TRICKLE_SECONDS = 0.05  # between two bytes of a slow_loris body
LOOP_PATH = "/loop"


def roc_date(day: dt.date) -> str:
    year = day.year - 1911
    return f"{year:>3d}/{day.month:02d}/{day.day:02d}" if year < 100 else f"{year}/{day:%m/%d}"


def price(value: float) -> str:
    return f"{value:,.2f}"


def render_month(rows: pd.DataFrame, month: Month, asked: dt.date) -> bytes:
    """The body TWSE returns for ``month`` (compact UTF-8 JSON, like the rwd endpoint)."""
    data = [
        [roc_date(r.date.date()), price(r.open), price(r.high), price(r.low), price(r.close)]
        for r in rows.itertuples()
    ]
    payload = {
        "stat": "OK",
        "date": asked.strftime("%Y%m%d"),
        "title": f"{month.year - 1911}年{month.month:02d}月 發行量加權股價指數歷史資料",
        "fields": FIELDS,
        "data": data,
        "total": len(data),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Request:
    at: float
    month: str
    fault: str | None


@dataclass
class TwseServer:
    """Serve ``history`` up to ``today``; use as a context manager."""

    history: pd.DataFrame
    today: dt.date | None = None
    timeout_seconds: float = 1.0
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    requests: list[Request] = field(default_factory=list)
    # Bytes of body written per hostile fault before the client hung up (or the body ended).
    bytes_sent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.history = self.history.copy()
        self.history["date"] = pd.to_datetime(self.history["date"])
        if self.today is None:
            self.today = self.history["date"].max().date()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def inject(self, month: str, *faults: str) -> None:
        """Queue ``faults`` for the next requests of ``month`` (``"*"``: any month)."""
        for fault in faults:
            assert fault in FAULTS, fault
        with self._lock:
            self.faults[month].extend(faults)

    def set_history(self, history: pd.DataFrame, today: dt.date | None = None) -> None:
        frame = history.copy()
        frame["date"] = pd.to_datetime(frame["date"])
        with self._lock:
            self.history = frame
            self.today = today or frame["date"].max().date()

    def months_asked(self) -> list[str]:
        return [r.month for r in self.requests]

    def __enter__(self) -> TwseServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ answering

    def _next_fault(self, month: str) -> str | None:
        with self._lock:
            for key in (month, "*"):
                if self.faults.get(key):
                    return self.faults[key].pop(0)
        return None

    def answer(self, query: str) -> tuple[int, str, bytes, str | None]:
        """(status, content type, body, fault) for one request's query string."""
        params = parse_qs(query)
        asked = dt.datetime.strptime(params["date"][0], "%Y%m%d").date()
        month = Month.of(asked)
        fault = self._next_fault(str(month))
        self.requests.append(Request(time.monotonic(), str(month), fault))
        return (*self._body(month, asked, fault), fault)

    def _body(self, month: Month, asked: dt.date, fault: str | None) -> tuple[int, str, bytes]:
        json_type = "application/json; charset=utf-8"
        if fault == "500":
            return 500, "text/html", b"<html><body>500 Internal Server Error</body></html>"
        if fault == "403":
            return 403, "text/html", b"<html><body>Forbidden</body></html>"
        if fault == "html":
            page = "<html><body>因為請求過於頻繁，您的 IP 已被暫時封鎖</body></html>"
            return 200, "text/html; charset=utf-8", page.encode()
        if fault == "malformed":
            return 200, json_type, b"this is not json"
        if fault == "deep_json":
            return 200, json_type, b"[" * 200_000 + b"]" * 200_000
        if fault == "wrong_month":
            month, asked = month.previous(), month.previous().first_day
        assert self.today is not None
        if month > Month.of(self.today):
            return 200, json_type, json.dumps(FUTURE, ensure_ascii=False).encode()
        rows = self._rows(month)
        if rows.empty:
            return 200, json_type, json.dumps(NO_DATA, ensure_ascii=False).encode()
        body = render_month(rows, month, asked)
        return 200, json_type, _spoil(body, fault)

    def _rows(self, month: Month) -> pd.DataFrame:
        with self._lock:
            frame = self.history
            assert self.today is not None
            dates = frame["date"].dt.date
            mask = (dates >= month.first_day) & (dates <= min(month.last_day, self.today))
            return frame[mask]


def _spoil(body: bytes, fault: str | None) -> bytes:
    if fault == "truncated":
        return body[: len(body) // 2]
    if fault == "huge":
        return body + b" " * (HUGE_BYTES - len(body))
    if fault == "no_fields":
        payload = json.loads(body)
        del payload["fields"]
        payload["data"] = [[d, c, h, low, o] for d, o, h, low, c in payload["data"]]
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if fault in ("dash_cell", "bad_ohlc", "duplicate"):
        payload = json.loads(body)
        first = payload["data"][0]
        if fault == "dash_cell":
            first[2] = "--"
        elif fault == "bad_ohlc":
            first[3] = price(float(first[4].replace(",", "")) + 1)  # low above close
        else:
            payload["data"].append(list(first))
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return body


def _handler(server: TwseServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == LOOP_PATH:
                self._redirect(LOOP_PATH)
                return
            if parts.path != PATH:
                self.send_error(404)
                return
            status, content_type, body, fault = server.answer(parts.query)
            if fault == "drop":
                return  # close the connection without a word
            if fault == "timeout":
                time.sleep(server.timeout_seconds)
            if fault == "redirect_loop":
                self._redirect(LOOP_PATH)
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if fault == "gzip_mismatch":
                self.send_header("Content-Encoding", "gzip")
            if fault not in ("endless", "huge"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if fault in ("slow_loris", "endless", "huge"):
                server.bytes_sent[fault].append(self._write_hostile(fault, body))
            else:
                self.wfile.write(body)

        def _redirect(self, path: str) -> None:
            self.send_response(302)
            self.send_header("Location", path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _write_hostile(self, fault: str, body: bytes) -> int:
            """Write the body as ``fault`` does until done or the client hangs up; bytes sent."""
            sent = 0
            try:
                if fault == "slow_loris":
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        sent += 1
                        time.sleep(TRICKLE_SECONDS)
                elif fault == "huge":
                    for start in range(0, len(body), 65536):
                        sent += self.wfile.write(body[start : start + 65536]) or 0
                else:
                    chunk = b" " * 65536
                    while sent < 50 * HUGE_BYTES:  # a bound, so a broken client cannot hang a test
                        self.wfile.write(chunk)
                        sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return sent

        def log_message(self, format: str, *args: object) -> None:
            pass  # the tests read server.requests instead

    return Handler


def frame_of(rows: Iterable[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    """A history frame from literal rows (date, open, high, low, close)."""
    frame = pd.DataFrame(list(rows), columns=["date", "open", "high", "low", "close"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
