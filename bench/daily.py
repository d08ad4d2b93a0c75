"""Daily-job benchmark: `taiex run` from an empty home, a daily run with one new day, the same
day again, and `taiex status`.

    python bench/daily.py [--data tests/data/taiex_daily.csv] [--before REV] [--repeats 3]

Serves the real history from a local TWSE server (no rate limit) up to its second-to-last day,
runs `taiex run` on an empty home (backfill + first models + outputs + monitoring), then adds the
last day and runs again (one new day), a third time (nothing new), and `taiex status`. Each run
is a fresh process; the figures are its wall time and peak resident memory (ru_maxrss), as a
user would see them. The daily runs start each repeat from a copy of the home the first run
left; the figures are the medians and ranges of the repeats.

``--before REV`` measures that revision too (``git archive`` into a temporary folder), its runs
interleaved with this checkout's, on the same machine and data.

The cached month of the first run is stamped as fetched on its data day, as a daily run on that
day would have left it: the machine's clock is months past the data, which would make the month
final in the cache and the next day's run find nothing new.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real_data import REAL_CSV  # noqa: E402
from revisions import checkout, describe, spread  # noqa: E402
from tests.twse_server import TwseServer  # noqa: E402

DAILY = ("daily: one new day", "same day again (nothing new)", "taiex status")


def child(args: list[str]) -> None:
    """Run the CLI's entry point in this process, as the `taiex` command does; its peak memory
    on stderr's last line, from an exit handler (the entry point may end the process itself)."""
    import atexit

    from taiex.cli import main

    def peak() -> None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"PEAK_MB {peak_mb:.0f}", file=sys.stderr, flush=True)

    atexit.register(peak)
    sys.argv = ["taiex", *args]
    main()


@dataclass
class Tree:
    """A checkout to measure and what its runs took: name -> [(seconds, peak MB, summary)]."""

    label: str
    path: Path
    runs: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)

    def timed(self, home: Path, url: str, name: str, args: list[str]) -> dict[str, object]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
        env |= {
            "PYTHONPATH": str(self.path / "src"),
            "TAIEX_HOME": str(home),
            "TAIEX_TWSE_URL": url,
            "TAIEX_TWSE_MIN_INTERVAL": "0",
        }
        command = [sys.executable, __file__, "--child", *args]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{self.label}: taiex {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        peak = float(done.stderr.strip().splitlines()[-1].split()[1])
        result = json.loads(done.stdout) if "--json" in args and args[0] == "run" else {}
        self.runs.setdefault(name, []).append((seconds, peak, summary(result)))
        return result


def stamp_fetch_day(home: Path, day: dt.date) -> None:
    """The cached response of ``day``'s month as fetched on ``day`` (see the module's doc)."""
    with sqlite3.connect(home / "taiex.db") as conn:
        conn.execute(
            "UPDATE twse_responses SET fetched_on = ? WHERE month = ?",
            (day.isoformat(), f"{day:%Y-%m}"),
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    parser.add_argument("--before", metavar="REV", help="measure this revision too")
    parser.add_argument("--repeats", type=int, default=3, help="daily runs per tree")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: real history not found at {args.data}")
        return
    history = pd.read_csv(args.data, parse_dates=["date"])
    day1, day2 = (d.date() for d in history["date"].iloc[-2:])
    before_tree: contextlib.AbstractContextManager[Path | None] = (
        checkout(args.before) if args.before else contextlib.nullcontext(None)
    )
    with tempfile.TemporaryDirectory() as tmp, before_tree as before:
        trees = ([Tree(f"before ({describe(args.before)})", before)] if before else []) + [
            Tree("this tree", ROOT)
        ]
        with TwseServer(history.iloc[:-1], today=day1) as server:
            for i, tree in enumerate(trees):
                home = Path(tmp) / f"first{i}"
                home.mkdir()
                tree.timed(home, server.url, "empty home: backfill, train, run", run_args(day1))
                stamp_fetch_day(home, day1)
            server.set_history(history, today=day2)
            for repeat in range(args.repeats):
                for i, tree in enumerate(trees):  # interleaved: the same load for both
                    home = Path(tmp) / f"daily{i}-{repeat}"
                    shutil.copytree(Path(tmp) / f"first{i}", home)
                    tree.timed(home, server.url, DAILY[0], run_args(day2))
                    tree.timed(home, server.url, DAILY[1], run_args(day2))
                    tree.timed(home, server.url, DAILY[2], ["status"])
                    shutil.rmtree(home)
    print(f"history: {len(history):,} days up to {day2} ({args.data.name}); no rate limit")
    print(f"{os.cpu_count()} cores; load average at the end: {os.getloadavg()[0]:.1f}")
    report(trees, args.repeats)
    print("goals: daily run < 5 s, status < 1.5 s, peak < 1,024 MB")


def run_args(day: dt.date) -> list[str]:
    return ["run", "--json", "--as-of", str(day)]


def report(trees: list[Tree], repeats: int) -> None:
    print(f"wall s: median (range) of {repeats} runs; peak MB: the largest")
    for tree in trees:
        print(f"\n{tree.label}")
        print(f"  {'run':<34} {'wall s':>16} {'peak MB':>8}")
        for name, runs in tree.runs.items():
            seconds = [s for s, _, _ in runs]
            peak = max(p for _, p, _ in runs)
            print(f"  {name:<34} {spread(seconds):>16} {peak:8.0f}   {runs[-1][2]}")


def summary(result: dict[str, object]) -> str:
    if not result:
        return ""
    data = result["data"]
    assert isinstance(data, dict)
    monitor = result["monitor"]
    assert isinstance(monitor, dict)
    retrained = [k for k, part in monitor.items() if part["retrain"]]
    return f"{data['inserted']} new days; retrained: {', '.join(retrained) or 'none'}"


if __name__ == "__main__":
    main()
