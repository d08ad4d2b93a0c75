"""``etl_loads``: one row per merged load id, saying what its latest merge did."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection

from taiex.calendar import Month
from taiex.store.engine import storage_errors
from taiex.store.schema import etl_loads


@dataclass(frozen=True)
class MergeResult:
    """What one merge did to ``weighted_index``."""

    rows: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


@dataclass(frozen=True)
class LoadRecord:
    source: str
    month: str | None
    rows: int
    inserted: int
    updated: int
    loaded_at: dt.datetime


def load_id_for(day: dt.date, months: Iterable[Month | str]) -> str:
    """The load id of a run that stages ``months`` for the data day ``day``.

    The same run (an Airflow retry, a cleared task) gets the same id, so its staging replaces its
    own rows; 25 characters, e.g. ``20260818-3f2a9c0b1d4e5f60``.
    """
    names = ",".join(sorted({str(month) for month in months}))
    return f"{day:%Y%m%d}-{hashlib.sha256(names.encode()).hexdigest()[:16]}"


class LoadRepository:
    """Reads of ``etl_loads`` (its rows are written by the merge, in the merge's transaction)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last(self, *, excluding: str | None = None) -> LoadRecord | None:
        """The latest merge (but none whose source starts with ``excluding``), or None."""
        query = (
            select(*_RECORD_COLUMNS)
            .order_by(etl_loads.c.loaded_at.desc(), etl_loads.c.id.desc())
            .limit(1)
        )
        if excluding is not None:
            query = query.where(~etl_loads.c.source.startswith(excluding, autoescape=True))
        with storage_errors("reading etl_loads"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return LoadRecord(*row) if row else None

    def get(self, load_id: str) -> LoadRecord | None:
        """What the latest merge of ``load_id`` did, or None when it never merged."""
        with storage_errors(f"reading load {load_id}"), self._engine.connect() as conn:
            return recorded(conn, load_id)

    def count(self) -> int:
        with storage_errors("counting etl_loads"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(etl_loads)) or 0)


_RECORD_COLUMNS = (
    etl_loads.c.source,
    etl_loads.c.month,
    etl_loads.c.rows,
    etl_loads.c.inserted,
    etl_loads.c.updated,
    etl_loads.c.loaded_at,
)


def recorded(conn: Connection, load_id: str) -> LoadRecord | None:
    row = conn.execute(select(*_RECORD_COLUMNS).where(etl_loads.c.load_id == load_id)).first()
    return LoadRecord(*row) if row else None


def record(
    conn: Connection,
    load_id: str,
    *,
    source: str,
    month: str | None,
    dates: Sequence[dt.date],
    result: MergeResult,
    now: dt.datetime,
) -> None:
    """Keep what merging ``load_id`` did; a load merged again (a cleared and rerun task)
    replaces its record, so the table holds one row per load id."""
    values: dict[str, Any] = {
        "source": source[:200],
        "month": month,
        "first_date": min(dates) if dates else None,
        "last_date": max(dates) if dates else None,
        "rows": result.rows,
        "inserted": result.inserted,
        "updated": result.updated,
        "loaded_at": now,
    }
    if recorded(conn, load_id) is None:
        conn.execute(insert(etl_loads), [{"load_id": load_id, **values}])
    else:
        conn.execute(update(etl_loads).where(etl_loads.c.load_id == load_id).values(values))
