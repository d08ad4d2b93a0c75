"""``signals``: each classifier version's entry signal from each day, stored once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from taiex.store.clock import Clock
from taiex.store.dialects import insert_missing
from taiex.store.engine import storage_errors
from taiex.store.schema import signals


class SignalRepository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def save(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the signals not stored yet, by (model_version, based_on): a rerun adds nothing.
        ``created_at`` is the store's clock. (A sequence, like every output repository's save.)"""
        now = self._clock()
        values = [{**row, "created_at": now} for row in rows]
        with storage_errors("saving signals"), self._engine.begin() as conn:
            insert_missing(conn, signals, values)

    def latest(
        self, model_version: str | None, *, round_name: str | None = None
    ) -> dict[str, Any] | None:
        """``model_version``'s signal from its latest day (any version's when None; of the round
        ``round_name`` only, when given)."""
        query = select(signals)
        if model_version is not None:
            query = query.where(signals.c.model_version == model_version)
        if round_name is not None:
            query = query.where(signals.c.round == round_name)
        query = query.order_by(signals.c.based_on.desc(), signals.c.id.desc()).limit(1)
        with storage_errors("reading signals"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def between(self, model_version: str, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
        """What ``model_version`` stored from the days ``first`` … ``last``, in order."""
        query = (
            select(signals)
            .where(signals.c.model_version == model_version)
            .where(signals.c.based_on >= first, signals.c.based_on <= last)
            .order_by(signals.c.based_on)
        )
        with storage_errors("reading signals"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def of_day(self, based_on: dt.date, *, round_name: str | None = None) -> list[dict[str, Any]]:
        """Every version's signal from the day ``based_on`` (of the round ``round_name`` only,
        when given), by version."""
        query = select(signals).where(signals.c.based_on == based_on)
        if round_name is not None:
            query = query.where(signals.c.round == round_name)
        query = query.order_by(signals.c.model_version)
        with storage_errors("reading signals"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def every(self) -> list[dict[str, Any]]:
        """Every stored signal, every version and round, in the order they were stored."""
        query = select(signals).order_by(signals.c.created_at, signals.c.id)
        with storage_errors("reading signals"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with storage_errors("counting signals"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(signals)) or 0)
