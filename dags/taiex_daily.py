"""taiex_daily: the daily TAIEX job as an Airflow 3 DAG, at 15:30 Taipei time on weekdays.

    download_weighted_stock_price → save_to_database → merge_weighted_index
    → lstm_predict_task → classifier_predict_task (each kind's serving task)
    → process_models_predict_outputs
    → monitoring: evaluate_<kind> → branch_<kind> → train_<kind> | <kind>_healthy
    → refresh_report

The kinds of model and their tasks come from ``taiex.kinds`` (standard library only, cheap to
parse); every model step gets the run's data day, so a cleared and rerun task computes what it
computed the first time.

This file only wires tasks: each one runs one step of ``taiex.pipeline``, imported inside the task
(the scheduler parses this file often: it needs taiex's own code for ``taiex.kinds``, never torch,
scikit-learn or pandas). The steps are idempotent for a data day and hand each other small values
(months, a load id, version names, metrics); everything else goes through the database, so tasks
may run on any worker: each one works in a fresh, empty ``TAIEX_HOME`` of its own, removed when
it ends.

Configuration: as for ``taiex_preopen``, from the environment of the scheduler, the
dag-processor and the workers (``TAIEX_DB_URL`` or the connection ``taiex_db``,
``TAIEX_AIRFLOW_MODE`` and the rest): see ``taiex_dag_common``, the code both DAG files share.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import TriggerRule, chain, dag, task

from taiex.kinds import KINDS
from taiex_dag_common import (
    DEFAULT_ARGS,
    LOAD_ARGS,
    NETWORK_ARGS,
    REPORT_ARGS,
    TZ,
    CronTriggerTimetable,
    monitoring,
    run_day,
    run_step,
    step_task,
)


def data_day() -> dt.date:
    """The day a run loads as of: its logical date in Taipei, or when it was due for a manual run
    without one. Never the clock: a rerun of last Monday's run loads as of last Monday."""
    return run_day()


# Tasks return Any, not dict: a Mapping annotation makes TaskFlow push one XCom per key.


@task(**NETWORK_ARGS)
def download_weighted_stock_price() -> Any:
    """Fetch the months to load (the whole history on an empty database) and store TWSE's
    responses verbatim in the database; their list, ``["2026-07", "2026-08"]``."""
    return run_step("download", data_day())


@task(**LOAD_ARGS)
def save_to_database(months: list[str]) -> Any:
    """Stage the months' rows, from the stored responses, in weighted_index_temp; the load id."""
    return run_step("save_to_database", months, data_day())


@task(**LOAD_ARGS)
def merge_weighted_index(load_id: str) -> Any:
    """Merge the staged load into weighted_index in one transaction."""
    return run_step("merge", load_id)


@task(**REPORT_ARGS)
def process_models_predict_outputs() -> Any:
    """The forecast figure and the report, out before monitoring starts."""
    return run_step("draw_outputs")


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **REPORT_ARGS)
def refresh_report() -> Any:
    """The report again, with today's evaluations and trials. One of each pair of monitoring
    tasks is always skipped: that is no failure."""
    return run_step("draw_outputs")


@dag(
    dag_id="taiex_daily",
    # TWSE publishes the day's index after the 13:30 close; 15:30 leaves room for late revisions.
    schedule=CronTriggerTimetable("30 15 * * 1-5", timezone=TZ),
    start_date=pendulum.datetime(2025, 1, 1, tz=TZ),
    catchup=False,  # a missed day is loaded by the next run: it asks for the months since
    max_active_runs=1,  # the steps share one database and its load lock
    # Retries and limits: taiex_dag_common (the download, the models' and the reports' own).
    default_args=dict(DEFAULT_ARGS),
    user_defined_macros={"taiex_data_day": data_day},
    tags=["taiex"],
    doc_md=__doc__,
)
def taiex_daily() -> None:
    # TaskFlow hands each task the value of the XComArg it is called with (mypy sees the XComArg).
    load_id = save_to_database(download_weighted_stock_price())  # type: ignore[arg-type]
    chain(
        merge_weighted_index(load_id),  # type: ignore[arg-type]
        *(
            step_task(s.serve_task, "serve", s.name, data_day, container=s.in_container)
            for s in KINDS
        ),
        process_models_predict_outputs(),
        monitoring(KINDS, data_day),
        refresh_report(),
    )


taiex_daily()
