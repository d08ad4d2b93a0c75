"""A model step rerun for the same data day answers from what it stored, without the model.

Each phase runs the steps in a fresh process, as an Airflow worker does, on a real SQLite file,
and says which model libraries it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.kinds import KINDS, KindSpec, get
from taiex.models.registry import Registry
from taiex.monitor import CONFIGURED, evaluate_kind, first_model, stored_report
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import Store
from taiex.store.testing import update_rows
from tests.series import TINY_CONFIG, TINY_MODELS, synthetic_history

ROOT = Path(__file__).resolve().parents[1]
HISTORY = synthetic_history(n=400, start="2023-01-02", seed=3)
DAY = HISTORY["date"].iloc[-1].date()
# The steps of a day for every kind, in the DAG's order.
STEPS = [("serve", spec.name) for spec in KINDS] + [("evaluate", spec.name) for spec in KINDS]

PHASE = """
import json, sys, datetime as dt
from taiex import pipeline
ctx = pipeline.Context.open()
day = dt.date.fromisoformat(sys.argv[1])
results = [getattr(pipeline, step)(ctx, kind, day) for step, kind in json.loads(sys.argv[2])]
ctx.close()
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "sklearn", "skops"})
print(json.dumps({"results": results, "heavy": heavy}, default=str))
"""


def phase(home: Path) -> dict[str, Any]:
    """Every step for DAY in one fresh process: their JSON and the model libraries imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIEX_")}
    env |= {"TAIEX_HOME": str(home), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", PHASE, DAY.isoformat(), json.dumps(STEPS)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def rows_of(frame: Any) -> list[DailyRow]:
    return [
        DailyRow(r.date.date(), *(Decimal(f"{v:.2f}") for v in (r.open, r.high, r.low, r.close)))
        for r in frame.itertuples()
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A TAIEX_HOME with tiny models and the synthetic history in its SQLite database."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(TINY_CONFIG)
    store = Store(f"sqlite:///{home / 'taiex.db'}")
    store.upgrade()
    store.merge_rows(rows_of(HISTORY), source="test")
    store.dispose()
    return home


def test_a_rerun_answers_from_the_database_until_a_price_is_revised(home: Path) -> None:
    first = phase(home)
    assert first["heavy"]  # the first run trained and ran the models
    for result in first["results"][len(KINDS) :]:
        assert result["evaluation"]["n"] > 0 and result["figure"]

    rerun = phase(home)
    assert rerun["heavy"] == []  # neither torch nor scikit-learn: no model was loaded
    assert rerun["results"] == first["results"]

    # TWSE revises two days back (the LSTM's evaluation targets it) and the day itself (the
    # classifier's signal reads it): every step computes again, from the new prices.
    store = Store(f"sqlite:///{home / 'taiex.db'}")
    revised = HISTORY.tail(3).copy()
    revised.loc[revised.index[[0, 2]], ["open", "high", "low", "close"]] *= 1.04
    store.merge_rows(rows_of(revised), source="test")
    days = list(revised["date"].dt.date.iloc[[0, 2]])
    assert [day for day, _ in store.prices.revisions(DAY)] == days
    store.dispose()
    again = phase(home)
    assert {"torch", "sklearn"} <= set(again["heavy"])
    for step, before, after in zip(STEPS, first["results"], again["results"], strict=True):
        assert after != before, step
        assert after.get("version", after.get("champion")) == before.get(
            "version", before.get("champion")
        )
    # And the recomputed answers are the ones a rerun gives from then on.
    assert phase(home)["results"] == again["results"]


SETTINGS = Settings(**TINY_MODELS)


def first_model_stored(tmp_path: Path, kind: str) -> tuple[Store, pd.DataFrame, KindSpec]:
    """A SQLite store holding the history and the first model of ``kind``."""
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    store.upgrade()
    store.merge_rows(rows_of(HISTORY), source="test")
    history = store.read_history()
    spec = get(kind)
    first_model(spec, SETTINGS, Registry(store), history)
    return store, history, spec


def test_the_stored_evaluation_stands_only_where_the_answer_is_the_same(tmp_path: Path) -> None:
    """Not under another policy, not for a champion whose artifact is damaged (the unloadable
    rule applies), not from a row measured before revision 0006 kept its day count."""
    store, history, spec = first_model_stored(tmp_path, "classifier")
    fresh = evaluate_kind(spec, store, history, SETTINGS)
    stored = stored_report(spec, store, history, SETTINGS)
    assert stored is not None and stored.summary() == fresh.summary()

    class Another:  # a simulation's policy: it may decide on more than the stored row
        def decide(self, spec: KindSpec, evaluation: Any, settings: Settings, day: Any) -> Any:
            return CONFIGURED.decide(spec, evaluation, settings, day)

    assert stored_report(spec, store, history, SETTINGS, Another()) is None
    update_rows(store, "model_versions", {"artifact": b"damaged"}, version="classifier-v1")
    assert stored_report(spec, store, history, SETTINGS) is None
    store.dispose()


def test_an_lstm_row_without_its_day_count_is_computed_again(tmp_path: Path) -> None:
    store, history, spec = first_model_stored(tmp_path, "lstm")
    fresh = evaluate_kind(spec, store, history, SETTINGS).summary()
    stored = stored_report(spec, store, history, SETTINGS)
    assert stored is not None and stored.summary() == fresh
    assert fresh["evaluation"]["origins_computed"] > 0
    update_rows(store, "lstm_model_evaluate", {"n_days": None}, model_version="lstm-v1")
    assert stored_report(spec, store, history, SETTINGS) is None
    store.dispose()
