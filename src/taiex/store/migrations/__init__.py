"""Alembic migrations of the taiex schema (run by :func:`taiex.store.migrate.upgrade`).

One revision a schema change, under ``versions/``; ``env.py`` takes the connection that the
store passes in ``config.attributes``, so no ``alembic.ini`` is needed at run time.
"""
