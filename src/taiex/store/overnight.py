"""``overnight_closes``: the US closes of the pre-open round, merged like TWSE's months.

A merge runs in one transaction: new (symbol, date) rows are inserted, a stored close that differs
is revised (logged, with a new ``updated_at``), identical rows are not touched; what it did is
recorded in ``etl_loads`` like a TWSE load (source ``overnight <source>``). A rerun changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from taiex.overnight_source import UsClose
from taiex.store import loads
from taiex.store.clock import Clock
from taiex.store.engine import storage_errors
from taiex.store.loads import MergeResult
from taiex.store.schema import overnight_closes

log = logging.getLogger(__name__)

Closes = dict[str, dict[dt.date, Decimal]]  # symbol -> US date -> close
# What an overnight load's source in etl_loads starts with.
OVERNIGHT_SOURCE = "overnight "


class OvernightRepository:
    """The US closes behind one Engine."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def merge(self, rows: Sequence[UsClose], *, source: str) -> MergeResult:
        """Store ``rows`` in one transaction: insert the new, revise the changed (logged)."""
        now = self._clock()
        table = overnight_closes.c
        with (
            storage_errors(f"merging {len(rows)} US closes from {source}"),
            self._engine.begin() as conn,
        ):
            symbols = sorted({row.symbol for row in rows})
            stored = self._read(conn, symbols) if rows else {}
            new, revised = [], []
            for row in rows:
                before = stored.get(row.symbol, {}).get(row.date)
                if before is None:
                    new.append(row)
                elif before != row.close:
                    log.warning(
                        "US close revised: %s %s %s -> %s (%s)",
                        row.symbol, row.date, before, row.close, source,
                    )  # fmt: skip
                    revised.append(row)
            if new:
                conn.execute(
                    insert(overnight_closes),
                    [
                        {"symbol": r.symbol, "date": r.date, "close": r.close}
                        | {"fetched_at": now, "updated_at": now}
                        for r in new
                    ],
                )
            if revised:
                conn.execute(
                    update(overnight_closes)
                    .where(table.symbol == bindparam("b_symbol"), table.date == bindparam("b_date"))
                    .values(close=bindparam("b_close"), fetched_at=now, updated_at=now),
                    [{"b_symbol": r.symbol, "b_date": r.date, "b_close": r.close} for r in revised],
                )
            result = MergeResult(rows=len(rows), inserted=len(new), updated=len(revised))
            loads.record(
                conn,
                uuid.uuid4().hex,
                source=f"{OVERNIGHT_SOURCE}{source}",
                month=None,
                dates=[row.date for row in rows],
                result=result,
                now=now,
            )
            return result

    def closes(self, symbols: Sequence[str], since: dt.date | None = None) -> Closes:
        """Every stored close of ``symbols`` (from ``since`` on, when given)."""
        with storage_errors("reading US closes"), self._engine.connect() as conn:
            return self._read(conn, symbols, since)

    def last_dates(self) -> dict[str, dt.date]:
        """Each stored symbol's last US date."""
        table = overnight_closes.c
        query = select(table.symbol, func.max(table.date)).group_by(table.symbol)
        with storage_errors("reading US closes"), self._engine.connect() as conn:
            return {symbol: day for symbol, day in conn.execute(query)}

    def count(self) -> int:
        with storage_errors("counting US closes"), self._engine.connect() as conn:
            query = select(func.count()).select_from(overnight_closes)
            return int(conn.scalar(query) or 0)

    @staticmethod
    def _read(conn: Connection, symbols: Sequence[str], since: dt.date | None = None) -> Closes:
        table = overnight_closes.c
        query = select(table.symbol, table.date, table.close).where(table.symbol.in_(symbols))
        if since is not None:
            query = query.where(table.date >= since)
        found: Closes = {symbol: {} for symbol in symbols}
        for symbol, day, close in conn.execute(query.order_by(table.symbol, table.date)):
            found[symbol][day] = Decimal(close)
        return found
