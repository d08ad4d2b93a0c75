"""The monitoring tables: ``lstm_model_evaluate`` and ``svm_model_evaluate`` (their names are the
original system's), one row per model version and data day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Table, select

from taiex.store.clock import Clock
from taiex.store.dialects import insert_missing
from taiex.store.engine import storage_errors
from taiex.store.schema import lstm_model_evaluate, svm_model_evaluate

EVALUATION_TABLES: dict[str, Table] = {
    table.name: table for table in (lstm_model_evaluate, svm_model_evaluate)
}


class EvaluationRepository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, table: str, row: Mapping[str, Any]) -> None:
        """Insert the row unless stored, by (model_version, data_date): a rerun adds nothing.
        Its ``date`` (when it was measured) is the store's clock."""
        values = {**row, "date": self._clock()}
        with storage_errors(f"recording an evaluation in {table}"), self._engine.begin() as conn:
            insert_missing(conn, _table(table), [values])

    def get(self, table: str, model_version: str, data_date: dt.date) -> dict[str, Any] | None:
        """The row of ``model_version`` for ``data_date`` in ``table``, if it was measured."""
        found = _table(table)
        query = (
            select(found)
            .where(found.c.model_version == model_version)
            .where(found.c.data_date == data_date)
        )
        with storage_errors(f"reading {table}"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table``, by data day (then by insertion)."""
        found = _table(table)
        query = select(found).order_by(found.c.data_date, found.c.id)
        with storage_errors(f"reading {table}"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


def _table(name: str) -> Table:
    try:
        return EVALUATION_TABLES[name]
    except KeyError:
        known = ", ".join(EVALUATION_TABLES)
        raise ValueError(f"unknown evaluation table {name!r}; expected one of {known}") from None
