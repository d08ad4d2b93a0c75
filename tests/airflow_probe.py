"""Run by tests/test_dag.py in a subprocess, with AIRFLOW_HOME and the rest of the environment set:
Airflow reads its configuration once, at import, and must not touch the caller's ~/airflow.

    python tests/airflow_probe.py describe          the parsed DAG as JSON
    python tests/airflow_probe.py parse             import errors and each DAG's number of tasks
    python tests/airflow_probe.py run YYYY-MM-DD [HH:MM]
                                                    dag.test() for that day's 15:30 (or HH:MM)
                                                    in Taipei; with TAIEX_PROBE_HANG=TABLE a
                                                    step hangs in its first write to TABLE
    python tests/airflow_probe.py db-url            the database URL the tasks would use
    python tests/airflow_probe.py branch            where the branches go for given XComs
    python tests/airflow_probe.py container-env     the variables a container task hands over
    python tests/airflow_probe.py skops-warnings    warnings of a classifier's save and load

The DAG is TAIEX_PROBE_DAG's (default taiex_daily). Each prints one line of JSON, the last line
on stdout (Airflow logs there too).
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
DAG_ID = os.environ.get("TAIEX_PROBE_DAG", "") or "taiex_daily"


def load_bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    # As Airflow's dag-processor and task runner do: the DAG files import their shared module.
    if folder not in sys.path:
        sys.path.append(folder)
    return DagBag(folder)


def load_dag() -> tuple[Any, dict[str, str]]:
    bag = load_bag()
    return bag.dags.get(DAG_ID), dict(bag.import_errors)


def parse() -> dict[str, Any]:
    bag = load_bag()
    tasks = {dag_id: len(dag.tasks) for dag_id, dag in sorted(bag.dags.items())}
    return {"import_errors": dict(bag.import_errors), "tasks": tasks}


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
            "schedule": getattr(timetable, "expression", None) or timetable._expression,
            "timetable": type(timetable).__name__,
            "timezone": _timezone(timetable),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "retries": dag.default_args.get("retries"),
            "retry_delay": dag.default_args["retry_delay"].total_seconds(),
        },
        "tasks": {task.task_id: _task(dag, task) for task in dag.tasks},
    }


def _timezone(timetable: Any) -> str:
    zone = getattr(timetable, "timezone", None) or timetable._timezone  # Airflow 3.1: private
    return str(getattr(zone, "name", zone))


def _task(dag: Any, task: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "type": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "retries": task.retries,
        "retry_delay": task.retry_delay.total_seconds(),
        "execution_timeout": _seconds(task.execution_timeout),
        "retry_exponential_backoff": float(task.retry_exponential_backoff),
        "max_retry_delay": _seconds(task.max_retry_delay),
        "worker": _needs_worker(task),
    }
    if facts["type"] == "TaiexDockerOperator":
        facts.update(
            image=task.image,
            entrypoint=task.entrypoint,
            command=task.command,
            user=task.user,
            network_mode=task.network_mode,
            environment=dict(task.environment),  # set when the task runs: see container-env
            device_requests=[dict(request) for request in task.device_requests or []],
            mounts=[dict(mount) for mount in task.mounts],
            do_xcom_push=task.do_xcom_push,
        )
    if facts["type"] == "TaiexPodOperator":
        facts.update(pod=_pod(task), do_xcom_push=task.do_xcom_push)
    return facts


def _needs_worker(task: Any) -> bool:
    """Whether the scheduler sends the task to a worker (else it marks it succeeded at once:
    an EmptyOperator without callbacks, inlets or outlets)."""
    from airflow.models.taskinstance import TaskInstance

    if hasattr(TaskInstance, "is_task_schedulable"):
        return bool(TaskInstance.is_task_schedulable(task))
    # Airflow 3.1: the same rule, inline in DagRun.schedule_tis.
    return not task.inherits_from_empty_operator or bool(
        task.on_execute_callback or task.on_success_callback or task.outlets or task.inlets
    )


def _seconds(delay: Any) -> float | None:
    return None if delay is None else float(getattr(delay, "total_seconds", lambda: delay)())


def _pod(task: Any) -> dict[str, Any]:
    """The pod the operator would ask Kubernetes for, as JSON (no cluster is needed to build it),
    with the environment its execute() sets."""
    from kubernetes.client import ApiClient
    from kubernetes.client import models as k8s

    module = sys.modules[type(task).__module__]
    task.env_vars = [
        k8s.V1EnvVar(name=name, value=value)
        for name, value in module.container_environment().items()
    ]
    pod = task.build_pod_request_obj()
    return ApiClient().sanitize_for_serialization(pod)  # type: ignore[no-any-return]


def container_env() -> dict[str, Any]:
    """What a container task hands its container, read on the worker when it runs."""
    return dag_module().container_environment()  # type: ignore[no-any-return]


def run(day: str, time_of_day: str = "15:30") -> dict[str, Any]:
    """dag.test() for ``day``'s 15:30 (or ``time_of_day``) in Taipei, the clock moved there: the
    day a run loads as of is its logical date, but a fetch is stamped with the real day, which
    must be that day."""
    import pendulum
    import time_machine
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag, errors = load_dag()
    if dag is None:
        return {"import_errors": errors}
    for task in dag.tasks:
        task.retries = 0  # a failure shows at once instead of waiting for the retry delay
    if os.environ.get("TAIEX_PROBE_HANG"):
        plant_hang(os.environ["TAIEX_PROBE_HANG"])
    started = time.perf_counter()
    logical = pendulum.parse(f"{day}T{time_of_day}:00", tz="Asia/Taipei")
    with time_machine.travel(logical.add(minutes=1)):
        run = dag.test(logical_date=logical)
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
            "durations": {ti.task_id: ti.duration for ti in instances},
            "xcoms": {x.task_id: XComModel.deserialize_value(x) for x in xcoms},
        }


def plant_hang(table: str) -> None:
    """A step that hangs halfway through its write: after its first INSERT into ``table``, inside
    the transaction, the step sleeps far past any limit (tasks run in this process under
    dag.test(), so the hook reaches them); the task's execution_timeout must stop it."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def hang(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            time.sleep(600)

    event.listen(Engine, "after_cursor_execute", hang)


def dag_module() -> Any:
    """The module the DAG files share (the container tasks, the database URL, the branches)."""
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    import taiex_dag_common

    return taiex_dag_common


def db_url() -> dict[str, Any]:
    """The URL, and the URL as Airflow's secrets masker would log it."""
    try:
        from airflow.sdk.log import _secrets_masker
    except ImportError:  # Airflow 3.1: the Task SDK keeps it in its shared package
        from airflow.sdk._shared.secrets_masker import _secrets_masker

    common = dag_module()
    try:
        url = common.db_url()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"url": url, "logged": _secrets_masker().redact(url)}


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


class Blocker:
    """Makes the packages named in TAIEX_PROBE_BLOCK unimportable: a scheduler with the slim
    install (Airflow alone) has none of them."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if any(name == blocked or name.startswith(f"{blocked}.") for blocked in self.names):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the probe)")


def skops_warnings() -> dict[str, Any]:
    """The warnings a classifier's save and load set off in a process where Airflow is loaded,
    as in a task: Airflow's deprecation shims are what skops' module walk used to wake."""
    import warnings

    import airflow.providers.common.compat
    import airflow.sdk  # noqa: F401
    from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: F401

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from taiex.models.classifier import EntrySignalClassifier
    from taiex.models.classifier_config import ClassifierConfig
    from tests.series import TINY_MODELS, synthetic_history

    config = ClassifierConfig.from_dict(TINY_MODELS["classifier"])
    model = EntrySignalClassifier(config).fit(synthetic_history(n=300, seed=3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = EntrySignalClassifier.from_bytes(model.to_bytes())
    return {
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "loaded": type(loaded).__name__,
        "torch": "torch" in sys.modules,
    }


def main() -> None:
    blocked = [n for n in os.environ.get("TAIEX_PROBE_BLOCK", "").split(",") if n]
    if blocked:
        sys.meta_path.insert(0, Blocker(blocked))  # type: ignore[arg-type]
    command, *args = sys.argv[1:]
    commands: dict[str, Callable[[], dict[str, Any]]] = {
        "describe": describe,
        "parse": parse,
        "run": lambda: run(*args),
        "db-url": db_url,
        "branch": branch,
        "container-env": container_env,
        "skops-warnings": skops_warnings,
    }
    result = commands[command]()
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
