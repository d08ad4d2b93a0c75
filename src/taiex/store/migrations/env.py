"""Alembic's environment: migrate the connection the store hands over (config.attributes).

Developers may also run the alembic command line against ``sqlalchemy.url`` (or TAIEX_DB_URL),
e.g. ``alembic -x ... revision`` with a small ini whose script_location points here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from taiex.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: batch mode does that for every operation.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    from taiex.settings import Settings
    from taiex.store.engine import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()


main()
