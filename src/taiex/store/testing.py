"""Helpers for the test suite: databases per test worker, raw reads, and deliberate damage
(a corrupt artifact, a drifted schema, a database from before migrations).

Tests reach the database through these and the repositories, so that SQLAlchemy stays inside
the store package. Nothing in taiex itself uses this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    MetaData,
    Table,
    and_,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
    true,
)
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Connection, make_url

from taiex.store.facade import Store
from taiex.store.locks import _lock_params
from taiex.store.schema import metadata


def worker_database(url: str, worker: str) -> str:
    """A database of the pytest-xdist ``worker``'s own on ``url``'s server (created when
    missing); ``url`` itself for the main process."""
    if worker == "master":
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not found:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def reset_database(url: str) -> None:
    """Drop every table of the database at ``url`` (alembic_version included)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        found = MetaData()
        found.reflect(conn)
        found.drop_all(conn)
    engine.dispose()


def rows(store: Store, table: str, **where: Any) -> list[dict[str, Any]]:
    """The rows of ``table`` whose columns equal ``where``, in primary-key order."""
    with store.engine.connect() as conn:
        found = _table(conn, table)
        query = select(found).where(_matching(found, where)).order_by(*found.primary_key.columns)
        return [dict(row) for row in conn.execute(query).mappings()]


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(_table(conn, table))) or 0)


def insert_rows(store: Store, table: str, values: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``values`` as they are (no clock, no idempotency): for setting up a scene."""
    with store.engine.begin() as conn:
        conn.execute(insert(_table(conn, table)), [dict(v) for v in values])


def update_rows(store: Store, table: str, values: Mapping[str, Any], **where: Any) -> int:
    """Set ``values`` on the rows matching ``where``; returns how many matched."""
    with store.engine.begin() as conn:
        found = _table(conn, table)
        statement = sql_update(found).where(_matching(found, where)).values(dict(values))
        return int(conn.execute(statement).rowcount)


def delete_rows(store: Store, table: str, **where: Any) -> None:
    with store.engine.begin() as conn:
        found = _table(conn, table)
        conn.execute(delete(found).where(_matching(found, where)))


def drop_column(store: Store, table: str, column: str) -> None:
    """Drift: remove a column (SQLite copies the table, as it cannot drop every column)."""
    with store.engine.begin() as conn, _operations(conn).batch_alter_table(table) as batch:
        batch.drop_column(column)


def rename_column(store: Store, table: str, column: str, new_name: str) -> None:
    with store.engine.begin() as conn, _operations(conn).batch_alter_table(table) as batch:
        batch.alter_column(column, new_column_name=new_name)


def drop_table(store: Store, table: str) -> None:
    with store.engine.begin() as conn:
        _table(conn, table).drop(conn)


def create_pre_migration_schema(store: Store) -> None:
    """The tables as ``create_all`` made them before migrations existed (no alembic_version)."""
    from taiex.store.migrate import initial_metadata

    with store.engine.begin() as conn:
        initial_metadata().create_all(conn)


def set_revision(store: Store, revision: str) -> None:
    """Pretend that the database is at ``revision`` (e.g. one from a newer taiex)."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def schema(store: Store) -> dict[str, Any]:
    """What the database's tables look like, comparable across databases of one backend:
    per table, its columns (name, nullable, type), unique constraints and indexes."""
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        found = inspect(conn)
        shape: dict[str, Any] = {}
        for name in sorted(found.get_table_names()):
            columns = [(c["name"], c["nullable"], str(c["type"])) for c in found.get_columns(name)]
            uniques = sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(name))
            indexes = sorted(
                (tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            )
            shape[name] = {"columns": columns, "uniques": uniques, "indexes": indexes}
        return shape


def _table(conn: Connection, name: str) -> Table:
    """The table as the database has it, its columns typed as taiex types them (MariaDB reflects
    a JSON column as text, for one): works on any revision of the schema."""
    reflected = Table(name, MetaData(), autoload_with=conn)
    known = metadata.tables.get(name)

    def typed(column: Column[Any]) -> Any:
        return known.c[column.name].type if known is not None and column.name in known.c else None

    columns = [
        Column(c.name, typed(c) if typed(c) is not None else c.type, primary_key=c.primary_key)
        for c in reflected.columns
    ]
    return Table(name, MetaData(), *columns)


def alembic(store: Store, command: str, revision: str) -> None:
    """Run Alembic's ``upgrade`` or ``downgrade`` to ``revision``, one revision at a time (the
    store's own upgrade creates an empty database at once, with ``create_all``)."""
    from alembic import command as commands

    from taiex.store.migrate import alembic_config

    with store.engine.begin() as conn:
        getattr(commands, command)(alembic_config(conn, store.now()), revision)


def _matching(table: Table, where: Mapping[str, Any]) -> Any:
    return and_(true(), *(table.c[column] == value for column, value in where.items()))


def _operations(conn: Connection) -> Any:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    return Operations(MigrationContext.configure(conn))


def end_lock_holder(store: Store, name: str) -> None:
    """End the server session that holds the named lock, as a server restart would (PostgreSQL,
    MySQL/MariaDB)."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            # Only the holder of this lock in this database: a server shared by parallel tests
            # holds other sessions' locks too. A bigint key shows as (classid, objid) halves.
            key = int(str(_lock_params(conn, name)["k"])) & 0xFFFF_FFFF_FFFF_FFFF
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "AND classid::bigint = :high AND objid::bigint = :low"
                ),
                {"high": key >> 32, "low": key & 0xFFFF_FFFF},
            )
        else:
            holder = conn.scalar(text("SELECT IS_USED_LOCK(:k)"), _lock_params(conn, name))
            conn.execute(text(f"KILL {int(holder)}"))
        conn.commit()
