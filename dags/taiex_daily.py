"""taiex_daily: the daily TAIEX job as an Airflow 3 DAG, at 15:30 Taipei time on weekdays.

    download_weighted_stock_price → save_to_database → merge_weighted_index
    → lstm_predict_task → svm_classification (each kind's serving task)
    → process_models_predict_outputs
    → monitoring: evaluate_<kind> → branch_<kind> → train_<kind> | <kind>_healthy
    → refresh_report

The kinds of model and their tasks come from ``taiex.kinds`` (standard library only, cheap to
parse); every model step gets the run's data day, so a cleared and rerun task computes what it
computed the first time.

This file only wires tasks: each one runs one step of ``taiex.pipeline``, imported inside the task
(the scheduler parses this file often; torch, pandas and scikit-learn stay out of that). The steps
are idempotent for a data day and hand each other small values (months, a load id, version names,
metrics); everything large stays in the database.

Configuration, from the environment:

- ``TAIEX_DB_URL``, else the Airflow connection ``taiex_db`` (type mysql, postgres or sqlite).
- ``TAIEX_AIRFLOW_IMAGE``: when set, the LSTM tasks run ``taiex step ...`` in that image
  (``docker/Dockerfile``) on the Docker host's GPUs instead of in the worker.
- every other ``TAIEX_*`` variable, as for the ``taiex`` command (and passed to the containers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import (
    BaseHook,
    Connection,
    CronTriggerTimetable,
    TriggerRule,
    XComArg,
    chain,
    dag,
    get_current_context,
    task,
    task_group,
)

from taiex.kinds import KINDS

TZ = "Asia/Taipei"
DB_CONN_ID = "taiex_db"
# Read at parse time: it is configuration (which operator to build), not work.
IMAGE = os.environ.get("TAIEX_AIRFLOW_IMAGE", "")
# Airflow connection types and the SQLAlchemy drivers of taiex's extras (mysql, postgres).
DRIVERS = {"mysql": "mysql+pymysql", "postgres": "postgresql+psycopg", "sqlite": "sqlite"}


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
    """``TAIEX_DB_URL``, else the ``taiex_db`` connection's URL; its password masked in logs."""
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    from taiex.store import url_password

    url = os.environ.get("TAIEX_DB_URL")
    if not url:
        try:
            url = connection_url(BaseHook.get_connection(DB_CONN_ID))
        except AirflowNotFoundException as exc:
            raise RuntimeError(
                f"no database: set TAIEX_DB_URL or create the Airflow connection {DB_CONN_ID!r}"
            ) from exc
    password = url_password(url)
    if password:
        mask_secret(password)
    return url


def data_day() -> dt.date:
    """The day a run loads as of: its logical date in Taipei, or when it was due for a manual run
    without one. Never the clock: a rerun of last Monday's run loads as of last Monday."""
    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(when).in_timezone(TZ).date()


def run_step(name: str, *args: Any) -> Any:
    """Run ``taiex.pipeline.<name>`` on the configured database and return its small result."""
    from taiex import pipeline
    from taiex.settings import Settings

    ctx = pipeline.Context.open(Settings.from_env().replace(db_url=db_url()))
    try:
        result = getattr(pipeline, name)(ctx, *args)
    finally:
        ctx.close()
    # The JSON that `taiex step` prints (dates as text), as a container task would push it.
    return json.loads(json.dumps(result, default=str))


def container_step(task_id: str, command: tuple[str, ...]) -> XComArg:
    """``taiex step <command>`` in the image, on every GPU of the Docker host."""
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import DeviceRequest, Mount

    environment = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("TAIEX_") and not key.startswith("TAIEX_AIRFLOW_")
    }
    # Rendered when the task runs (from TAIEX_DB_URL or the connection), so no password is
    # written into the serialized DAG; the rendered value is masked in the UI and logs.
    environment["TAIEX_DB_URL"] = "{{ taiex_db_url() }}"
    home = environment.get("TAIEX_HOME")
    operator = DockerOperator(
        task_id=task_id,
        image=IMAGE,
        entrypoint=["taiex"],
        command=["step", *command],
        environment=environment,
        device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
        # The worker's TAIEX_HOME at the same path: the same config.toml, plots and SQLite file.
        mounts=[Mount(target=home, source=home, type="bind")] if home else [],
        mount_tmp_dir=False,
        auto_remove="success",
        do_xcom_push=True,  # the last line of output: the step's JSON
    )
    return operator.output


def step_task(task_id: str, name: str, kind: str, *, container: bool) -> XComArg:
    """A kind's model step for the run's data day: in the image when the kind runs there and
    container mode is on, else in the worker."""
    if container and IMAGE:
        return container_step(task_id, (name, kind, "--day", "{{ taiex_data_day() }}"))

    def model_step() -> Any:
        return run_step(name, kind, data_day())

    return task(task_id=task_id)(model_step)()


# Tasks return Any, not dict: a Mapping annotation makes TaskFlow push one XCom per key.


@task
def download_weighted_stock_price() -> Any:
    """Fetch the months to load (the whole history on an empty database) into the raw cache;
    their list, ``["2026-07", "2026-08"]``."""
    return run_step("download", data_day())


@task
def save_to_database(months: list[str]) -> Any:
    """Stage the months' rows in weighted_index_temp; the load id."""
    return run_step("save_to_database", months, data_day())


@task
def merge_weighted_index(load_id: str) -> Any:
    """Merge the staged load into weighted_index in one transaction."""
    return run_step("merge", load_id)


@task
def process_models_predict_outputs() -> Any:
    """The forecast plot and the report, out before monitoring starts."""
    return run_step("draw_outputs")


@task.branch
def branch(evaluation: Any, kind: str) -> str:
    """Retrain the model when its evaluation says so, else pass."""
    # A container task's XCom is the JSON line it printed; a Python task's is the dict itself.
    result = json.loads(evaluation) if isinstance(evaluation, str) else evaluation
    return f"monitoring.train_{kind}" if result["retrain"] else f"monitoring.{kind}_healthy"


@task_group
def monitoring() -> None:
    """Per model: evaluate the champion on days it never saw, then retrain it or pass."""
    for spec in KINDS:
        kind, container = spec.name, spec.in_container
        evaluation = step_task(f"evaluate_{kind}", "evaluate", kind, container=container)
        choice = branch.override(task_id=f"branch_{kind}")(evaluation, kind)
        train = step_task(f"train_{kind}", "retrain", kind, container=container)
        choice >> [train, EmptyOperator(task_id=f"{kind}_healthy")]


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def refresh_report() -> Any:
    """The champions' signal and forecast again (a promotion changes them; otherwise nothing is
    added), then the report with today's evaluations and trials. One of each pair of monitoring
    tasks is always skipped: that is no failure."""
    return run_step("refresh", data_day())


@dag(
    dag_id="taiex_daily",
    # TWSE publishes the day's index after the 13:30 close; 15:30 leaves room for late revisions.
    schedule=CronTriggerTimetable("30 15 * * 1-5", timezone=TZ),
    start_date=pendulum.datetime(2025, 1, 1, tz=TZ),
    catchup=False,  # a missed day is loaded by the next run: it asks for the months since
    max_active_runs=1,  # the steps share one database and its load lock
    # A TWSE block, or the load lock held by a `taiex` command, passes within minutes.
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    user_defined_macros={"taiex_db_url": db_url, "taiex_data_day": data_day},
    tags=["taiex"],
    doc_md=__doc__,
)
def taiex_daily() -> None:
    # TaskFlow hands each task the value of the XComArg it is called with (mypy sees the XComArg).
    load_id = save_to_database(download_weighted_stock_price())  # type: ignore[arg-type]
    chain(
        merge_weighted_index(load_id),  # type: ignore[arg-type]
        *(step_task(s.serve_task, "serve", s.name, container=s.in_container) for s in KINDS),
        process_models_predict_outputs(),
        monitoring(),
        refresh_report(),
    )


taiex_daily()
