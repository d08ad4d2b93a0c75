"""Named locks that live as long as the process holding them.

A lock belongs to a server connection (PostgreSQL advisory lock, MySQL ``GET_LOCK``) or to an open
file beside the SQLite database, so a process that dies, even by SIGKILL, releases it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from taiex.errors import LockedError, StorageError
from taiex.store.engine import storage_errors

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.1


class Locks:
    """The named locks of one database, re-entrant for their holder."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: set[str] = set()

    @contextlib.contextmanager
    def hold(self, name: str, *, wait: float = 0.0) -> Iterator[None]:
        """Hold ``name`` for the block; LockedError when another process holds it for longer
        than ``wait`` seconds (at once by default)."""
        if name in self._held:
            yield
            return
        deadline = time.monotonic() + wait
        with contextlib.ExitStack() as stack:
            while True:
                try:
                    stack.enter_context(self._guard(name))
                    break
                except LockedError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(RETRY_SECONDS)
            self._held.add(name)
            try:
                yield
            finally:
                self._held.discard(name)

    def _guard(self, name: str) -> contextlib.AbstractContextManager[None]:
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            return _sqlite_file_lock(self.engine, name)
        if dialect in ("postgresql", "mysql", "mariadb"):
            return _server_lock(self.engine, name)
        raise StorageError(f"no lock for database dialect {dialect!r}")  # pragma: no cover


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
    try:
        handle = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise StorageError(
            f"cannot open the lock file {path}: {exc.strerror or exc} (is its folder writable?)"
        ) from exc
    with handle:
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


@contextlib.contextmanager
def _server_lock(engine: Engine, name: str) -> Iterator[None]:
    # Only taking and releasing are database work here: errors of the block pass as they are.
    with storage_errors(f"taking lock '{name}'"):
        conn = engine.connect()
    try:
        with storage_errors(f"taking lock '{name}'"):
            acquired = conn.scalar(_TRY_LOCK[conn.dialect.name], _lock_params(conn, name))
            conn.commit()
        if not acquired:
            raise LockedError(
                f"another process is already running '{name}' on this database; "
                "wait for it to finish, then run again"
            )
        failed = True
        try:
            yield
            failed = False
        finally:
            _release(conn, name, failed)
    finally:
        with contextlib.suppress(SQLAlchemyError):
            conn.close()


def _release(conn: Connection, name: str, failed: bool) -> None:
    """Release the lock; when its connection is gone, the server has released it already.

    A release that fails while the block's own error is on its way out (a merge whose server
    died) is only logged: that error is the one the user must see, not "releasing the lock".
    """
    try:
        with storage_errors(f"releasing lock '{name}'"):
            conn.execute(_UNLOCK[conn.dialect.name], _lock_params(conn, name))
            conn.commit()
    except StorageError as exc:
        if not failed:
            raise
        log.warning("%s", exc)


_TRY_LOCK = {
    "postgresql": text("SELECT pg_try_advisory_lock(:k)"),
    "mysql": text("SELECT GET_LOCK(:k, 0)"),
    "mariadb": text("SELECT GET_LOCK(:k, 0)"),
}
_UNLOCK = {
    "postgresql": text("SELECT pg_advisory_unlock(:k)"),
    "mysql": text("SELECT RELEASE_LOCK(:k)"),
    "mariadb": text("SELECT RELEASE_LOCK(:k)"),
}


def _lock_params(conn: Connection, name: str) -> dict[str, object]:
    if conn.dialect.name == "postgresql":
        # PostgreSQL advisory locks take a signed 64-bit key.
        digest = hashlib.sha256(f"taiex:{name}".encode()).digest()[:8]
        return {"k": int.from_bytes(digest, "big", signed=True)}
    # GET_LOCK names are server-wide, not per database: the database's name goes into the key so
    # that two databases on one server (two installs, two test workers) never block each other.
    # Hashed: a name is at most 64 characters.
    database = conn.engine.url.database or ""
    return {"k": f"taiex:{name}:{hashlib.sha256(database.encode()).hexdigest()[:32]}"}
