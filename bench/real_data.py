"""Where the benchmarks read the real data: the repository's test data, ``tests/data`` (sources in
``tests/data/SOURCES.md``). Standard library only, so any benchmark may import it at the top."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
REAL_CSV = DATA / "taiex_daily.csv"
US_CSV = DATA / "us_closes.csv"  # US closes for the pre-open round, 2016-06-27 ... 2024-12-31
