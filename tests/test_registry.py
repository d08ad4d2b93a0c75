"""The model registry on every backend: versions, one champion, rollback, bad artifacts."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from taiex.errors import ArtifactError, DataError, NotFittedError, StorageError
from taiex.models.registry import ModelVersion, Registry
from taiex.store import Store
from taiex.store.testing import count, drop_column, update_rows
from tests.clock import StepClock, with_clock

D = dt.date(2024, 12, 31)


def register(registry: Registry, payload: bytes, kind: str = "lstm") -> ModelVersion:
    return registry.register(
        kind,  # type: ignore[arg-type]
        payload,
        train_start=dt.date(1999, 1, 5),
        train_end=D,
        params={"hidden": 32},
        metrics={"val_smape": 1.0},
    )


def decode(data: bytes) -> str:
    text = data.decode()
    if not text.startswith("model:"):
        raise ArtifactError("not a model")
    return text


def corrupt(store: Store, version: ModelVersion, data: bytes) -> None:
    assert update_rows(store, "model_versions", {"artifact": data}, id=version.id) == 1


def champions(store: Store) -> int:
    return count(store, "model_champions")


def test_versions_are_numbered_per_kind(store: Store) -> None:
    registry = Registry(store)
    names = [register(registry, b"model:a").version, register(registry, b"model:b").version]
    names.append(register(registry, b"model:c", kind="classifier").version)
    assert names == ["lstm-v1", "lstm-v2", "classifier-v1"]
    first = registry.get("lstm", "lstm-v1")
    assert (first.status, first.params, first.train_end) == ("challenger", {"hidden": 32}, D)


def test_promotion_keeps_exactly_one_champion(store: Store) -> None:
    registry = Registry(store)
    v1, v2 = register(registry, b"model:1"), register(registry, b"model:2")
    assert registry.champion("lstm") is None
    assert registry.promote(v1, "first model", expected=None)
    assert registry.promote(v2, "better", expected=v1)
    assert registry.champion("lstm") == registry.get("lstm", "lstm-v2")
    assert [v.status for v in registry.versions("lstm")] == ["retired", "champion"]
    assert champions(store) == 1


def test_a_stale_promotion_changes_nothing(store: Store) -> None:
    registry = Registry(store)
    v1, v2, v3 = (register(registry, f"model:{i}".encode()) for i in (1, 2, 3))
    registry.promote(v1, "first", expected=None)
    registry.promote(v2, "better", expected=v1)
    assert not registry.promote(v3, "better than v1", expected=v1)  # v1 is no longer champion
    assert not registry.promote(v3, "first", expected=None)
    assert registry.champion("lstm").version == "lstm-v2"  # type: ignore[union-attr]
    assert registry.get("lstm", "lstm-v3").status == "challenger"


def test_two_promotions_at_once_make_one_champion(store: Store) -> None:
    registry = Registry(store)
    v1 = register(registry, b"model:1")
    registry.promote(v1, "first", expected=None)
    rivals = [register(registry, f"model:{i}".encode()) for i in (2, 3, 4, 5)]
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda v=v: results.append(registry.promote(v, "race", v1)))
        for v in rivals
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    statuses = [v.status for v in registry.versions("lstm")]
    assert statuses.count("champion") == 1 and champions(store) == 1


def test_trial_is_kept_with_the_version(store: Store) -> None:
    registry = Registry(store)
    v1 = register(registry, b"model:1")
    kept = registry.record_trial(
        v1, decision="rejected", reason="sMAPE 1.20 ≥ champion 1.10", score=1.2, champion_score=1.1
    )
    assert (kept.decision, kept.score, kept.champion_score, kept.status) == (
        "rejected",
        1.2,
        1.1,
        "retired",
    )
    assert kept.decided_at is not None


def test_rollback_returns_to_the_previous_champion(store: Store) -> None:
    registry = Registry(store)
    v1, v2 = register(registry, b"model:1"), register(registry, b"model:2")
    with pytest.raises(NotFittedError):
        registry.rollback("lstm")
    registry.promote(v1, "first", expected=None)
    with pytest.raises(DataError, match="only lstm that was ever champion"):
        registry.rollback("lstm")
    registry.promote(v2, "better", expected=v1)
    back = registry.rollback("lstm")
    assert back.version == "lstm-v1" and back.status == "champion"
    assert registry.get("lstm", "lstm-v2").decision == "rolled back"
    assert champions(store) == 1


def test_a_corrupt_champion_falls_back_to_the_last_good_one_and_says_so(store: Store) -> None:
    registry = Registry(store)
    v1, v2 = register(registry, b"model:1"), register(registry, b"model:2")
    registry.promote(v1, "first", expected=None)
    registry.promote(v2, "better", expected=v1)
    assert registry.load_champion("lstm", decode).model == "model:2"

    corrupt(store, v2, b"model:2 tampered")
    loaded = registry.load_champion("lstm", decode)
    assert (loaded.model, loaded.version.version) == ("model:1", "lstm-v1")
    assert len(loaded.skipped) == 1
    assert "lstm-v2: the artifact fails its checksum" in loaded.skipped[0]

    corrupt(store, v1, b"")
    with pytest.raises(ArtifactError, match="lstm-v1: the artifact is missing"):
        registry.load_champion("lstm", decode)


def test_an_artifact_its_loader_refuses_is_skipped_too(store: Store) -> None:
    registry = Registry(store)
    v1 = register(registry, b"garbage")
    registry.promote(v1, "first", expected=None)
    with pytest.raises(ArtifactError, match="lstm-v1: not a model"):
        registry.load_champion("lstm", decode)


def test_a_format1_champion_falls_back_like_any_artifact_that_does_not_load(
    store: Store,
) -> None:
    """No release wrote format 1; a database of a development version may hold one."""
    from taiex.models.lstm import GapLevelForecaster

    fixtures = Path(__file__).parent / "fixtures"
    registry = Registry(store)
    good = register(registry, (fixtures / "lstm-format2-gap500.bin").read_bytes())
    old = register(registry, (fixtures / "lstm-format1.bin").read_bytes())
    registry.promote(good, "first", expected=None)
    registry.promote(old, "better", expected=good)
    loaded = registry.load_champion("lstm", GapLevelForecaster.from_bytes)
    assert loaded.version.version == "lstm-v1" and isinstance(loaded.model, GapLevelForecaster)
    assert len(loaded.skipped) == 1
    assert "lstm-v2: lstm artifact of format 1" in loaded.skipped[0]
    assert "train a new model" in loaded.skipped[0]


def test_no_champion_is_a_clear_error(store: Store) -> None:
    with pytest.raises(NotFittedError, match="run `taiex train classifier`"):
        Registry(store).load_champion("classifier", decode)


def test_promotion_by_hand_is_recorded_and_never_crowns_a_bad_artifact(store: Store) -> None:
    registry = Registry(store)
    v1, v2, v3 = (register(registry, f"model:{i}".encode()) for i in (1, 2, 3))
    unloadable = register(registry, b"checksummed but no model")
    registry.promote(v1, "first", expected=None)
    crowned = registry.promote_by_hand("lstm", "lstm-v2", decode)
    assert (crowned.status, crowned.decision, crowned.decision_reason) == (
        "champion",
        "manual",
        "promoted by hand",
    )
    assert registry.get("lstm", "lstm-v1").status == "retired"
    # Promoting the champion again changes nothing (its decision and time stay those above).
    assert registry.promote_by_hand("lstm", "lstm-v2", decode) == crowned
    registry.promote(v1, "automatic", expected=crowned)
    first = registry.get("lstm", "lstm-v1")
    assert registry.promote_by_hand("lstm", "lstm-v1", decode) == first
    assert first.decision != "manual"
    registry.promote_by_hand("lstm", "lstm-v2", decode)
    corrupt(store, v3, b"model:3 tampered")
    with pytest.raises(ArtifactError, match="lstm-v3: the artifact fails its checksum"):
        registry.promote_by_hand("lstm", "lstm-v3", decode)
    # Its checksum holds, but it does not load: loaded in full first, it is never crowned.
    with pytest.raises(ArtifactError, match="lstm-v4: not a model"):
        registry.promote_by_hand("lstm", unloadable.version, decode)
    assert registry.champion("lstm") == registry.get("lstm", v2.version)


def test_the_registry_writes_the_stores_clock(store: Store) -> None:
    clock = StepClock()
    registry = Registry(with_clock(store, clock))
    v1 = register(registry, b"model:1")
    clock.advance(minutes=5)
    registry.promote(v1, "first", expected=None)
    clock.advance(minutes=5)
    kept = registry.record_trial(
        v1, decision="initial", reason="first model", score=None, champion_score=None
    )
    start = dt.datetime(2025, 1, 2, 8, 0)
    assert (kept.created_at, kept.promoted_at, kept.decided_at) == (
        start,
        start + dt.timedelta(minutes=5),
        start + dt.timedelta(minutes=10),
    )


def test_a_drifted_registry_table_is_a_storage_error_naming_the_operation(store: Store) -> None:
    registry = Registry(store)
    register(registry, b"model:1")
    drop_column(store, "model_versions", "decision")
    with pytest.raises(StorageError, match=r"^database error while listing model versions: "):
        registry.versions()
    with pytest.raises(StorageError, match=r"^database error while reading the lstm champion: "):
        registry.champion("lstm")
    reading_v2 = r"^database error while reading model version lstm-v2: "
    with pytest.raises(StorageError, match=reading_v2):  # inserted, but cannot be read back
        register(registry, b"model:2")
