"""Simulation benchmark: a year of evenings replayed, and what one evening costs as history grows.

    python bench/simulate.py [--data tests/data/taiex_daily.csv] [--year 2019]
                             [--early 2004] [--policies never,configured]

Imports the real history into a scratch home, then runs `simulate` (the library call behind
`taiex simulate`) over every session of ``--year`` under each policy, and over ``--early`` (when
the stored history is about a sixth as long) under ``never``. Prints, per run: wall and CPU
seconds in all, the first evening (it trains the first models), and the other evenings' mean,
median and maximum CPU seconds (from days.csv), and the models trained. Goals (2 cores): a year
under ``configured`` within 10 minutes, under ``never`` within 2; an evening's cost flat in the
length of the history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from real_data import REAL_CSV

ROOT = Path(__file__).resolve().parents[1]


def run(home: Path, out: Path, start: dt.date, end: dt.date, policy: str) -> dict[str, object]:
    from taiex.settings import Settings
    from taiex.simulation.records import DAYS, VERSIONS, RunFolder
    from taiex.simulation.replay import Request, simulate

    settings = Settings.from_env({"TAIEX_HOME": str(home)})
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = simulate(settings, out, Request(start, end, policy))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    days = RunFolder(out).read(DAYS)
    later = days["cpu_seconds"].iloc[1:]
    return {
        "run": f"{policy} {start.year}",
        "sessions": outcome.summary["days"],
        "wall s": wall,
        "CPU s": cpu,
        "first evening CPU s": float(days["cpu_seconds"].iloc[0]),
        "evening CPU s mean": float(later.mean()),
        "median": float(later.median()),
        "max": float(later.max()),
        "models trained": len(RunFolder(out).read(VERSIONS)),
        "history rows": _rows_before(home, start),
    }


def _rows_before(home: Path, day: dt.date) -> int:
    from taiex.settings import Settings
    from taiex.store import Store

    store = Store.existing(Settings.from_env({"TAIEX_HOME": str(home)}))
    try:
        return len(store.read_history(end=day))
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    parser.add_argument("--year", type=int, default=2019)
    parser.add_argument("--early", type=int, default=2004)
    parser.add_argument("--policies", default="never,configured")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: real history not found at {args.data}")
        return
    from taiex.etl import import_csv
    from taiex.settings import Settings
    from taiex.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        store = Store.from_settings(Settings.from_env({"TAIEX_HOME": str(home)}))
        import_csv(store, args.data)
        store.dispose()
        year = (dt.date(args.year, 1, 1), dt.date(args.year, 12, 31))
        early = (dt.date(args.early, 1, 1), dt.date(args.early, 12, 31))
        results = [
            run(home, Path(tmp) / f"{policy}-{args.year}", *year, policy)
            for policy in args.policies.split(",")
        ]
        results.append(run(home, Path(tmp) / f"never-{args.early}", *early, "never"))
    history = pd.read_csv(args.data, usecols=["date"])
    print(f"history: {len(history):,} days ({args.data.name}); {os.cpu_count()} cores")
    print(pd.DataFrame(results).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
