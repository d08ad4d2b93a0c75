"""``figures``: the PNGs that one step draws and a later one shows (each evaluation's, the
forecast's), so that the report, on any worker, needs nothing but the database."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from taiex.store.clock import Clock
from taiex.store.dialects import insert_missing
from taiex.store.engine import storage_errors
from taiex.store.schema import figures


@dataclass(frozen=True)
class Figure:
    name: str  # unique: what was drawn, from what, for which day
    kind: str  # "evaluation-lstm", "evaluation-classifier", "forecast"
    model_version: str | None
    data_date: dt.date
    png: bytes
    created_at: dt.datetime


class FigureRepository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def save(
        self, name: str, kind: str, model_version: str | None, data_date: dt.date, png: bytes
    ) -> None:
        """Store the figure unless one of that name is stored: a rerun adds nothing."""
        row = {
            "name": name,
            "kind": kind,
            "model_version": model_version,
            "data_date": data_date,
            "png": png,
            "sha256": hashlib.sha256(png).hexdigest(),
            "created_at": self._clock(),
        }
        with storage_errors(f"storing the figure {name}"), self._engine.begin() as conn:
            insert_missing(conn, figures, [row])

    def has(self, name: str) -> bool:
        """Whether a figure of that name is stored."""
        query = select(figures.c.id).where(figures.c.name == name)
        with storage_errors(f"reading the figure {name}"), self._engine.connect() as conn:
            return conn.execute(query).first() is not None

    def latest(self, kind: str) -> Figure | None:
        """The newest figure of ``kind``: of the latest data day, then the latest stored."""
        query = (
            select(figures)
            .where(figures.c.kind == kind)
            .order_by(figures.c.data_date.desc(), figures.c.id.desc())
            .limit(1)
        )
        with storage_errors(f"reading the latest {kind} figure"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Figure(**{k: row[k] for k in Figure.__dataclass_fields__})

    def count(self) -> int:
        with storage_errors("counting figures"), self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(figures)) or 0)
