"""Engines, and the one place where database errors become :class:`~taiex.errors.StorageError`.

SQL is traced through the ``sqlalchemy.engine`` logger, never printed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.util import asbool

from taiex.errors import StorageError
from taiex.settings import redact_url, url_password

__all__ = ["build_url", "check_connection", "make_engine", "redact_url", "storage_errors"]
__all__ += ["url_password"]  # both from taiex.settings: they must work on malformed URLs too

# How long a SQLite connection waits for another's lock before "database is locked".
SQLITE_BUSY_SECONDS = 60

# The URL options SQLAlchemy's pysqlite dialect hands to the driver; without uri=true it drops any
# other (SQLAlchemy 2.1 with a warning, 2.0 silently), so a typo would pass unnoticed.
SQLITE_OPTIONS = frozenset(
    {"timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements", "uri"}
)

# What a driver raises on connect for a bad URL option (``?charset=evil``, an unknown key),
# besides SQLAlchemy's own errors: they all mean "this URL cannot open a database".
_CONNECT_ERRORS = (SQLAlchemyError, TypeError, ValueError, AttributeError, LookupError)


def make_engine(url: str) -> Engine:
    """An Engine for ``url``; SQLite files get their folder, WAL and a busy timeout.

    StorageError, never showing the URL's password, when the URL names no database, an unknown
    dialect or a driver that is not installed, or when the SQLite file's folder cannot be made.
    """
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StorageError(f"TAIEX_DB_URL {shown!r} is not a database URL") from exc
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StorageError(
                f"TAIEX_DB_URL {shown!r}: no such database dialect or driver installed ({exc})"
            ) from exc
    unknown = sorted(set(parsed.query) - SQLITE_OPTIONS)
    if unknown and not asbool(parsed.query.get("uri", False)):
        raise StorageError(
            f"TAIEX_DB_URL {shown!r}: bad URL option: {', '.join(map(repr, unknown))} (SQLite "
            f"takes {', '.join(sorted(SQLITE_OPTIONS))})"
        )
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the folder {folder} of the database: {exc.strerror or exc}"
            ) from exc
    # The driver's timeout is SQLite's busy timeout, set on every connection it opens.
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_SECONDS})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for another backend or an in-memory database)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StorageError(f"TAIEX_DB_URL {str(url)!r} is not a database URL") from exc
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def build_url(
    driver: str,
    *,
    username: str | None = None,
    password: str | None = None,
    host: str | None = None,
    port: int | None = None,
    database: str | None = None,
) -> str:
    """A database URL from its parts, each escaped as URLs need (e.g. an Airflow connection's)."""
    url = URL.create(
        driver, username=username, password=password, host=host, port=port, database=database
    )
    return url.render_as_string(hide_password=False)


def check_connection(engine: Engine) -> None:
    """Open one connection, so that a database that cannot be opened (a read-only home, a bad
    URL option, a server that refuses) says so by its name, not as the first query's failure."""
    shown = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect():
            pass
    except _CONNECT_ERRORS as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = ""
        if engine.dialect.name == "sqlite" and "unable to open" in reason:
            # Not for "file is not a database": a damaged file is no matter of permissions.
            hint = " (is its folder writable? SQLite writes a journal beside the file)"
        raise StorageError(f"cannot open the database {shown}: {reason}{hint}") from exc


@contextlib.contextmanager
def storage_errors(operation: str) -> Iterator[None]:
    """Turn any database error inside into a one-line StorageError naming ``operation``.

    ``operation`` completes "database error while ...", e.g. "listing model versions".
    """
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"database error while {operation}: {reason}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    if _is_file_database(dbapi_connection):
        # WAL lets readers (status, report) read while a load writes.
        _use_wal(cursor)
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (stored in the file: on later opens this changes nothing).

    The switch needs the file to itself, and SQLite answers "database is locked" at once, without
    its busy handler, when another connection opens the new file at the same moment (three
    processes starting on an empty database): so the switch is retried until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _is_file_database(dbapi_connection: Any) -> bool:
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    return any(row[1] == "main" and row[2] for row in rows)
