"""US closes against hostile input (the audit of issue 21's input paths): each case is one
``error:`` line naming the file and line, the URL or the variable, and stores nothing; and what is
real (a first update's late-1998 closes, a feed's older history) is not refused."""

from __future__ import annotations

import datetime as dt
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
