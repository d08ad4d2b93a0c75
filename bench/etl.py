"""ETL benchmark: the full real history from a local TWSE server with no rate limit.

    python bench/etl.py [--data tests/data/taiex_daily.csv]

Prints the wall time of a full backfill from an empty home, the merge's rows per second, and the
wall time of a second run taken from the raw cache (only the current month is asked again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real_data import REAL_CSV  # noqa: E402
from taiex.etl import Loader, RawCache, backfill_months, load_months  # noqa: E402
from taiex.settings import Settings  # noqa: E402
from taiex.source import DailyRow, TwseClient  # noqa: E402
from taiex.store import PRICE_COLUMNS, Store  # noqa: E402
from tests.twse_server import TwseServer  # noqa: E402


def timed_backfill(settings: Settings, today: dt.date) -> tuple[float, list]:  # type: ignore[type-arg]
    store = Store.from_settings(settings)
    with TwseClient.from_settings(settings) as client:
        loader = Loader(store, client, RawCache(store), today=today)
        started = time.perf_counter()
        loads = load_months(loader, backfill_months(None, None, today))
        seconds = time.perf_counter() - started
    store.dispose()
    return seconds, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: real history not found at {args.data}")
        return
    history = pd.read_csv(args.data, parse_dates=["date"])
    today = history["date"].max().date()
    with TwseServer(history, today=today) as server, tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), twse_url=server.url, twse_min_interval=0.0)
        full, loads = timed_backfill(settings, today)
        cached, _ = timed_backfill(settings, today)
        asked = len(server.requests)
    insert_rate, unchanged_rate = merge_rates(history)
    print(f"history: {len(history):,} days in {len(loads)} months ({args.data.name})")
    print(f"full backfill, empty home:   {full:7.2f} s   ({asked} requests over both runs)")
    print(f"second run from the cache:   {cached:7.2f} s")
    print(f"merge, all new rows:         {insert_rate:7,.0f} rows/s (one transaction, SQLite file)")
    print(f"merge, all rows unchanged:   {unchanged_rate:7,.0f} rows/s")
    print("goals: full backfill < 15 s, cached rerun < 3 s")


def merge_rates(history: pd.DataFrame) -> tuple[float, float]:
    """Rows per second of the staged merge alone: into an empty table, then again unchanged."""
    rows = [
        DailyRow(r.date.date(), *(Decimal(f"{getattr(r, c):.2f}") for c in PRICE_COLUMNS))
        for r in history.itertuples()
    ]
    rates = []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.create_schema()
        for _ in range(2):
            started = time.perf_counter()
            store.merge_rows(rows, source="bench")
            rates.append(len(rows) / (time.perf_counter() - started))
        store.dispose()
    return rates[0], rates[1]


if __name__ == "__main__":
    main()
