"""A day with nothing new under Airflow, and what each task imports and holds.

    python bench/airflow_day.py [--tiny] [--before REV] [--reruns 2] [--tree PATH] [--data CSV]

Needs a PostgreSQL server (TAIEX_TEST_POSTGRES_URL, as scripts/db-servers.sh starts one) and
apache-airflow. ``--tree`` runs another checkout's DAG and package with this checkout's harness;
``--before REV`` measures that revision first (``git archive`` into a temporary folder), then
the tree, in one run on the same machine.

1. Setup (not measured): the real history served by the local TWSE server; `taiex run` fills a new
   PostgreSQL database with it and trains the first models (the defaults, as in production).
2. Tasks: each task's step in a fresh process, as a worker runs it, on that database for the same
   day (nothing new): wall time, import time (``python -X importtime``, every import of the
   process), peak resident memory, and whether torch or scikit-learn was imported.
3. Day: a real deployment (tests/airflow_cluster.py: scheduler, dag-processor, api-server,
   LocalExecutor) runs the DAG for that day; the run's time from its start to its end, and each
   task's, as Airflow records them. Then the same run again, ``--reruns`` times, all its tasks
   cleared: the first run after the deployment starts pays the api-server's first execution-API
   request (about 7 s here), which a deployment that runs for days pays once, not every day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from real_data import REAL_CSV  # a path: standard library only
from revisions import checkout, describe, spread  # standard library only

# Only the standard library at the top: a step's process imports what the step needs, no more.
ROOT = Path(__file__).resolve().parents[1]

DAG_ID = "taiex_daily"
HEAVY = ("torch", "sklearn", "skops", "matplotlib", "pandas")
CLI = "from taiex.cli import main; main()"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def child(name: str, args: list[Any]) -> None:
    """One step as a task runs it: import the pipeline, open the store, run; facts on stdout."""
    started = time.perf_counter()
    from taiex import pipeline
    from taiex.settings import Settings

    ctx = pipeline.Context.open(Settings.from_env())
    try:
        result = getattr(pipeline, name)(ctx, *args)
    finally:
        ctx.close()
    facts = {
        "wall": time.perf_counter() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "heavy": [m for m in HEAVY if m in sys.modules],
        "result": json.loads(json.dumps(result, default=str)),
    }
    sys.stdout.write(json.dumps(facts) + "\n")


def import_seconds(stderr: str) -> float:
    """The time of every top-level import of the process (nested ones are inside them)."""
    total = 0
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and not match.group(3):
            total += int(match.group(2))
    return total / 1e6


def run_step(env: dict[str, str], name: str, *args: Any) -> dict[str, Any]:
    command = [sys.executable, "-X", "importtime", __file__, "--child", name, json.dumps(args)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{done.stderr[-3000:]}")
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    facts["process"] = time.perf_counter() - started
    facts["imports"] = import_seconds(done.stderr)
    return facts


# Task ids of older trees: the classifier's serving task was svm_classification until issue 20.
RENAMED = {"classifier_predict_task": "svm_classification"}


def tasks(
    env: dict[str, str], day: dt.date, by_kind: bool, refresh: bool
) -> dict[str, dict[str, Any]]:
    """Each task's step in its own process, fed what the one before returned. ``by_kind``: the
    steps take a kind and the data day (since issue 13), else the older names; ``refresh``: the
    report task serves every champion again before the report (before issue 12)."""
    iso = day.isoformat()
    found = {}
    found["download_weighted_stock_price"] = run_step(env, "download", iso)
    months = found["download_weighted_stock_price"]["result"]
    found["save_to_database"] = run_step(env, "save_to_database", months, iso)
    found["merge_weighted_index"] = run_step(env, "merge", found["save_to_database"]["result"])
    if by_kind:
        found["lstm_predict_task"] = run_step(env, "serve", "lstm", iso)
        found["classifier_predict_task"] = run_step(env, "serve", "classifier", iso)
    else:
        found["classifier_predict_task"] = run_step(env, "classify")
        found["lstm_predict_task"] = run_step(env, "forecast")
    found["process_models_predict_outputs"] = run_step(env, "draw_outputs")
    for kind in ("lstm", "classifier"):
        args = (kind, iso) if by_kind else (kind,)
        found[f"monitoring.evaluate_{kind}"] = run_step(env, "evaluate", *args)
    # The report task: the report alone now; before, every champion's answer again, then it.
    if refresh:
        found["refresh_report"] = run_step(env, "refresh", *((iso,) if by_kind else ()))
    else:
        found["refresh_report"] = run_step(env, "draw_outputs")
    return found


def day_under_airflow(
    tree: Path, tmp: Path, metadata_url: str, env: dict[str, str], day: dt.date, reruns: int
) -> dict[str, Any]:
    """The DAG run for ``day`` on a new deployment, then ``reruns`` times again (all its tasks
    cleared): each run's seconds from its start to its end, and each task's in the last run."""
    from tests.airflow_cluster import AirflowCluster

    extra = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(tree / "dags")}
    seconds = []
    with AirflowCluster.start(tmp / "airflow", metadata_url, extra) as cluster:
        cluster.wait_for_dag(DAG_ID)
        run_id = cluster.trigger(DAG_ID, f"{day.isoformat()}T07:30:00Z")
        for attempt in range(reruns + 1):
            if attempt:
                clear = {"dag_run_id": run_id, "dry_run": False, "only_failed": False}
                cluster.request("POST", f"/dags/{DAG_ID}/clearTaskInstances", clear)
            run = cluster.wait(DAG_ID, run_id, timeout=1800)
            instances = cluster.task_instances(DAG_ID, run_id)
            if run["state"] != "success":
                states = [(t["task_id"], t["state"]) for t in instances]
                raise SystemExit(f"the run failed: {states}")
            seconds.append(_seconds(run["start_date"], run["end_date"]))
    return {
        "seconds": seconds,
        "tasks": {
            t["task_id"]: _seconds(t["start_date"], t["end_date"])
            for t in instances
            if t["state"] == "success" and t["start_date"]
        },
    }


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _seconds(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        args = json.loads(sys.argv[3])
        child(sys.argv[2], [_day(a) if isinstance(a, str) and DAY.match(a) else a for a in args])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_CSV)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--before", metavar="REV", help="measure this revision first")
    parser.add_argument("--reruns", type=int, default=2, help="runs of the day once warm")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny models (tests/series.py): a quick setup"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    server_url = os.environ.get("TAIEX_TEST_POSTGRES_URL")
    if not args.data.exists() or not server_url:
        print(f"skipped: needs {args.data} and TAIEX_TEST_POSTGRES_URL")
        return
    import pandas as pd

    history = pd.read_csv(args.data, parse_dates=["date"])
    found = {}
    if args.before:
        with checkout(args.before) as before:
            found[f"before: {describe(args.before)}"] = measure(before, args, history, server_url)
    found[f"tree: {args.tree.resolve()}"] = measure(args.tree.resolve(), args, history, server_url)
    models = "tiny models" if args.tiny else "default models"
    day = history["date"].iloc[-1].date()
    print(f"history: {len(history):,} days up to {day}; {models}; {os.cpu_count()} cores")
    for label, (steps, airflow, loads) in found.items():
        print(f"\n{label}\nload average at its start and end: {loads[0]:.1f} -> {loads[1]:.1f}")
        print_tasks(steps, airflow)
        first, warm = airflow["seconds"][0], airflow["seconds"][1:]
        print(f"a day with nothing new under Airflow: {first:.1f} s as the deployment's first run")
        if warm:
            print(f"  then {spread(warm)} s (median, range of {len(warm)}; goal < 25 s)")


def measure(
    tree: Path, args: argparse.Namespace, history: Any, server_url: str
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], tuple[float, float]]:
    """Setup, each step alone, then the day under Airflow, for the checkout ``tree``."""
    from tests.airflow_cluster import postgres_database
    from tests.twse_server import TwseServer

    started_load = os.getloadavg()[0]
    day = history["date"].iloc[-1].date()
    pipeline_source = (tree / "src" / "taiex" / "pipeline.py").read_text(encoding="utf-8")
    by_kind = "def serve(" in pipeline_source
    refresh = "def refresh(" in pipeline_source
    with (
        TwseServer(history, today=day) as twse,
        tempfile.TemporaryDirectory() as folder,
        postgres_database(server_url, "bench_taiex") as taiex_url,
        postgres_database(server_url, "bench_airflow") as metadata_url,
    ):
        tmp = Path(folder)
        home = tmp / "home"
        home.mkdir()
        if args.tiny:
            from tests.series import TINY_CONFIG

            (home / "config.toml").write_text(TINY_CONFIG, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIEX_", "AIRFLOW"))}
        env |= {
            "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT}",
            "TAIEX_HOME": str(home),
            "TAIEX_DB_URL": taiex_url,
            "TAIEX_TWSE_URL": twse.url,
            "TAIEX_TWSE_MIN_INTERVAL": "0",
        }
        started = time.perf_counter()
        setup = subprocess.run(
            [sys.executable, "-c", CLI, "run", "--as-of", str(day)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if setup.returncode != 0:
            raise SystemExit(f"setup failed:\n{setup.stderr[-3000:]}")
        print(
            f"{tree}: setup, taiex run on an empty database: {time.perf_counter() - started:.0f} s"
        )
        steps = tasks(env, day, by_kind, refresh)
        airflow = day_under_airflow(tree, tmp, metadata_url, env, day, args.reruns)
    return steps, airflow, (started_load, os.getloadavg()[0])


def print_tasks(steps: dict[str, dict[str, Any]], airflow: dict[str, Any]) -> None:
    print(f"{'task':<34} {'proc s':>7} {'import s':>9} {'peak MB':>8}  {'airflow s':>9}  imports")
    for name, facts in steps.items():
        heavy = ", ".join(m for m in facts["heavy"] if m in ("torch", "sklearn")) or "-"
        recorded = airflow["tasks"]
        in_airflow = recorded.get(name, recorded.get(RENAMED.get(name, ""), float("nan")))
        print(
            f"{name:<34} {facts['process']:7.1f} {facts['imports']:9.2f} "
            f"{facts['peak_mb']:8.0f}  {in_airflow:9.1f}  {heavy}"
        )


if __name__ == "__main__":
    main()
