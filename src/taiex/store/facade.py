"""The :class:`Store`: the one way into the taiex database, with a repository per table family."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from taiex.errors import DataError
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import migrate
from taiex.store.clock import Clock, utcnow
from taiex.store.engine import check_connection, make_engine, sqlite_file
from taiex.store.evaluations import EvaluationRepository
from taiex.store.figures import FigureRepository
from taiex.store.forecasts import ForecastRepository
from taiex.store.loads import LoadRecord, LoadRepository, MergeResult
from taiex.store.locks import Locks
from taiex.store.overnight import OVERNIGHT_SOURCE, OvernightRepository
from taiex.store.prices import PriceRepository
from taiex.store.responses import ResponseRepository
from taiex.store.signals import SignalRepository
from taiex.store.versions import VersionRepository


class Store:
    """The taiex database behind one Engine (or URL); nothing here is global.

    ``clock`` gives every timestamp the store writes (naive UTC, to the second); tests inject a
    fixed one. The repositories: ``prices`` (weighted_index and its staging), ``loads``
    (etl_loads), ``versions`` (model versions and champions), ``forecasts``, ``signals`` and
    ``evaluations``, TWSE's ``responses`` (the raw cache), the ``figures`` steps draw and the
    ``overnight`` US closes of the pre-open round.
    Every database error comes out as a StorageError naming the operation.
    """

    def __init__(self, engine: Engine | str, *, clock: Clock = utcnow) -> None:
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        self.clock = clock
        self.prices = PriceRepository(self.engine, clock)
        self.loads = LoadRepository(self.engine)
        self.versions = VersionRepository(self.engine, clock)
        self.forecasts = ForecastRepository(self.engine, clock)
        self.signals = SignalRepository(self.engine, clock)
        self.evaluations = EvaluationRepository(self.engine, clock)
        self.responses = ResponseRepository(self.engine, clock)
        self.figures = FigureRepository(self.engine, clock)
        self.overnight = OvernightRepository(self.engine, clock)
        self._locks = Locks(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> Store:
        """The store of ``TAIEX_DB_URL``, its schema brought to the newest revision."""
        store = cls(settings.database_url, clock=clock)
        store.upgrade()
        return store

    @classmethod
    def existing(cls, settings: Settings) -> Store:
        """The store of ``TAIEX_DB_URL`` to read, as it is: no schema upgrade, and a SQLite
        file that does not exist is not created (a DataError says so)."""
        path = sqlite_file(settings.database_url)
        if path is not None and not path.is_file():
            raise DataError(
                f"no database at {path}: load the history first "
                "(`taiex backfill` or `taiex import-csv`)"
            )
        return cls(settings.database_url)

    def now(self) -> dt.datetime:
        """Now by the store's clock."""
        return self.clock()

    # ------------------------------------------------------------ schema

    def upgrade(self) -> str:
        """Bring the schema to the newest migration (creating it on an empty database)."""
        check_connection(self.engine)
        return migrate.upgrade(self.engine, self._locks, self.now())

    def create_schema(self) -> None:
        """Same as :meth:`upgrade` (the name from before migrations)."""
        self.upgrade()

    def revision(self) -> str | None:
        """The schema's migration revision; None before the first upgrade."""
        return migrate.current_revision(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def holds_file(self, path: Path) -> bool:
        """Whether ``path`` is the SQLite database file or one of the files beside it that it
        needs (its WAL, shared memory, journal, lock files): a file written there would lose
        what is stored."""
        database = sqlite_file(self.engine.url)
        if database is None:
            return False
        db = database.resolve()
        target = path.expanduser().resolve()
        companions = (f"{db.name}-wal", f"{db.name}-shm", f"{db.name}-journal")
        lock = target.name.startswith(f"{db.name}.") and target.name.endswith(".lock")
        return target.parent == db.parent and (target.name in (db.name, *companions) or lock)

    # ------------------------------------------------------------ prices (see PriceRepository)

    def merge_rows(
        self,
        rows: Sequence[DailyRow],
        *,
        source: str,
        month: str | None = None,
        run: str | None = None,
    ) -> MergeResult:
        """Stage ``rows`` and merge them into ``weighted_index`` in one transaction (as one
        load of the run ``run``, see :func:`~taiex.store.loads.new_run`)."""
        return self.prices.merge_rows(rows, source=source, month=month, run=run)

    def stage_rows(self, rows: Sequence[DailyRow], *, load_id: str) -> str:
        """Stage ``rows`` under ``load_id`` (see :func:`~taiex.store.load_id_for`), replacing
        what that id staged before; returns the id, for the merge step."""
        self.prices.stage(rows, load_id)
        return load_id

    def merge_staged(self, load_id: str, *, source: str, month: str | None = None) -> MergeResult:
        """Merge what ``load_id`` staged in one transaction (see PriceRepository)."""
        return self.prices.merge_staged(load_id, source=source, month=month)

    def merge_batches(self, batches: Iterable[Sequence[DailyRow]], *, source: str) -> MergeResult:
        """Stage every batch and merge them all in one transaction (see PriceRepository)."""
        return self.prices.merge_batches(batches, source=source)

    def delete_days(self, start: dt.date, end: dt.date, *, source: str) -> list[dt.date]:
        """Delete the stored days in ``[start, end]``, logged in ``etl_loads`` (see
        PriceRepository)."""
        return self.prices.delete_days(start, end, source=source)

    def read_rows(self, start: dt.date | None = None, end: dt.date | None = None) -> list[DailyRow]:
        return self.prices.read_rows(start, end)

    def read_history(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        return self.prices.read_history(start, end)

    def stored_dates(self) -> list[dt.date]:
        return self.prices.stored_dates()

    def summary(self) -> dict[str, Any]:
        return self.prices.summary()

    def fingerprint(self) -> str:
        return self.prices.fingerprint()

    def last_load(self) -> LoadRecord | None:
        """The latest load of the index's days (TWSE, a CSV import, a delete): what `taiex
        status` and the report call the last load. The US closes' loads are not it."""
        return self.loads.last(excluding=OVERNIGHT_SOURCE)

    # ------------------------------------------------------------ locking

    @contextlib.contextmanager
    def lock(self, name: str, *, wait: float = 0.0) -> Iterator[None]:
        """Hold the named lock for this database, or raise LockedError (after ``wait`` seconds).

        The lock belongs to a connection (PostgreSQL, MySQL) or an open file (SQLite), so a
        process that dies, even by SIGKILL, releases it. It is re-entrant for this Store.
        """
        with self._locks.hold(name, wait=wait):
            yield
