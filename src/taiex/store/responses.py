"""``twse_responses``: TWSE's answer for each month, verbatim, with when it was fetched and its
sha256. It is the raw cache: a save step on another worker reads what the download stored, and a
month is never asked twice in a day."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select

from taiex.store.clock import Clock
from taiex.store.engine import storage_errors
from taiex.store.schema import twse_responses


@dataclass(frozen=True)
class StoredResponse:
    month: str  # YYYY-MM
    body: bytes
    url: str
    sha256: str
    fetched_on: dt.date  # the data day it was fetched for (finality is judged from it)
    fetched_at: dt.datetime  # when, by the store's clock (naive UTC)

    @property
    def intact(self) -> bool:
        """Whether the body is still what was stored (its sha256 matches)."""
        return hashlib.sha256(self.body).hexdigest() == self.sha256


class ResponseRepository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def save(self, month: str, body: bytes, url: str, fetched_on: dt.date) -> None:
        """Keep ``body`` as the month's latest response, replacing the one before (one
        transaction: a reader sees the old row or the new one)."""
        row = {
            "month": month,
            "body": body,
            "url": url,
            "sha256": hashlib.sha256(body).hexdigest(),
            "fetched_on": fetched_on,
            "fetched_at": self._clock(),
        }
        with storage_errors(f"storing TWSE's response for {month}"), self._engine.begin() as conn:
            conn.execute(delete(twse_responses).where(twse_responses.c.month == month))
            conn.execute(insert(twse_responses), [row])

    def get(self, month: str) -> StoredResponse | None:
        query = select(twse_responses).where(twse_responses.c.month == month)
        with storage_errors(f"reading TWSE's response for {month}"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return StoredResponse(**row) if row else None

    def count(self) -> int:
        with storage_errors("counting TWSE's responses"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(twse_responses)) or 0)
