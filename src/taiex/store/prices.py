"""``weighted_index`` and its staging table: exact daily prices, idempotent merges, reads.

A load goes through ``weighted_index_temp`` under its load id and is merged into
``weighted_index`` in one transaction: new dates are inserted, a stored date whose prices differ
is updated with a new ``updated_at`` (and logged), identical rows are not touched. Before it
commits, every new or revised day is checked against its neighbouring sessions (TWSE's daily
limit, :func:`taiex.source.move_problem`); a refusal stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection

from taiex.errors import InputError, PriceMoveError
from taiex.frames import PRICE_COLUMNS
from taiex.source import DailyRow, limit_breaks
from taiex.store import loads
from taiex.store.clock import Clock
from taiex.store.engine import storage_errors
from taiex.store.loads import MergeResult
from taiex.store.schema import etl_loads, weighted_index, weighted_index_temp

log = logging.getLogger(__name__)

# Staged rows this old were left by a load that failed before its merge: the next load drops them.
# A load's save and merge run minutes apart, so a day never removes a load still on its way.
ORPHAN_AGE = dt.timedelta(days=1)


class PriceRepository:
    """The daily prices behind one Engine.

    :meth:`read_history` keeps the frame it last read: a process that reads the history many
    times (the daily job's steps, a simulation's evenings) reads each stored day once. A cheap
    aggregate says whether the table changed since (row count, last date, last update and the sum
    of every price); when days were only added after the frame's last one, only those are read.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._history: pd.DataFrame | None = None  # every stored day, as last read
        self._stamp: tuple[Any, ...] | None = None  # the table's stamp when it was read

    # ------------------------------------------------------------ writes

    def merge_rows(
        self,
        rows: Sequence[DailyRow],
        *,
        source: str,
        month: str | None = None,
        run: str | None = None,
    ) -> MergeResult:
        """Stage ``rows`` and merge them into ``weighted_index`` in one transaction.

        A rerun changes nothing. The load id is random (a load of the run ``run`` when given):
        staging and merging commit together, so a failure leaves nothing staged.
        """
        load_id = loads.run_load_id(run) if run else uuid.uuid4().hex
        now = self._clock()
        with (
            storage_errors(f"merging {len(rows)} rows from {source}"),
            self._engine.begin() as conn,
        ):
            _remove_orphans(conn, now)
            _stage(conn, load_id, rows, now)
            return _merge_staged(conn, load_id, source, month, now)

    def stage(self, rows: Sequence[DailyRow], load_id: str) -> None:
        """Put ``rows`` in ``weighted_index_temp`` under ``load_id`` (committed).

        Rows staged under ``load_id`` before are replaced, so a retried save leaves only its own
        rows; staged rows of loads that failed (see :func:`_remove_orphans`) are removed.
        """
        now = self._clock()
        with (
            storage_errors(f"staging {len(rows)} rows under load id {load_id}"),
            self._engine.begin() as conn,
        ):
            _remove_orphans(conn, now)
            _unstage(conn, load_id)
            _stage(conn, load_id, rows, now)

    def merge_staged(self, load_id: str, *, source: str, month: str | None = None) -> MergeResult:
        """Merge the rows staged under ``load_id`` in one transaction, then drop them.

        A retried merge (its rows merged and gone) returns what that merge did; an id with
        neither staged rows nor a merge on record is an InputError, and records nothing.
        """
        with storage_errors(f"merging load {load_id}"), self._engine.begin() as conn:
            if not _staged_dates(conn, load_id):
                done = loads.recorded(conn, load_id)
                if done is None:
                    raise InputError(
                        f"no staged rows for load id {load_id!r}: stage them (taiex step save) "
                        "first, and merge within a day"
                    )
                return MergeResult(rows=done.rows, inserted=done.inserted, updated=done.updated)
            return _merge_staged(conn, load_id, source, month, self._clock())

    # ------------------------------------------------------------ streamed loads and deletes

    def merge_batches(self, batches: Iterable[Sequence[DailyRow]], *, source: str) -> MergeResult:
        """Stage every batch and merge them all in one transaction: all of them or none.

        The batches are consumed inside the transaction, so a batch that raises (a bad line
        found late in a file) rolls back everything staged before it; memory holds one batch.
        """
        load_id = uuid.uuid4().hex
        now = self._clock()
        with storage_errors(f"merging rows from {source}"), self._engine.begin() as conn:
            _remove_orphans(conn, now)
            for batch in batches:
                _stage(conn, load_id, batch, now)
            return _merge_staged(conn, load_id, source, None, now)

    def delete_days(self, start: dt.date, end: dt.date, *, source: str) -> list[dt.date]:
        """Delete the stored days in ``[start, end]`` in one transaction; returns them.

        The deletion is recorded in ``etl_loads`` (``rows`` = days removed); deleting nothing
        records nothing, so a rerun changes nothing.
        """
        wi = weighted_index
        in_range = and_(wi.c.date >= start, wi.c.date <= end)
        now = self._clock()
        with storage_errors(f"deleting {start} … {end}"), self._engine.begin() as conn:
            dates = list(conn.scalars(select(wi.c.date).where(in_range).order_by(wi.c.date)))
            if dates:
                conn.execute(delete(wi).where(in_range))
                result = MergeResult(rows=len(dates), inserted=0, updated=0)
                loads.record(
                    conn,
                    uuid.uuid4().hex,
                    source=source,
                    month=None,
                    dates=dates,
                    result=result,
                    now=now,
                )
        return dates

    # ------------------------------------------------------------ reads

    def read_rows(self, start: dt.date | None = None, end: dt.date | None = None) -> list[DailyRow]:
        """Stored days in ``[start, end]`` as exact rows, by date."""
        query = select(weighted_index.c.date, *(weighted_index.c[c] for c in PRICE_COLUMNS))
        query = _date_range(query, start, end).order_by(weighted_index.c.date)
        with storage_errors("reading weighted_index"), self._engine.connect() as conn:
            return [DailyRow(*row) for row in conn.execute(query)]

    def read_history(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        """Stored days in ``[start, end]`` as a frame of its own: ``date`` (datetime64),
        ``open, high, low, close`` (float64)."""
        with storage_errors("reading weighted_index"), self._engine.connect() as conn:
            frame = self._current_history(conn)
        keep = pd.Series(True, index=frame.index)
        if start is not None:
            keep &= frame["date"] >= pd.Timestamp(start)
        if end is not None:
            keep &= frame["date"] <= pd.Timestamp(end)
        return frame.loc[keep].reset_index(drop=True)

    def _current_history(self, conn: Connection) -> pd.DataFrame:
        stamp = _stamp(conn)
        cached, before = self._history, self._stamp
        if cached is None or before is None or stamp != before:
            last = before[1] if before is not None else None
            if cached is not None and last is not None and _stamp(conn, last) == before:
                cached = pd.concat([cached, _history_frame(conn, after=last)], ignore_index=True)
            else:  # a first read, a revised day, or days inserted before the last: read all
                cached = _history_frame(conn)
            self._history, self._stamp = cached, stamp
        return cached

    def revisions(self, until: dt.date) -> list[tuple[dt.date, dt.datetime]]:
        """The stored days up to ``until`` revised since they were first stored, with the time
        of their last revision, by date (rare: TWSE corrects a day now and then)."""
        wi = weighted_index
        query = (
            select(wi.c.date, wi.c.updated_at)
            .where(wi.c.updated_at > wi.c.created_at, wi.c.date <= until)
            .order_by(wi.c.date)
        )
        with storage_errors("reading weighted_index"), self._engine.connect() as conn:
            return [(day, moment) for day, moment in conn.execute(query)]

    def stored_dates(self) -> list[dt.date]:
        with storage_errors("reading dates"), self._engine.connect() as conn:
            return list(conn.scalars(select(weighted_index.c.date).order_by(weighted_index.c.date)))

    def summary(self) -> dict[str, Any]:
        """Row count, first and last date stored."""
        query = select(
            func.count(), func.min(weighted_index.c.date), func.max(weighted_index.c.date)
        )
        with storage_errors("reading weighted_index"), self._engine.connect() as conn:
            count, first, last = conn.execute(query).one()
        return {"rows": int(count), "first_date": first, "last_date": last}

    def fingerprint(self) -> str:
        """sha256 of every stored day and its timestamps: equal fingerprints, equal tables."""
        digest = hashlib.sha256()
        query = select(weighted_index).order_by(weighted_index.c.date)
        with storage_errors("reading weighted_index"), self._engine.connect() as conn:
            for row in conn.execute(query):
                digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()

    def staged(self) -> dict[str, list[dt.date]]:
        """What ``weighted_index_temp`` holds: the dates staged under each load id."""
        tmp = weighted_index_temp
        query = select(tmp.c.load_id, tmp.c.date).order_by(tmp.c.load_id, tmp.c.date)
        with storage_errors("reading weighted_index_temp"), self._engine.connect() as conn:
            found: dict[str, list[dt.date]] = {}
            for load_id, date in conn.execute(query):
                found.setdefault(load_id, []).append(date)
        return found


def _remove_orphans(conn: Connection, now: dt.datetime) -> None:
    """Drop staged rows no merge will take: staged over :data:`ORPHAN_AGE` ago, or staged under
    a load id before that id's merge (which took what it saw). A load staged since and not yet
    merged is never touched."""
    tmp = weighted_index_temp
    merged_after = exists().where(
        etl_loads.c.load_id == tmp.c.load_id, etl_loads.c.loaded_at > tmp.c.staged_at
    )
    stale = tmp.c.staged_at < now - ORPHAN_AGE
    # Found by a plain read first: a DELETE that matches nothing would still lock the index's
    # gaps on MySQL and make two loads that stage at once deadlock.
    orphans = list(conn.scalars(select(tmp.c.load_id).where(or_(stale, merged_after)).distinct()))
    if orphans:
        removed = conn.execute(delete(tmp).where(tmp.c.load_id.in_(orphans))).rowcount
        log.info("removed %d staged rows of %d loads that never merged", removed, len(orphans))


def _unstage(conn: Connection, load_id: str) -> None:
    if _staged_dates(conn, load_id):  # only then: see _remove_orphans on MySQL's gap locks
        conn.execute(delete(weighted_index_temp).where(weighted_index_temp.c.load_id == load_id))


def _stage(conn: Connection, load_id: str, rows: Sequence[DailyRow], now: dt.datetime) -> None:
    if rows:
        conn.execute(insert(weighted_index_temp), [_staged(load_id, row, now) for row in rows])


def _merge_staged(
    conn: Connection, load_id: str, source: str, month: str | None, now: dt.datetime
) -> MergeResult:
    staged = _staged_dates(conn, load_id)
    revised = _revised_rows(conn, load_id)
    for old, new in revised:
        log.info("revised %s: %s -> %s", new["date"], _prices(old), _prices(new))
    if revised:
        conn.execute(
            update(weighted_index)
            .where(weighted_index.c.date == bindparam("b_date"))
            .values({**{c: bindparam(f"b_{c}") for c in PRICE_COLUMNS}, "updated_at": now}),
            [{f"b_{k}": v for k, v in new.items()} for _, new in revised],
        )
    inserted = _insert_new(conn, load_id, now)
    # Checked on the merged table, inside the transaction: a refusal rolls everything back.
    _check_moves(conn, sorted({new["date"] for _, new in revised} | set(inserted)))
    conn.execute(delete(weighted_index_temp).where(weighted_index_temp.c.load_id == load_id))
    result = MergeResult(rows=len(staged), inserted=len(inserted), updated=len(revised))
    loads.record(conn, load_id, source=source, month=month, dates=staged, result=result, now=now)
    return result


def _staged_dates(conn: Connection, load_id: str) -> list[dt.date]:
    query = select(weighted_index_temp.c.date).where(weighted_index_temp.c.load_id == load_id)
    return list(conn.scalars(query))


def _staged(load_id: str, row: DailyRow, now: dt.datetime) -> dict[str, Any]:
    prices = {c: getattr(row, c) for c in PRICE_COLUMNS}
    return {"load_id": load_id, "date": row.date, **prices, "staged_at": now}


def _prices(row: dict[str, Any]) -> str:
    return "/".join(f"{row[c]:.2f}" for c in PRICE_COLUMNS)


def _revised_rows(conn: Connection, load_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Stored rows whose staged prices differ, as (stored, staged) pairs."""
    wi, tmp = weighted_index, weighted_index_temp
    query = (
        select(
            wi.c.date,
            *(wi.c[c].label(f"old_{c}") for c in PRICE_COLUMNS),
            *(tmp.c[c].label(f"new_{c}") for c in PRICE_COLUMNS),
        )
        .join(tmp, and_(tmp.c.date == wi.c.date, tmp.c.load_id == load_id))
        .where(or_(*(wi.c[c] != tmp.c[c] for c in PRICE_COLUMNS)))
        .order_by(wi.c.date)
    )
    pairs = []
    for row in conn.execute(query).mappings():
        old = {"date": row["date"], **{c: Decimal(row[f"old_{c}"]) for c in PRICE_COLUMNS}}
        new = {"date": row["date"], **{c: Decimal(row[f"new_{c}"]) for c in PRICE_COLUMNS}}
        pairs.append((old, new))
    return pairs


def _insert_new(conn: Connection, load_id: str, now: dt.datetime) -> list[dt.date]:
    """Insert the staged dates not yet stored, in SQL; returns them."""
    wi, tmp = weighted_index, weighted_index_temp
    is_new = and_(tmp.c.load_id == load_id, ~exists().where(wi.c.date == tmp.c.date))
    # Listed, not taken from rowcount: drivers disagree on rowcount for INSERT ... SELECT.
    new_dates = list(conn.scalars(select(tmp.c.date).where(is_new)))
    if new_dates:
        created = literal(now, DateTime)
        new_rows = select(
            tmp.c.date, *(tmp.c[c] for c in PRICE_COLUMNS), created.label("c"), created.label("u")
        ).where(is_new)
        columns = ["date", *PRICE_COLUMNS, "created_at", "updated_at"]
        conn.execute(insert(wi).from_select(columns, new_rows))
    return new_dates


def _check_moves(conn: Connection, changed: Sequence[dt.date]) -> None:
    """PriceMoveError when a ``changed`` day (sorted) and its stored neighbour are consecutive
    sessions further apart than TWSE's daily limit allows (:func:`taiex.source.limit_breaks`).

    Both neighbours count: a revised close can break the next day's open. Pairs of unchanged
    days are left alone, so a day stored before the rule never blocks a load (``taiex status``
    lists such pairs).
    """
    if not changed:
        return
    wi = weighted_index
    first = conn.scalar(select(func.max(wi.c.date)).where(wi.c.date < changed[0])) or changed[0]
    last = conn.scalar(select(func.min(wi.c.date)).where(wi.c.date > changed[-1])) or changed[-1]
    query = _date_range(select(wi.c.date, *(wi.c[c] for c in PRICE_COLUMNS)), first, last)
    rows = [DailyRow(*row) for row in conn.execute(query.order_by(wi.c.date))]
    touched = set(changed)
    for previous, row, problem in limit_breaks(rows, among=touched):
        if row.date in touched:
            raise PriceMoveError(problem, day=row.date)
        raise PriceMoveError(f"stored {problem}", day=previous.date)


def _stamp(conn: Connection, until: dt.date | None = None) -> tuple[Any, ...]:
    """What changes when ``weighted_index`` (up to ``until``) changes: the row count, the last
    date, the last update and the sum of every price (a revision within the same second)."""
    wi = weighted_index
    # In cents, each rounded: a sum of whole numbers is exact in any order the database adds.
    prices = sum((func.round(wi.c[c] * 100) for c in PRICE_COLUMNS), literal(0))
    query = select(func.count(), func.max(wi.c.date), func.max(wi.c.updated_at), func.sum(prices))
    if until is not None:
        query = query.where(wi.c.date <= until)
    count, last, updated, total = conn.execute(query).one()
    return (int(count), last, updated, None if total is None else int(total))


def _history_frame(conn: Connection, after: dt.date | None = None) -> pd.DataFrame:
    """The stored days (after ``after``) as a history frame, prices read as floats."""
    wi = weighted_index
    query = select(wi.c.date, *(type_coerce(wi.c[c], Float).label(c) for c in PRICE_COLUMNS))
    if after is not None:
        query = query.where(wi.c.date > after)
    rows = conn.execute(query.order_by(wi.c.date)).all()
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 5
    frame = pd.DataFrame({"date": pd.to_datetime(pd.Series(columns[0], dtype=object))})
    frame["date"] = frame["date"].astype("datetime64[ns]")
    for name, values in zip(PRICE_COLUMNS, columns[1:], strict=True):
        frame[name] = pd.Series(values, dtype="float64")
    return frame


def _date_range(query: Any, start: dt.date | None, end: dt.date | None) -> Any:
    if start is not None:
        query = query.where(weighted_index.c.date >= start)
    if end is not None:
        query = query.where(weighted_index.c.date <= end)
    return query
