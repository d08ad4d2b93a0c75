"""Peak memory of `taiex import-csv` on large generated files (goal: under 300 MB at any size).

    python bench/import_csv_memory.py [--mb 200 1000] [--keep]

For each size, four files are generated and each is imported by a fresh `taiex import-csv`
process into an empty SQLite home; the process's peak resident memory (its own ``ru_maxrss``,
from ``wait4``) is printed with the outcome. The files:

- ``valid``: every weekday from 1999-01-05 to 2024-12-31 (about 6,800 rows, as many as a real
  history can hold), padded with blank lines to the size; it loads whole.
- ``late-error``: the same with a bad last line; nothing is stored, and the whole file is read.
- ``one-line``: a single line of commas the size of the file, with no newline.
- ``every-day``: a row for every calendar day from 0001-01-01 on, as the adversarial pass of
  issue 14 generated (5.7 GB of memory for 219 MB before the fix); refused at its first line.

Run with ``nice -n 10`` on a shared machine; each size writes its files to a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "date,open,high,low,close\n"
BLANKS = "\n" * 65536


def weekday_rows() -> Iterator[str]:
    rng = random.Random(14)
    level = 6000.0
    day = dt.date(1999, 1, 5)
    while day <= dt.date(2024, 12, 31):
        if day.weekday() < 5:
            low = level * (1 - rng.random() * 0.01)
            open_, close = (low * (1 + rng.random() * 0.01) for _ in range(2))
            high = max(open_, close) * (1 + rng.random() * 0.005)
            yield f"{day},{open_:.2f},{high:.2f},{low:.2f},{close:.2f}\n"
            level = close
        day += dt.timedelta(days=1)


def write_padded(path: Path, size: int, tail: str = "") -> None:
    """The weekday rows, one block of blank lines after each, to ``size`` bytes in all."""
    rows = list(weekday_rows())
    body = sum(len(row) for row in rows) + len(HEADER) + len(tail)
    per_row = max(0, (size - body) // len(rows))
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for row in rows:
            handle.write(row)
            for start in range(0, per_row, len(BLANKS)):
                handle.write(BLANKS[: min(len(BLANKS), per_row - start)])
        handle.write(tail)


def write_one_line(path: Path, size: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        chunk = "," * 1_048_576
        for _ in range(size // len(chunk)):
            handle.write(chunk)


def write_every_day(path: Path, size: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        written = len(HEADER)
        day = dt.date(1, 1, 1)
        while written < size and day < dt.date(9999, 12, 31):
            line = f"{day},100.00,110.00,90.00,105.00\n"
            handle.write(line)
            written += len(line)
            day += dt.timedelta(days=1)


def import_peak(path: Path, home: Path) -> tuple[int, float, str, int]:
    """(exit code, seconds, last line of output, peak RSS in bytes) of one import process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
    env["TAIEX_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "taiex.cli", "import-csv", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    last = (output.strip().splitlines() or [""])[-1][:90]
    return process.returncode, seconds, last, usage.ru_maxrss * 1024  # ru_maxrss is in kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    args = parser.parse_args()
    writers = {
        "valid": lambda path, size: write_padded(path, size),
        "late-error": lambda path, size: write_padded(path, size, "2030-01-02,1,2,1,2\n"),
        "one-line": write_one_line,
        "every-day": write_every_day,
    }
    print(f"{'file':<11} {'size':>9} {'peak RSS':>9} {'time':>7}  exit  last line")
    worst = 0
    for mb in args.mb:
        folder = Path(tempfile.mkdtemp(prefix="taiex-bench-csv-"))
        for name, write in writers.items():
            path = folder / f"{name}.csv"
            write(path, mb * 1_000_000)
            code, seconds, last, peak = import_peak(path, folder / f"home-{name}")
            worst = max(worst, peak)
            size = path.stat().st_size / 1e6
            figures = f"{size:7.0f} MB {peak / 1e6:6.0f} MB {seconds:6.1f} s"
            print(f"{name:<11} {figures}  {code:>4}  {last}")
        if args.keep:
            print(f"kept: {folder}")
        else:  # the CSVs and the SQLite homes the imports wrote
            shutil.rmtree(folder)
    print(f"worst peak RSS: {worst / 1e6:.0f} MB (goal: under 300 MB)")


if __name__ == "__main__":
    main()
