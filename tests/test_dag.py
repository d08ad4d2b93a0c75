"""The Airflow DAG (dags/taiex_daily.py) with real Airflow, no scheduler.

Airflow reads its configuration once, at import, so everything Airflow runs in a subprocess
(tests/airflow_probe.py) with a temporary AIRFLOW_HOME and its own SQLite metadata database;
this process keeps the local TWSE server and reads the taiex database afterwards.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.models.registry import Registry
from taiex.store import Store
from taiex.store.testing import rows
from tests.conftest import FAST
from tests.series import TINY_CONFIG, synthetic_history
from tests.twse_server import TwseServer

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
PROBE = ROOT / "tests" / "airflow_probe.py"

HEALTHY = {
    "TAIEX_LSTM_SMAPE_MAX": "100",
    "TAIEX_LSTM_NAIVE_MARGIN": "10",
    "TAIEX_CLASSIFIER_AUC_MIN": "0",
}
UNREACHABLE = {"TAIEX_LSTM_SMAPE_MAX": "0", "TAIEX_CLASSIFIER_AUC_MIN": "1"}

MAIN_LINE = [
    "download_weighted_stock_price",
    "save_to_database",
    "merge_weighted_index",
    "lstm_predict_task",
    "svm_classification",
    "process_models_predict_outputs",
]
MONITORING = [
    f"monitoring.{step}_{kind}"
    for kind in ("lstm", "classifier")
    for step in ("evaluate", "branch", "train")
] + ["monitoring.lstm_healthy", "monitoring.classifier_healthy"]
JOIN = "refresh_report"
LSTM_TASKS = {
    "lstm_predict_task": ["step", "serve", "lstm", "--day", "{{ taiex_data_day() }}"],
    "monitoring.evaluate_lstm": ["step", "evaluate", "lstm", "--day", "{{ taiex_data_day() }}"],
    "monitoring.train_lstm": ["step", "retrain", "lstm", "--day", "{{ taiex_data_day() }}"],
}


@pytest.fixture(autouse=True)
def _airflow_installed() -> None:
    if importlib.util.find_spec("airflow") is None:
        reason = "apache-airflow is not installed: pip install -e '.[airflow]'"
        if os.environ.get("TAIEX_REQUIRE_AIRFLOW") == "1":
            pytest.fail(f"{reason} (TAIEX_REQUIRE_AIRFLOW=1 requires it)")
        pytest.skip(reason)


@pytest.fixture
def airflow_home(tmp_path: Path) -> Path:
    home = tmp_path / "airflow"
    home.mkdir()
    return home


def airflow_env(airflow_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any TAIEX_* or AIRFLOW_* of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIEX_", "AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        **extra,
    )
    return env


def probe(env: dict[str, str], *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run tests/airflow_probe.py; its last line of output is JSON."""
    done = subprocess.run(
        [sys.executable, str(PROBE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"probe {args} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the parsed DAG


def test_dag_parses_with_the_specified_shape(airflow_home: Path) -> None:
    found = probe(airflow_env(airflow_home), "describe")
    assert found["import_errors"] == {}
    # Parsing imported none of the heavy libraries: the tasks import taiex when they run.
    assert found["heavy_modules"] == []
    assert found["dag"] == {
        "schedule": "30 15 * * 1-5",
        "timetable": "CronTriggerTimetable",
        "timezone": "Asia/Taipei",
        "catchup": False,
        "max_active_runs": 1,
        "retries": 2,
        "retry_delay": 300.0,
    }
    tasks = found["tasks"]
    assert sorted(tasks) == sorted([*MAIN_LINE, *MONITORING, JOIN])
    for before, after in itertools.pairwise(MAIN_LINE):
        assert tasks[before]["downstream"] == [after]
    assert tasks[MAIN_LINE[-1]]["downstream"] == [
        "monitoring.evaluate_classifier",
        "monitoring.evaluate_lstm",
    ]
    for kind in ("lstm", "classifier"):
        assert tasks[f"monitoring.evaluate_{kind}"]["downstream"] == [f"monitoring.branch_{kind}"]
        branch = tasks[f"monitoring.branch_{kind}"]
        assert branch["type"] == "_BranchPythonDecoratedOperator"
        assert branch["downstream"] == [f"monitoring.{kind}_healthy", f"monitoring.train_{kind}"]
        assert tasks[f"monitoring.{kind}_healthy"]["type"] == "EmptyOperator"
    assert tasks[JOIN]["upstream"] == [
        "monitoring.classifier_healthy",
        "monitoring.lstm_healthy",
        "monitoring.train_classifier",
        "monitoring.train_lstm",
    ]
    assert tasks[JOIN]["trigger_rule"] == "none_failed_min_one_success"
    for task in tasks.values():
        assert (task["retries"], task["retry_delay"]) == (2, 300.0)
        if task is not tasks[JOIN]:
            assert task["trigger_rule"] == "all_success"
        assert task["type"] != "DockerOperator"  # no TAIEX_AIRFLOW_IMAGE: all in the worker


def test_container_mode_runs_the_lstm_steps_in_the_image_on_gpus(airflow_home: Path) -> None:
    url = "postgresql+psycopg://taiex:s3cret-pw@db.example:5432/taiex"
    env = airflow_env(
        airflow_home,
        TAIEX_AIRFLOW_IMAGE="taiex:test",
        TAIEX_DB_URL=url,
        TAIEX_HOME="/srv/taiex",
        TAIEX_LSTM_SMAPE_MAX="3",
    )
    found = probe(env, "describe")
    assert found["import_errors"] == {}
    assert found["heavy_modules"] == []
    tasks = found["tasks"]
    for task_id, command in LSTM_TASKS.items():
        task = tasks[task_id]
        assert task["type"] == "DockerOperator"
        assert task["image"] == "taiex:test"
        assert (task["entrypoint"], task["command"]) == (["taiex"], command)
        assert task["device_requests"] == [
            {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
        ]
        assert task["do_xcom_push"] is True
        # The URL is a template in the DAG (no password serialized), the URL when it runs.
        assert task["environment_templates"]["TAIEX_DB_URL"] == "{{ taiex_db_url() }}"
        assert task["environment"] == {
            "TAIEX_DB_URL": url,
            "TAIEX_HOME": "/srv/taiex",
            "TAIEX_LSTM_SMAPE_MAX": "3",
        }
        assert task["mounts"] == [
            {"Target": "/srv/taiex", "Source": "/srv/taiex", "Type": "bind", "ReadOnly": False}
        ]
    others = set(tasks) - set(LSTM_TASKS)
    assert {tasks[t]["type"] for t in others} == {
        "_PythonDecoratedOperator",
        "_BranchPythonDecoratedOperator",
        "EmptyOperator",
    }
    # The branch reads a container's XCom, the JSON line it printed, as it reads a Python task's.
    assert probe(env, "branch") == {
        "dict-True": "monitoring.train_lstm",
        "json-True": "monitoring.train_lstm",
        "dict-False": "monitoring.lstm_healthy",
        "json-False": "monitoring.lstm_healthy",
    }
    # The rest of the shape does not change with the operators.
    assert tasks["lstm_predict_task"]["upstream"] == ["merge_weighted_index"]
    assert tasks["monitoring.train_lstm"]["upstream"] == ["monitoring.branch_lstm"]


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (
            "mysql://taiex:p%40ss-word@db:3306/taiex",
            "mysql+pymysql://taiex:p%40ss-word@db:3306/taiex",
        ),
        (
            '{"conn_type": "postgres", "login": "taiex", "password": "pw-12345", "host": "db",'
            ' "port": 5432, "schema": "taiex"}',
            "postgresql+psycopg://taiex:pw-12345@db:5432/taiex",
        ),
        ('{"conn_type": "sqlite", "host": "/data/taiex.db"}', "sqlite:////data/taiex.db"),
        (None, "error: RuntimeError: no database: set TAIEX_DB_URL or create the Airflow"),
    ],
    ids=["mysql-uri", "postgres-json", "sqlite-json", "missing"],
)
def test_the_taiex_db_connection_gives_the_url(
    airflow_home: Path, connection: str | None, expected: str
) -> None:
    env = airflow_env(airflow_home)
    if connection is not None:
        env["AIRFLOW_CONN_TAIEX_DB"] = connection
    found = probe(env, "db-url")
    assert found.get("url") == expected or f"error: {found.get('error')}".startswith(expected)


# ---------------------------------------------------------------- dag.test(), two days


@pytest.fixture
def days() -> Iterator[tuple[pd.DataFrame, TwseServer]]:
    """About 500 trading days (the LSTM needs 328 rows and a 120-day holdout), served up to the
    day before the last."""
    history = synthetic_history(n=500, start="2024-01-01", seed=11)
    with TwseServer(history.iloc[:-1], today=history["date"].iloc[-2].date()) as server:
        yield history, server


def test_two_days_of_the_dag(
    tmp_path: Path, airflow_home: Path, days: tuple[pd.DataFrame, TwseServer]
) -> None:
    history, twse = days
    day1, day2 = (d.date() for d in history["date"].iloc[-2:])
    taiex_home = tmp_path / "taiex"
    taiex_home.mkdir()
    (taiex_home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
    database = tmp_path / "data" / "taiex-dag.db"  # not the default file under TAIEX_HOME
    url = f"sqlite:///{database}"
    base = {**FAST, "TAIEX_HOME": str(taiex_home), "TAIEX_TWSE_URL": twse.url}

    started = time.perf_counter()
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    print(f"airflow db migrate: {time.perf_counter() - started:.1f} s")

    # Day 1, on an empty database named by TAIEX_DB_URL: the whole history is loaded, the first
    # models are trained, and both are healthy: the branches pass.
    first = probe(
        airflow_env(airflow_home, **base, **HEALTHY, TAIEX_DB_URL=url),
        "run",
        day1.isoformat(),
        timeout=600,
    )
    print(f"day 1 dag.test(): {first['seconds']} s")
    assert first["tasks"] == {
        **dict.fromkeys([*MAIN_LINE, *MONITORING, JOIN], "success"),
        "monitoring.train_lstm": "skipped",
        "monitoring.train_classifier": "skipped",
    }, first
    assert first["state"] == "success"
    xcoms = first["xcoms"]
    assert xcoms["download_weighted_stock_price"][0] == "1999-01"
    assert xcoms["download_weighted_stock_price"][-1] == f"{day1:%Y-%m}"
    assert xcoms["merge_weighted_index"] == {
        "inserted": len(history) - 1,
        "updated": 0,
        "last_date": day1.isoformat(),
    }
    assert xcoms["lstm_predict_task"]["origin_date"] == day1.isoformat()
    for kind in ("lstm", "classifier"):
        evaluation = xcoms[f"monitoring.evaluate_{kind}"]
        assert evaluation["retrain"] is False and evaluation["metric"] is not None

    # Day 2, one more trading day served, the database named by the taiex_db connection only;
    # no model can meet the thresholds: both are retrained and their challengers judged.
    twse.set_history(history, today=day2)
    second = probe(
        airflow_env(
            airflow_home, **base, **UNREACHABLE, AIRFLOW_CONN_TAIEX_DB=f"sqlite:///{database}"
        ),
        "run",
        day2.isoformat(),
        timeout=600,
    )
    print(f"day 2 dag.test(): {second['seconds']} s")
    assert second["tasks"] == {
        **dict.fromkeys([*MAIN_LINE, *MONITORING, JOIN], "success"),
        "monitoring.lstm_healthy": "skipped",
        "monitoring.classifier_healthy": "skipped",
    }, second
    assert second["state"] == "success"
    xcoms = second["xcoms"]
    assert xcoms["merge_weighted_index"]["inserted"] == 1
    assert xcoms["merge_weighted_index"]["last_date"] == day2.isoformat()
    for kind in ("lstm", "classifier"):
        assert xcoms[f"monitoring.evaluate_{kind}"]["retrain"] is True

    assert not (taiex_home / "taiex.db").exists()  # both days used the database they were given
    store = Store(url)
    stored = store.stored_dates()
    versions = [v.summary() for v in Registry(store).versions()]
    origins = {row["origin_date"] for row in rows(store, "forecasts")}
    store.dispose()
    assert len(stored) == len(history)
    assert origins == {day1, day2}
    for kind in ("lstm", "classifier"):
        mine = [v for v in versions if v["kind"] == kind]
        assert mine[0]["decision"] == "initial"
        challengers = [v for v in mine if v["decision"] in ("promoted", "rejected")]
        assert len(challengers) == 1, mine
        challenger = challengers[0]
        assert challenger["score"] is not None and challenger["champion_score"] is not None
        train = xcoms[f"monitoring.train_{kind}"]
        assert train["version"] == challenger["version"]
        assert train["promoted"] is (challenger["decision"] == "promoted")
