"""The repository stands alone (docs/design.md, "Real data for tests and benchmarks"): the data its
tests and benchmarks read is in it, and no file of it points at a path outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.series import REAL_CSV, REAL_DATA, TWSE_SAMPLES

ROOT = Path(__file__).resolve().parents[1]

# The sibling folder the project once read its data and design notes from.
SIBLING = re.compile(r"\.\.[/\\]shared\b")
# ``Path(__file__).parents[N]``: out of the repository when N is not below the file's depth.
PARENTS = re.compile(r"\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")


def tracked_files() -> list[Path]:
    """Every file git tracks here (what a clone holds), as paths relative to the root."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout with git installed: {error}")
    return [Path(name) for name in listed.decode().split("\0") if name]


def escapes(relative: Path, text: str) -> list[str]:
    """The places in ``text`` (the file ``relative``) that name a path outside the repository."""
    found = [match.group() for match in SIBLING.finditer(text)]
    depth = len(relative.parts) - 1  # tests/x.py: parents[0] is tests/, parents[1] the root
    found += [m.group() for m in PARENTS.finditer(text) if int(m.group(1)) > depth]
    return found


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = {}
    for relative in tracked_files():
        path = ROOT / relative
        if not path.is_file():
            continue  # deleted in this work tree, not yet in git
        raw = path.read_bytes()
        if b"\0" in raw:
            continue  # binary (the artifact fixtures)
        found = escapes(relative, raw.decode("utf-8", errors="replace"))
        if found:
            offenders[str(relative)] = found
    assert offenders == {}


def test_the_escape_check_sees_what_it_looks_for() -> None:
    # Not spelled out, so that this file passes its own check.
    sibling, file = "." * 2 + "/shared", "__" + "file__"
    assert escapes(Path("bench/x.py"), f"--data {sibling}/data/taiex_daily.csv")
    assert escapes(Path("bench/x.py"), f"Path({file}).resolve().parents[2]")
    assert escapes(Path("src/taiex/x.py"), f"Path({file}).parents[3]")
    assert not escapes(Path("src/taiex/x.py"), f"Path({file}).resolve().parents[2]")
    assert not escapes(Path("tests/x.py"), f"Path(report.{file}).resolve().parents[2]")
    assert not escapes(Path("README.md"), "a shared machine, `aa0909555625-cell/.../x.csv`")


def test_the_data_the_tests_read_is_tracked() -> None:
    tracked = set(tracked_files())
    months = ("200001", "202003", "202310", "202412", "202504")
    samples = [f"MI_5MINS_HIST_{month}.json" for month in months]
    samples.append("MI_5MINS_HIST_202504_response-csv_big5.csv")
    needed = [
        REAL_CSV,
        REAL_DATA / "us_closes.csv",
        REAL_DATA / "SOURCES.md",
        *(TWSE_SAMPLES / name for name in samples),
    ]
    missing = [str(p.relative_to(ROOT)) for p in needed if p.relative_to(ROOT) not in tracked]
    assert missing == []
    assert all(p.stat().st_size > 0 for p in needed)
    assert REAL_DATA.resolve().is_relative_to(ROOT)
