"""``etl_loads``: one row per merged load id, saying what its latest merge did."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
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
    """What a load merged: one load id, or every month of one ``taiex run`` (see
    :func:`run_load_id`), summed, with ``month`` its last month and ``first_month`` its first."""

    source: str
    month: str | None
    rows: int
    inserted: int
    updated: int
    loaded_at: dt.datetime
    months: int = 1
    first_month: str | None = None


# The load ids of one run's months share their first 16 characters (``run_load_id``), so that
# "the last load" can say what the whole run did: a first load merges hundreds of months, and
# its last month alone adds nothing.
_RUN_ID = re.compile(r"[0-9a-f]{16}-[0-9a-f]{15}")


def new_run() -> str:
    """The id of one run's month-by-month loads."""
    return uuid.uuid4().hex[:16]


def run_load_id(run: str) -> str:
    """A new load id of the run ``run`` (32 characters, the width of ``load_id``)."""
    return f"{run}-{uuid.uuid4().hex[:15]}"


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
        """The latest merge (but none whose source starts with ``excluding``), or None; when
        it was one month of a run's, every month of that run, summed."""
        query = (
            select(etl_loads.c.load_id, *_RECORD_COLUMNS)
            .order_by(etl_loads.c.loaded_at.desc(), etl_loads.c.id.desc())
            .limit(1)
        )
        if excluding is not None:
            query = query.where(~etl_loads.c.source.startswith(excluding, autoescape=True))
        with storage_errors("reading etl_loads"), self._engine.connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            if not _RUN_ID.fullmatch(row.load_id):
                return LoadRecord(*row[1:])
            run = conn.execute(
                select(*_RECORD_COLUMNS)
                .where(etl_loads.c.load_id.startswith(row.load_id[:17], autoescape=True))
                .order_by(etl_loads.c.month, etl_loads.c.id)
            ).all()
        return _summed([LoadRecord(*r) for r in run])

    def get(self, load_id: str) -> LoadRecord | None:
        """What the latest merge of ``load_id`` did, or None when it never merged."""
        with storage_errors(f"reading load {load_id}"), self._engine.connect() as conn:
            return recorded(conn, load_id)

    def count(self) -> int:
        with storage_errors("counting etl_loads"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(etl_loads)) or 0)


def _summed(records: Sequence[LoadRecord]) -> LoadRecord:
    """One run's month loads as one record (ordered by month)."""
    return LoadRecord(
        source=" and ".join(dict.fromkeys(r.source for r in records)),
        month=records[-1].month,
        rows=sum(r.rows for r in records),
        inserted=sum(r.inserted for r in records),
        updated=sum(r.updated for r in records),
        loaded_at=max(r.loaded_at for r in records),
        months=len(records),
        first_month=records[0].month,
    )


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
