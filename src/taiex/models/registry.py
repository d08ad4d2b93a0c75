"""The model registry: every trained model kept in the database, and one champion a kind.

Artifacts live as blobs in ``model_versions`` so that Airflow workers on other machines load models
from the database they already reach. ``model_champions`` holds one row per kind (its primary key),
which is what keeps "exactly one champion" true on every backend; promotions change it with a
compare-and-swap, so two monitors at once cannot both promote. The SQL is the store's
(:class:`taiex.store.versions.VersionRepository`); what a promotion means is here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from taiex.errors import ArtifactError, DataError, NotFittedError, StorageError
from taiex.store import Store

log = logging.getLogger(__name__)

# A kind is a name the kind specs define (taiex.kinds); the registry keeps any kind apart.
Kind = str
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
    params: dict[str, object]  # the config, as JSON
    metrics: dict[str, object]  # the model's metadata, as JSON
    sha256: str
    created_at: dt.datetime
    promoted_at: dt.datetime | None = None
    decision: str | None = None
    decision_reason: str | None = None
    score: float | None = None
    champion_score: float | None = None
    decided_at: dt.datetime | None = None

    def summary(self) -> dict[str, object]:
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
class LoadedModel(Generic[M]):
    """A model ready to use, the version it came from, and what was skipped to get it."""

    model: M
    version: ModelVersion
    skipped: list[str] = field(default_factory=list)  # "lstm-v3: checksum mismatch", ...


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
        params: dict[str, object],
        metrics: dict[str, object],
    ) -> ModelVersion:
        """Store a new challenger; its version is the next number of its kind (``lstm-v3``)."""
        row = {
            "status": "challenger",
            "train_start": train_start,
            "train_end": train_end,
            "params": params,
            "metrics": metrics,
            "sha256": hashlib.sha256(artifact).hexdigest(),
            "artifact": artifact,
        }
        return self.get(kind, self.store.versions.add(kind, row))

    def promote(self, version: ModelVersion, reason: str, expected: ModelVersion | None) -> bool:
        """Make ``version`` the champion if ``expected`` still is (None: no champion yet).

        Returns False, changing nothing, when another process changed the champion meanwhile.
        """
        now = self.store.now()
        changes: dict[int, dict[str, object]] = {}
        if expected is not None:
            changes[expected.id] = {"status": "retired"}
        changes[version.id] = {"status": "champion", "promoted_at": now}
        swapped = self.store.versions.swap_champion(
            version.kind, version.id, None if expected is None else expected.id, changes
        )
        if not swapped:
            return False
        log.info("%s is the %s champion: %s", version.version, version.kind, reason)
        return True

    def promote_by_hand(
        self, kind: Kind, version: str, from_bytes: Callable[[bytes], object]
    ) -> ModelVersion:
        """Make ``version`` the champion at once, recorded as a manual decision.

        Its artifact must load in full with ``from_bytes`` first: ArtifactError when it does not
        (a damaged model is never crowned); StorageError when the champion changed meanwhile.
        The champion itself is returned unchanged: promoting it again is no new decision.
        """
        target = self.get(kind, version)
        self.load(target, from_bytes)
        champion = self.champion(kind)
        if champion is not None and champion.id == target.id:
            return target
        if not self.promote(target, "promoted by hand", expected=champion):
            raise StorageError(f"the {kind} champion changed meanwhile; try again")
        return self.record_trial(
            target, decision="manual", reason="promoted by hand", score=None, champion_score=None
        )

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
        self.store.versions.update(
            version.id,
            {
                "decision": decision,
                "decision_reason": reason,
                "score": score,
                "champion_score": champion_score,
                "decided_at": self.store.now(),
                **({"status": "retired"} if decision == "rejected" else {}),
            },
        )
        return self.get(version.kind, version.version)

    def record_failure(self, version: ModelVersion, reason: str) -> None:
        """Keep with ``version`` why it failed as champion (its artifact does not load); once:
        a rerun with the same reason changes nothing."""
        if (version.decision, version.decision_reason) == ("unloadable", reason):
            return
        self.store.versions.update(
            version.id,
            {"decision": "unloadable", "decision_reason": reason, "decided_at": self.store.now()},
        )

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
        self.store.versions.update(
            current.id, {"decision": "rolled back", "decision_reason": f"for {target.version}"}
        )
        return self.get(kind, target.version)

    # ------------------------------------------------------------ reading

    def get(self, kind: str, version: str) -> ModelVersion:
        row = self.store.versions.get(kind, version)
        if row is None:
            raise NotFittedError(f"no {kind} model {version!r}")
        return ModelVersion(**row)

    def versions(self, kind: str | None = None) -> list[ModelVersion]:
        """Every version (of ``kind``), oldest first."""
        return [ModelVersion(**row) for row in self.store.versions.all(kind)]

    def champion(self, kind: str) -> ModelVersion | None:
        row = self.store.versions.champion(kind)
        return ModelVersion(**row) if row else None

    def artifact(self, version: ModelVersion) -> bytes:
        """The version's artifact, checked against its sha256; ArtifactError when it fails."""
        data = self.store.versions.artifact(version.id)
        if not data:
            raise ArtifactError(f"{version.version}: the artifact is missing")
        digest = hashlib.sha256(data).hexdigest()
        if digest != version.sha256:
            raise ArtifactError(
                f"{version.version}: the artifact fails its checksum "
                f"(sha256 {digest[:12]}…, registered {version.sha256[:12]}…)"
            )
        return data

    def load(self, version: ModelVersion, from_bytes: Callable[[bytes], M]) -> M:
        """The model of ``version``; ArtifactError when its artifact is missing or corrupt.

        The artifact is read and checked every time; the model built from it is kept for the
        process (:data:`_LOADED`), since the daily job's steps load each champion several times
        and a simulation every evening. Treat a loaded model as read-only.
        """
        data = self.artifact(version)
        key = (version.kind, version.sha256)
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return cast(M, _LOADED[key])
        try:
            model = from_bytes(data)
        except ArtifactError as exc:
            raise ArtifactError(f"{version.version}: {exc}") from exc
        _LOADED[key] = model
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
        return model

    def load_champion(self, kind: Kind, from_bytes: Callable[[bytes], M]) -> LoadedModel[M]:
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


# Models built from checked artifacts, by (kind, sha256), the most recently used last.
_LOADED: OrderedDict[tuple[str, str], object] = OrderedDict()
_LOADED_MAX = 8
