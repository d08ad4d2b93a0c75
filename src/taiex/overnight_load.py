"""Loading US closes into the store: ``taiex overnight update`` and ``taiex overnight
import-csv`` (docs/design.md, "Overnight data").

An update asks the source for every close since the earliest of the symbols' last stored days,
less :data:`REVISION_DAYS` (a feed revises its last closes), or since before the first TAIEX day
on an empty table, so that a production model can train on the whole history. A close that moves
more than ``MAX_MOVE`` in a day is stored only when a second fetch gives the same close; an import
names it and stores it only with ``allow_large_moves``. Either way it is all or nothing: a refusal
stores none of the closes and says why in one line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taiex.calendar import FIRST_TRADING_DAY
from taiex.errors import InputError, SourceError
from taiex.overnight_source import (
    CsvSource,
    OvernightSource,
    UsClose,
    large_moves,
)
from taiex.store import Store
from taiex.store.loads import MergeResult

log = logging.getLogger(__name__)

OVERNIGHT_LOCK = "overnight"
REVISION_DAYS = 7
# The night before the first TAIEX session (1999-01-05) starts with the US close before it.
FIRST_US_DAY = FIRST_TRADING_DAY - dt.timedelta(days=10)


@dataclass(frozen=True)
class OvernightLoad:
    """What a load fetched and stored: its source, the US dates asked for, the merge, and the
    large moves it confirmed."""

    source: str
    start: dt.date
    end: dt.date
    result: MergeResult
    confirmed: tuple[str, ...] = ()


def update_overnight(
    store: Store, source: OvernightSource, symbols: Sequence[str], today: dt.date
) -> OvernightLoad:
    """Fetch and store the closes of ``symbols`` up to ``today`` (in New York)."""
    with store.lock(OVERNIGHT_LOCK):
        last = store.overnight.last_dates()
        known = [last[symbol] for symbol in symbols if symbol in last]
        first_run = len(known) < len(symbols)
        start = FIRST_US_DAY if first_run else min(known) - dt.timedelta(days=REVISION_DAYS)
        rows = source.fetch(symbols, start, today)
        confirmed = _confirm_large_moves(store, source, symbols, rows, start, today)
        result = store.overnight.merge(rows, source=source.name)
    _log_load(source.name, start, today, result)
    return OvernightLoad(source.name, start, today, result, confirmed)


def import_overnight_csv(
    store: Store,
    path: Path,
    symbols: Sequence[str],
    today: dt.date,
    *,
    allow_large_moves: bool = False,
) -> OvernightLoad:
    """Store every close of a ``date,symbol,close`` file, all of it or none of it."""
    source = CsvSource(str(path))
    rows = source.fetch(symbols, dt.date.min, today)
    if not rows:
        raise InputError(f"{path}: no closes of {', '.join(symbols)}")
    with store.lock(OVERNIGHT_LOCK):
        moves = large_moves(rows, store.overnight.closes(sorted({r.symbol for r in rows})))
        if moves and not allow_large_moves:
            moved, why = moves[0]
            line = source.line_of.get((moved.symbol, moved.date))
            at = f"line {line}: " if line else ""
            raise InputError(f"{path}: {at}{why}; if it is real, import with --allow-large-moves")
        result = store.overnight.merge(rows, source=source.name)
    start, end = rows[0].date, max(row.date for row in rows)
    _log_load(source.name, start, end, result)
    return OvernightLoad(source.name, start, end, result, tuple(why for _, why in moves))


def _confirm_large_moves(
    store: Store,
    source: OvernightSource,
    symbols: Sequence[str],
    rows: Sequence[UsClose],
    start: dt.date,
    end: dt.date,
) -> tuple[str, ...]:
    """The large moves among ``rows``, each confirmed by a second fetch; SourceError naming the
    first that the second fetch does not give again."""
    moves = large_moves(rows, store.overnight.closes(symbols))
    if not moves:
        return ()
    again = {(row.symbol, row.date): row.close for row in source.fetch(symbols, start, end)}
    moved = {row.symbol for row, _ in moves}
    for row in rows:  # every close of a symbol that moved, not only the two ends of the move
        if row.symbol in moved and again.get((row.symbol, row.date)) != row.close:
            why = next(text for found, text in moves if found.symbol == row.symbol)
            raise SourceError(
                f"{source.name}: {why}, and a second fetch did not confirm it ({row.symbol} on "
                f"{row.date}: {row.close}, then {again.get((row.symbol, row.date), 'no close')})"
                ": nothing stored"
            )
    for _, why in moves:
        log.warning("%s: %s, confirmed by a second fetch", source.name, why)
    return tuple(why for _, why in moves)


def _log_load(source: str, start: dt.date, end: dt.date, result: MergeResult) -> None:
    log.info(
        "US closes from %s (%s … %s): %d rows, %d new, %d revised",
        source, start, end, result.rows, result.inserted, result.updated,
    )  # fmt: skip
