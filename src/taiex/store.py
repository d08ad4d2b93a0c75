"""The database: SQLAlchemy Core tables, the engine, idempotent merges and reads.

The same code serves SQLite (the default file under ``$TAIEX_HOME``), MySQL/MariaDB (PyMySQL)
and PostgreSQL (psycopg 3). A :class:`Store` takes an Engine or a URL; nothing here is global.
SQL is traced through the ``sqlalchemy.engine`` logger, never printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from taiex.errors import LockedError, StorageError
from taiex.settings import Settings
from taiex.source import DailyRow

log = logging.getLogger(__name__)

metadata = MetaData()
# SQLite only autoincrements an INTEGER PRIMARY KEY; the others get a 64-bit id.
Id = BigInteger().with_variant(Integer(), "sqlite")
# Index points as TWSE publishes them: exact to the cent, whatever the backend.
Price = Numeric(12, 2, asdecimal=True)
PRICE_COLUMNS = ("open", "high", "low", "close")

weighted_index = Table(
    "weighted_index",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("date", Date, nullable=False, unique=True),
    Column("open", Price, nullable=False),
    Column("high", Price, nullable=False),
    Column("low", Price, nullable=False),
    Column("close", Price, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Rows of one load, tagged with the load's id so that loads never see each other's rows.
weighted_index_temp = Table(
    "weighted_index_temp",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("load_id", String(32), nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("open", Price, nullable=False),
    Column("high", Price, nullable=False),
    Column("low", Price, nullable=False),
    Column("close", Price, nullable=False),
    UniqueConstraint("load_id", "date", name="uq_weighted_index_temp_load_date"),
)

# One row per merge: what was loaded, from where, and what it changed.
etl_loads = Table(
    "etl_loads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("load_id", String(32), nullable=False, unique=True),
    Column("source", String(200), nullable=False),
    Column("month", String(7)),
    Column("first_date", Date),
    Column("last_date", Date),
    Column("rows", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("loaded_at", DateTime, nullable=False),
)


# ---------------------------------------------------------------- models and their outputs

# Artifacts are a few hundred kB: MySQL's BLOB stops at 64 kB.
Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
KIND = String(20)
VERSION = String(40)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", KIND, nullable=False),
    Column("version", VERSION, nullable=False),
    Column("status", String(12), nullable=False),  # champion, challenger, retired
    Column("train_start", Date, nullable=False),
    Column("train_end", Date, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("artifact", Blob, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("promoted_at", DateTime),
    # The challenger's trial: what was decided, why, and both scores on the same days.
    Column("decision", String(20)),
    Column("decision_reason", Text),
    Column("score", Float),
    Column("champion_score", Float),
    Column("decided_at", DateTime),
    UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),
)

# One row per kind: the primary key is what makes "exactly one champion" hold on every backend.
model_champions = Table(
    "model_champions",
    metadata,
    Column("kind", KIND, primary_key=True),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("since", DateTime, nullable=False),
)

lstm_model_evaluate = Table(
    "lstm_model_evaluate",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("date", DateTime, nullable=False),
    Column("sMAPE", Float),  # NULL when the window holds no day the model did not train on
    Column("naive_sMAPE", Float),
    Column("sMAPE_by_horizon", JSON),
    Column("naive_sMAPE_by_horizon", JSON),
    Column("model_version", VERSION, nullable=False),
    Column("data_date", Date, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("n_pairs", Integer, nullable=False),
    Column("reason", Text),
    UniqueConstraint("model_version", "data_date", name="uq_lstm_model_evaluate_run"),
)

svm_model_evaluate = Table(
    "svm_model_evaluate",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("date", DateTime, nullable=False),
    Column("ROC_AUC", Float),  # NULL when undefined (one class in the window)
    Column("trivial_ROC_AUC", Float),
    Column("model_version", VERSION, nullable=False),
    Column("model_family", String(60)),
    Column("data_date", Date, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("n_days", Integer, nullable=False),
    Column("n_positive", Integer, nullable=False),
    Column("n_negative", Integer, nullable=False),
    Column("reason", Text),
    UniqueConstraint("model_version", "data_date", name="uq_svm_model_evaluate_run"),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_version", VERSION, nullable=False),
    Column("origin_date", Date, nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("forecast", Float, nullable=False),
    Column("lower_80", Float, nullable=False),
    Column("upper_80", Float, nullable=False),
    Column("lower_95", Float, nullable=False),
    Column("upper_95", Float, nullable=False),
    Column("naive", Float, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("model_version", "origin_date", "horizon", name="uq_forecasts_run"),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_version", VERSION, nullable=False),
    Column("based_on", Date, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("probability", Float, nullable=False),
    Column("signal", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("model_version", "based_on", name="uq_signals_run"),
)


def utcnow() -> dt.datetime:
    """Now in UTC, naive (every backend stores it the same way), to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class MergeResult:
    """What one merge did to ``weighted_index``."""

    rows: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


@dataclass(frozen=True)
class LoadRecord:
    source: str
    month: str | None
    rows: int
    inserted: int
    updated: int
    loaded_at: dt.datetime


class Store:
    """The taiex database behind one Engine."""

    def __init__(self, engine: Engine | str) -> None:
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        self._held_locks: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        store = cls(settings.database_url)
        store.create_schema()
        return store

    def create_schema(self, attempts: int = 3) -> None:
        """Create the tables that are missing; existing ones are left as they are."""
        for attempt in range(1, attempts + 1):
            try:
                metadata.create_all(self.engine)
                return
            except SQLAlchemyError:
                # Two processes on a new database race between "exists?" and CREATE: look again.
                if attempt == attempts:
                    with _storage_errors("creating the tables"):
                        raise
                time.sleep(0.2 * attempt)

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ writes

    def merge_rows(
        self, rows: Sequence[DailyRow], *, source: str, month: str | None = None
    ) -> MergeResult:
        """Stage ``rows`` and merge them into ``weighted_index`` in one transaction.

        New dates are inserted; a stored date whose prices differ is updated with a new
        ``updated_at`` (and logged); identical rows are not touched. A rerun changes nothing.
        """
        load_id = uuid.uuid4().hex
        with (
            _storage_errors(f"merging {len(rows)} rows from {source}"),
            self.engine.begin() as conn,
        ):
            _stage(conn, load_id, rows)
            return _merge_staged(conn, load_id, source, month)

    def stage_rows(self, rows: Sequence[DailyRow]) -> str:
        """Put ``rows`` in ``weighted_index_temp`` (committed) and return their load id.

        For runs where staging and merging are separate steps (the Airflow DAG's tasks).
        """
        load_id = uuid.uuid4().hex
        with _storage_errors(f"staging {len(rows)} rows"), self.engine.begin() as conn:
            _stage(conn, load_id, rows)
        return load_id

    def merge_staged(self, load_id: str, *, source: str, month: str | None = None) -> MergeResult:
        """Merge the rows staged under ``load_id`` in one transaction, then drop them.

        Merging a load id twice is harmless: the second time there is nothing staged.
        """
        with _storage_errors(f"merging load {load_id}"), self.engine.begin() as conn:
            return _merge_staged(conn, load_id, source, month)

    # ------------------------------------------------------------ reads

    def read_rows(self, start: dt.date | None = None, end: dt.date | None = None) -> list[DailyRow]:
        """Stored days in ``[start, end]`` as exact rows, by date."""
        query = select(weighted_index.c.date, *(weighted_index.c[c] for c in PRICE_COLUMNS))
        query = _date_range(query, start, end).order_by(weighted_index.c.date)
        with _storage_errors("reading weighted_index"), self.engine.connect() as conn:
            return [DailyRow(*row) for row in conn.execute(query)]

    def read_history(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        """Stored days as a frame: ``date`` (datetime64), ``open, high, low, close`` (float64)."""
        rows = self.read_rows(start, end)
        frame = pd.DataFrame(
            [(r.date, r.open, r.high, r.low, r.close) for r in rows],
            columns=["date", *PRICE_COLUMNS],
        )
        frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
        return frame.astype({c: "float64" for c in PRICE_COLUMNS})

    def stored_dates(self) -> list[dt.date]:
        with _storage_errors("reading dates"), self.engine.connect() as conn:
            return list(conn.scalars(select(weighted_index.c.date).order_by(weighted_index.c.date)))

    def summary(self) -> dict[str, Any]:
        """Row count, first and last date stored."""
        query = select(
            func.count(), func.min(weighted_index.c.date), func.max(weighted_index.c.date)
        )
        with _storage_errors("reading weighted_index"), self.engine.connect() as conn:
            count, first, last = conn.execute(query).one()
        return {"rows": int(count), "first_date": first, "last_date": last}

    def last_load(self) -> LoadRecord | None:
        query = (
            select(
                etl_loads.c.source,
                etl_loads.c.month,
                etl_loads.c.rows,
                etl_loads.c.inserted,
                etl_loads.c.updated,
                etl_loads.c.loaded_at,
            )
            .order_by(etl_loads.c.loaded_at.desc(), etl_loads.c.id.desc())
            .limit(1)
        )
        with _storage_errors("reading etl_loads"), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return LoadRecord(*row) if row else None

    def fingerprint(self) -> str:
        """sha256 of every stored day and its timestamps: equal fingerprints, equal tables."""
        digest = hashlib.sha256()
        query = select(weighted_index).order_by(weighted_index.c.date)
        with _storage_errors("reading weighted_index"), self.engine.connect() as conn:
            for row in conn.execute(query):
                digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()

    # ------------------------------------------------------------ locking

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the named lock for this database, or raise LockedError at once.

        The lock belongs to a connection (PostgreSQL, MySQL) or an open file (SQLite), so a
        process that dies, even by SIGKILL, releases it. It is re-entrant for this Store.
        """
        if name in self._held_locks:
            yield
            return
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            guard = _sqlite_file_lock(self.engine, name)
        elif dialect in ("postgresql", "mysql", "mariadb"):
            guard = _server_lock(self.engine, name)
        else:  # pragma: no cover - the three dialects above are the supported ones
            raise StorageError(f"no lock for database dialect {dialect!r}")
        with guard:
            self._held_locks.add(name)
            try:
                yield
            finally:
                self._held_locks.discard(name)


def insert_missing(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose unique key is already stored (a rerun adds nothing).

    Only key conflicts are skipped: any other violation (a NULL, a bad value) still fails.
    """
    if not rows:
        return
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif conn.dialect.name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # MySQL/MariaDB: "update id to itself" is its no-op on a duplicate key
        statement = mysql.insert(table)
        statement = statement.on_duplicate_key_update(id=table.c.id)
    conn.execute(statement, list(rows))


def make_engine(url: str) -> Engine:
    """An Engine for ``url``; SQLite files get their folder, WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StorageError(f"TAIEX_DB_URL {url!r} is not a database URL") from exc
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 60})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    if _is_file_database(dbapi_connection):
        # WAL lets readers (status, report) read while a load writes.
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _is_file_database(dbapi_connection: Any) -> bool:
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    return any(row[1] == "main" and row[2] for row in rows)


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StorageError(f"database error while {action}: {reason}") from exc


def _stage(conn: Connection, load_id: str, rows: Sequence[DailyRow]) -> None:
    if rows:
        conn.execute(insert(weighted_index_temp), [_staged(load_id, row) for row in rows])


def _merge_staged(conn: Connection, load_id: str, source: str, month: str | None) -> MergeResult:
    done = conn.scalar(select(etl_loads.c.id).where(etl_loads.c.load_id == load_id))
    if done is not None:  # a retried merge: this load is on record already
        return MergeResult(rows=0, inserted=0, updated=0)
    now = utcnow()
    staged = _staged_dates(conn, load_id)
    revised = _revised_rows(conn, load_id)
    for old, new in revised:
        log.info("revised %s: %s -> %s", new["date"], _prices(old), _prices(new))
    if revised:
        conn.execute(
            update(weighted_index)
            .where(weighted_index.c.date == bindparam("b_date"))
            .values({**{c: bindparam(f"b_{c}") for c in PRICE_COLUMNS}, "updated_at": now}),
            [{f"b_{k}": v for k, v in new.items()} for _, new in revised],
        )
    inserted = _insert_new(conn, load_id, now)
    conn.execute(delete(weighted_index_temp).where(weighted_index_temp.c.load_id == load_id))
    result = MergeResult(rows=len(staged), inserted=inserted, updated=len(revised))
    conn.execute(insert(etl_loads), [_load_row(load_id, source, month, staged, result, now)])
    return result


def _staged_dates(conn: Connection, load_id: str) -> list[dt.date]:
    query = select(weighted_index_temp.c.date).where(weighted_index_temp.c.load_id == load_id)
    return list(conn.scalars(query))


def _staged(load_id: str, row: DailyRow) -> dict[str, Any]:
    return {"load_id": load_id, "date": row.date, **{c: getattr(row, c) for c in PRICE_COLUMNS}}


def _prices(row: dict[str, Any]) -> str:
    return "/".join(f"{row[c]:.2f}" for c in PRICE_COLUMNS)


def _revised_rows(conn: Connection, load_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Stored rows whose staged prices differ, as (stored, staged) pairs."""
    wi, tmp = weighted_index, weighted_index_temp
    query = (
        select(
            wi.c.date,
            *(wi.c[c].label(f"old_{c}") for c in PRICE_COLUMNS),
            *(tmp.c[c].label(f"new_{c}") for c in PRICE_COLUMNS),
        )
        .join(tmp, and_(tmp.c.date == wi.c.date, tmp.c.load_id == load_id))
        .where(or_(*(wi.c[c] != tmp.c[c] for c in PRICE_COLUMNS)))
        .order_by(wi.c.date)
    )
    pairs = []
    for row in conn.execute(query).mappings():
        old = {"date": row["date"], **{c: Decimal(row[f"old_{c}"]) for c in PRICE_COLUMNS}}
        new = {"date": row["date"], **{c: Decimal(row[f"new_{c}"]) for c in PRICE_COLUMNS}}
        pairs.append((old, new))
    return pairs


def _insert_new(conn: Connection, load_id: str, now: dt.datetime) -> int:
    """Insert the staged dates not yet stored, in SQL; returns how many."""
    wi, tmp = weighted_index, weighted_index_temp
    is_new = and_(tmp.c.load_id == load_id, ~exists().where(wi.c.date == tmp.c.date))
    # Counted, not taken from rowcount: drivers disagree on rowcount for INSERT ... SELECT.
    new_count = int(conn.scalar(select(func.count()).select_from(tmp).where(is_new)) or 0)
    if new_count:
        created = literal(now, DateTime)
        new_rows = select(
            tmp.c.date, *(tmp.c[c] for c in PRICE_COLUMNS), created.label("c"), created.label("u")
        ).where(is_new)
        columns = ["date", *PRICE_COLUMNS, "created_at", "updated_at"]
        conn.execute(insert(wi).from_select(columns, new_rows))
    return new_count


def _load_row(
    load_id: str,
    source: str,
    month: str | None,
    dates: Sequence[dt.date],
    result: MergeResult,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "load_id": load_id,
        "source": source[:200],
        "month": month,
        "first_date": min(dates) if dates else None,
        "last_date": max(dates) if dates else None,
        "rows": result.rows,
        "inserted": result.inserted,
        "updated": result.updated,
        "loaded_at": now,
    }


def _date_range(query: Any, start: dt.date | None, end: dt.date | None) -> Any:
    if start is not None:
        query = query.where(weighted_index.c.date >= start)
    if end is not None:
        query = query.where(weighted_index.c.date <= end)
    return query


def _lock_path(engine: Engine, name: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().with_name(f"{Path(database).name}.{name}.lock")


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine, name: str) -> Iterator[None]:
    path = _lock_path(engine, name)
    if path is None:  # an in-memory database lives in one process: nobody else can load into it
        yield
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"{holder} is already running '{name}' on {engine.url.database}; "
                "wait for it to finish, then run again"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_key(name: str) -> int:
    # PostgreSQL advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(f"taiex:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def _server_lock(engine: Engine, name: str) -> Iterator[None]:
    postgres = engine.dialect.name == "postgresql"
    with _storage_errors(f"taking lock '{name}'"), engine.connect() as conn:
        if postgres:
            acquired = conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(name)})
        else:
            acquired = conn.scalar(text("SELECT GET_LOCK(:n, 0)"), {"n": f"taiex:{name}"})
        conn.commit()
        if not acquired:
            raise LockedError(
                f"another process is already running '{name}' on this database; "
                "wait for it to finish, then run again"
            )
        try:
            yield
        finally:
            if postgres:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(name)})
            else:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": f"taiex:{name}"})
            conn.commit()
