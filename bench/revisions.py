"""Another revision of the repository beside this checkout, for a benchmark that measures before
and after a change in one run on the same machine (``--before REV``). Standard library only, so
any benchmark may import it at the top."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """The tree of ``rev`` (``git archive``: its files, no .git) in a temporary folder, removed
    after. Its code runs with ``PYTHONPATH=<tree>/src``, ahead of the venv's install."""
    with tempfile.TemporaryDirectory(prefix="taiex-rev-") as folder:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=False
        )
        if archive.returncode != 0:
            raise SystemExit(f"git archive {rev}: {archive.stderr.decode(errors='replace')}")
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield Path(folder)


def describe(rev: str) -> str:
    """``rev`` as its short hash and subject line."""
    done = subprocess.run(
        ["git", "log", "-1", "--format=%h %s", rev], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()[:72] or rev


def spread(values: Sequence[float]) -> str:
    """The median of ``values`` and their range, ``"4.1 (3.9-4.6)"``; one value alone."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"
