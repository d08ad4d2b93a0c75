"""taiex_preopen: the pre-open round as an Airflow 3 DAG, at 07:30 Taipei time (TAIEX_PREOPEN_TIME)
on XTAI sessions (docs/design.md, "Two rounds a day").

    is_session_day → download_overnight_closes → night → serve_or_fallback
    → preopen_forecaster_predict_task (each pre-open kind's serving task) | evening_answer_stands
    → process_preopen_outputs
    → monitoring: evaluate_<kind> → branch_<kind> → train_<kind> | <kind>_healthy
    → refresh_preopen_report

A run is the round for the XTAI session of its day (its logical date in Taipei). Its schedule
runs on weekdays; ``is_session_day`` skips every other task of a run whose day is not an XTAI
session (a holiday): that run succeeds and does nothing. ``download_overnight_closes`` fetches
the US closes published by the round's time from ``TAIEX_OVERNIGHT_SOURCE`` and stores them in
one idempotent transaction (fetch and store are one step: what was fetched is never handed to
another worker, and a rerun asks again for the last days a source may revise). A source that
still fails on the last try leaves what is stored and says why. ``night`` finds the origin (the
last stored TAIEX day before the session) and the night's moves, and decides: when a close the
round may know is not stored, or the evening's data is missing, the round falls back, the
evening's answer stands and ``serve_or_fallback`` says why in its log and skips the serving
tasks (skipped, not failed: the run succeeds). Monitoring and the report run either way.

The pre-open kinds and their tasks come from ``taiex.kinds.PREOPEN_KINDS``. Every model step gets
the run's data day, the day before the session (the stored days up to it end at the origin), so a
cleared and rerun task computes what it computed the first time. The round loads no TWSE data:
the evening DAG ``taiex_daily`` does; this DAG shares its database and nothing else, and runs the
same way (``TAIEX_AIRFLOW_MODE``: a kind that runs in a container runs in the image; see
``taiex_dag_common``).

The schedule's time is ``TAIEX_PREOPEN_TIME`` (default 07:30) as the scheduler's environment
gives it, read when this file is parsed (a config.toml is read by the workers only: give the
scheduler the same value). The workers compute the round's time from their own settings.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

import pendulum
from airflow.sdk import TriggerRule, chain, dag, get_current_context, task

from taiex.kinds import PREOPEN_KINDS
from taiex.settings import Settings
from taiex_dag_common import (
    DEFAULT_ARGS,
    NETWORK_ARGS,
    REPORT_ARGS,
    TZ,
    CronTriggerTimetable,
    monitoring,
    passing,
    run_day,
    run_step,
    step_task,
)

log = logging.getLogger(__name__)

ROUND = "taiex.preopen_run"  # the module of the round's own steps
# Read at parse time, checked as taiex checks it (HH:MM before the 09:00 open).
PREOPEN = Settings(preopen_time=os.environ.get("TAIEX_PREOPEN_TIME", "") or "07:30").preopen
FALLBACK = "evening_answer_stands"


def session_day() -> dt.date:
    """The XTAI session a run is the round for: its day in Taipei (never the clock)."""
    return run_day()


def data_day() -> dt.date:
    """The day before the session: the model steps use the stored days up to it, whose last is
    the round's origin (the evening's data day)."""
    return session_day() - dt.timedelta(days=1)


# Tasks return Any, not dict: a Mapping annotation makes TaskFlow push one XCom per key.


@task.short_circuit
def is_session_day() -> bool:
    """Whether the run's day is an XTAI session; on another day the run skips every task."""
    from taiex.calendar import sessions_between

    day = session_day()
    if sessions_between(day, day) == [day]:
        return True
    log.info("%s is not an XTAI session: no pre-open round, every task is skipped", day)
    return False


@task(**NETWORK_ARGS)
def download_overnight_closes() -> Any:
    """Fetch and store the US closes the round may know. A failing source fails the task while
    it has tries left (so that it is retried); on the last it says why and the round falls back."""
    context = get_current_context()
    last_try = context["ti"].try_number > (context["task"].retries or 0)
    return run_step("overnight_step", session_day(), module=ROUND, strict=not last_try)


@task
def night(overnight: Any) -> Any:
    """The origin, the night's moves, and the fallback's reason (None: the round serves)."""
    return run_step("night_step", session_day(), overnight["error"], module=ROUND)


@task.branch
def serve_or_fallback(night: Any) -> str:
    """Serve each pre-open kind, or let the evening's answer stand (saying why)."""
    if night["fallback"] is None:
        return PREOPEN_KINDS[0].serve_task
    log.warning(
        "the pre-open round of %s falls back: %s. The evening's answer stands: the serving tasks "
        "(%s) are skipped.",
        night["session"],
        night["fallback"],
        ", ".join(spec.serve_task for spec in PREOPEN_KINDS),
    )
    return FALLBACK


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **REPORT_ARGS)
def process_preopen_outputs() -> Any:
    """The forecast figure and the report with the round's answer, out before monitoring."""
    return run_step("draw_outputs")


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **REPORT_ARGS)
def refresh_preopen_report() -> Any:
    """The report again, with the round's evaluations and trials. One of each pair of monitoring
    tasks is always skipped: that is no failure."""
    return run_step("draw_outputs")


@dag(
    dag_id="taiex_preopen",
    # The US closes are out by 05:30 Taipei; TAIEX opens at 09:00. Weekdays: is_session_day
    # skips the holidays.
    schedule=CronTriggerTimetable(f"{PREOPEN.minute} {PREOPEN.hour} * * 1-5", timezone=TZ),
    start_date=pendulum.datetime(2025, 1, 1, tz=TZ),
    catchup=False,  # a missed round is gone: the next session's is another round
    max_active_runs=1,  # the steps share one database and its locks
    default_args=dict(DEFAULT_ARGS),
    user_defined_macros={"taiex_data_day": data_day},
    tags=["taiex"],
    doc_md=__doc__,
)
def taiex_preopen() -> None:
    # TaskFlow hands each task the value of the XComArg it is called with (mypy sees the XComArg).
    overnight = download_overnight_closes()
    found = night(overnight)  # type: ignore[arg-type]
    choice = serve_or_fallback(found)  # type: ignore[arg-type]
    serving = [
        step_task(s.serve_task, "serve", s.name, data_day, container=s.in_container)
        for s in PREOPEN_KINDS
    ]
    outputs = process_preopen_outputs()
    chain(is_session_day(), overnight)
    chain(choice, *serving, outputs)
    chain(choice, passing(FALLBACK), outputs)
    chain(outputs, monitoring(PREOPEN_KINDS, data_day), refresh_preopen_report())


taiex_preopen()
