"""``forecasts``: each LSTM version's 5-day forecast from each origin day, stored once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from taiex.store.clock import Clock
from taiex.store.dialects import insert_missing
from taiex.store.engine import storage_errors
from taiex.store.schema import forecasts


class ForecastRepository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def save(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows not stored yet, by (model_version, origin_date, horizon): a rerun adds
        nothing. ``created_at`` is the store's clock."""
        now = self._clock()
        with storage_errors(f"saving {len(rows)} forecast rows"), self._engine.begin() as conn:
            insert_missing(conn, forecasts, [{**row, "created_at": now} for row in rows])

    def latest(
        self, model_version: str | None, *, round_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Every horizon of ``model_version``'s latest origin (any version's when None; of the
        round ``round_name`` only, when given), by horizon; [] when there is none."""
        query = select(forecasts.c.model_version, forecasts.c.origin_date)
        if model_version is not None:
            query = query.where(forecasts.c.model_version == model_version)
        if round_name is not None:
            query = query.where(forecasts.c.round == round_name)
        query = query.order_by(forecasts.c.origin_date.desc(), forecasts.c.id.desc()).limit(1)
        with storage_errors("reading forecasts"), self._engine.connect() as conn:
            latest = conn.execute(query).first()
            if latest is None:
                return []
            rows = conn.execute(
                select(forecasts)
                .where(forecasts.c.model_version == latest.model_version)
                .where(forecasts.c.origin_date == latest.origin_date)
                .order_by(forecasts.c.horizon)
            ).mappings()
            return [dict(row) for row in rows]

    def between(self, model_version: str, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
        """What ``model_version`` stored from the days ``first`` … ``last``, in order."""
        query = (
            select(forecasts)
            .where(forecasts.c.model_version == model_version)
            .where(forecasts.c.origin_date >= first, forecasts.c.origin_date <= last)
            .order_by(forecasts.c.origin_date, forecasts.c.horizon)
        )
        with storage_errors("reading forecasts"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def of_origin(self, origin: dt.date, *, round_name: str | None = None) -> list[dict[str, Any]]:
        """Every version's rows from the origin ``origin`` (of the round ``round_name`` only,
        when given), by version and horizon."""
        query = select(forecasts).where(forecasts.c.origin_date == origin)
        if round_name is not None:
            query = query.where(forecasts.c.round == round_name)
        query = query.order_by(forecasts.c.model_version, forecasts.c.horizon)
        with storage_errors("reading forecasts"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def every(self) -> list[dict[str, Any]]:
        """Every stored row, every version and round, in the order they were stored (the track
        record picks what was served from them)."""
        query = select(forecasts).order_by(forecasts.c.created_at, forecasts.c.id)
        with storage_errors("reading forecasts"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with storage_errors("counting forecasts"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(forecasts)) or 0)
