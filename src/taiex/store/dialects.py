"""Statements that each backend spells its own way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection


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
