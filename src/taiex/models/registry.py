"""The model registry: every trained model kept in the database, and one champion a kind.

Artifacts live as blobs in ``model_versions`` so that Airflow workers on other machines load models
from the database they already reach. ``model_champions`` holds one row per kind (its primary key),
which is what keeps "exactly one champion" true on every backend; promotions change it with a
compare-and-swap, so two monitors at once cannot both promote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from taiex.errors import ArtifactError, DataError, NotFittedError, StorageError
from taiex.store import Store, model_champions, model_versions, utcnow

log = logging.getLogger(__name__)

Kind = Literal["lstm", "classifier"]
KINDS: tuple[Kind, ...] = ("lstm", "classifier")
M = TypeVar("M")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model, without its artifact."""

    id: int
    kind: str
    version: str
    status: str
    train_start: dt.date
    train_end: dt.date
    params: dict[str, Any]
    metrics: dict[str, Any]
    sha256: str
    created_at: dt.datetime
    promoted_at: dt.datetime | None = None
    decision: str | None = None
    decision_reason: str | None = None
    score: float | None = None
    champion_score: float | None = None
    decided_at: dt.datetime | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able facts for listings and reports."""
        return {
            "version": self.version,
            "kind": self.kind,
            "status": self.status,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "created_at": f"{self.created_at:%Y-%m-%dT%H:%M:%S}Z",
            "promoted_at": f"{self.promoted_at:%Y-%m-%dT%H:%M:%S}Z" if self.promoted_at else None,
            "decision": self.decision,
            "decision_reason": self.decision_reason,
            "score": self.score,
            "champion_score": self.champion_score,
            "sha256": self.sha256,
            "params": self.params,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to use, the version it came from, and what was skipped to get it."""

    model: Any
    version: ModelVersion
    skipped: list[str] = field(default_factory=list)  # "lstm-v3: checksum mismatch", ...


_COLUMNS = [c for c in model_versions.c if c.name != "artifact"]


class Registry:
    """Register, promote, roll back and load models of a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ writing

    def register(
        self,
        kind: Kind,
        artifact: bytes,
        *,
        train_start: dt.date,
        train_end: dt.date,
        params: dict[str, Any],
        metrics: dict[str, Any],
    ) -> ModelVersion:
        """Store a new challenger; its version is the next number of its kind (``lstm-v3``)."""
        _check_kind(kind)
        row = {
            "kind": kind,
            "status": "challenger",
            "train_start": train_start,
            "train_end": train_end,
            "params": params,
            "metrics": metrics,
            "sha256": hashlib.sha256(artifact).hexdigest(),
            "artifact": artifact,
            "created_at": utcnow(),
        }
        for _ in range(5):  # two registrations at once may pick the same number: take the next
            try:
                with self.store.engine.begin() as conn:
                    number = conn.scalar(
                        select(func.count())
                        .select_from(model_versions)
                        .where(model_versions.c.kind == kind)
                    )
                    version = f"{kind}-v{int(number or 0) + 1}"
                    conn.execute(insert(model_versions), [{**row, "version": version}])
                return self.get(kind, version)
            except IntegrityError:
                continue
        raise StorageError(f"could not register a new {kind} version: the numbers kept colliding")

    def promote(self, version: ModelVersion, reason: str, expected: ModelVersion | None) -> bool:
        """Make ``version`` the champion if ``expected`` still is (None: no champion yet).

        Returns False, changing nothing, when another process changed the champion meanwhile.
        """
        now = utcnow()
        try:
            with self.store.engine.begin() as conn:
                if not _swap_champion(conn, version, expected, now):
                    return False
                if expected is not None:
                    _set(conn, expected.id, status="retired")
                _set(conn, version.id, status="champion", promoted_at=now)
        except IntegrityError:
            return False  # another process made the first champion of this kind meanwhile
        log.info("%s is the %s champion: %s", version.version, version.kind, reason)
        return True

    def record_trial(
        self,
        version: ModelVersion,
        *,
        decision: str,
        reason: str,
        score: float | None,
        champion_score: float | None,
    ) -> ModelVersion:
        """Keep with the version what its trial against the champion decided, and why."""
        with self.store.engine.begin() as conn:
            _set(
                conn,
                version.id,
                decision=decision,
                decision_reason=reason,
                score=score,
                champion_score=champion_score,
                decided_at=utcnow(),
                **({"status": "retired"} if decision == "rejected" else {}),
            )
        return self.get(version.kind, version.version)

    def rollback(self, kind: Kind) -> ModelVersion:
        """Give the championship back to the version that held it before the current one."""
        current = self.champion(kind)
        if current is None:
            raise NotFittedError(f"no {kind} champion to roll back")
        previous = [
            v
            for v in self.versions(kind)
            if v.id != current.id and v.promoted_at is not None and v.status == "retired"
        ]
        previous.sort(key=lambda v: (v.promoted_at or dt.datetime.min, v.id))
        if not previous:
            raise DataError(f"{current.version} is the only {kind} that was ever champion")
        target = previous[-1]
        self.artifact(target)  # never hand the title to a corrupt artifact
        if not self.promote(target, f"rollback from {current.version}", expected=current):
            raise StorageError(f"the {kind} champion changed during the rollback; try again")
        with self.store.engine.begin() as conn:
            _set(conn, current.id, decision="rolled back", decision_reason=f"for {target.version}")
        return self.get(kind, target.version)

    # ------------------------------------------------------------ reading

    def get(self, kind: str, version: str) -> ModelVersion:
        query = select(*_COLUMNS).where(
            model_versions.c.kind == kind, model_versions.c.version == version
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFittedError(f"no {kind} model {version!r}")
        return ModelVersion(**row)

    def versions(self, kind: str | None = None) -> list[ModelVersion]:
        """Every version (of ``kind``), oldest first."""
        query = select(*_COLUMNS).order_by(model_versions.c.kind, model_versions.c.id)
        if kind is not None:
            query = query.where(model_versions.c.kind == kind)
        with self.store.engine.connect() as conn:
            return [ModelVersion(**row) for row in conn.execute(query).mappings()]

    def champion(self, kind: str) -> ModelVersion | None:
        query = (
            select(*_COLUMNS)
            .join(model_champions, model_champions.c.version_id == model_versions.c.id)
            .where(model_champions.c.kind == kind)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ModelVersion(**row) if row else None

    def artifact(self, version: ModelVersion) -> bytes:
        """The version's artifact, checked against its sha256; ArtifactError when it fails."""
        query = select(model_versions.c.artifact).where(model_versions.c.id == version.id)
        with self.store.engine.connect() as conn:
            data = conn.scalar(query)
        if not data:
            raise ArtifactError(f"{version.version}: the artifact is missing")
        digest = hashlib.sha256(bytes(data)).hexdigest()
        if digest != version.sha256:
            raise ArtifactError(
                f"{version.version}: the artifact fails its checksum "
                f"(sha256 {digest[:12]}…, registered {version.sha256[:12]}…)"
            )
        return bytes(data)

    def load(self, version: ModelVersion, from_bytes: Callable[[bytes], M]) -> M:
        """The model of ``version``; ArtifactError when its artifact is missing or corrupt."""
        data = self.artifact(version)
        try:
            return from_bytes(data)
        except ArtifactError as exc:
            raise ArtifactError(f"{version.version}: {exc}") from exc

    def load_champion(self, kind: Kind, from_bytes: Callable[[bytes], Any]) -> LoadedModel:
        """The champion, or, when its artifact is bad, the last good version that was champion.

        Never silent: what was skipped is in ``LoadedModel.skipped`` and logged as a warning.
        NotFittedError when there is no champion; ArtifactError when no former champion loads.
        """
        champion = self.champion(kind)
        if champion is None:
            raise NotFittedError(f"no {kind} model yet: run `taiex train {kind}`")
        former = [v for v in self.versions(kind) if v.promoted_at and v.id != champion.id]
        former.sort(key=lambda v: (v.promoted_at or dt.datetime.min, v.id), reverse=True)
        skipped: list[str] = []
        for candidate in [champion, *former]:
            try:
                model = self.load(candidate, from_bytes)
            except ArtifactError as exc:
                skipped.append(str(exc))
                log.warning("cannot use %s: %s", candidate.version, exc)
                continue
            if skipped:
                log.warning("using %s, the last good %s champion", candidate.version, kind)
            return LoadedModel(model, candidate, skipped)
        raise ArtifactError(f"no usable {kind} model: {'; '.join(skipped)}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")


def _set(conn: Connection, version_id: int, **values: Any) -> None:
    conn.execute(update(model_versions).where(model_versions.c.id == version_id).values(**values))


def _swap_champion(
    conn: Connection, version: ModelVersion, expected: ModelVersion | None, now: dt.datetime
) -> bool:
    if expected is None:
        conn.execute(
            insert(model_champions),
            [{"kind": version.kind, "version_id": version.id, "since": now}],
        )
        return True
    result = conn.execute(
        update(model_champions)
        .where(model_champions.c.kind == version.kind)
        .where(model_champions.c.version_id == expected.id)
        .values(version_id=version.id, since=now)
    )
    return result.rowcount == 1
