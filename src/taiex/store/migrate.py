"""Bringing a database to the newest schema with the Alembic revisions under ``migrations/``.

- An empty database gets every table at once (``create_all``) and is stamped at the head.
- A database made by ``create_all`` before migrations existed (taiex tables, no
  ``alembic_version``) is checked against the initial revision's tables, stamped there, and
  upgraded.
- A database at an older revision is upgraded; at a revision this taiex does not know (made by a
  newer taiex), it is an error.

Alembic is imported only when there is something to do: a database at the head costs one read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.engine import Connection

from taiex.errors import StorageError
from taiex.store.engine import storage_errors
from taiex.store.locks import Locks
from taiex.store.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

INITIAL = "0001_initial"
HEAD = "0008_rounds"
MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_LOCK = "schema"
# Another process creating or upgrading the same database finishes within this.
LOCK_WAIT_SECONDS = 120.0


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has no ``alembic_version``."""
    with storage_errors("reading the schema revision"), engine.connect() as conn:
        return _revision(conn)


def upgrade(engine: Engine, locks: Locks, now: dt.datetime) -> str:
    """Bring the database to :data:`HEAD` (see the module's docstring); returns it."""
    if current_revision(engine) == HEAD:
        return HEAD
    # Two processes on a new database would both create its tables: one waits for the other.
    with (
        locks.hold(SCHEMA_LOCK, wait=LOCK_WAIT_SECONDS),
        storage_errors("upgrading the schema"),
        engine.begin() as conn,
    ):
        _upgrade(conn, now)
    return HEAD


def _upgrade(conn: Connection, now: dt.datetime) -> None:
    from alembic import command
    from alembic.util.exc import CommandError

    config = alembic_config(conn, now)
    script = _script(config)
    current = _revision(conn)
    try:
        if current is None:
            present = set(inspect(conn).get_table_names()) & set(metadata.tables)
            if not present:
                metadata.create_all(conn)
                command.stamp(config, "head")
                return
            _adopt(conn, present)
            command.stamp(config, INITIAL)
        elif current not in {s.revision for s in script.walk_revisions()}:
            raise StorageError(
                f"the database's schema is at revision {current!r}, which this taiex does not "
                f"know (its newest is {HEAD!r}): upgrade taiex"
            )
        command.upgrade(config, "head")
    except CommandError as exc:
        raise StorageError(f"database error while upgrading the schema: {exc}") from exc


def _adopt(conn: Connection, present: set[str]) -> None:
    """Check a database made by ``create_all`` before migrations against the initial tables.

    Tables it lacks are created (as that ``create_all`` would have done); a column it lacks is
    an error naming them, as no revision can know what happened to it.
    """
    initial = initial_metadata()
    database = inspect(conn)
    missing = []
    for name in sorted(present & set(initial.tables)):
        columns = {column["name"] for column in database.get_columns(name)}
        lacking = [c.name for c in initial.tables[name].columns if c.name not in columns]
        if lacking:
            missing.append(f"{name} lacks {', '.join(lacking)}")
    if missing:
        raise StorageError(
            "database error while checking the schema: "
            + "; ".join(missing)
            + " (this database was not made by taiex, or was changed by hand)"
        )
    initial.create_all(conn, checkfirst=True)


def initial_metadata() -> MetaData:
    """The tables of the initial revision, as ``create_all`` made them before migrations."""
    metadata: MetaData = _module(_script(alembic_config()), INITIAL).initial_metadata()
    return metadata


def script_head() -> str | None:
    """The head of the revisions on disk (a test checks that it is :data:`HEAD`)."""
    return _script(alembic_config()).get_current_head()


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.scalar(text("SELECT version_num FROM alembic_version"))
    return None if value is None else str(value)


def alembic_config(conn: Connection | None = None, now: dt.datetime | None = None) -> Config:
    """Alembic's configuration without an ini file; the revisions get ``conn`` and ``now``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    config.attributes["now"] = now
    return config


def _script(config: Config) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config)


def _module(script: ScriptDirectory, revision: str) -> Any:
    found = script.get_revision(revision)
    if found is None:  # pragma: no cover - the initial revision ships with the package
        raise StorageError(f"revision {revision} is missing from {MIGRATIONS}")
    return found.module
