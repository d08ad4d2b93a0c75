"""Fixtures: a fresh home, settings pointing at a local TWSE server, databases to test against."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pandas as pd
import pytest
import time_machine

from taiex.calendar import TAIPEI
from taiex.settings import Settings
from taiex.store import Store
from taiex.store.testing import reset_database, worker_database
from tests.airflow_cluster import postgres_database
from tests.series import synthetic_history
from tests.twse_server import TwseServer

# Settings for fast tests: no rate limit, short backoff and timeout.
FAST = {
    "TAIEX_TWSE_MIN_INTERVAL": "0",
    "TAIEX_TWSE_BACKOFF": "0.01",
    "TAIEX_TWSE_TIMEOUT": "0.5",
    "TAIEX_TWSE_RETRIES": "3",
}


def on_taipei_day(day: dt.date) -> AbstractContextManager[object]:
    """The real clock moved to noon of ``day`` in Taipei (ticking), for the code that must read
    the real day (fetch times, the latest --as-of, the latest CSV date)."""
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 12, tzinfo=TAIPEI))


@pytest.fixture
def history() -> pd.DataFrame:
    """About 14 months of synthetic days, 2023-11-01 to 2024-12-31."""
    frame = synthetic_history(n=305, start="2023-11-01", seed=7)
    return frame[frame["date"] <= "2024-12-31"].reset_index(drop=True)


@pytest.fixture
def twse(history: pd.DataFrame) -> Iterator[TwseServer]:
    with TwseServer(history, today=dt.date(2024, 12, 31)) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TAIEX_HOME; every TAIEX_* variable of the caller's shell is removed."""
    for key in list(os.environ):
        if key.startswith("TAIEX_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TAIEX_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def env(home: Path, twse: TwseServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """TAIEX_* set for a fast run against the local server; the settings they give."""
    for key, value in {**FAST, "TAIEX_TWSE_URL": twse.url}.items():
        monkeypatch.setenv(key, value)
    return Settings.from_env()


SERVER_URLS = {
    "mysql": os.environ.get("TAIEX_TEST_MYSQL_URL", ""),
    "postgres": os.environ.get("TAIEX_TEST_POSTGRES_URL", ""),
}


@pytest.fixture(params=["sqlite", "mysql", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database on each backend, no table in it; the servers skip (with the
    reason) when not set up."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = SERVER_URLS[backend]
        if not url:
            if os.environ.get("TAIEX_REQUIRE_SERVERS"):
                pytest.fail(f"TAIEX_TEST_{backend.upper()}_URL is not set but servers are required")
            pytest.skip(f"no {backend} server: set TAIEX_TEST_{backend.upper()}_URL to run")
        url = worker_database(url, os.environ.get("PYTEST_XDIST_WORKER", "master"))
        reset_database(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A fresh store at the newest schema, on each backend."""
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Airflow's metadata database and taiex's, both new on the test PostgreSQL server (the
    real-scheduler tests: tests/test_airflow_cluster.py, tests/test_airflow_celery.py)."""
    server = SERVER_URLS["postgres"]
    with (
        postgres_database(server, "airflow_meta") as meta,
        postgres_database(server, "taiex_cluster") as data,
    ):
        yield meta, data
