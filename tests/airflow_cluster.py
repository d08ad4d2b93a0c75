"""A real Airflow 3 deployment for the tests and the benchmark: a scheduler, a dag-processor and an
api-server as separate processes, a PostgreSQL metadata database of its own, and LocalExecutor or
CeleryExecutor (a Redis broker, and the Celery workers a test starts).

    with AirflowCluster.start(tmp_path / "airflow", metadata_url, env) as cluster:
        run_id = cluster.trigger("taiex_daily", logical_date)
        cluster.wait(run_id)                   # the run's final state
        cluster.task_states(run_id)            # {task_id: state}

    with AirflowCluster.start(home, metadata_url, env, celery=redis_url) as cluster:
        cluster.start_worker("worker-a", {"TAIEX_HOME": ...})   # `airflow celery worker`
        cluster.kill_worker("worker-a")        # SIGKILL, its task processes too

The components talk as in a deployment: the scheduler and the workers (LocalExecutor's forks or
Celery's) reach the api-server over HTTP (the execution API), and the test drives the REST API.
Timetable scheduling is off (``use_job_schedule``): only the runs a test triggers exist. Every
process a cluster starts, and every process those start, is stopped by pid when it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
COMPONENTS = ("scheduler", "dag-processor", "api-server")
FINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``; its URL. Dropped after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def airflow_environment(home: Path, metadata_url: str, port: int) -> dict[str, str]:
    """The configuration every component shares (as a deployment's airflow.cfg would)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TAIEX_", "AIRFLOW"))}
    return {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # psycopg 3 is async too (Airflow's default async driver for PostgreSQL is asyncpg).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__FERNET_KEY": "",
        # Only the runs a test triggers: unpausing would otherwise start the latest 15:30.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


def celery_environment(broker_url: str, metadata_url: str) -> dict[str, str]:
    """CeleryExecutor on the Redis at ``broker_url``, the task states in the metadata database."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        # One task at a time per worker, and none reserved ahead: a task waits in the broker for
        # whichever worker is free, not in a busy (or dead) worker's prefetch.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # A queue of this cluster's own: clusters that share a Redis never take each other's
        # tasks (nor a message a dead worker of an earlier run left unacknowledged).
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"taiex-{secrets.token_hex(4)}",
    }


def worker_hostname() -> str:
    """The ``[core] hostname_callable`` of a test's Celery workers: the name each was started
    with (they share one machine, and Airflow records a task's host in task_instance.hostname)."""
    return os.environ["TEST_WORKER_HOSTNAME"]


def process_tree(pid: int) -> list[Any]:
    """The process ``pid`` and all its descendants (psutil.Process), the root first. A task
    process of Airflow 3 is in a process group of its own: killing the worker's group misses it."""
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def kill_tree(tree: list[Any]) -> None:
    """SIGKILL every process of ``tree`` that still runs, and wait until all are gone."""
    import psutil

    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(tree, timeout=10)
    if alive:
        raise RuntimeError(f"processes still running after SIGKILL: {alive}")


@dataclass
class AirflowCluster:
    home: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bearer: str = ""  # the REST API's token, once asked for (:meth:`token`)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        home: Path,
        metadata_url: str,
        extra_env: Mapping[str, str] | None = None,
        *,
        celery: str | None = None,
    ) -> Iterator[AirflowCluster]:
        """The cluster, LocalExecutor or, with ``celery`` (a Redis URL), CeleryExecutor: then
        no task runs until a test starts workers (:meth:`start_worker`)."""
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = airflow_environment(home, metadata_url, port)
        if celery:
            env.update(celery_environment(celery, metadata_url))
        env.update(extra_env or {})
        cluster = cls(home, env, port)
        cluster.airflow("db", "migrate", timeout=600)
        try:
            for component in COMPONENTS:
                cluster.spawn(component, [component], env)
            cluster.wait_for_api()
            yield cluster
        finally:
            cluster.stop()

    def spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        """Start ``airflow <args>`` as the process ``name``, its output in ``<name>.log``."""
        with (self.home / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers too are stopped with it
            )

    def start_worker(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """A Celery worker named ``name`` (its Celery hostname and the hostname its tasks
        record), running one task at a time from the cluster's queue, with ``extra_env`` (its
        own TAIEX_HOME, say). Its log server is off: two workers on one machine would want one
        port, and the tests read the task logs from the shared AIRFLOW_HOME."""
        env = {
            **self.env,
            **(extra_env or {}),
            "TEST_WORKER_HOSTNAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            "PYTHONPATH": os.pathsep.join([str(ROOT), self.env.get("PYTHONPATH", "")]),
        }
        args = ["celery", "worker", "--celery-hostname", name, "--concurrency", "1"]
        args += ["--pid", str(self.home / f"{name}.pid"), "--skip-serve-logs"]
        self.spawn(name, [*args, "--without-mingle", "--without-gossip"], env)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker ``name`` and every process under it (its task runs with it), as
        when its machine is lost: nothing of it gets to say goodbye."""
        process = self.processes.pop(name)
        kill_tree(process_tree(process.pid))
        process.wait(timeout=10)

    def stop(self) -> None:
        trees = {name: process_tree(p.pid) for name, p in self.processes.items()}
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            kill_tree(trees[name])  # what left the group (a task process) goes too

    def airflow(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {name} exited with {process.returncode}:\n{tail}")

    def token(self) -> str:
        """A bearer token for the REST API. Every user is an admin here and ``/auth/token``
        gives one without credentials; Airflow 3.1.8 refuses a request without one (3.1.0 and
        3.3 let it through as an admin)."""
        if not self.bearer:
            url = f"http://127.0.0.1:{self.port}/auth/token"
            with urllib.request.urlopen(url, timeout=60) as response:
                self.bearer = json.loads(response.read())["access_token"]
        return self.bearer

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.token()}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        return json.loads(payload) if payload else None

    def wait_for_api(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5
                ):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG; unpause it. Its details."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            errors = self.request("GET", "/importErrors")["import_errors"]
            if errors:
                raise RuntimeError(f"the DAG does not import: {errors}")
            try:
                details: dict[str, Any] = self.request("GET", f"/dags/{dag_id}/details")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        self.request("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        return details

    def trigger(self, dag_id: str, logical_date: str, run_id: str | None = None) -> str:
        body = {"logical_date": logical_date, "dag_run_id": run_id or f"test__{logical_date}"}
        run: dict[str, Any] = self.request("POST", f"/dags/{dag_id}/dagRuns", body)
        return str(run["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
        """Wait for the run to end; the run as the API gives it."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            run: dict[str, Any] = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in FINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['state']} after {timeout} s")
            time.sleep(1)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        found = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        return list(found["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Clear tasks of a run (their downstream not): the scheduler runs them again."""
        self.request(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            {
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "include_downstream": False,
                "include_upstream": False,
                "reset_dag_runs": True,
            },
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log file, as the worker wrote it under AIRFLOW_HOME/logs."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return (folder / f"attempt={try_number}.log").read_text(errors="replace")


HOME_LINE = re.compile(r"TAIEX_HOME for this task: (\S+) \(new, empty\)")


def task_homes(log: str) -> list[str]:
    """The scratch TAIEX_HOMEs a task's log names (the DAG's run_step logs each one)."""
    return HOME_LINE.findall(log)


# ---------------------------------------------------------------- the pre-open round's world

US_CLOSES = ROOT / "tests" / "data" / "us_closes.csv"  # real US closes, 1998-12 … 2024-12-31


def store_real_days(url: str, first: str, last: str) -> int:
    """Store the real TAIEX days from ``first`` to ``last`` (ISO dates, both included), as the
    evening DAG would have loaded them; how many. The schema is made on an empty database."""
    from decimal import Decimal

    import pandas as pd

    from taiex.source import DailyRow
    from taiex.store import Store
    from tests.series import real_history

    history = real_history()
    days = history[(history["date"] >= first) & (history["date"] <= last)]
    rows = [
        DailyRow(
            pd.Timestamp(row.date).date(),
            *(Decimal(f"{getattr(row, c):.2f}") for c in ("open", "high", "low", "close")),
        )
        for row in days.itertuples()
    ]
    store = Store(url)
    try:
        store.upgrade()
        store.merge_rows(rows, source="test")
    finally:
        store.dispose()
    return len(rows)
