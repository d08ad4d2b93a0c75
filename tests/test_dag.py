"""The Airflow DAGs (dags/taiex_daily.py, dags/taiex_preopen.py) with real Airflow, no scheduler.

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

from taiex.kinds import PREOPEN_KINDS
from taiex.models.registry import Registry
from taiex.store import Store
from taiex.store.testing import rows
from tests.airflow_cluster import US_CLOSES, free_port, store_real_days
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
# Thresholds that every champion breaks (the trivial-score guard off): each day retrains.
UNREACHABLE = {
    "TAIEX_LSTM_SMAPE_MAX": "0",
    "TAIEX_CLASSIFIER_AUC_MIN": "1",
    "TAIEX_CLASSIFIER_TRIVIAL_MARGIN": "-1",
}

MAIN_LINE = [
    "download_weighted_stock_price",
    "save_to_database",
    "merge_weighted_index",
    "lstm_predict_task",
    "classifier_predict_task",
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


def migrate_airflow(airflow_home: Path) -> None:
    """``airflow db migrate`` for this home's metadata database; the test fails on its output."""
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr


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


# taiex's own dependencies (Airflow brings httpx, rich and Jinja2 itself), and every taiex module
# below the kinds: the scheduler has taiex installed without its dependencies.
SLIM = ",".join(
    [
        *("torch", "sklearn", "skops", "pandas", "numpy", "matplotlib", "exchange_calendars"),
        *("typer", "taiex.store", "taiex.models", "taiex.pipeline", "taiex.etl", "taiex.report"),
    ]
)


@pytest.mark.parametrize("mode", ["local", "docker", "kubernetes"])
def test_the_slim_install_parses_the_dag(airflow_home: Path, mode: str) -> None:
    """A scheduler or dag-processor needs Airflow (and the mode's provider) and taiex without its
    dependencies (for taiex.kinds): with those unimportable, the DAG still parses, operators and
    all."""
    if mode == "kubernetes":
        pytest.importorskip("airflow.providers.cncf.kubernetes", reason="no cncf provider")
    env = airflow_env(airflow_home, TAIEX_AIRFLOW_MODE=mode, TAIEX_PROBE_BLOCK=SLIM)
    found = probe(env, "parse")
    assert found == {
        "import_errors": {},  # both DAG files, and their shared module is no DAG file
        "tasks": {"taiex_daily": 15, "taiex_preopen": len(PREOPEN_TASKS)},
    }


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
    for task_id, task in tasks.items():
        assert limits(task) == expected_limits(task_id), task_id
        if task is not tasks[JOIN]:
            assert task["trigger_rule"] == "all_success"
        assert task["type"] != "DockerOperator"  # no TAIEX_AIRFLOW_IMAGE: all in the worker


# Each task's limit (execution_timeout, seconds), retries and retry delays (seconds): the network
# tasks back off, the model tasks retry once, the others as before (twice, 5 minutes apart).
NETWORK_TASKS = {"download_weighted_stock_price", "download_overnight_closes"}
LOAD_TASKS = {"save_to_database", "merge_weighted_index"}
REPORT_TASKS = {
    "process_models_predict_outputs",
    "refresh_report",
    "process_preopen_outputs",
    "refresh_preopen_report",
}
DEFAULT_MINUTES = {"network": 15, "load": 5, "model": 10, "fit": 45, "report": 5}


def limits(task: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("execution_timeout", "retries", "retry_delay")
    return tuple(task[k] for k in (*keys, "retry_exponential_backoff", "max_retry_delay"))


def expected_limits(task_id: str, **minutes: float) -> tuple[Any, ...]:
    """(timeout, retries, retry delay, backoff multiplier, largest delay) of a task."""
    timeout = {**DEFAULT_MINUTES, **minutes}
    step = task_id.rsplit(".", 1)[-1]
    if task_id in NETWORK_TASKS:
        return (timeout["network"] * 60, 2, 60.0, 2.0, 600.0)
    if step.startswith("train_") or step.endswith("_predict_task"):  # a serve may fit the first
        return (timeout["fit"] * 60, 1, 300.0, 0.0, None)
    if step.startswith("evaluate_"):
        return (timeout["model"] * 60, 1, 300.0, 0.0, None)
    group = "load" if task_id in LOAD_TASKS else "report" if task_id in REPORT_TASKS else "model"
    return (timeout[group] * 60, 2, 300.0, 0.0, None)


def test_the_task_timeout_settings_set_the_limits(airflow_home: Path) -> None:
    """TAIEX_TASK_TIMEOUT_* (minutes) from the scheduler's environment set each task's limit in
    both DAGs; a value out of range is the DAG file's import error, naming the variable."""
    minutes = {"network": 2, "load": 1.5, "model": 3, "fit": 30, "report": 4}
    env = {f"TAIEX_TASK_TIMEOUT_{group.upper()}": str(value) for group, value in minutes.items()}
    for dag_id in ("taiex_daily", PREOPEN):
        found = probe(airflow_env(airflow_home, **env, TAIEX_PROBE_DAG=dag_id), "describe")
        assert found["import_errors"] == {}
        for task_id, task in found["tasks"].items():
            assert limits(task) == expected_limits(task_id, **minutes), task_id
    # TAIEX_TASK_RETRY_DELAY: every delay but the downloads' (which back off on their own).
    env = {**env, "TAIEX_TASK_RETRY_DELAY": "0.25"}
    found = probe(airflow_env(airflow_home, **env, TAIEX_PROBE_DAG="taiex_daily"), "describe")
    delays = {task_id: task["retry_delay"] for task_id, task in found["tasks"].items()}
    assert delays == {
        task_id: 60.0 if task_id in NETWORK_TASKS else 15.0 for task_id in found["tasks"]
    }
    found = probe(airflow_env(airflow_home, TAIEX_TASK_TIMEOUT_FIT="0"), "describe")
    assert found["dag"] is None
    (error,) = set(found["import_errors"].values())
    assert "TAIEX_TASK_TIMEOUT_FIT must be within [0.05, 1440], got 0.0" in error


CONTAINER_SETTINGS = {
    "TAIEX_LSTM_SMAPE_MAX": "3.5",
    "TAIEX_REPORT_URL": "s3://reports/taiex/",
    "TAIEX_LSTM": json.dumps({"max_epochs": 2}),
}


@pytest.mark.parametrize(
    ("gpus", "requests"),
    [
        ("", []),
        (
            "2",
            [{"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}],
        ),
        (
            "all",
            [
                {
                    "Driver": "",
                    "Count": -1,
                    "DeviceIDs": [],
                    "Capabilities": [["gpu"]],
                    "Options": {},
                }
            ],
        ),
    ],
    ids=["no-gpu", "two-gpus", "all-gpus"],
)
def test_docker_mode_runs_the_lstm_steps_in_the_image(
    airflow_home: Path, gpus: str, requests: list[dict[str, Any]]
) -> None:
    url = "postgresql+psycopg://taiex:s3cret-pw@db.example:5432/taiex"
    env = airflow_env(
        airflow_home,
        TAIEX_AIRFLOW_MODE="docker",
        TAIEX_AIRFLOW_IMAGE="taiex:test",
        TAIEX_AIRFLOW_GPUS=gpus,
        TAIEX_DB_URL=url,
        TAIEX_HOME="/srv/taiex",
        **CONTAINER_SETTINGS,
    )
    found = probe(env, "describe")
    assert found["import_errors"] == {}
    assert found["heavy_modules"] == []
    tasks = found["tasks"]
    for task_id, command in LSTM_TASKS.items():
        task = tasks[task_id]
        assert task["type"] == "TaiexDockerOperator"
        assert task["image"] == "taiex:test"
        assert (task["entrypoint"], task["command"]) == (["taiex"], command)
        assert task["user"] == "50000"
        assert task["device_requests"] == requests  # none unless TAIEX_AIRFLOW_GPUS asks
        assert task["mounts"] == []  # no host folder: the image needs only the database
        assert task["environment"] == {}  # nothing read at parse time: see below
        assert task["do_xcom_push"] is True
    others = set(tasks) - set(LSTM_TASKS)
    assert {tasks[t]["type"] for t in others} == {
        "_PythonDecoratedOperator",
        "_BranchPythonDecoratedOperator",
        "EmptyOperator",
    }
    # When it runs, the worker hands the container its settings, but neither its TAIEX_HOME nor
    # the database URL (a private variable: see test_the_docker_mode_on_a_real_engine).
    assert probe(env, "container-env") == CONTAINER_SETTINGS
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


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: test, user: {token: not-used}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
"""


@pytest.mark.parametrize(("gpus", "limits"), [("", None), ("2", {"nvidia.com/gpu": "2"})])
def test_kubernetes_mode_renders_pods_without_the_database_url(
    airflow_home: Path, gpus: str, limits: dict[str, str] | None
) -> None:
    pytest.importorskip("airflow.providers.cncf.kubernetes", reason="no cncf.kubernetes provider")
    url = "postgresql+psycopg://taiex:s3cret-pw@db.example:5432/taiex"
    # Building a pod reads the client's configuration; no cluster is contacted.
    kubeconfig = airflow_home / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    env = airflow_env(
        airflow_home,
        KUBECONFIG=str(kubeconfig),
        TAIEX_AIRFLOW_MODE="kubernetes",
        TAIEX_AIRFLOW_IMAGE="registry.example/taiex:1",
        TAIEX_AIRFLOW_GPUS=gpus,
        TAIEX_AIRFLOW_K8S_SECRET="taiex-database",
        TAIEX_AIRFLOW_K8S_NAMESPACE="data",
        TAIEX_DB_URL=url,
        TAIEX_HOME="/srv/taiex",
        **CONTAINER_SETTINGS,
    )
    found = probe(env, "describe")
    assert found["import_errors"] == {}
    tasks = found["tasks"]
    for task_id, command in LSTM_TASKS.items():
        task = tasks[task_id]
        assert task["type"] == "TaiexPodOperator"
        assert task["do_xcom_push"] is True
        pod = task["pod"]
        assert "s3cret-pw" not in json.dumps(pod) and "db.example" not in json.dumps(pod)
        assert pod["metadata"]["namespace"] == "data"
        assert pod["spec"]["securityContext"] == {"runAsNonRoot": True, "runAsUser": 50000}
        base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
        assert base["image"] == "registry.example/taiex:1"
        assert base["command"] == ["/bin/sh", "-c"]
        step = " ".join(command)
        assert base["args"] == [
            f"set -e; taiex {step} > /airflow/xcom/return.json; cat /airflow/xcom/return.json"
        ]
        env_vars = {e["name"]: e for e in base["env"]}
        assert env_vars["TAIEX_DB_URL"] == {
            "name": "TAIEX_DB_URL",
            "valueFrom": {"secretKeyRef": {"key": "TAIEX_DB_URL", "name": "taiex-database"}},
        }
        plain = {name: e["value"] for name, e in env_vars.items() if "value" in e}
        assert plain == CONTAINER_SETTINGS  # no TAIEX_HOME, no URL
        assert base.get("resources", {}).get("limits") == limits
        # The XCom sidecar reads what the step wrote to /airflow/xcom.
        assert any(c["name"] == "airflow-xcom-sidecar" for c in pod["spec"]["containers"])


def test_a_classifier_saves_and_loads_without_a_flood_of_warnings(airflow_home: Path) -> None:
    """skops walks every loaded module; under Airflow that woke ~1,160 deprecation warnings a
    task. Now a save and a load in a process with Airflow loaded warn at most a few times."""
    found = probe(airflow_env(airflow_home), "skops-warnings")
    assert found["loaded"] == "EntrySignalClassifier"
    assert len(found["warnings"]) <= 3, found["warnings"][:10]
    assert not any("DeprecatedImportWarning" in w for w in found["warnings"])
    assert found["torch"] is False  # skops' estimator listing no longer brings torch along


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


def test_a_malformed_url_has_its_password_masked_first(airflow_home: Path) -> None:
    """The password is masked before the URL is parsed: a bad port does not leak it to logs."""
    env = airflow_env(airflow_home)
    env["TAIEX_DB_URL"] = "mysql+pymysql://me:p@ss:word@db:notaport/x"
    found = probe(env, "db-url")
    assert found["url"] == env["TAIEX_DB_URL"]
    assert "p@ss:word" not in found["logged"]


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
    migrate_airflow(airflow_home)
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
    assert origins == {day1, day2}  # the forecasts table holds what was served, nothing else
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


# ---------------------------------------------------------------- docker mode on a real engine


def docker_image_or_skip() -> str:
    """The image to run (TAIEX_TEST_IMAGE, default taiex:latest) on the engine of DOCKER_HOST;
    skip (fail when TAIEX_REQUIRE_DOCKER=1) when there is no engine or no image."""
    image = os.environ.get("TAIEX_TEST_IMAGE", "taiex:latest")
    reason = ""
    try:
        import docker

        client = docker.from_env()
        client.images.get(image)
        client.close()
    except ImportError:
        reason = "the docker package is not installed (pip install -e '.[airflow]')"
    except Exception as exc:  # docker raises its own errors for no engine and no image alike
        reason = f"no Docker engine with the image {image} ({type(exc).__name__}: {exc}): run "
        reason += 'eval "$(scripts/dockerd.sh start)" and scripts/docker-image.sh'
    if reason:
        if os.environ.get("TAIEX_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} (TAIEX_REQUIRE_DOCKER=1 requires it)")
        pytest.skip(reason)
    return image


@pytest.mark.postgres
def test_the_docker_mode_on_a_real_engine(
    tmp_path: Path, airflow_home: Path, days: tuple[pd.DataFrame, TwseServer]
) -> None:
    """One day on an empty PostgreSQL database with unmeetable thresholds: the three LSTM tasks
    (the first model, its evaluation, a challenger) run in the image, as uid 50000 with no host
    folder; the worker's settings (the tiny models of its config.toml) reach the containers."""
    from tests.airflow_cluster import postgres_database
    from tests.conftest import SERVER_URLS

    image = docker_image_or_skip()
    if not SERVER_URLS["postgres"]:
        pytest.skip("no PostgreSQL server (TAIEX_TEST_POSTGRES_URL): containers need a server")
    history, twse = days
    day = history["date"].iloc[-2].date()
    taiex_home = tmp_path / "taiex"
    taiex_home.mkdir()
    (taiex_home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
    migrate_airflow(airflow_home)
    with postgres_database(SERVER_URLS["postgres"], "taiex_docker") as url:
        env = airflow_env(
            airflow_home,
            **FAST,
            **UNREACHABLE,
            TAIEX_HOME=str(taiex_home),
            TAIEX_TWSE_URL=twse.url,
            TAIEX_DB_URL=url,
            TAIEX_AIRFLOW_MODE="docker",
            TAIEX_AIRFLOW_IMAGE=image,
            TAIEX_AIRFLOW_DOCKER_NETWORK="host",  # the test server listens on loopback
        )
        found = probe(env, "run", day.isoformat(), timeout=900)
        print(f"docker mode dag.test(): {found['seconds']} s")
        assert found["state"] == "success", found
        assert found["tasks"] == {
            **dict.fromkeys([*MAIN_LINE, *MONITORING, JOIN], "success"),
            "monitoring.lstm_healthy": "skipped",
            "monitoring.classifier_healthy": "skipped",
        }, found
        # A container's XCom is the JSON line `taiex step` printed (read back as JSON).
        xcoms = {
            task: json.loads(value) if isinstance(value, str) else value
            for task, value in found["xcoms"].items()
            if task in LSTM_TASKS
        }
        forecast = xcoms["lstm_predict_task"]
        assert forecast["origin_date"] == day.isoformat() and len(forecast["forecast"]) == 5
        assert xcoms["monitoring.evaluate_lstm"]["retrain"] is True
        trained = xcoms["monitoring.train_lstm"]
        store = Store(url)
        lstm = [v.summary() for v in Registry(store).versions() if v.kind == "lstm"]
        params = [row["params"] for row in rows(store, "model_versions", kind="lstm")]
        origins = {row["origin_date"] for row in rows(store, "forecasts")}
        store.dispose()
        assert origins == {day}  # the forecasts table holds what was served, nothing else
        decision = "promoted" if trained["promoted"] else "rejected"
        assert [v["decision"] for v in lstm] == ["initial", decision]
        # The containers trained with the worker's tiny settings, not the image's defaults.
        assert all(p["hidden_size"] == 4 for p in params), params


# ---------------------------------------------------------------- the pre-open DAG

PREOPEN = "taiex_preopen"
PREOPEN_LINE = ["is_session_day", "download_overnight_closes", "night", "serve_or_fallback"]
PREOPEN_SERVING = [spec.serve_task for spec in PREOPEN_KINDS]
FALLBACK = "evening_answer_stands"
PREOPEN_OUTPUTS = "process_preopen_outputs"
PREOPEN_MONITORING = [
    f"monitoring.{step}_{spec.name}"
    for spec in PREOPEN_KINDS
    for step in ("evaluate", "branch", "train")
] + [f"monitoring.{spec.name}_healthy" for spec in PREOPEN_KINDS]
PREOPEN_JOIN = "refresh_preopen_report"
PREOPEN_TASKS = [
    *PREOPEN_LINE,
    *PREOPEN_SERVING,
    FALLBACK,
    PREOPEN_OUTPUTS,
    *PREOPEN_MONITORING,
    PREOPEN_JOIN,
]


def test_the_preopen_dag_has_the_specified_shape(airflow_home: Path) -> None:
    found = probe(airflow_env(airflow_home, TAIEX_PROBE_DAG=PREOPEN), "describe")
    assert found["import_errors"] == {}
    assert found["heavy_modules"] == []
    assert found["dag"] == {
        "schedule": "30 7 * * 1-5",  # TAIEX_PREOPEN_TIME's default; is_session_day skips holidays
        "timetable": "CronTriggerTimetable",
        "timezone": "Asia/Taipei",
        "catchup": False,
        "max_active_runs": 1,
        "retries": 2,
        "retry_delay": 300.0,
    }
    tasks = found["tasks"]
    assert sorted(tasks) == sorted(PREOPEN_TASKS)
    assert tasks["is_session_day"]["type"] == "_ShortCircuitDecoratedOperator"
    assert tasks["is_session_day"]["upstream"] == []
    for before, after in itertools.pairwise(PREOPEN_LINE):
        assert tasks[before]["downstream"] == [after]
    # The branch serves each pre-open kind, one after the other, or lets the evening's stand.
    assert tasks["serve_or_fallback"]["type"] == "_BranchPythonDecoratedOperator"
    assert tasks["serve_or_fallback"]["downstream"] == sorted([FALLBACK, PREOPEN_SERVING[0]])
    for before, after in itertools.pairwise([*PREOPEN_SERVING, PREOPEN_OUTPUTS]):
        assert tasks[before]["downstream"] == [after]
    assert tasks[FALLBACK]["type"] == "EmptyOperator"
    assert tasks[PREOPEN_OUTPUTS]["upstream"] == sorted([FALLBACK, PREOPEN_SERVING[-1]])
    assert tasks[PREOPEN_OUTPUTS]["downstream"] == sorted(
        f"monitoring.evaluate_{spec.name}" for spec in PREOPEN_KINDS
    )
    for spec in PREOPEN_KINDS:
        kind = spec.name
        assert tasks[f"monitoring.evaluate_{kind}"]["downstream"] == [f"monitoring.branch_{kind}"]
        assert tasks[f"monitoring.branch_{kind}"]["downstream"] == [
            f"monitoring.{kind}_healthy",
            f"monitoring.train_{kind}",
        ]
    assert tasks[PREOPEN_JOIN]["upstream"] == sorted(
        f"monitoring.{name}"
        for spec in PREOPEN_KINDS
        for name in (f"{spec.name}_healthy", f"train_{spec.name}")
    )
    joins = {PREOPEN_OUTPUTS, PREOPEN_JOIN}
    for task_id, task in tasks.items():
        assert limits(task) == expected_limits(task_id), task_id
        rule = "none_failed_min_one_success" if task_id in joins else "all_success"
        assert task["trigger_rule"] == rule, task_id
        assert task["type"] != "TaiexDockerOperator"  # local mode: all in the worker


@pytest.mark.parametrize(
    ("preopen_time", "schedule"),
    [("08:15", "15 8 * * 1-5"), ("09:30", "error: TAIEX_PREOPEN_TIME='09:30'")],
)
def test_taiex_preopen_time_sets_the_schedule(
    airflow_home: Path, preopen_time: str, schedule: str
) -> None:
    env = airflow_env(airflow_home, TAIEX_PROBE_DAG=PREOPEN, TAIEX_PREOPEN_TIME=preopen_time)
    found = probe(env, "describe")
    if schedule.startswith("error: "):
        (error,) = found["import_errors"].values()
        assert schedule.removeprefix("error: ") in error and "before TAIEX's 09:00 open" in error
    else:
        assert found["import_errors"] == {}
        assert found["dag"]["schedule"] == schedule


def test_the_preopen_dag_runs_its_kinds_in_the_image_in_docker_mode(airflow_home: Path) -> None:
    env = airflow_env(
        airflow_home,
        TAIEX_PROBE_DAG=PREOPEN,
        TAIEX_AIRFLOW_MODE="docker",
        TAIEX_AIRFLOW_IMAGE="taiex:test",
        TAIEX_DB_URL="postgresql+psycopg://taiex:pw@db.example:5432/taiex",
    )
    found = probe(env, "describe")
    assert found["import_errors"] == {}
    assert found["heavy_modules"] == []
    tasks = found["tasks"]
    in_image = {}
    for spec in PREOPEN_KINDS:
        if spec.in_container:
            for task_id, step in (
                (spec.serve_task, "serve"),
                (f"monitoring.evaluate_{spec.name}", "evaluate"),
                (f"monitoring.train_{spec.name}", "retrain"),
            ):
                # The model steps use the stored days up to the eve of the session.
                in_image[task_id] = ["step", step, spec.name, "--day", "{{ taiex_data_day() }}"]
    for task_id, command in in_image.items():
        task = tasks[task_id]
        assert task["type"] == "TaiexDockerOperator"
        assert (task["image"], task["command"], task["environment"]) == ("taiex:test", command, {})
    # The round's own steps (the US closes, the night, the branches, the report) run in the
    # worker: they need no model library.
    assert {tasks[t]["type"] for t in set(tasks) - set(in_image)} == {
        "_ShortCircuitDecoratedOperator",
        "_PythonDecoratedOperator",
        "_BranchPythonDecoratedOperator",
        "EmptyOperator",
    }


def step(*args: str) -> tuple[int, Any, str]:
    """``taiex step ...`` through Typer's runner: its exit code, its JSON line, its errors."""
    from typer.testing import CliRunner

    from taiex.cli import app

    result = CliRunner().invoke(app, ["step", *args])
    lines = result.stdout.strip().splitlines()
    return result.exit_code, json.loads(lines[-1]) if result.exit_code == 0 else None, result.stderr


@pytest.mark.realdata
def test_the_steps_of_the_preopen_dag_rerun_to_the_same_answer(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``taiex step overnight`` and ``taiex step night`` for a session, twice: the same answer,
    nothing stored twice; each reason for a fallback, said."""
    url = f"sqlite:///{tmp_path / 'taiex.db'}"
    store_real_days(url, "2024-10-01", "2024-12-31")
    monkeypatch.setenv("TAIEX_DB_URL", url)
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", f"csv:{US_CLOSES}")
    source = f"csv:{US_CLOSES}"
    for inserted in (8548, 0):  # the whole file, then nothing new
        assert step("overnight", "--session", "2025-01-02") == (
            0,
            {
                "source": source,
                "through": "2025-01-01",
                "inserted": inserted,
                "updated": 0,
                "error": None,
            },
            "",
        )
    for _ in range(2):
        code, night, err = step("night", "--session", "2025-01-02")
        assert code == 0, err
        assert night["origin"] == "2024-12-31" and night["fallback"] is None
        assert night["issued_at"] == "2025-01-02T07:30:00+08:00"
        assert (night["night"]["base"], night["night"]["last"]) == ("2024-12-30", "2024-12-31")
        assert all(move is not None for move in night["night"]["moves"].values())
    # The evening's data of 2025-01-02 is missing: the round of 2025-01-03 falls back.
    code, night, err = step("night", "--session", "2025-01-03")
    assert code == 0, err
    assert night["origin"] == "2024-12-31"
    assert night["fallback"].startswith("the last stored TAIEX day is 2024-12-31, not the session")
    # Stored, the night of 2025-01-02 needs a US close the file lacks: the round falls back,
    # saying why, and why the download failed when it did.
    store_real_days(url, "2025-01-02", "2025-01-02")
    code, night, err = step("night", "--session", "2025-01-03", "--update-error", "HTTP 503")
    assert code == 0, err
    assert night["origin"] == "2025-01-02"
    assert night["fallback"].startswith("no ^GSPC close for the US session of 2025-01-02")
    assert night["fallback"].endswith("(the update failed: HTTP 503)")
    # A source that fails (nothing listens on the port): said, nothing stored; with --strict (a
    # scheduler's try that can be retried), a failure.
    closed = f"http://127.0.0.1:{free_port()}/closes.csv"
    monkeypatch.setenv("TAIEX_OVERNIGHT_SOURCE", f"csv:{closed}")
    code, update, err = step("overnight", "--session", "2025-01-03")
    assert code == 0, err
    assert update["inserted"] == 0 and closed in update["error"]
    code, _, err = step("overnight", "--session", "2025-01-03", "--strict")
    assert code == 1 and closed in err
    # A holiday has no round.
    code, _, err = step("night", "--session", "2025-01-01")
    assert code == 1 and "2025-01-01 is not an XTAI session" in err


# ---------------------------------------------------------------- a step that hangs


def test_a_step_that_hangs_fails_at_its_limit_and_leaves_nothing_half_written(
    tmp_path: Path, airflow_home: Path, days: tuple[pd.DataFrame, TwseServer]
) -> None:
    """save_to_database hangs in its transaction, after its first staged row (a hook planted by
    the probe, not in taiex): its limit (TAIEX_TASK_TIMEOUT_LOAD, 3 s here) fails it, nothing
    it staged stays, the load lock is free, and the next run loads, serves and reports."""
    history, twse = days
    day1, day2 = (d.date() for d in history["date"].iloc[-2:])
    taiex_home = tmp_path / "taiex"
    taiex_home.mkdir()
    (taiex_home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'taiex-dag.db'}"
    base = {**FAST, **HEALTHY, "TAIEX_HOME": str(taiex_home), "TAIEX_TWSE_URL": twse.url}
    migrate_airflow(airflow_home)

    hung = probe(
        airflow_env(
            airflow_home,
            **base,
            TAIEX_DB_URL=url,
            TAIEX_TASK_TIMEOUT_LOAD="0.05",
            TAIEX_PROBE_HANG="weighted_index_temp",
        ),
        "run",
        day1.isoformat(),
        timeout=300,
    )
    print(f"the hung run: {hung['seconds']} s, save_to_database {hung['durations']}")
    assert hung["state"] == "failed"
    assert hung["tasks"]["download_weighted_stock_price"] == "success"
    assert hung["tasks"]["save_to_database"] == "failed"
    assert hung["tasks"]["merge_weighted_index"] == "upstream_failed"
    # Stopped at its limit (3 s), not after the planted 600 s sleep.
    assert hung["durations"]["save_to_database"] < 60, hung["durations"]
    store = Store(url)
    try:
        assert store.prices.staged() == {}  # the staging transaction was rolled back
        assert store.stored_dates() == []
        assert rows(store, "forecasts") == [] and rows(store, "signals") == []
    finally:
        store.dispose()

    # The next run is not blocked: no lock or staged load of the hung one stands in its way.
    twse.set_history(history, today=day2)
    second = probe(airflow_env(airflow_home, **base, TAIEX_DB_URL=url), "run", day2.isoformat())
    print(f"the next run: {second['seconds']} s")
    assert second["state"] == "success", second
    assert second["xcoms"]["merge_weighted_index"]["last_date"] == day2.isoformat()
    assert second["xcoms"]["lstm_predict_task"]["origin_date"] == day2.isoformat()


# ---------------------------------------------------------------- notification callbacks

CALLBACKS = """
import datetime as dt, json, sys, types
sys.path.insert(0, sys.argv[1])
import taiex_dag_common as common
calls = []
common.run_step = lambda *args, **kwargs: calls.append([list(args), kwargs]) or ["summary"]
ti = types.SimpleNamespace(task_id="refresh_preopen_report", xcom_pull=lambda task_ids: {
    "fallback": "no close of ^SOX"})
run = types.SimpleNamespace(start_date=dt.datetime(2024, 12, 30, 23, 30, tzinfo=dt.UTC),
    run_after=None)
dag = types.SimpleNamespace(dag_id="taiex_preopen")
context = {"dag": dag, "ti": ti, "dag_run": run,
    "logical_date": dt.datetime(2024, 12, 30, 23, 30, tzinfo=dt.UTC)}
common.notify_day(context)
common.notify_day({**context, "ti": types.SimpleNamespace(task_id="night")})
failed = {**context, "ti": types.SimpleNamespace(task_id="night"),
    "exception": RuntimeError("the source blocked us")}
common.notify_failure(failed)
print(json.dumps({"calls": calls, "callbacks": [
    common.DEFAULT_ARGS["on_failure_callback"].__name__,
    common.DEFAULT_ARGS["on_success_callback"].__name__]}))
"""


def test_the_notification_callbacks(airflow_home: Path) -> None:
    """Called with a fake context: a failed task is posted; the last task sends the day's
    events through the step taiex.notify.dag_events; another task sends nothing."""
    from tests.test_notify import Collector

    collector = Collector()
    collector.thread.start()
    try:
        env = airflow_env(airflow_home, TAIEX_NOTIFY_URLS=collector.url)
        done = subprocess.run(
            [sys.executable, "-c", CALLBACKS, str(DAGS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        collector.server.shutdown()
        collector.server.server_close()
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["callbacks"] == ["notify_failure", "notify_day"]
    assert out["calls"] == [
        [
            ["dag_events", "pre-open", "2024-12-31", "2024-12-30T23:30:00", "no close of ^SOX"],
            {"module": "taiex.notify"},
        ]
    ]
    assert [body["title"] for body in collector.received] == [
        "taiex pre-open: failed at taiex_preopen.night"
    ]
    assert collector.received[0]["message"].endswith("RuntimeError: the source blocked us")
    assert "s3cr3t" not in done.stdout + done.stderr
