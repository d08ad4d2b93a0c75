"""``model_versions`` and ``model_champions``: every trained model, and one champion a kind.

Only storage lives here; what a promotion or a rollback means is the registry's
(:mod:`taiex.models.registry`). Rows come back as dicts of every column but the artifact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from taiex.errors import StorageError
from taiex.store.clock import Clock
from taiex.store.engine import storage_errors
from taiex.store.schema import model_champions, model_versions

_COLUMNS = [c for c in model_versions.c if c.name != "artifact"]
# Two registrations at once may pick the same number: the later one takes the next.
REGISTER_ATTEMPTS = 5


class VersionRepository:
    """Model versions and champions behind one Engine."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    # ------------------------------------------------------------ writes

    def add(self, kind: str, row: Mapping[str, Any]) -> str:
        """Insert a version of ``kind`` numbered after the others (``lstm-v3``); returns its name.

        ``row`` holds every column but ``kind``, ``version`` and ``created_at`` (the store's clock).
        """
        values = {**row, "kind": kind, "created_at": self._clock()}
        count = (
            select(func.count()).select_from(model_versions).where(model_versions.c.kind == kind)
        )
        for _ in range(REGISTER_ATTEMPTS):
            try:
                with storage_errors(f"registering a {kind} model"), self._engine.begin() as conn:
                    version = f"{kind}-v{int(conn.scalar(count) or 0) + 1}"
                    conn.execute(insert(model_versions), [{**values, "version": version}])
                return version
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"could not register a new {kind} version: the numbers kept colliding")

    def update(self, version_id: int, values: Mapping[str, Any]) -> None:
        """Set columns of one version (status, trial, ...)."""
        with storage_errors(f"updating model version {version_id}"), self._engine.begin() as conn:
            _set(conn, version_id, values)

    def swap_champion(
        self,
        kind: str,
        version_id: int,
        expected_id: int | None,
        changes: Mapping[int, Mapping[str, Any]],
    ) -> bool:
        """Make ``version_id`` the champion of ``kind`` if ``expected_id`` still is (None: no
        champion yet), and apply ``changes`` (version id → columns) in the same transaction.

        Returns False, changing nothing, when another process changed the champion meanwhile.
        """
        try:
            with storage_errors(f"promoting a {kind} model"), self._engine.begin() as conn:
                if not _swap(conn, kind, version_id, expected_id, self._clock()):
                    return False
                for changed_id, values in changes.items():
                    _set(conn, changed_id, values)
                return True
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False  # another process made the first champion of this kind meanwhile
            raise

    # ------------------------------------------------------------ reads

    def get(self, kind: str, version: str) -> dict[str, Any] | None:
        query = select(*_COLUMNS).where(
            model_versions.c.kind == kind, model_versions.c.version == version
        )
        with storage_errors(f"reading model version {version}"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def all(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every version (of ``kind``), by kind, oldest first."""
        query = select(*_COLUMNS).order_by(model_versions.c.kind, model_versions.c.id)
        if kind is not None:
            query = query.where(model_versions.c.kind == kind)
        with storage_errors("listing model versions"), self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def champion(self, kind: str) -> dict[str, Any] | None:
        query = (
            select(*_COLUMNS)
            .join(model_champions, model_champions.c.version_id == model_versions.c.id)
            .where(model_champions.c.kind == kind)
        )
        with storage_errors(f"reading the {kind} champion"), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def artifact(self, version_id: int) -> bytes | None:
        """The stored artifact, unchecked (the registry checks its sha256)."""
        query = select(model_versions.c.artifact).where(model_versions.c.id == version_id)
        operation = f"reading the artifact of model version {version_id}"
        with storage_errors(operation), self._engine.connect() as conn:
            data = conn.scalar(query)
        return None if data is None else bytes(data)


def _set(conn: Connection, version_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(model_versions).where(model_versions.c.id == version_id).values(values))


def _swap(
    conn: Connection, kind: str, version_id: int, expected_id: int | None, now: dt.datetime
) -> bool:
    if expected_id is None:
        conn.execute(
            insert(model_champions), [{"kind": kind, "version_id": version_id, "since": now}]
        )
        return True
    result = conn.execute(
        update(model_champions)
        .where(model_champions.c.kind == kind)
        .where(model_champions.c.version_id == expected_id)
        .values(version_id=version_id, since=now)
    )
    return result.rowcount == 1
