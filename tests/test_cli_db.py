"""The database through the taiex command: `taiex db`, and one-line errors on a drifted schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taiex.cli import app
from taiex.models.registry import Registry
from taiex.settings import Settings
from taiex.source import DailyRow
from taiex.store import Store
from taiex.store.migrate import HEAD
from taiex.store.testing import (
    create_pre_migration_schema,
    drop_column,
    drop_table,
    rename_column,
    set_revision,
)

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def filled_store(home: Path) -> Store:
    """The default SQLite database of ``home`` at the head, with a day and a model in it."""
    store = Store.from_settings(Settings.from_env())
    day = DailyRow(dt.date(2024, 12, 31), *(Decimal(v) for v in ("10", "12", "9", "11")))
    store.merge_rows([day], source="test")
    Registry(store).register(
        "lstm", b"model", train_start=day.date, train_end=day.date, params={}, metrics={}
    )
    return store


def test_db_upgrade_and_current(home: Path) -> None:
    assert run("db", "current") == (0, "none\n", "")
    code, out, err = run("db", "upgrade")
    assert code == 0, err
    assert out == f"database schema at revision {HEAD} (was none)\n"
    assert run("db", "upgrade")[1] == f"database schema at revision {HEAD} (unchanged)\n"
    assert run("db", "current")[1] == f"{HEAD}\n"


def test_db_upgrade_adopts_a_database_from_before_migrations(home: Path) -> None:
    store = Store(Settings.from_env().database_url)
    create_pre_migration_schema(store)
    store.dispose()
    code, out, err = run("db", "upgrade")
    assert code == 0, err
    assert out == f"database schema at revision {HEAD} (was none)\n"


def test_a_newer_schema_is_one_line_and_exit_1(home: Path) -> None:
    store = filled_store(home)
    set_revision(store, "0099_from_the_future")
    store.dispose()
    for command in (["db", "upgrade"], ["status"], ["models", "list"]):
        code, _, err = run(*command)
        assert code == 1, command
        assert err.startswith("error: the database's schema is at revision '0099_from_the_future'")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


Drift = Callable[[Store], None]
DRIFTS: dict[str, tuple[Drift, str]] = {
    "model_versions.decision dropped": (
        lambda s: drop_column(s, "model_versions", "decision"),
        "listing model versions",
    ),
    "weighted_index.close renamed": (
        lambda s: rename_column(s, "weighted_index", "close", "closing"),
        "reading",
    ),
    "signals missing": (lambda s: drop_table(s, "signals"), "reading"),
}


@pytest.mark.parametrize(
    ("command", "drift"),
    [
        (["models", "list"], "model_versions.decision dropped"),
        (["status"], "model_versions.decision dropped"),
        (["status"], "weighted_index.close renamed"),
        (["status"], "signals missing"),
        (["export-csv", "out.csv"], "weighted_index.close renamed"),
    ],
)
def test_a_drifted_schema_is_one_line_and_exit_1(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], drift: str
) -> None:
    monkeypatch.chdir(tmp_path)
    store = filled_store(home)
    damage, operation = DRIFTS[drift]
    damage(store)
    store.dispose()
    code, out, err = run(*command)
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: database error while {operation}")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_the_drift_error_names_the_column(home: Path) -> None:
    store = filled_store(home)
    drop_column(store, "model_versions", "decision")
    store.dispose()
    _, _, err = run("models", "list")
    assert err.strip() == (
        "error: database error while listing model versions: "
        "no such column: model_versions.decision"
    )


def test_merging_an_unknown_load_id_is_one_line_and_records_nothing(home: Path) -> None:
    code, out, err = run("step", "merge", "no-such-load")
    assert (code, out) == (1, "")
    assert err.startswith("error: no staged rows for load id 'no-such-load'")
    assert len(err.strip().splitlines()) == 1
    store = Store(Settings.from_env().database_url)
    assert store.loads.count() == 0 and store.last_load() is None
    store.dispose()


@pytest.mark.parametrize("args", [("status",), ("db", "upgrade"), ("db", "current"), ("report",)])
def test_a_damaged_database_file_is_one_line_and_left_as_it_is(
    home: Path, args: tuple[str, ...]
) -> None:
    home.mkdir()
    damaged = bytes(range(256)) * 64  # not SQLite's header: "file is not a database"
    (home / "taiex.db").write_bytes(damaged)
    code, _, err = run(*args)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1, err
    assert "file is not a database" in errors[0]
    # The hint about a folder SQLite cannot write in is for "unable to open", not for this.
    assert "writable" not in errors[0]
    assert (home / "taiex.db").read_bytes() == damaged
