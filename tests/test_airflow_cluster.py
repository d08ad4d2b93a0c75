"""The DAGs the way a deployment runs them: scheduler, dag-processor and api-server apart,
LocalExecutor, PostgreSQL for Airflow's metadata and for taiex, a run triggered over REST.

Nothing is shared between tasks but the database: each task logs the new, empty TAIEX_HOME it
ran in, and the test checks that no two tasks had the same one, that none is left, and that TWSE
was asked for each month once (the save step reads what download stored in the database).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taiex.kinds import PREOPEN_KINDS
from taiex.store import Store
from taiex.store.testing import count, rows
from tests.airflow_cluster import (
    US_CLOSES,
    AirflowCluster,
    store_real_days,
    task_homes,
)
from tests.conftest import FAST, SERVER_URLS
from tests.series import TINY_CONFIG, synthetic_history
from tests.twse_server import TwseServer

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

DAG_ID = "taiex_daily"
HEALTHY = {
    "TAIEX_LSTM_SMAPE_MAX": "100",
    "TAIEX_LSTM_NAIVE_MARGIN": "10",
    "TAIEX_CLASSIFIER_AUC_MIN": "0",
}
STEP_TASKS = [  # the tasks that run a taiex step (branches and the healthy markers run none)
    "download_weighted_stock_price",
    "save_to_database",
    "merge_weighted_index",
    "classifier_predict_task",
    "lstm_predict_task",
    "process_models_predict_outputs",
    "monitoring.evaluate_lstm",
    "monitoring.evaluate_classifier",
    "refresh_report",
]
# An evening day with healthy first models: every step ran, no retrain.
EVENING_DAY = {
    **dict.fromkeys(STEP_TASKS, "success"),
    "monitoring.branch_lstm": "success",
    "monitoring.branch_classifier": "success",
    "monitoring.lstm_healthy": "success",
    "monitoring.classifier_healthy": "success",
    "monitoring.train_lstm": "skipped",
    "monitoring.train_classifier": "skipped",
}
RERUN = ["merge_weighted_index", "classifier_predict_task", "lstm_predict_task", "refresh_report"]
TABLES = (
    "weighted_index",
    "forecasts",
    "signals",
    "model_versions",
    "lstm_model_evaluate",
    "svm_model_evaluate",
    "twse_responses",
    "figures",
)


@pytest.fixture(autouse=True)
def _needs_airflow_and_postgres() -> None:
    missing = []
    if importlib.util.find_spec("airflow") is None:
        missing.append("apache-airflow is not installed (pip install -e '.[airflow]')")
    if not SERVER_URLS["postgres"]:
        missing.append("no PostgreSQL server (TAIEX_TEST_POSTGRES_URL)")
    if not missing:
        return
    required = [v for v in ("TAIEX_REQUIRE_AIRFLOW", "TAIEX_REQUIRE_SERVERS") if os.environ.get(v)]
    if required:
        pytest.fail(f"{'; '.join(missing)} ({', '.join(required)}=1 requires it)")
    pytest.skip("; ".join(missing))


@pytest.fixture
def history() -> pd.DataFrame:
    """About 500 trading days: the LSTM needs 328 rows and a 120-day holdout."""
    return synthetic_history(n=500, start="2024-01-01", seed=11)


def counts(url: str, tables: Sequence[str] = TABLES) -> dict[str, int]:
    """The rows of each of ``tables``."""
    store = Store(url)
    found = {table: count(store, table) for table in tables}
    store.dispose()
    return found


def connection_uri(url: str) -> str:
    """The Airflow connection URI of a SQLAlchemy PostgreSQL URL (type postgres)."""
    return url.replace("postgresql+psycopg://", "postgres://", 1)


def test_a_day_under_a_real_scheduler(
    tmp_path: Path, history: pd.DataFrame, databases: tuple[str, str]
) -> None:
    metadata_url, taiex_url = databases
    day = history["date"].iloc[-1].date()
    taiex_home = tmp_path / "taiex-home"  # config.toml only: the tasks work in scratch homes
    taiex_home.mkdir()
    (taiex_home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
    site = tmp_path / "site"
    with TwseServer(history, today=day) as twse:
        env = {
            **FAST,
            **HEALTHY,
            "TAIEX_HOME": str(taiex_home),
            "TAIEX_TWSE_URL": twse.url,
            "TAIEX_REPORT_URL": str(site),
            # The database through the taiex_db connection, as a deployment would give it.
            "AIRFLOW_CONN_TAIEX_DB": connection_uri(taiex_url),
        }
        with AirflowCluster.start(tmp_path / "airflow", metadata_url, env) as cluster:
            details = cluster.wait_for_dag(DAG_ID)
            assert details["dag_id"] == DAG_ID
            run_id = cluster.trigger(DAG_ID, f"{day.isoformat()}T07:30:00Z")  # 15:30 in Taipei
            run = cluster.wait(DAG_ID, run_id)
            states = cluster.task_states(DAG_ID, run_id)
            assert run["state"] == "success", (states, _failed_logs(cluster, run_id, states))
            assert states == EVENING_DAY

            # The rows the day added.
            added = counts(taiex_url)
            months = twse.months_asked()
            assert added == {
                "weighted_index": len(history),
                "forecasts": 5,
                "signals": 1,
                "model_versions": 2,
                "lstm_model_evaluate": 1,
                "svm_model_evaluate": 1,
                "twse_responses": len(months),  # each month's response, verbatim
                "figures": 3,  # each kind's evaluation plot and the forecast's
            }
            # TWSE was asked for each month once: save_to_database, on another scratch home,
            # read the responses that download stored in the database.
            assert len(months) == len(set(months)), months
            # The page, written by a task that drew none of the evaluation plots, shows them.
            page = (site / "index.html").read_text(encoding="utf-8")
            # Nine images: the forecast, the track record and the monitoring history (each wide,
            # and narrow for a phone), each kind's evaluation plot, and the page's empty icon.
            assert page.count("data:image/png;base64,") == 9

            # A cleared task runs again and adds nothing.
            cluster.clear(DAG_ID, run_id, RERUN)
            rerun = cluster.wait(DAG_ID, run_id)
            assert rerun["state"] == "success"
            tries = {
                ti["task_id"]: ti["try_number"] for ti in cluster.task_instances(DAG_ID, run_id)
            }
            assert all(tries[task] == 2 for task in RERUN), tries
            assert counts(taiex_url) == added
            assert twse.months_asked() == months

            homes = _homes(cluster, run_id, tries)
            for task in STEP_TASKS:
                log = cluster.task_log(DAG_ID, run_id, task)
                # skops' module walk used to log ~1,160 deprecation warnings per classifier task.
                assert log.count("Warning") <= 5, (task, log.count("Warning"))
    # Every task ran in a TAIEX_HOME of its own, made for it and removed after it.
    assert sorted(homes) == sorted([*STEP_TASKS, *(f"{t}#2" for t in RERUN)])
    paths = list(homes.values())
    assert len(set(paths)) == len(paths), homes
    assert not any(Path(path).exists() for path in paths)
    assert [p.name for p in taiex_home.iterdir()] == ["config.toml"]


PREOPEN = "taiex_preopen"
PREOPEN_SERVING = {spec.serve_task: "success" for spec in PREOPEN_KINDS}
PREOPEN_MONITORED = {
    **{
        f"monitoring.{step}_{spec.name}": "success"
        for spec in PREOPEN_KINDS
        for step in ("evaluate", "branch")
    },
    **{f"monitoring.{spec.name}_healthy": "success" for spec in PREOPEN_KINDS},
    **{f"monitoring.train_{spec.name}": "skipped" for spec in PREOPEN_KINDS},
}
PREOPEN_ROUND = {
    **dict.fromkeys(
        ["is_session_day", "download_overnight_closes", "night", "serve_or_fallback"], "success"
    ),
    **PREOPEN_SERVING,
    "evening_answer_stands": "skipped",
    "process_preopen_outputs": "success",
    **PREOPEN_MONITORED,
    "refresh_preopen_report": "success",
}


# What each pre-open kind stores, by table: its served rows (5 forecasts or 1 signal a day) and
# its evaluations (one a day).
PREOPEN_SERVED = {"forecasts": 5, "signals": 1}
PREOPEN_TABLES = (*PREOPEN_SERVED, "lstm_model_evaluate", "svm_model_evaluate")


def per_kind(tables: str, times: int = 1) -> dict[str, int]:
    """The rows the pre-open kinds store in one round: ``tables`` "served" or "evaluations"."""
    found = dict.fromkeys(PREOPEN_SERVED if tables == "served" else PREOPEN_TABLES[2:], 0)
    for spec in PREOPEN_KINDS:
        if tables == "served":
            found[spec.serves] += PREOPEN_SERVED[spec.serves] * times
        else:
            found[spec.metric.table] += times
    return found


def preopen_counts(url: str) -> dict[str, int]:
    store = Store(url)
    found = {
        "overnight_closes": count(store, "overnight_closes"),
        **{table: len(rows(store, table, round="pre-open")) for table in PREOPEN_TABLES},
        "model_versions": count(store, "model_versions"),
        "weighted_index": count(store, "weighted_index"),
    }
    store.dispose()
    return found


@pytest.mark.realdata
def test_preopen_rounds_under_a_real_scheduler(tmp_path: Path, databases: tuple[str, str]) -> None:
    """The pre-open DAG on the real TAIEX days up to 2024-12-31 (as the evening DAG left them)
    and the real US closes of tests/data (a csv: source, no network): the round of 2025-01-02
    serves; 2025-01-01 is a holiday (nothing runs); the round of 2025-01-03 needs the US close
    of 2025-01-02, which the file lacks: it falls back, its serving tasks skipped, and succeeds."""
    metadata_url, taiex_url = databases
    stored = store_real_days(taiex_url, "2023-01-01", "2024-12-31")
    taiex_home = tmp_path / "taiex-home"  # config.toml only: the tasks work in scratch homes
    taiex_home.mkdir()
    (taiex_home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
    env = {
        **HEALTHY,
        "TAIEX_HOME": str(taiex_home),
        "TAIEX_REPORT_URL": str(tmp_path / "site"),
        "TAIEX_OVERNIGHT_SOURCE": f"csv:{US_CLOSES}",
        "AIRFLOW_CONN_TAIEX_DB": connection_uri(taiex_url),
    }
    with AirflowCluster.start(tmp_path / "airflow", metadata_url, env) as cluster:
        cluster.wait_for_dag(PREOPEN)
        # 07:30 in Taipei is 23:30 UTC the day before. Runs wait for each other (one at a time).
        served = cluster.trigger(PREOPEN, "2025-01-01T23:30:00Z")
        holiday = cluster.trigger(PREOPEN, "2024-12-31T23:30:00Z")
        for run_id, expected in ((served, PREOPEN_ROUND), (holiday, None)):
            run = cluster.wait(PREOPEN, run_id)
            states = cluster.task_states(PREOPEN, run_id)
            assert run["state"] == "success", (
                states,
                _failed_logs(cluster, run_id, states, PREOPEN),
            )
            if expected is None:  # not an XTAI session: every task but the check skipped
                expected = {**dict.fromkeys(PREOPEN_ROUND, "skipped"), "is_session_day": "success"}
            assert states == expected
        log = cluster.task_log(PREOPEN, holiday, "is_session_day")
        assert "2025-01-01 is not an XTAI session" in log
        after_round = preopen_counts(taiex_url)
        assert after_round == {
            "overnight_closes": 8548,  # the whole file
            **per_kind("served"),  # each pre-open kind's answer: next 5 opens, or a signal
            **per_kind("evaluations"),
            "model_versions": len(PREOPEN_KINDS),  # each one's first model
            "weighted_index": stored,
        }

        # Cleared, the round's steps run again and store nothing new.
        again = ["download_overnight_closes", "night", *PREOPEN_SERVING]
        cluster.clear(PREOPEN, served, again)
        assert cluster.wait(PREOPEN, served)["state"] == "success"
        assert preopen_counts(taiex_url) == after_round

        # The evening DAG stores 2025-01-02; the file has no US close of that day.
        store_real_days(taiex_url, "2025-01-02", "2025-01-02")
        fallback = cluster.trigger(PREOPEN, "2025-01-02T23:30:00Z")
        run = cluster.wait(PREOPEN, fallback)
        states = cluster.task_states(PREOPEN, fallback)
        assert run["state"] == "success", (states, _failed_logs(cluster, fallback, states, PREOPEN))
        assert states == {
            **PREOPEN_ROUND,
            **dict.fromkeys(PREOPEN_SERVING, "skipped"),
            "evening_answer_stands": "success",
        }
        log = cluster.task_log(PREOPEN, fallback, "serve_or_fallback")
        assert "the pre-open round of 2025-01-03 falls back" in log
        assert "no ^GSPC close for the US session of 2025-01-02" in log
        assert "The evening's answer stands" in log
        # Nothing served; monitoring ran on the new day.
        assert preopen_counts(taiex_url) == {
            **after_round,
            **per_kind("evaluations", times=2),
            "weighted_index": stored + 1,
        }


def _homes(cluster: AirflowCluster, run_id: str, tries: dict[str, Any]) -> dict[str, str]:
    homes = {}
    for task in STEP_TASKS:
        for attempt in range(1, tries[task] + 1):
            found = task_homes(cluster.task_log(DAG_ID, run_id, task, attempt))
            assert len(found) == 1, (task, attempt, found)
            homes[task if attempt == 1 else f"{task}#{attempt}"] = found[0]
    return homes


def _failed_logs(
    cluster: AirflowCluster, run_id: str, states: dict[str, Any], dag_id: str = DAG_ID
) -> str:
    logs = []
    for task, state in states.items():
        if state == "failed":
            try:
                logs.append(f"--- {task}\n{cluster.task_log(dag_id, run_id, task)[-4000:]}")
            except OSError as exc:
                logs.append(f"--- {task}: {exc}")
    return "\n".join(logs)
