"""What the two TAIEX DAGs share (``taiex_daily``, the evening round, and ``taiex_preopen``, the
pre-open round): their configuration, the database, the scratch TAIEX_HOME of a task, the three
ways a model step runs (in the worker, under Docker, in a Kubernetes pod) and the monitoring
group. Not a DAG itself (.airflowignore): the DAG files import it (Airflow puts the DAGs folder
on the path).

Like the DAG files, parsing it imports Airflow and taiex's own light code only; each task imports
the rest of taiex when it runs.

Configuration, from the environment of the scheduler, the dag-processor and the workers:

- ``TAIEX_DB_URL``, else the Airflow connection ``taiex_db`` (type mysql, postgres or sqlite).
- ``TAIEX_REPORT_URL``: where the report page goes (a folder, or an fsspec URL such as s3://...).
- ``TAIEX_AIRFLOW_MODE``: where the model steps of a kind that runs in a container (the
  LSTM's, the pre-open forecaster's) run: ``local`` (default, in the worker),
  ``docker`` (DockerOperator) or ``kubernetes`` (KubernetesPodOperator), in the image
  ``TAIEX_AIRFLOW_IMAGE`` (default ``taiex:latest``, docker/Dockerfile).
- ``TAIEX_AIRFLOW_GPUS``: GPUs for those containers (a count or ``all``); unset asks for none.
- ``TAIEX_AIRFLOW_DOCKER_NETWORK``: the containers' Docker network (``host`` to reach a database
  on the Docker host's loopback); unset is Docker's default.
- ``TAIEX_AIRFLOW_K8S_SECRET`` (default ``taiex-db``): the Kubernetes Secret whose key
  ``TAIEX_DB_URL`` the pods read; ``TAIEX_AIRFLOW_K8S_NAMESPACE``: their namespace.
- ``TAIEX_TASK_TIMEOUT_NETWORK``, ``_LOAD``, ``_MODEL``, ``_FIT``, ``_REPORT``: each task's limit in
  minutes (README, "Airflow"), and ``TAIEX_TASK_RETRY_DELAY``, the minutes before a retry (but
  the downloads'), read at parse time from the scheduler's environment.
- every other ``TAIEX_*`` variable and ``config.toml``, as for the ``taiex`` command: the worker
  reads them, and hands the containers its settings as variables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import BaseHook, Connection, XComArg, get_current_context, task, task_group

from taiex.settings import TASK_TIMEOUTS, Settings

if TYPE_CHECKING:
    from taiex.kinds import KindSpec

try:  # the Task SDK has it from Airflow 3.2; Airflow 3.1 only in core
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]

__all__ = ["CronTriggerTimetable"]

log = logging.getLogger(__name__)

TZ = "Asia/Taipei"
DB_CONN_ID = "taiex_db"
MODES = ("local", "docker", "kubernetes")
# Read at parse time: they are configuration (which operators to build), not work.
MODE = os.environ.get("TAIEX_AIRFLOW_MODE", "") or "local"
IMAGE = os.environ.get("TAIEX_AIRFLOW_IMAGE", "") or "taiex:latest"
GPUS = os.environ.get("TAIEX_AIRFLOW_GPUS", "")
DOCKER_NETWORK = os.environ.get("TAIEX_AIRFLOW_DOCKER_NETWORK", "") or None
K8S_SECRET = os.environ.get("TAIEX_AIRFLOW_K8S_SECRET", "") or "taiex-db"
K8S_NAMESPACE = os.environ.get("TAIEX_AIRFLOW_K8S_NAMESPACE", "") or None
if MODE not in MODES:
    raise ValueError(f"TAIEX_AIRFLOW_MODE={MODE!r}: expected one of {', '.join(MODES)}")
if GPUS and GPUS != "all" and not (GPUS.isdigit() and int(GPUS) > 0):
    raise ValueError(f"TAIEX_AIRFLOW_GPUS={GPUS!r}: expected a count above 0 or 'all'")
# Airflow connection types and the SQLAlchemy drivers of taiex's extras (mysql, postgres).
DRIVERS = {"mysql": "mysql+pymysql", "postgres": "postgresql+psycopg", "sqlite": "sqlite"}
# Each task's limit (execution_timeout), from the TAIEX_TASK_TIMEOUT_* variables of the
# scheduler's environment, read at parse time like TAIEX_AIRFLOW_MODE (src/taiex/settings.py
# says where each default comes from). A task past its limit fails (and may retry): with
# max_active_runs=1 a step that hangs would otherwise block every later run. A step's writes
# are transactions of their own, so a step stopped halfway leaves what it found.
LIMITS = Settings.from_variables(
    (*(f"task_timeout_{group}" for group in TASK_TIMEOUTS), "task_retry_delay"), os.environ
)
TIMEOUT = {group: LIMITS.task_timeout(group) for group in TASK_TIMEOUTS}


class TaskLimits(TypedDict, total=False):
    """The operator arguments that bound a task and retry it."""

    execution_timeout: dt.timedelta
    retries: int
    retry_delay: dt.timedelta
    retry_exponential_backoff: float
    max_retry_delay: dt.timedelta


# Both DAGs, the tasks below without limits of their own (save, merge, the reports, the round's
# night, the branches): retried twice, TAIEX_TASK_RETRY_DELAY (5) minutes apart, as before. A
# save or merge refused by the load lock that a `taiex` command holds passes within minutes; a
# report may go to an object store (TAIEX_REPORT_URL); the others are light and retry at no cost.
# The model tasks' one retry waits as long (MODEL_ARGS).
DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=LIMITS.task_retry_delay),
    "execution_timeout": TIMEOUT["model"],
}
# The tasks that fetch from TWSE or the US-close source: a source that blocks or fails passes
# within minutes, and each try asks it less often (1, then 2 minutes; 10 at most). 2.0 is the
# multiplier of Airflow 3.2+ (True would be 1.0 there: no backoff); Airflow 3.1 reads it as true.
NETWORK_ARGS: TaskLimits = {
    "execution_timeout": TIMEOUT["network"],
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=10),
}
LOAD_ARGS: TaskLimits = {"execution_timeout": TIMEOUT["load"]}
REPORT_ARGS: TaskLimits = {"execution_timeout": TIMEOUT["report"]}
# The model steps retry once: for a worker lost mid-step (a fit that failed or hung would most
# likely do so again, and a second try of 45 minutes is enough to wait). A serving task trains
# the first model on a database with none: it has a fit's limit.
MODEL_ARGS: dict[str, TaskLimits] = {
    "serve": {"execution_timeout": TIMEOUT["fit"], "retries": 1},
    "evaluate": {"execution_timeout": TIMEOUT["model"], "retries": 1},
    "retrain": {"execution_timeout": TIMEOUT["fit"], "retries": 1},
}
# Notifications (TAIEX_NOTIFY_URLS, taiex.notify): a task that fails for good, and the day's
# events when the last task of a DAG (the report's refresh) succeeds.
LAST_TASKS = {"taiex_daily": "refresh_report", "taiex_preopen": "refresh_preopen_report"}


def _round_of(context: Any) -> str:
    return "pre-open" if context["dag"].dag_id == "taiex_preopen" else "evening"


def notify_failure(context: Any) -> None:
    """on_failure_callback: ``failed`` with the task and its error's first line. Never raises."""
    try:
        from taiex import notify
        from taiex.settings import Settings

        settings = Settings.from_env()
        if not settings.notify_urls:
            return
        step = f"{context['dag'].dag_id}.{context['ti'].task_id}"
        error = context.get("exception") or "failed"
        notify.send(settings, [notify.failed(_round_of(context), step, error)])
    except Exception as exc:  # a notification never fails anything
        log.warning("no failure notification: %s", type(exc).__name__)


def notify_day(context: Any) -> None:
    """on_success_callback: after the DAG's last task, the round's events (promotions, a changed
    signal, stale data, the summary) since the run started. Never raises."""
    try:
        dag_id, task_id = context["dag"].dag_id, context["ti"].task_id
        if LAST_TASKS.get(dag_id) != task_id:
            return
        from taiex.settings import Settings

        if not Settings.from_env().notify_urls:
            return
        run = context["dag_run"]
        when = context.get("logical_date") or run.run_after
        day = pendulum.instance(when).in_timezone(TZ).date()
        fallback = None
        if dag_id == "taiex_preopen":
            night = context["ti"].xcom_pull(task_ids="night") or {}
            fallback = night.get("fallback")
        since = pendulum.instance(run.start_date).in_timezone("UTC").replace(tzinfo=None)
        sent = run_step(
            "dag_events",
            _round_of(context),
            day.isoformat(),
            since.isoformat(),
            fallback,
            module="taiex.notify",
        )
        log.info("notifications sent: %s", ", ".join(sent) or "none")
    except Exception as exc:  # a notification never fails anything
        log.warning("no notification of the day's events: %s: %s", type(exc).__name__, exc)


DEFAULT_ARGS.update(on_failure_callback=notify_failure, on_success_callback=notify_day)


def connection_url(conn: Connection) -> str:
    """The SQLAlchemy URL of an Airflow connection (a sqlite one names its file as host or path;
    extras are not used)."""
    from taiex.store import build_url

    if conn.conn_type not in DRIVERS:
        raise ValueError(
            f"connection {conn.conn_id!r} has type {conn.conn_type!r}; taiex supports "
            + ", ".join(DRIVERS)
        )
    if conn.conn_type == "sqlite":
        return build_url("sqlite", database=conn.host or conn.schema)
    return build_url(
        DRIVERS[conn.conn_type],
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
    )


def db_url() -> str:
    """``TAIEX_DB_URL``, else the ``taiex_db`` connection's URL; its password masked in logs.

    The password is masked before anything parses the URL: a malformed URL whose parse fails
    must not reach a log with its password in clear.
    """
    from airflow.sdk.log import mask_secret

    from taiex.settings import url_password

    url = os.environ.get("TAIEX_DB_URL")
    if not url:
        try:
            url = connection_url(BaseHook.get_connection(DB_CONN_ID))
        except _not_found() as exc:
            raise RuntimeError(
                f"no database: set TAIEX_DB_URL or create the Airflow connection {DB_CONN_ID!r}"
            ) from exc
    for password in {url_password(url), url_password(url, raw=True)} - {None}:
        mask_secret(password)
    return url


def _not_found() -> type[Exception]:
    """What BaseHook.get_connection raises for an unknown connection."""
    try:  # the Task SDK's from Airflow 3.2
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # pragma: no cover - Airflow 3.1
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]
    return AirflowNotFoundException  # type: ignore[no-any-return]


def run_day() -> dt.date:
    """The run's day: its logical date in Taipei, or when it was due for a manual run without
    one. Never the clock: a rerun of last Monday's run acts as of last Monday."""
    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(when).in_timezone(TZ).date()


@contextlib.contextmanager
def scratch_home() -> Iterator[Path]:
    """A new empty folder for this task's TAIEX_HOME, removed when it ends: nothing a task leaves
    on its worker's disk can reach another task (only the database is shared)."""
    home = Path(tempfile.mkdtemp(prefix="taiex-task-"))
    log.info("TAIEX_HOME for this task: %s (new, empty)", home)
    try:
        yield home
    finally:
        left = sum(1 for _ in home.rglob("*"))
        shutil.rmtree(home, ignore_errors=True)
        log.info("TAIEX_HOME %s removed (%d entries in it)", home, left)


def run_step(name: str, *args: Any, module: str = "taiex.pipeline", **kwargs: Any) -> Any:
    """Run the step ``<module>.<name>`` (``taiex.pipeline``'s by default) on the configured
    database, in a scratch TAIEX_HOME, and return its small result."""
    from taiex import pipeline
    from taiex.settings import Settings

    # The configured TAIEX_HOME still gives config.toml and, when TAIEX_REPORT_URL is unset, the
    # report's folder: a one-machine deployment keeps its page where it was.
    settings = Settings.from_env()
    settings = settings.replace(db_url=db_url(), report_url=settings.report_location)
    step = getattr(importlib.import_module(module), name)
    with scratch_home() as home:
        ctx = pipeline.Context.open(settings.replace(home=home))
        try:
            result = step(ctx, *args, **kwargs)
        finally:
            ctx.close()
    # The JSON that `taiex step` prints (dates as text), as a container task would push it.
    return json.loads(json.dumps(result, default=str))


def container_environment() -> dict[str, str]:
    """The worker's settings as variables for a container (no TAIEX_HOME: the image has its own
    scratch; no database URL: each mode hands that over its own secret way)."""
    from taiex.settings import Settings

    settings = Settings.from_env()
    return settings.replace(report_url=settings.report_location).to_environ()


def gpu_count() -> int:
    """``TAIEX_AIRFLOW_GPUS`` as Docker counts them (-1: all); 0 when unset."""
    return -1 if GPUS == "all" else int(GPUS or 0)


def docker_step(task_id: str, command: tuple[str, ...], limits: TaskLimits) -> XComArg:
    """``taiex step <command>`` in the image under Docker, with no host folder mounted."""
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import DeviceRequest

    class TaiexDockerOperator(DockerOperator):  # type: ignore[misc]
        """Settings read when the task runs, on the worker (not when the DAG is parsed); the
        database URL as a private variable, never rendered in the UI."""

        def execute(self, context: Any) -> Any:
            self.environment = container_environment()
            self._private_environment = {"TAIEX_DB_URL": db_url()}
            return super().execute(context)

    gpus = gpu_count()
    operator = TaiexDockerOperator(
        task_id=task_id,
        image=IMAGE,
        entrypoint=["taiex"],
        command=["step", *command],
        user="50000",
        network_mode=DOCKER_NETWORK,
        device_requests=[DeviceRequest(count=gpus, capabilities=[["gpu"]])] if gpus else None,
        mounts=[],
        mount_tmp_dir=False,
        auto_remove="success",
        do_xcom_push=True,  # the last line of output: the step's JSON
        **limits,
    )
    return operator.output


def kubernetes_step(task_id: str, command: tuple[str, ...], limits: TaskLimits) -> XComArg:
    """``taiex step <command>`` in the image, in a pod: the database URL from a Secret."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    class TaiexPodOperator(KubernetesPodOperator):  # type: ignore[misc]
        """Settings read when the task runs, on the worker (not when the DAG is parsed)."""

        def execute(self, context: Any) -> Any:
            self.env_vars = [
                k8s.V1EnvVar(name=name, value=value)
                for name, value in container_environment().items()
            ]
            return super().execute(context)

    # The pod's XCom is the file /airflow/xcom/return.json; the step's JSON goes there and to the
    # log. `set -e` makes a failed step fail the pod.
    script = "set -e; taiex step {0} > /airflow/xcom/return.json; cat /airflow/xcom/return.json"
    gpus = GPUS if GPUS != "all" else "1"  # Kubernetes has no "all": one GPU per pod
    operator = TaiexPodOperator(
        task_id=task_id,
        name=f"taiex-{task_id.rsplit('.', 1)[-1].replace('_', '-')}",
        namespace=K8S_NAMESPACE,
        image=IMAGE,
        cmds=["/bin/sh", "-c"],
        arguments=[script.format(" ".join(command))],
        secrets=[Secret("env", "TAIEX_DB_URL", K8S_SECRET, "TAIEX_DB_URL")],  # type: ignore[no-untyped-call]
        container_resources=(
            k8s.V1ResourceRequirements(limits={"nvidia.com/gpu": gpus}) if GPUS else None
        ),
        security_context=k8s.V1PodSecurityContext(run_as_user=50000, run_as_non_root=True),
        do_xcom_push=True,
        get_logs=True,
        on_finish_action="delete_pod",
        **limits,
    )
    return operator.output


def step_task(
    task_id: str, name: str, kind: str, day: Callable[[], dt.date], *, container: bool
) -> XComArg:
    """A kind's model step for the run's data day (``day()`` in the worker, the DAG's macro
    ``taiex_data_day`` in a container's command): in the image when the kind runs there and a
    container mode is on, else in the worker."""
    command = (name, kind, "--day", "{{ taiex_data_day() }}")
    limits = MODEL_ARGS[name]
    if container and MODE == "docker":
        return docker_step(task_id, command, limits)
    if container and MODE == "kubernetes":
        return kubernetes_step(task_id, command, limits)

    def model_step() -> Any:
        return run_step(name, kind, day())

    return task(task_id=task_id, **limits)(model_step)()


@task.branch
def branch(evaluation: Any, kind: str) -> str:
    """Retrain the model when its evaluation says so, else pass."""
    # A container task's XCom is the JSON line it printed; a Python task's is the dict itself.
    result = json.loads(evaluation) if isinstance(evaluation, str) else evaluation
    return f"monitoring.train_{kind}" if result["retrain"] else f"monitoring.{kind}_healthy"


@task_group
def monitoring(kinds: Sequence[KindSpec], day: Callable[[], dt.date]) -> None:
    """Per model: evaluate the champion on days it never saw, then retrain it or pass (a promoted
    challenger stores its answer for the next session at once)."""
    for spec in kinds:
        kind, container = spec.name, spec.in_container
        evaluation = step_task(f"evaluate_{kind}", "evaluate", kind, day, container=container)
        choice = branch.override(task_id=f"branch_{kind}")(evaluation, kind)
        train = step_task(f"train_{kind}", "retrain", kind, day, container=container)
        choice >> [train, EmptyOperator(task_id=f"{kind}_healthy")]
