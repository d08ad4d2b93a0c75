"""Fuzzing (hypothesis) of `taiex import-csv` and of the settings loader (issue 14).

The invariants are those of tests/test_hostile.py: a run either succeeds and stores only days and
prices that can be real, or ends with exactly one ``error:`` line, no traceback, exit code 1, and
the stored table unchanged. The settings loader gives valid settings or a SettingsError, nothing
else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taiex.calendar import day_problem
from taiex.cli import app
from taiex.errors import SettingsError
from taiex.settings import TWSE_POLITE_INTERVAL, Settings, is_twse_host
from taiex.source import ohlc_problem, price_problem
from taiex.store import Store
from tests.conftest import on_taipei_day

DEC31 = dt.date(2024, 12, 31)
runner = CliRunner()

# ---------------------------------------------------------------- import-csv

NASTY = [
    "",
    " ",
    "--",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1E+999999999",
    "9" * 400,
    "12345678901234567",
    "1234567890123.00",
    "0",
    "-1.00",
    "1.005",
    "1_000",
    "１００.００",
    "[/x]",
    "[bold]x[/bold]",
    '"',
    "\x00",
    "0001-01-01",
    "2030-01-02",
    "2024-12-01",
    "2024-W49-2",
    "20241202",
    "1999-01-04",
    "1999-01-05",
    "2018-12-22",
]
dates = st.dates(dt.date(1998, 12, 1), dt.date(2025, 2, 1)).map(dt.date.isoformat)
prices = st.decimals(min_value=0, max_value=2_000_000, places=2).map(str)
cells = st.one_of(dates, prices, st.sampled_from(NASTY), st.text(max_size=12))


@st.composite
def rows(draw: st.DrawFn) -> str:
    """Mostly rows that could be real (some of them are), else any cells."""
    if draw(st.booleans()):
        low = draw(st.decimals(min_value=1, max_value=30_000, places=2))
        spread = [draw(st.decimals(min_value=0, max_value=500, places=2)) for _ in range(3)]
        open_, close = low + spread[0], low + spread[1]
        high = max(open_, close) + spread[2]
        return ",".join([draw(dates), str(open_), str(high), str(low), str(close)])
    return ",".join(draw(st.lists(cells, min_size=0, max_size=7)))


headers = st.sampled_from(["date,open,high,low,close", "Date,Open,High,Low,Close", "date,open", ""])
csv_files = st.one_of(
    st.builds(
        lambda header, lines: "\n".join([header, *lines]).encode(),
        headers,
        st.lists(rows(), max_size=12),
    ),
    st.binary(max_size=200),
)


def stored_rows_are_possible(store: Store) -> None:
    for row in store.read_rows():
        assert day_problem(row.date, DEC31) is None, row
        assert all(price_problem(getattr(row, c)) is None for c in ("open", "high", "low", "close"))
        assert ohlc_problem(row) is None, row


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=csv_files)
def test_import_csv_stores_only_possible_days_or_one_error(
    home: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "fuzz[x]" / "[/b].csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    store = Store(f"sqlite:///{home / 'taiex.db'}")
    store.create_schema()
    before = (store.fingerprint(), store.last_load())
    with on_taipei_day(DEC31):
        result = runner.invoke(app, ["import-csv", str(path)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 0:
        assert not errors
        stored_rows_are_possible(store)
    else:
        assert result.exit_code == 1, result.stderr
        assert len(errors) == 1, result.stderr
        assert (store.fingerprint(), store.last_load()) == before
    store.dispose()


# ---------------------------------------------------------------- the settings loader

NUMERIC = [f.name for f in dataclasses.fields(Settings) if str(f.type) in ("int", "float")]
env_values = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "1e300", "2.7", "true", "-1", "0"]),
    st.sampled_from(["３", "1_0", " 5 ", "+3", "0x10", "99999999999999999999", ""]),
    st.integers(-10, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
toml_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(max_size=8),
)
urls = st.sampled_from(
    [
        "https://www.twse.com.tw/rwd/zh/TAIEX/MI_5MINS_HIST",
        "https://WWW.TWSE.COM.TW./x",
        "https://twse.com.tw/x",
        "http://127.0.0.1:8000/x",
        "http://[/x]",
        "ftp://twse.com.tw/x",
        "https://evil-twse.com.tw/x",
        "http://host:99999/x",
    ]
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def settings_are_sound(s: Settings) -> None:
    for name in NUMERIC:
        value = getattr(s, name)
        assert not isinstance(value, bool) and math.isfinite(value), (name, value)
        expected = (
            int
            if str(next(f.type for f in dataclasses.fields(s) if f.name == name)) == "int"
            else float
        )
        assert isinstance(value, expected), (name, value)
    assert s.twse_timeout > 0 and 0 <= s.classifier_auc_min <= 1
    assert -1 <= s.classifier_trivial_margin <= 1
    assert min(s.twse_min_interval, s.twse_retries, s.twse_backoff, s.revision_days) >= 0
    if is_twse_host(s.twse_url):
        assert s.twse_min_interval >= TWSE_POLITE_INTERVAL


@settings(max_examples=400, deadline=None)
@given(
    env=st.dictionaries(st.sampled_from(NUMERIC), env_values, max_size=4),
    file=st.dictionaries(st.sampled_from(NUMERIC), toml_values, max_size=4),
    url=st.one_of(st.none(), urls),
)
def test_settings_are_sound_or_one_settings_error(
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
    file: dict[str, Any],
    url: str | None,
) -> None:
    home = tmp_path_factory.mktemp("home")
    config = "".join(f"{key} = {toml_value(value)}\n" for key, value in file.items())
    (home / "config.toml").write_text(config, encoding="utf-8")
    environ = {"TAIEX_HOME": str(home), **{f"TAIEX_{k.upper()}": v for k, v in env.items()}}
    if url is not None:
        environ["TAIEX_TWSE_URL"] = url
    try:
        loaded = Settings.from_env(environ)
    except SettingsError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    settings_are_sound(loaded)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(env=st.dictionaries(st.sampled_from(NUMERIC), env_values, min_size=1, max_size=3))
def test_the_cli_turns_any_bad_setting_into_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for key in [k for k in os.environ if k.startswith("TAIEX_") and k != "TAIEX_HOME"]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if "\x00" in value:  # the environment cannot hold a NUL
            return
        monkeypatch.setenv(f"TAIEX_{key.upper()}", value)
    result = runner.invoke(app, ["status", "--json"])
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if result.exit_code == 0:
        assert not errors and json.loads(result.stdout)["rows"] == 0
    else:
        assert result.exit_code == 1 and len(errors) == 1, result.stderr
