"""Run by tests/test_dag.py in a subprocess, with AIRFLOW_HOME and the rest of the environment set:
Airflow reads its configuration once, at import, and must not touch the caller's ~/airflow.

    python tests/airflow_probe.py describe          the parsed DAG as JSON
    python tests/airflow_probe.py run YYYY-MM-DD    dag.test() for that day's 15:30 in Taipei
    python tests/airflow_probe.py db-url            the database URL the tasks would use
    python tests/airflow_probe.py branch            where the branches go for given XComs

Each prints one line of JSON, the last line on stdout (Airflow logs there too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# Parsing may import taiex.kinds (standard library only), nothing heavy (Airflow itself brings
# SQLAlchemy).
HEAVY = (
    "torch",
    "sklearn",
    "pandas",
    "numpy",
    "matplotlib",
    "taiex.models",
    "taiex.pipeline",
    "taiex.store",
)
DAG_ID = "taiex_daily"


def load_dag() -> tuple[Any, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    return bag.dags.get(DAG_ID), dict(bag.import_errors)


def describe() -> dict[str, Any]:
    dag, errors = load_dag()
    # Right after parsing, before anything below imports more.
    heavy = sorted(name for name in HEAVY if name in sys.modules)
    if dag is None:
        return {"import_errors": errors, "heavy_modules": heavy, "dag": None}
    timetable = dag.timetable
    return {
        "import_errors": errors,
        "heavy_modules": heavy,
        "dag": {
            "schedule": getattr(timetable, "expression", None),
            "timetable": type(timetable).__name__,
            "timezone": str(getattr(timetable.timezone, "name", timetable.timezone)),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "retries": dag.default_args.get("retries"),
            "retry_delay": dag.default_args["retry_delay"].total_seconds(),
        },
        "tasks": {task.task_id: _task(dag, task) for task in dag.tasks},
    }


def _task(dag: Any, task: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "type": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "retries": task.retries,
        "retry_delay": task.retry_delay.total_seconds(),
    }
    if facts["type"] == "DockerOperator":
        template = dag.get_template_env()
        environment = {
            key: template.from_string(value).render(**dag.user_defined_macros)
            for key, value in task.environment.items()
        }
        facts.update(
            image=task.image,
            entrypoint=task.entrypoint,
            command=task.command,
            environment_templates=dict(task.environment),
            environment=environment,
            device_requests=[dict(request) for request in task.device_requests],
            mounts=[dict(mount) for mount in task.mounts],
            do_xcom_push=task.do_xcom_push,
        )
    return facts


def run(day: str) -> dict[str, Any]:
    import pendulum
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag, errors = load_dag()
    if dag is None:
        return {"import_errors": errors}
    for task in dag.tasks:
        task.retries = 0  # a failure shows at once instead of waiting for the retry delay
    started = time.perf_counter()
    run = dag.test(logical_date=pendulum.parse(f"{day}T15:30:00", tz="Asia/Taipei"))
    seconds = time.perf_counter() - started
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id
            )
        ).all()
        xcoms = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.key == "return_value",
            )
        ).all()
        return {
            "state": str(run.state),
            "seconds": round(seconds, 1),
            "tasks": {ti.task_id: str(ti.state) for ti in instances},
            "xcoms": {x.task_id: XComModel.deserialize_value(x) for x in xcoms},
        }


def dag_module() -> Any:
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    import taiex_daily

    return taiex_daily


def db_url() -> dict[str, Any]:
    taiex_daily = dag_module()
    try:
        return {"url": taiex_daily.db_url()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def branch() -> dict[str, Any]:
    """The branch's choice for an evaluation as a Python task pushes it (a dict) and as a
    container task does (the JSON line it printed)."""
    choose = dag_module().branch.function
    results = {}
    for retrain in (True, False):
        evaluation = {"metric": 1.5, "retrain": retrain, "reason": "評估"}
        results[f"dict-{retrain}"] = choose(evaluation, "lstm")
        results[f"json-{retrain}"] = choose(json.dumps(evaluation, ensure_ascii=False), "lstm")
    return results


def main() -> None:
    command, *args = sys.argv[1:]
    commands: dict[str, Callable[[], dict[str, Any]]] = {
        "describe": describe,
        "run": lambda: run(*args),
        "db-url": db_url,
        "branch": branch,
    }
    result = commands[command]()
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
