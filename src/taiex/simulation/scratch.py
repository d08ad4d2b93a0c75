"""The simulation's own SQLite database, in its folder, committed at the end of every day.

The daily job's steps write to the database as they go (a model registered here, a promotion
there), so a day cut short by Ctrl-C or SIGKILL leaves the live file half-way through that day.
The committed state is a second file, a consistent copy of the live database taken (with
SQLite's backup API) once the day's rows are safely in the CSV files, and renamed into place in
one step. To resume, the live file is rebuilt from it, and the day after it is redone from the
start. The copy costs a few milliseconds a day: the database holds the history and a few models.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from taiex.errors import StorageError
from taiex.source import DailyRow


class ScratchDatabase:
    """``live`` is what the steps use; ``committed`` is the end of the last day done."""

    def __init__(self, folder: Path) -> None:
        self.live = folder / "scratch.db"
        self.committed = folder / "scratch.committed.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.live}"

    def last_day(self) -> dt.date | None:
        """The last trading day of the committed state (None when nothing is committed)."""
        if not self.committed.exists():
            return None
        with _errors(f"reading {self.committed}"), _connect(self.committed, read_only=True) as db:
            (last,) = db.execute("SELECT max(date) FROM weighted_index").fetchone()
        return dt.date.fromisoformat(last) if last else None

    def restore(self) -> None:
        """Make the live database the committed one again (or empty when none is committed)."""
        for path in _files_of(self.live):
            path.unlink(missing_ok=True)
        if self.committed.exists():
            _copy(self.committed, self.live)

    def commit(self) -> None:
        """Copy the live database over the committed one, in one rename."""
        partial = self.committed.with_name(self.committed.name + ".partial")
        for path in _files_of(partial):
            path.unlink(missing_ok=True)
        _copy(self.live, partial)
        os.replace(partial, self.committed)
        _sync_folder(self.committed.parent)


def _copy(source: Path, target: Path) -> None:
    with (
        _errors(f"copying {source.name} to {target.name}"),
        _connect(source) as src,
        _connect(target) as dst,
    ):
        src.backup(dst)
        # A file of its own, whole: no WAL beside it, so one rename moves all of it.
        dst.execute("PRAGMA journal_mode=DELETE")
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=60)
    try:
        yield connection
    finally:
        connection.close()


@contextlib.contextmanager
def _errors(action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"the simulation's scratch database: {action} failed ({exc})") from exc


def _files_of(database: Path) -> Sequence[Path]:
    return [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]


def _sync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (the folder's entry, not only the file)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def rows_before(rows: Sequence[DailyRow], day: dt.date) -> list[DailyRow]:
    return [row for row in rows if row.date < day]
