"""US closes against hostile input (the audit of issue 21's input paths): each case is one
``error:`` line naming the file and line, the URL or the variable, and stores nothing; and what is
real (a first update's late-1998 closes, a feed's older history) is not refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from taiex.errors import InputError
from taiex.overnight_load import FIRST_US_DAY, import_overnight_csv, update_overnight
from taiex.overnight_source import CsvSource, UsClose, YahooSource
from taiex.store import Store
from tests.test_overnight_data import yahoo_frame

D = dt.date
SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")
TODAY = D(2024, 12, 31)


# ---------------------------------------------------------------- the first update


def test_a_first_update_from_yahoo_stores_the_closes_of_late_1998(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first update asks from FIRST_US_DAY (1998-12-26); Yahoo answers with the sessions of
    1998-12-28 on, which were refused as "not an XNYS session" (the calendar began in 1999), so
    the first update with the default source always failed."""
    import yfinance

    def download(tickers: list[str], **kwargs: object) -> pd.DataFrame:
        days = ["1998-12-28", "1998-12-29", "1998-12-30", "1998-12-31", "1999-01-04"]
        return yahoo_frame(days, {"^GSPC": [1225.49, 1241.81, 1231.93, 1229.23, 1228.10]})

    monkeypatch.setattr(yfinance, "download", download)
    load = update_overnight(store, YahooSource(), ["^GSPC"], D(1999, 1, 4))
    assert load.start == FIRST_US_DAY and load.result.inserted == 5
    assert min(store.overnight.closes(["^GSPC"])["^GSPC"]) == D(1998, 12, 28)


def test_an_update_from_a_feed_with_older_history_skips_what_it_did_not_ask_for(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        "date,symbol,close\n1990-01-02,TSM,1\n1998-12-31,TSM,10.5\n1999-01-04,TSM,10.6\n"
    )
    load = update_overnight(store, CsvSource(str(path)), ["TSM"], TODAY)
    assert load.result.inserted == 2
    assert store.overnight.closes(["TSM"])["TSM"] == {
        D(1998, 12, 31): Decimal("10.5"),
        D(1999, 1, 4): Decimal("10.6"),
    }


def test_an_import_of_a_close_before_the_calendar_says_so(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text("date,symbol,close\n1990-01-02,TSM,1\n")
    with pytest.raises(InputError) as caught:
        import_overnight_csv(store, path, SYMBOLS, TODAY)
    assert str(caught.value) == (
        f"{path}: line 2: TSM close dated 1990-01-02 is before 1998-12-01, where the XNYS "
        "calendar taiex reads starts"
    )
    assert store.overnight.count() == 0


def test_late_1998_closes_are_sessions_and_their_holidays_are_not() -> None:
    from taiex.overnight_source import parse_close_csv

    text = "date,symbol,close\n1998-12-24,TSM,1\n1998-12-31,TSM,1\n"
    assert [r.date for r in parse_close_csv(text.splitlines(), "f", SYMBOLS, TODAY)] == [
        D(1998, 12, 24),
        D(1998, 12, 31),
    ]
    with pytest.raises(InputError, match="1998-12-25: that day is not an XNYS session"):
        parse_close_csv("date,symbol,close\n1998-12-25,TSM,1\n".splitlines(), "f", SYMBOLS, TODAY)


def _rows(*items: tuple[str, str, str]) -> list[UsClose]:
    return [UsClose(s, D.fromisoformat(d), Decimal(c)) for s, d, c in items]


# ---------------------------------------------------------------- a session still trading


@pytest.mark.parametrize(
    ("utc", "closed"),
    [
        # 2024-11-27 (Wednesday): 15:59 in New York, then 16:00.
        (dt.datetime(2024, 11, 27, 20, 59), D(2024, 11, 26)),
        (dt.datetime(2024, 11, 27, 21, 0), D(2024, 11, 27)),
        # The early close of 2024-11-29 (13:00 New York, 18:00 UTC).
        (dt.datetime(2024, 11, 29, 17, 59), D(2024, 11, 28)),
        (dt.datetime(2024, 11, 29, 18, 0), D(2024, 11, 29)),
        # A Saturday, and Thanksgiving (no session): the day itself.
        (dt.datetime(2024, 11, 30, 15, 0), D(2024, 11, 30)),
        (dt.datetime(2024, 11, 28, 15, 0), D(2024, 11, 28)),
        # Daylight saving: 16:00 New York is 20:00 UTC in summer.
        (dt.datetime(2024, 7, 3, 16, 59), D(2024, 7, 2)),  # early close 13:00 EDT = 17:00 UTC
        (dt.datetime(2024, 7, 5, 19, 59), D(2024, 7, 4)),
        (dt.datetime(2024, 7, 5, 20, 0), D(2024, 7, 5)),
    ],
)
def test_the_last_closed_day(utc: dt.datetime, closed: dt.date) -> None:
    from taiex.overnight_source import last_closed_day

    assert last_closed_day(utc.replace(tzinfo=dt.UTC)) == closed


def test_a_close_of_a_session_still_trading_is_refused(tmp_path: Path, home: Path) -> None:
    """Before 16:00 in New York, no close of that day exists: a file or a feed that gives one
    gives a live price. It was stored (only a day after today in New York was refused)."""
    import time_machine

    path = tmp_path / "live.csv"
    path.write_text("date,symbol,close\n2024-11-26,TSM,195\n2024-11-27,TSM,196.5\n")
    with time_machine.travel(dt.datetime(2024, 11, 27, 18, 0, tzinfo=dt.UTC), tick=False):
        code, _, err = cli("overnight", "import-csv", str(path))
        assert code == 1
        assert err == (
            f"error: {path}: line 3: TSM close dated 2024-11-27: New York has not closed that day "
            "yet (closed through 2024-11-26)\n"
        )
        code, out, _ = cli("overnight", "list", "--json")
        assert code == 0 and '"closes": 0' in out


def test_an_update_while_new_york_trades_asks_yahoo_up_to_yesterday(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time_machine
    import yfinance

    asked: dict[str, object] = {}

    def download(tickers: list[str], **kwargs: object) -> pd.DataFrame:
        asked.update(kwargs)
        return yahoo_frame(["2024-11-25", "2024-11-26"], {s: [1.0, 1.01] for s in tickers})

    monkeypatch.setattr(yfinance, "download", download)
    with time_machine.travel(dt.datetime(2024, 11, 27, 18, 0, tzinfo=dt.UTC), tick=False):
        code, _, err = cli("overnight", "update")
    assert code == 0, err
    assert asked["end"] == "2024-11-27"  # exclusive: up to 2024-11-26, not today's live row


def cli(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from taiex.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


# ---------------------------------------------------------------- a file's text


def import_text(store: Store, tmp_path: Path, data: bytes, **kwargs: bool) -> str:
    """The one-line refusal of importing ``data``; the table is left empty."""
    path = tmp_path / "us.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        import_overnight_csv(store, path, SYMBOLS, TODAY, **kwargs)
    assert store.overnight.count() == 0
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Thousands separators, unquoted: the close was the part before the comma (5 and 6).
        (
            b"date,symbol,close\n2024-11-26,^GSPC,6,021.63\n2024-11-27,^GSPC,5,998.74\n",
            "line 2: 4 values where the header has 3 (a thousands separator in a number?)",
        ),
        (
            b"date,symbol,close\n2024-11-27,^GSPC,5998.74,1\n",
            "line 2: 4 values where the header has 3",
        ),
        # A header that names a column twice: which date is meant?
        (
            b"date,symbol,close,date\n2024-11-27,^GSPC,5998.74,2024-11-26\n",
            "line 1: the header names date more than once",
        ),
        # Line breaks an editor does not see split a line (str.splitlines): FS, NEL, U+2028.
        (
            b"date,symbol,close\n2024-11-27,^GSPC,5998.74\x1c2024-11-26,^GSPC,6021.63\n",
            "line 2: 5 values where the header has 3",
        ),
        (
            "date,symbol,close,note\n2024-11-27,^GSPC,5998.74,a\x85b\n2024-11-26,^GSPC,x,\n".encode(),
            "line 3: close 'x' is not a decimal number",
        ),
        # A quoted cell over two lines: the next record is on line 4.
        (
            b'date,symbol,close,note\n2024-11-27,^GSPC,5998.74,"a\nb"\n2024-11-26,^GSPC,x,\n',
            "line 4: close 'x' is not a decimal number",
        ),
        # A quote never closed swallows the file into one cell, beyond csv's field limit.
        (
            b'date,symbol,close\n2024-11-27,^GSPC,"5998.74\n' + b"a,b,c\n" * 30_000,
            "line 2: not a CSV record (field larger than field limit (131072))",
        ),
        # A quote opened and never closed: the rest of the file is one value.
        (b'date,symbol,close\n"2024-11-27,^GSPC,1\n2024-11-26,TSM,1\n', "line 2: 1 value where"),
        (b"date,symbol,close\n2024-11-27,^GSPC,1\n2024-11-26,caf\xe9,1\n", "line 3: not UTF-8"),
        (b"date,symbol,close\r\n2024-11-27,^GSPC,1\r\n" + b"x" * 1_001 + b"\r\n", "line 3 is lo"),
    ],
)
def test_a_bad_file_is_one_line_naming_where(
    store: Store, tmp_path: Path, data: bytes, message: str
) -> None:
    assert import_text(store, tmp_path, data).startswith(message)


def test_crlf_bom_and_a_line_of_the_longest_length_are_read(store: Store, tmp_path: Path) -> None:
    line = b"2024-11-27,^GSPC,5998.74,"
    data = b"\xef\xbb\xbfdate,symbol,close,note\r\n" + line + b"x" * (1_000 - len(line)) + b"\r\n"
    path = tmp_path / "us.csv"
    path.write_bytes(data)
    assert import_overnight_csv(store, path, SYMBOLS, TODAY).result.inserted == 1


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="no /proc (not Linux)")
def test_a_file_without_a_size_is_read_no_further_than_the_bound() -> None:
    """A device or a /proc file has no size to check first (st_size 0): /dev/zero was read until
    memory ran out. (Shown on /proc/self/maps, which ends, so a regression fails, not hangs.)"""
    source = CsvSource("/proc/self/maps", max_bytes=100)
    with pytest.raises(InputError, match=r"^/proc/self/maps: larger than 100 bytes$"):
        source.fetch(SYMBOLS, D(2024, 1, 1), TODAY)


# ---------------------------------------------------------------- large moves


def test_a_large_move_refused_names_its_line(store: Store, tmp_path: Path) -> None:
    store.overnight.merge(_rows(("^GSPC", "2024-11-26", "6021.63")), source="test")
    path = tmp_path / "moved.csv"
    path.write_text("date,symbol,close\n2024-11-29,^GSPC,6032.38\n2024-11-27,^GSPC,599.87\n")
    with pytest.raises(InputError) as caught:
        import_overnight_csv(store, path, SYMBOLS, TODAY)
    assert str(caught.value) == (
        f"{path}: line 3: ^GSPC moves -90.0 % from 6021.6300 on 2024-11-26 to 599.87 on "
        "2024-11-27, beyond ±25 % in a day; if it is real, import with --allow-large-moves"
    )
    assert store.overnight.count() == 1


def test_the_note_of_a_large_move_says_how_it_was_let_in(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "moved.csv"
    path.write_text("date,symbol,close\n2024-11-27,TSM,100\n2024-11-29,TSM,70\n")
    code, _, err = cli("overnight", "import-csv", str(path), "--allow-large-moves")
    assert code == 0
    assert err.endswith(", beyond ±25 % in a day (stored with --allow-large-moves)\n")
    assert "confirmed" not in err  # nothing confirmed it: the flag let it in


# ---------------------------------------------------------------- messages


def test_a_close_too_large_is_not_called_not_positive(store: Store, tmp_path: Path) -> None:
    message = import_text(store, tmp_path, b"date,symbol,close\n2024-11-27,^GSPC,999999999.9999\n")
    assert message == "line 2: ^GSPC close 999999999.9999 on 2024-11-27 is not below 10,000,000"


def test_a_bad_yahoo_row_names_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance

    monkeypatch.setattr(
        yfinance, "download", lambda tickers, **kw: yahoo_frame(["2024-07-04"], {"^SOX": [1.0]})
    )
    with pytest.raises(InputError) as caught:
        YahooSource().fetch(["^SOX"], D(2024, 7, 1), D(2024, 7, 5))
    assert str(caught.value) == (
        "yahoo: ^SOX close dated 2024-07-04: that day is not an XNYS session"
    )


def test_without_yfinance_the_hint_names_a_package_that_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from taiex.errors import SourceError

    monkeypatch.setitem(sys.modules, "yfinance", None)  # import yfinance raises ImportError
    with pytest.raises(SourceError) as caught:
        YahooSource().fetch(["^SOX"], D(2024, 7, 1), D(2024, 7, 5))
    assert "taiex[yahoo]" not in str(caught.value)  # no such extra: yfinance is a dependency
    assert "pip install yfinance" in str(caught.value)


# ---------------------------------------------------------------- a CSV URL


@pytest.fixture
def trickle() -> Iterator[str]:
    """A local HTTP server whose /slow.csv sends a valid file a byte every 50 ms (7 s in all),
    and whose headers come as slowly on /slow-headers.csv. (Short enough that a regression
    fails instead of hanging.)"""
    import http.server
    import threading
    import time

    text = b"date,symbol,close\n" + b"2024-11-27,TSM,195.02\n" * 5
    stopping = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                if self.path == "/slow-headers.csv":
                    for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 100:
                        if stopping.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.05)
                self.send_response(200)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                for byte in text:
                    if stopping.is_set():
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["slow.csv", "slow-headers.csv"])
def test_a_trickling_url_ends_within_its_timeout(trickle: str, name: str) -> None:
    """Each read came within httpx's timeout, so a download took as long as the server liked
    (here 7 s; a byte a second of a real file is days)."""
    import time

    from taiex.errors import SourceError

    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        CsvSource(f"{trickle}/{name}", timeout=1.0).fetch(SYMBOLS, D(2024, 1, 1), TODAY)
    assert time.monotonic() - started < 5
    assert str(caught.value) == f"{trickle}/{name}: no complete answer within 1 s"


def test_an_invalid_url_is_one_line() -> None:
    from taiex.errors import SourceError

    with pytest.raises(SourceError, match=r"^http://\[::1/x.csv: not a valid URL"):
        CsvSource("http://[::1/x.csv").fetch(SYMBOLS, D(2024, 1, 1), TODAY)


@pytest.mark.parametrize(
    "value",
    [
        "csv:http://[::1/x.csv",
        "csv:http://127.0.0.1:99999/x",
        "csv:file:///tmp/x.csv",
        "csv:ftp://h/x",
    ],
)
def test_a_source_url_that_is_not_http_is_a_settings_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", value)
    code, _, err = cli("overnight", "update")
    assert code == 1
    assert err == (
        f"error: TAIEX_OVERNIGHT_SOURCE={value!r}: {value[4:]!r} is not an http(s) URL "
        "(a file is csv:PATH)\n"
    )


def test_an_upper_case_scheme_is_a_url(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "csv:HTTP://127.0.0.1:9/x.csv")
    code, _, err = cli("overnight", "update")
    assert code == 1 and err.startswith("error: HTTP://127.0.0.1:9/x.csv: ConnectError")


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["^gspc,tsm", "TSM,tsm", "^GSPC,Tsm"])
def test_lower_case_symbols_are_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAIEX_OVERNIGHT_SYMBOLS", value)
    code, _, err = cli("overnight", "list")
    assert code == 1
    assert err == (
        f"error: TAIEX_OVERNIGHT_SYMBOLS={value!r}: give distinct Yahoo Finance symbols "
        "separated by commas, in upper case as Yahoo writes them (^GSPC,^IXIC,^SOX,TSM)\n"
    )


def test_symbols_yahoo_writes_are_accepted() -> None:
    from taiex.settings import Settings

    symbols = "^GSPC,BRK-B,ES=F,2330.TW,^N225"
    assert Settings(overnight_symbols=symbols).symbols == tuple(symbols.split(","))


# ---------------------------------------------------------------- taiex status


def test_the_index_s_last_load_is_not_an_overnight_load(store: Store, tmp_path: Path) -> None:
    """`taiex status` and the report show the last load beside the index's last stored day and
    its freshness; an overnight load took its place, so a TWSE update that kept failing looked
    fresh after any `overnight update`."""
    from taiex.etl import import_csv

    assert store.last_load() is None
    store.overnight.merge(_rows(("TSM", "2024-11-27", "195.02")), source="test")
    assert store.last_load() is None and store.loads.last() is not None
    path = tmp_path / "index.csv"
    path.write_text("date,open,high,low,close\n2024-11-27,22000,22100,21900,22050\n")
    import_csv(store, path, today=TODAY)
    store.overnight.merge(_rows(("TSM", "2024-11-29", "196.5")), source="test")
    last = store.last_load()
    assert last is not None and last.source == "csv:index.csv" and last.inserted == 1


@pytest.mark.realdata
def test_status_shows_the_index_s_last_load(home: Path, tmp_path: Path) -> None:
    import json

    from tests.series import REAL_DATA

    code, _, err = cli("overnight", "import-csv", str(REAL_DATA / "us_closes.csv"))
    assert code == 0, err
    code, out, _ = cli("status", "--json")
    facts = json.loads(out)
    assert facts["last_load"] is None and facts["summary"]["last load"] == "never"


def test_list_on_a_database_from_before_the_us_closes_upgrades_it(home: Path) -> None:
    """Every command brings the database to the newest revision (README); `overnight list` read
    it as it was: 'database error while reading US closes: no such table: overnight_closes'."""
    import json

    from taiex.store.testing import alembic

    home.mkdir(parents=True)
    store = Store(f"sqlite:///{home / 'taiex.db'}")
    store.upgrade()
    alembic(store, "downgrade", "0006_lstm_evaluation_counts")
    store.dispose()
    code, out, err = cli("overnight", "list", "--json")
    assert code == 0, err
    assert [row["closes"] for row in json.loads(out)] == [0, 0, 0, 0]


def test_list_without_a_database_creates_none(home: Path) -> None:
    code, _, err = cli("overnight", "list")
    assert code == 1 and err.startswith("error: no database at ") and len(err.splitlines()) == 1
    assert not (home / "taiex.db").exists()
