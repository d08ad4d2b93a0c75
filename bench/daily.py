"""Daily-job benchmark: `taiex run` from an empty home, then a daily run with one new day.

    python bench/daily.py [--data tests/data/taiex_daily.csv]

Serves the real history from a local TWSE server (no rate limit) up to its second-to-last day,
runs `taiex run` on an empty home (backfill + first models + outputs + monitoring), then adds the
last day and runs again. Each run is a fresh process; the figures are its wall time and peak
resident memory (ru_maxrss), as a user would see them. Goal: daily run < 10 s, < 1 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real_data import REAL_CSV  # noqa: E402
from tests.twse_server import TwseServer  # noqa: E402


def child(args: list[str]) -> None:
    """Run the CLI in this process, then report its peak memory on stderr's last line."""
    from taiex.cli import app

    try:
        app(args, standalone_mode=False)
    finally:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"PEAK_MB {peak_mb:.0f}", file=sys.stderr)


def timed_run(home: Path, url: str, day: dt.date) -> tuple[float, float, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
    env |= {"TAIEX_HOME": str(home), "TAIEX_TWSE_URL": url, "TAIEX_TWSE_MIN_INTERVAL": "0"}
    command = [sys.executable, __file__, "--child", "run", "--json", "--as-of", str(day)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"taiex run failed:\n{done.stderr[-2000:]}")
    peak = float(done.stderr.strip().splitlines()[-1].split()[1])
    return seconds, peak, json.loads(done.stdout)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: real history not found at {args.data}")
        return
    history = pd.read_csv(args.data, parse_dates=["date"])
    day1, day2 = (d.date() for d in history["date"].iloc[-2:])
    with TwseServer(history.iloc[:-1], today=day1) as server, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        full = timed_run(home, server.url, day1)
        server.set_history(history, today=day2)
        daily = timed_run(home, server.url, day2)
        again = timed_run(home, server.url, day2)
    print(f"history: {len(history):,} days up to {day2} ({args.data.name}); 2 cores, no rate limit")
    print(f"{'run':<38} {'wall s':>8} {'peak MB':>8}")
    for name, (seconds, peak, result) in (
        ("empty home: backfill, train, run", full),
        ("daily: one new day", daily),
        ("same day again (nothing new)", again),
    ):
        print(f"{name:<38} {seconds:8.1f} {peak:8.0f}   {summary(result)}")
    print("goal: daily run < 10 s, peak < 1,024 MB")


def summary(result: dict[str, object]) -> str:
    data = result["data"]
    assert isinstance(data, dict)
    monitor = result["monitor"]
    assert isinstance(monitor, dict)
    retrained = [k for k, part in monitor.items() if part["retrain"]]
    return f"{data['inserted']} new days; retrained: {', '.join(retrained) or 'none'}"


if __name__ == "__main__":
    main()
