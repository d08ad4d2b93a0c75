"""Report page benchmark: the page with its assets (size) and its charts drawn in Chromium (time).

    python bench/report_page.py [--runs 5]

Writes the fullest page there is (both rounds served, the night's closes, a year of candles and
a year of daily evaluations of every kind: the test world of tests/test_report_preopen.py with
a longer history) to a temporary folder, then opens it from disk in Debian's headless Chromium
(tests/browser.py) at 390 px and 1280 px, each time in a new tab, and reads the time from the
navigation's start until every interactive chart is drawn (``window.taiexCharts`` settled:
scripts parsed, specs compiled, SVG rendered) and the first contentful paint. The budget
(issue 23): the page with its assets under 2 MB, drawn in under 1 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taiex.report.page import write_report  # noqa: E402
from taiex.report.vendor import script_paths  # noqa: E402
from tests.browser import PHONE, Chromium, find_chromium  # noqa: E402
from tests.series import synthetic_history  # noqa: E402
from tests.test_report import World, empty_world, evaluation_rows, fill, insert_rows  # noqa: E402
from tests.test_report_preopen import MORNING, serve_preopen, store_closes  # noqa: E402

DESKTOP = 1280
BUDGET_BYTES = 2_000_000
BUDGET_SECONDS = 1.0
YEAR = 250  # trading days: the candles' overview and each kind's evaluations
# When the last figure's charts were drawn (charts.js measures each figure), from the navigation.
DRAWN = """window.taiexCharts.then(() => ({
    drawn: Math.max(...performance.getEntriesByType('measure').map(m => m.startTime + m.duration)),
    paint: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
    charts: document.querySelectorAll('.chart svg').length,
}))"""


def year_world(folder: Path) -> World:
    """The test world (its last day Friday 2024-11-01) with a year and a half of history and a
    year of evaluations, both rounds served."""
    world = empty_world(folder)
    last = world.history["date"].iloc[-1]
    start = pd.bdate_range(end=last, periods=YEAR + 150)[0]
    history = synthetic_history(n=YEAR + 150, start=f"{start:%Y-%m-%d}", seed=5, level=22_000.0)
    world = fill(dataclasses.replace(world, history=history))
    # fill() scored the last 15 days; the rest of the year before them.
    for version, kind, table in (
        ("lstm-v1", "lstm", "lstm_model_evaluate"),
        ("classifier-v1", "classifier", "svm_model_evaluate"),
    ):
        insert_rows(world.store, table, evaluation_rows(world, version, kind, days=YEAR)[:-15])
    store_closes(world)
    serve_preopen(world)
    return dataclasses.replace(world, now=MORNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="page loads at each width")
    args = parser.parse_args()
    executable = find_chromium()
    if executable is None:
        sys.exit("error: no chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="taiex-bench-page-") as tmp:
        world = year_world(Path(tmp))
        page = Path(write_report(world.store, world.settings, now=world.now))
        world.store.dispose()
        sizes = {"index.html": page.stat().st_size}
        sizes |= {name: (page.parent / name).stat().st_size for name in script_paths()}
        total = sum(sizes.values())
        print(f"page with its assets: {total / 1e6:.2f} MB (budget {BUDGET_BYTES / 1e6:.0f} MB)")
        for name, size in sizes.items():
            print(f"  {name:<32} {size / 1e3:8.1f} kB")
        print(f"drawn in Chromium ({args.runs} loads a width, a new tab each; seconds):")
        worst = 0.0
        with Chromium(executable, profile=Path(tmp) / "profile") as browser:
            for width in (PHONE, DESKTOP):
                drawn, paint = [], []
                for _ in range(args.runs):
                    browser.open(page.as_uri(), width=width)
                    result = browser.evaluate(DRAWN)
                    drawn.append(result["drawn"] / 1000)
                    paint.append((result["paint"] or 0.0) / 1000)
                worst = max(worst, max(drawn))
                print(
                    f"  {width:>5} px: charts drawn median {statistics.median(drawn):.3f}, "
                    f"max {max(drawn):.3f} (first {drawn[0]:.3f}); first paint median "
                    f"{statistics.median(paint):.3f}; {result['charts']} charts"
                )
        if browser.errors:
            sys.exit(f"error: the page logged errors: {browser.errors}")
        within = total < BUDGET_BYTES and worst < BUDGET_SECONDS
        print(f"within the budget: {'yes' if within else 'NO'} ({dt.date.today()})")


if __name__ == "__main__":
    main()
