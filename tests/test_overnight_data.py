"""US closes: the CSV format and its every refusal, the store on every backend (idempotent,
revisions recorded), loads from a CSV file, a CSV URL on a local HTTP server and Yahoo (mocked
at yfinance's boundary), and the second look at a large move."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taiex.errors import InputError, SourceError
from taiex.overnight_load import FIRST_US_DAY, import_overnight_csv, update_overnight
from taiex.overnight_source import (
    CsvSource,
    UsClose,
    YahooSource,
    large_moves,
    overnight_source,
    parse_close_csv,
)
from taiex.store import Store
from taiex.store.testing import count
from tests.series import REAL_DATA

D = dt.date
SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")
TODAY = D(2024, 12, 31)
US_CSV = REAL_DATA / "us_closes.csv"


def parse(text: str, today: dt.date = TODAY) -> list[UsClose]:
    return parse_close_csv(text.splitlines(), "f.csv", SYMBOLS, today)


# ---------------------------------------------------------------- the CSV format


def test_columns_in_any_order_with_extra_columns() -> None:
    rows = parse(
        "close,source,symbol,date\n5998.74,x,^GSPC,2024-11-27\n6032.38,x,^GSPC,2024-11-29\n"
    )
    assert rows == [
        UsClose("^GSPC", D(2024, 11, 27), Decimal("5998.74")),
        UsClose("^GSPC", D(2024, 11, 29), Decimal("6032.38")),
    ]


@pytest.mark.realdata
def test_the_real_file_parses_whole() -> None:
    rows = parse(US_CSV.read_text())
    assert len(rows) == 8_548 and {r.symbol for r in rows} == set(SYMBOLS)
    assert rows[0].date == D(2016, 6, 27) and max(r.date for r in rows) == TODAY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.csv: the file is empty"),
        ("day,symbol,close\n", "f.csv: line 1: the header lacks date"),
        ("date,symbol,close\n2024-13-01,^GSPC,1\n", "line 2: '2024-13-01' is not a date"),
        ("date,symbol,close\n24-11-27,^GSPC,1\n", "line 2: '24-11-27' is not a date"),
        (
            "date,symbol,close\n2024-07-04,^GSPC,5000\n",
            "2024-07-04: that day is not an XNYS session",
        ),
        ("date,symbol,close\n2024-11-30,^GSPC,5000\n", "that day is not an XNYS session"),
        (
            "date,symbol,close\n2025-01-02,^GSPC,5000\n",
            "has not closed that day yet (closed through 2024-12-31)",
        ),
        ("date,symbol,close\n2024-11-27,^DJI,5000\n", "'^DJI' is not a symbol of TAIEX_OVER"),
        ("date,symbol,close\n2024-11-27,^GSPC,-1\n", "close '-1' is not a decimal number"),
        ("date,symbol,close\n2024-11-27,^GSPC,0\n", "close 0 on 2024-11-27 is not a positive"),
        ("date,symbol,close\n2024-11-27,^GSPC,nan\n", "close 'nan' is not a decimal number"),
        ("date,symbol,close\n2024-11-27,^GSPC,1e3\n", "close '1e3' is not a decimal number"),
        ("date,symbol,close\n2024-11-27,^GSPC,1.23456\n", "at most 4 decimals"),
        ("date,symbol,close\n2024-11-27,^GSPC\n", "line 2: 2 values where the header has 3"),
        (
            "date,symbol,close\n2024-11-27,^GSPC,1\n2024-11-27,^GSPC,2\n",
            "line 3: ^GSPC on 2024-11-27 repeats line 2 with another close",
        ),
        ("date,symbol,close\n" + "9" * 2_000 + "\n", "line 2 is longer than 1,000 characters"),
    ],
)
def test_every_bad_line_is_one_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        parse(text)
    assert "\n" not in str(caught.value)


def test_a_repeated_identical_line_is_one_close() -> None:
    assert len(parse("date,symbol,close\n2024-11-27,^GSPC,1\n2024-11-27,^GSPC,1.0\n")) == 1


@pytest.mark.parametrize(
    ("setting", "kind"),
    [("yahoo", YahooSource), ("csv:/data/us.csv", CsvSource), ("csv:https://x/us.csv", CsvSource)],
)
def test_the_source_setting(setting: str, kind: type) -> None:
    assert isinstance(overnight_source(setting), kind)
    assert overnight_source("none") is None


@pytest.mark.parametrize("setting", ["", "csv:", "csv: ", "Yahoo", "ftp://x"])
def test_a_bad_source_setting_is_one_line(setting: str) -> None:
    with pytest.raises(InputError, match="use yahoo, csv:PATH_OR_URL or none"):
        overnight_source(setting)


# ---------------------------------------------------------------- the store


def rows(*items: tuple[str, str, str]) -> list[UsClose]:
    return [UsClose(s, D.fromisoformat(d), Decimal(c)) for s, d, c in items]


def test_a_merge_inserts_then_changes_nothing_then_records_a_revision(store: Store) -> None:
    first = rows(("^SOX", "2024-11-27", "4950.12"), ("^SOX", "2024-11-29", "5005.5"))
    assert store.overnight.merge(first, source="test").inserted == 2
    again = store.overnight.merge(first, source="test")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    revised = rows(("^SOX", "2024-11-29", "5005.55"))
    assert store.overnight.merge(revised, source="test").updated == 1
    closes = store.overnight.closes(["^SOX", "TSM"])
    assert closes == {
        "^SOX": {D(2024, 11, 27): Decimal("4950.12"), D(2024, 11, 29): Decimal("5005.55")},
        "TSM": {},
    }
    assert store.overnight.last_dates() == {"^SOX": D(2024, 11, 29)}
    assert count(store, "etl_loads") == 3 and store.loads.last().updated == 1  # type: ignore[union-attr]


@pytest.mark.realdata
def test_the_real_file_imports_once(store: Store) -> None:
    load = import_overnight_csv(store, US_CSV, SYMBOLS, TODAY)
    assert (load.result.inserted, load.result.updated) == (8_548, 0)
    assert import_overnight_csv(store, US_CSV, SYMBOLS, TODAY).result.inserted == 0
    assert store.overnight.count() == 8_548
    assert store.overnight.closes(["TSM"])["TSM"][D(2016, 6, 27)] == Decimal("24.90")


# ---------------------------------------------------------------- large moves


def test_a_large_move_is_found_against_stored_neighbours() -> None:
    stored = {"TSM": {D(2024, 11, 27): Decimal("100"), D(2024, 12, 2): Decimal("100")}}
    moved = rows(("TSM", "2024-11-29", "130"))
    (found,) = large_moves(moved, stored)
    assert "TSM moves +30.0 % from 100 on 2024-11-27 to 130 on 2024-11-29" in found[1]
    assert large_moves(rows(("TSM", "2024-11-29", "120")), stored) == []
    # Not compared across a missing session (11-29 is not stored): a hole says nothing.
    assert (
        large_moves(rows(("TSM", "2024-12-03", "200")), {"TSM": {D(2024, 11, 27): Decimal(1)}})
        == []
    )


def test_an_import_refuses_a_large_move_unless_allowed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "us.csv"
    path.write_text("date,symbol,close\n2024-11-27,TSM,100\n2024-11-29,TSM,70\n")
    with pytest.raises(InputError, match=r"us.csv: line 2: TSM moves -30.0 % .* --allow-large"):
        import_overnight_csv(store, path, SYMBOLS, TODAY)
    assert store.overnight.count() == 0
    load = import_overnight_csv(store, path, SYMBOLS, TODAY, allow_large_moves=True)
    assert load.result.inserted == 2 and len(load.confirmed) == 1


def test_an_import_of_a_missing_file_is_one_line(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: cannot read"):
        import_overnight_csv(store, tmp_path / "nope.csv", SYMBOLS, TODAY)


class ScriptedSource:
    """Gives each fetch the next list of closes; records what was asked."""

    name = "scripted"

    def __init__(self, *answers: list[UsClose]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[dt.date, dt.date]] = []

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> list[UsClose]:
        self.asked.append((start, end))
        return self.answers.pop(0)


def test_an_update_stores_a_large_move_a_second_fetch_confirms(store: Store) -> None:
    moved = rows(("TSM", "2024-11-27", "100"), ("TSM", "2024-11-29", "70"))
    load = update_overnight(store, ScriptedSource(moved, moved), ["TSM"], TODAY)
    assert load.result.inserted == 2 and len(load.confirmed) == 1


def test_an_update_whose_second_fetch_disagrees_stores_nothing(store: Store) -> None:
    moved = rows(("TSM", "2024-11-27", "100"), ("TSM", "2024-11-29", "70"))
    fixed = rows(("TSM", "2024-11-27", "100"), ("TSM", "2024-11-29", "97"))
    with pytest.raises(
        SourceError,
        match=r"second fetch did not confirm it \(TSM on 2024-11-29: 70, then 97\): nothing stored",
    ):
        update_overnight(store, ScriptedSource(moved, fixed), ["TSM"], TODAY)
    assert store.overnight.count() == 0


def test_an_update_backfills_first_then_asks_from_the_last_day_less_a_week(store: Store) -> None:
    source = ScriptedSource(rows(("TSM", "2024-11-27", "100")), rows(("TSM", "2024-11-29", "101")))
    update_overnight(store, source, ["TSM"], D(2024, 11, 27))
    update_overnight(store, source, ["TSM"], D(2024, 11, 29))
    assert source.asked == [(FIRST_US_DAY, D(2024, 11, 27)), (D(2024, 11, 20), D(2024, 11, 29))]
    assert D(1999, 1, 5) > FIRST_US_DAY


# ---------------------------------------------------------------- a CSV URL


@pytest.fixture
def csv_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server of tmp_path's files."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.realdata
def test_a_csv_url_is_a_source(store: Store, csv_server: str, tmp_path: Path) -> None:
    (tmp_path / "us.csv").write_bytes(US_CSV.read_bytes())
    source = overnight_source(f"csv:{csv_server}/us.csv")
    assert source is not None
    load = update_overnight(store, source, SYMBOLS, TODAY)
    assert load.result.inserted == 8_548 and load.source == f"csv:{csv_server}/us.csv"


def test_a_csv_url_that_fails_is_one_line_and_stores_nothing(store: Store, csv_server: str) -> None:
    source = CsvSource(f"{csv_server}/missing.csv")
    with pytest.raises(SourceError, match=r"missing.csv: HTTP 404 ") as caught:
        update_overnight(store, source, SYMBOLS, TODAY)
    assert "\n" not in str(caught.value) and store.overnight.count() == 0


# ---------------------------------------------------------------- Yahoo, mocked at yfinance


def yahoo_frame(days: list[str], closes: dict[str, list[float]]) -> pd.DataFrame:
    """What yfinance.download returns: (Price, Ticker) columns, one row a session."""
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date")
    columns = pd.MultiIndex.from_product([["Adj Close", "Close", "Open"], list(closes)])
    data = np.column_stack([closes[s] for _ in range(3) for s in closes])
    return pd.DataFrame(data, index=index, columns=columns)


def test_yahoo_closes_come_from_the_unadjusted_close(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance

    asked = {}

    def download(tickers: list[str], **kwargs: object) -> pd.DataFrame:
        asked.update(kwargs, tickers=tickers)
        return yahoo_frame(
            ["2024-11-27", "2024-11-29"],
            {"^SOX": [4950.1201171875, 5005.5], "TSM": [195.02000427246094, np.nan]},
        )

    monkeypatch.setattr(yfinance, "download", download)
    found = YahooSource().fetch(["^SOX", "TSM"], D(2024, 11, 27), D(2024, 11, 29))
    assert found == rows(
        ("TSM", "2024-11-27", "195.02"),
        ("^SOX", "2024-11-27", "4950.1201"),
        ("^SOX", "2024-11-29", "5005.5"),
    )
    assert asked["auto_adjust"] is False and asked["end"] == "2024-11-30"  # end is exclusive


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "yahoo: no data for"),
        (pd.DataFrame(), "yahoo: no data for"),
        (RuntimeError("Too Many Requests. Rate limited."), "yahoo: RuntimeError: Too Many"),
    ],
)
def test_yahoo_failures_are_one_line(
    monkeypatch: pytest.MonkeyPatch, answer: object, message: str
) -> None:
    import yfinance

    def download(tickers: list[str], **kwargs: object) -> object:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(yfinance, "download", download)
    with pytest.raises(SourceError, match=message) as caught:
        YahooSource().fetch(["^SOX"], D(2024, 11, 27), D(2024, 11, 29))
    assert "\n" not in str(caught.value)


def test_yahoo_rows_on_a_day_that_is_no_session_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yfinance

    monkeypatch.setattr(
        yfinance, "download", lambda tickers, **kw: yahoo_frame(["2024-07-04"], {"^SOX": [1.0]})
    )
    with pytest.raises(InputError, match="2024-07-04: that day is not an XNYS session"):
        YahooSource().fetch(["^SOX"], D(2024, 7, 1), D(2024, 7, 5))


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from taiex.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.realdata
def test_overnight_commands_import_list_and_status(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli("overnight", "import-csv", str(US_CSV))
    assert code == 0, err
    assert "8548 US closes from csv:" in out and "8548 new, 0 revised" in " ".join(out.split())
    code, out, _ = cli("overnight", "import-csv", str(US_CSV))
    assert "0 new, 0 revised, 8548 unchanged" in " ".join(out.split())
    code, out, _ = cli("overnight", "list", "--json")
    listed = {row["symbol"]: row for row in json.loads(out)}
    assert listed["^SOX"] == {
        "symbol": "^SOX",
        "closes": 2121,
        "first": "2016-07-28",
        "last": "2024-12-31",
    }
    with time_machine_at(dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC)):  # 08:00 Taipei
        code, out, _ = cli("status", "--json")
    facts = json.loads(out)
    assert all(row["fresh"] for row in facts["overnight"])
    assert "fresh" in facts["summary"]["US closes (pre-open)"]
    with time_machine_at(dt.datetime(2025, 1, 3, 0, 0, tzinfo=dt.UTC)):  # New York closed 01-02
        code, out, _ = cli("status", "--json")
    summary = json.loads(out)["summary"]["US closes (pre-open)"]
    assert summary.startswith("stale: ^GSPC 2024-12-31") and "closed up to 2025-01-02" in summary
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "none")
    code, out, _ = cli("status", "--json")
    assert json.loads(out)["summary"]["US closes (pre-open)"].startswith("off")


@pytest.mark.realdata
def test_overnight_update_from_a_csv_source_and_its_errors(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", f"csv:{US_CSV}")
    code, out, err = cli("overnight", "update")
    assert code == 0, err
    assert "8548 new" in out
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "none")
    code, _, err = cli("overnight", "update")
    assert code == 1 and err.strip() == (
        "error: TAIEX_OVERNIGHT_SOURCE=none: the pre-open round is off, there is nothing to update"
    )
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "csv:")
    code, _, err = cli("overnight", "update")
    assert code == 1 and err.startswith("error: TAIEX_OVERNIGHT_SOURCE='csv:': use yahoo")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,close\n2024-11-27,TSM,100\n2024-07-04,TSM,1\n")
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", "yahoo")
    code, _, err = cli("overnight", "import-csv", str(bad))
    assert code == 1
    assert (
        err.strip()
        == f"error: {bad}: line 3: TSM close dated 2024-07-04: that day is not an XNYS session"
    )
    code, out, _ = cli("overnight", "list")
    assert "TSM: 2143 closes" in out  # the bad file stored nothing


def time_machine_at(moment: dt.datetime) -> object:
    import time_machine

    return time_machine.travel(moment, tick=False)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TAIEX_OVERNIGHT_SOURCE", "csv:", "use yahoo, csv:PATH_OR_URL or none"),
        ("TAIEX_OVERNIGHT_SOURCE", "Yahoo", "use yahoo, csv:PATH_OR_URL or none"),
        ("TAIEX_OVERNIGHT_SYMBOLS", "^GSPC,,TSM", "give distinct Yahoo Finance symbols"),
        ("TAIEX_OVERNIGHT_SYMBOLS", "TSM,TSM", "give distinct Yahoo Finance symbols"),
        ("TAIEX_OVERNIGHT_SYMBOLS", "^GSPC; TSM", "give distinct Yahoo Finance symbols"),
        ("TAIEX_PREOPEN_TIME", "7:30", "is not a time of day before TAIEX's 09:00 open"),
        ("TAIEX_PREOPEN_TIME", "09:30", "is not a time of day before TAIEX's 09:00 open"),
        ("TAIEX_PREOPEN_TIME", "08:61", "is not a time of day before TAIEX's 09:00 open"),
    ],
)
def test_bad_overnight_settings_are_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = cli("overnight", "list")
    assert code == 1 and err.startswith(f"error: {variable}=") and message in err
    assert len(err.strip().splitlines()) == 1


def test_the_default_overnight_settings() -> None:
    from taiex.settings import Settings

    settings = Settings.from_env({})
    assert settings.symbols == SYMBOLS and settings.preopen == dt.time(7, 30)
    assert settings.overnight_source == "yahoo"
