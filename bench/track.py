"""Track-record benchmark: the report's track record after years of serving.

    python bench/track.py [--data tests/data/taiex_daily.csv] [--years 5]

Stores the real history in a scratch SQLite database, then what both rounds would have served
every session of the last ``--years`` years (5 horizons each, the naive level moved by a little
noise, and a signal), as the daily loop stores them. Times, each the best of three: reading and
computing the track record from the database (:func:`taiex.report.track.track_record`), and drawing
its chart wide and narrow; and the whole page's size and time (``taiex report``, no model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real_data import REAL_CSV  # noqa: E402

ROUNDS = ("evening", "pre-open")


def served_rows(history: pd.DataFrame, years: int) -> tuple[list[dict[str, object]], ...]:
    """Each round's forecast rows and signals from every session of the last ``years`` years."""
    rng = np.random.default_rng(0)
    dates = [d.date() for d in pd.to_datetime(history["date"])]
    closes = history["close"].to_numpy(float)
    start = len(dates) - 245 * years
    forecasts, signals = [], []
    for i in range(start, len(dates)):
        origin, close = dates[i], float(closes[i])
        for name in ROUNDS:
            for h in range(1, 6):
                target = dates[i + h] if i + h < len(dates) else origin + dt.timedelta(days=h)
                value = close * (1 + rng.normal(0, 0.004 * h**0.5))
                band = close * 0.008 * h**0.5
                forecasts.append(
                    {
                        "model_version": f"{name}-v1",
                        "round": name,
                        "origin_date": origin,
                        "horizon": h,
                        "target_date": target,
                        "forecast": value,
                        "lower_80": value - band,
                        "upper_80": value + band,
                        "lower_95": value - 1.6 * band,
                        "upper_95": value + 1.6 * band,
                        "naive": close,
                    }
                )
            probability = float(rng.uniform())
            signals.append(
                {
                    "model_version": f"{name}-signal-v1",
                    "round": name,
                    "based_on": origin,
                    "target_date": dates[i + 1] if i + 1 < len(dates) else origin + dt.timedelta(1),
                    "probability": probability,
                    "signal": int(probability >= 0.5),
                    "threshold": 0.5,
                }
            )
    return forecasts, signals


def best_of_three(work: object) -> float:
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()

    from taiex.etl import read_csv_rows
    from taiex.report.page import draw_track, write_report
    from taiex.report.track import track_record
    from taiex.settings import Settings
    from taiex.store import Store

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(home=Path(scratch) / "home", db_url=f"sqlite:///{scratch}/taiex.db")
        store = Store(settings.database_url)
        store.upgrade()
        store.merge_rows(read_csv_rows(args.data), source=str(args.data))
        forecasts, signals = served_rows(store.read_history(), args.years)
        store.forecasts.save(forecasts)
        store.signals.save(signals)
        record = track_record(store)
        computing = best_of_three(lambda: track_record(store))
        drawing = best_of_three(lambda: draw_track(record, Path(scratch)))
        started = time.perf_counter()
        page = Path(write_report(store, settings))
        writing = time.perf_counter() - started
        size = page.stat().st_size
        store.dispose()
    pairs = sum(len(part.served) for part in record.forecasts)
    print(
        f"served: {args.years} years, {len(record.sessions):,} sessions, {pairs:,} forecast pairs"
    )
    print(f"        and {len(record.signals):,} signals, both rounds")
    for part in record.forecasts:
        overall = part.overall
        ratio = f"{overall.ratio:.3f}" if overall and overall.ratio else "-"
        print(f"  {part.round}: sMAPE ratio to naive since the start {ratio}")
    print(f"track_record (read + compute): {computing:.2f} s")
    print(f"draw_track (wide + narrow PNG): {drawing:.2f} s")
    print(f"the whole page: {writing:.2f} s to write, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
