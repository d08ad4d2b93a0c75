"""Both DAGs on Airflow's CeleryExecutor with two workers, one of which dies (issue 22).

A Redis broker, PostgreSQL for Airflow's metadata and for taiex, and two `airflow celery worker`s
with hostnames of their own, each with its own empty TAIEX_HOME and one task at a time, both on
the cluster's one queue. They run one data day, 2025-01-02, on the real history up to the session
before: its pre-open round (the US closes of tests/data) and its evening round (TWSE as a local
server), at once. While the evening's LSTM task fits the first model, its worker is killed with
SIGKILL, its task process too. The scheduler notices the missing heartbeats in seconds
(``task_instance_heartbeat_timeout``), the task's one retry runs on the other worker, the day
completes, and every table holds each row once, nothing staged.

The task is not redelivered by Redis: Airflow acknowledges a Celery message late
(``task_acks_late``), but the broker gives an unacknowledged message back only after its
``visibility_timeout`` (a day by default); the retry is a new try that the scheduler queues.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import pytest

from taiex.kinds import KINDS, PREOPEN_KINDS
from taiex.store import metadata
from tests.airflow_cluster import (
    US_CLOSES,
    AirflowCluster,
    store_real_days,
    task_homes,
)
from tests.conftest import FAST, SERVER_URLS
from tests.series import TINY_CONFIG, real_history
from tests.test_airflow_cluster import (
    EVENING_DAY,
    HEALTHY,
    PREOPEN,
    PREOPEN_ROUND,
    connection_uri,
    counts,
    per_kind,
)
from tests.twse_server import TwseServer

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.realdata]

REDIS_URL = os.environ.get("TAIEX_TEST_REDIS_URL", "")
DAILY = "taiex_daily"
TAIEX_TABLES = [table.name for table in metadata.sorted_tables]
WORKERS = ("worker-a", "worker-b")
LSTM_TASK = "lstm_predict_task"
DEADLINE = 420  # seconds for the whole test, the cluster's start and stop included
# The day (the DAGs start in 2025), and the stored days before it (as the evening round of
# 2024-12-31 left them).
DAY = "2025-01-02"
FIRST, LAST_STORED = "2023-01-01", "2024-12-31"
# A fit long enough (several seconds) to be caught in the middle, short enough to run twice.
CONFIG = TINY_CONFIG.replace("max_epochs = 2\n", "max_epochs = 50\n").replace(
    "patience = 1\n", "patience = 50\n"
)
# Seconds, so that a lost worker costs seconds here (a deployment keeps minutes): the workers'
# heartbeat, how long a silent task may run on, how often the scheduler looks, and the retry.
FAILOVER = {
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "8",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "TAIEX_TASK_RETRY_DELAY": "0.05",  # minutes: 3 s
}


@pytest.fixture(autouse=True)
def _needs_celery() -> None:
    missing = []
    if importlib.util.find_spec("airflow") is None:
        missing.append("apache-airflow is not installed (pip install -e '.[airflow]')")
    try:  # its distribution, not an import: importing Airflow here would read ~/airflow
        importlib.metadata.distribution("apache-airflow-providers-celery")
    except importlib.metadata.PackageNotFoundError:
        missing.append("apache-airflow-providers-celery is not installed (the airflow extra)")
    if not SERVER_URLS["postgres"]:
        missing.append("no PostgreSQL server (TAIEX_TEST_POSTGRES_URL)")
    if not REDIS_URL:
        missing.append("no Redis server (TAIEX_TEST_REDIS_URL; scripts/db-servers.sh starts one)")
    if not missing:
        return
    if os.environ.get("TAIEX_REQUIRE_CELERY"):
        pytest.fail(f"{'; '.join(missing)} (TAIEX_REQUIRE_CELERY=1 requires it)")
    pytest.skip("; ".join(missing))


def test_a_day_on_two_celery_workers_survives_a_lost_worker(
    tmp_path: Path, databases: tuple[str, str]
) -> None:
    deadline = time.monotonic() + DEADLINE
    metadata_url, taiex_url = databases
    stored = store_real_days(taiex_url, FIRST, LAST_STORED)
    before = counts(taiex_url, TAIEX_TABLES)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    homes = {name: tmp_path / f"home-{name}" for name in WORKERS}
    scratch = {name: tmp_path / f"tmp-{name}" for name in WORKERS}  # each worker's TMPDIR
    history = real_history()
    with TwseServer(history[history["date"] <= DAY], today=dt.date.fromisoformat(DAY)) as twse:
        env = {
            **FAST,
            **HEALTHY,
            **FAILOVER,
            "TAIEX_LSTM_DM_T_MAX": "100",  # the tiny LSTM passes monitoring: no retrain today
            "TAIEX_CONFIG": str(config),
            "TAIEX_TWSE_URL": twse.url,
            "TAIEX_REPORT_URL": str(tmp_path / "site"),
            "TAIEX_OVERNIGHT_SOURCE": f"csv:{US_CLOSES}",
            "AIRFLOW_CONN_TAIEX_DB": connection_uri(taiex_url),
        }
        home = tmp_path / "airflow"
        with AirflowCluster.start(home, metadata_url, env, celery=REDIS_URL) as cluster:
            for name in WORKERS:
                homes[name].mkdir()
                scratch[name].mkdir()
                cluster.start_worker(
                    name, {"TAIEX_HOME": str(homes[name]), "TMPDIR": str(scratch[name])}
                )
            for dag_id in (DAILY, PREOPEN):
                cluster.wait_for_dag(dag_id)
            # The day's two rounds at once: 07:30 and 15:30 in Taipei.
            morning = cluster.trigger(PREOPEN, "2025-01-01T23:30:00Z")
            evening = cluster.trigger(DAILY, f"{DAY}T07:30:00Z")

            lost = kill_the_fitting_worker(cluster, evening, deadline)
            (survivor,) = set(WORKERS) - {lost}
            runs = {DAILY: (evening, EVENING_DAY), PREOPEN: (morning, PREOPEN_ROUND)}
            for dag_id, (run_id, expected) in runs.items():
                run = cluster.wait(dag_id, run_id, timeout=deadline - time.monotonic())
                states = cluster.task_states(dag_id, run_id)
                assert run["state"] == "success", (dag_id, states, failed_logs(cluster, dag_id))
                assert states == expected

            # The LSTM task's first try was lost with its worker; its retry ran on the other.
            tries = cluster.request(
                "GET", f"/dags/{DAILY}/dagRuns/{evening}/taskInstances/{LSTM_TASK}/tries"
            )["task_instances"]
            assert [(t["try_number"], t["hostname"], t["state"]) for t in tries] == [
                (1, lost, "failed"),
                (2, survivor, "success"),
            ]
            first = cluster.task_log(DAILY, evening, LSTM_TASK, 1)
            assert "training a lstm on" in first
            assert "trained the first lstm" not in first  # killed while it fitted
            assert "trained the first lstm" in cluster.task_log(DAILY, evening, LSTM_TASK, 2)
            (killed_home,) = task_homes(first)
            # Both workers ran tasks of the day, each under its own name.
            ran_on = {
                ti["hostname"]
                for dag_id, (run_id, _) in runs.items()
                for ti in cluster.task_instances(dag_id, run_id)
                if ti["state"] == "success"
            } - {None, ""}
            assert ran_on == set(WORKERS), ran_on

        # Each row once, nothing staged, TWSE asked for each month once.
        months = twse.months_asked()
    # The last stored month again (a late revision of its days) and the new one, each once.
    assert months == ["2024-12", "2025-01"], months
    kinds = len(KINDS) + len(PREOPEN_KINDS)  # every kind's first model, trained once
    assert counts(taiex_url, TAIEX_TABLES) == {
        **before,
        "weighted_index": stored + 1,
        "weighted_index_temp": 0,
        "etl_loads": before["etl_loads"] + 2,  # the evening's merge, the round's US closes
        "twse_responses": len(months),
        "overnight_closes": 8548,  # the whole file
        "model_versions": kinds,
        "model_champions": kinds,
        "forecasts": 5 + per_kind("served")["forecasts"],
        "signals": 1 + per_kind("served")["signals"],
        "lstm_model_evaluate": 1 + per_kind("evaluations")["lstm_model_evaluate"],
        "svm_model_evaluate": 1 + per_kind("evaluations")["svm_model_evaluate"],
        "figures": kinds + 1,  # each kind's evaluation plot, and the evening's forecast
    }
    # The workers' own TAIEX_HOMEs stayed empty: each task worked in a scratch home of its own.
    assert {name: list(folder.iterdir()) for name, folder in homes.items()} == {
        name: [] for name in WORKERS
    }
    # Each task removed its scratch home, but the killed one, which never got to.
    left = {name: sorted(map(str, folder.glob("taiex-task-*"))) for name, folder in scratch.items()}
    assert left == {lost: [killed_home], survivor: []}


def kill_the_fitting_worker(cluster: AirflowCluster, run_id: str, deadline: float) -> str:
    """Wait until the run's LSTM task is fitting (its log says so), SIGKILL its worker; which."""
    worker = running_on(cluster, run_id, deadline)
    while time.monotonic() < deadline:  # only the log file now: the fit takes seconds
        log = cluster.task_log(DAILY, run_id, LSTM_TASK, 1)
        assert "trained the first lstm" not in log, "the fit ended before the worker was killed"
        if "training a lstm on" in log:
            cluster.kill_worker(worker)
            return worker
        time.sleep(0.05)
    raise TimeoutError("the LSTM task never started fitting")


def running_on(cluster: AirflowCluster, run_id: str, deadline: float) -> str:
    """The worker that runs the first try of the LSTM task, once its log is there."""
    while time.monotonic() < deadline:
        cluster.check_alive()
        found = [t for t in cluster.task_instances(DAILY, run_id) if t["task_id"] == LSTM_TASK]
        if not found:  # not created yet
            run = cluster.request("GET", f"/dags/{DAILY}/dagRuns/{run_id}")
            assert run["state"] in {"queued", "running"}, run
        task: dict[str, Any] = found[0] if found else {"state": None}
        assert task["state"] in {None, "scheduled", "queued", "running"}, task
        if task["state"] == "running" and task["hostname"] in WORKERS:
            with contextlib.suppress(FileNotFoundError):
                cluster.task_log(DAILY, run_id, LSTM_TASK, 1)
                return str(task["hostname"])
        time.sleep(0.2)
    raise TimeoutError("the LSTM task never ran")


def failed_logs(cluster: AirflowCluster, dag_id: str) -> str:
    """The scheduler's and the workers' last lines, for a run that failed."""
    tails = []
    for log in sorted(cluster.home.glob("*.log")):
        tails.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
    return "\n".join(tails)
