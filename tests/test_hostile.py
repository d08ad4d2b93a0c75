"""Hostile inputs, as a new user and then an attacker would send them (issue 14).

Every case runs the real ``taiex`` command (CliRunner) against a real SQLite file, with TWSE played
by the local server of tests/twse_server.py. Each asserts the same four things: exactly one line
``error: ...`` on stderr, no traceback, the exit code (1, or 2 for usage), and the stored table
unchanged (rows, their timestamps and the last load). The clock stands on 2024-12-31 in Taipei.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from taiex.cli import app
from taiex.settings import Settings
from taiex.store import Store
from tests.conftest import SERVER_URLS, on_taipei_day
from tests.twse_server import HUGE_BYTES, TwseServer

DEC31 = dt.date(2024, 12, 31)
runner = CliRunner()


@dataclass(frozen=True)
class Snapshot:
    """What must not change: every stored day with its timestamps, and the last load."""

    fingerprint: str
    last_load: object

    @classmethod
    def of(cls, settings: Settings) -> Snapshot:
        store = Store.from_settings(settings)
        try:
            return cls(store.fingerprint(), store.last_load())
        finally:
            store.dispose()


@pytest.fixture
def loaded(env: Settings, twse: TwseServer) -> Iterator[Settings]:
    """Two months loaded (2024-11 and 2024-12), the clock on 2024-12-31 in Taipei."""
    with on_taipei_day(DEC31):
        result = runner.invoke(app, ["backfill", "--since", "2024-11"])
        assert result.exit_code == 0, result.stderr
        yield env


def invoke(*args: str) -> Result:
    with on_taipei_day(DEC31):
        return runner.invoke(app, list(args))


def assert_one_clean_error(result: Result, code: int, expected: str) -> str:
    """Exactly one ``error:`` line holding ``expected``, no traceback, exit ``code``."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert len(errors) == 1, result.stderr
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return errors[0]


# ---------------------------------------------------------------- a hostile TWSE


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("slow_loris", "no complete response within 0.5 s"),
        ("endless", "beyond TAIEX_TWSE_MAX_BYTES=1000000"),
        ("huge", "beyond TAIEX_TWSE_MAX_BYTES=1000000"),
        ("gzip_mismatch", "bad response (DecodingError"),
        ("redirect_loop", "bad response (TooManyRedirects"),
        ("deep_json", "JSON nested too deeply"),
        ("no_fields", "the response has no 'fields'"),
    ],
)
def test_a_hostile_twse_answer_is_one_error_and_changes_nothing(
    loaded: Settings, twse: TwseServer, fault: str, expected: str
) -> None:
    before = Snapshot.of(loaded)
    twse.inject("2024-12", *[fault] * (loaded.twse_retries + 1))
    result = invoke("update")
    line = assert_one_clean_error(result, 1, expected)
    assert "month 2024-12" in line or "TWSE 2024-12" in line
    assert Snapshot.of(loaded) == before
    # The client hung up: a trickle or an endless body never ran to its end.
    for sent in twse.bytes_sent.get(fault, []):
        assert sent < 50 * HUGE_BYTES


def test_a_trickling_server_is_given_up_on_within_the_timeout(
    loaded: Settings, twse: TwseServer
) -> None:
    # 0.5 s a try at a byte every 0.05 s: about 10 bytes a try, not the whole month (~2 kB).
    twse.inject("2024-12", *["slow_loris"] * (loaded.twse_retries + 1))
    invoke("update")
    # (The last try's connection may still be closing: its count can come a moment later.)
    assert len(twse.bytes_sent["slow_loris"]) >= loaded.twse_retries
    assert max(twse.bytes_sent["slow_loris"]) < 200


# ---------------------------------------------------------------- bad CLI input and settings


@dataclass(frozen=True)
class Case:
    """One bad input: the command, what to prepare (files, variables), the code and message."""

    name: str
    args: tuple[str, ...]
    code: int
    expected: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # relative to the case's folder
    needs: str = ""  # "mysql" when the case needs the MariaDB server


HEADER = b"date,open,high,low,close\n"
GOOD = b"2024-12-02,100.00,110.00,90.00,95.00\n"


def words(*texts: str) -> tuple[str, ...]:
    """The arguments of a command line (no argument holds a space)."""
    return tuple(word for text in texts for word in text.split())


def csv_case(name: str, line: bytes, expected: str) -> Case:
    return Case(
        name,
        ("import-csv", "{dir}/in[/x].csv"),
        1,
        expected,
        files={"in[/x].csv": HEADER + GOOD + line + b"\n"},
    )


CASES = [
    csv_case("future date", b"2026-12-01,1.00,2.00,1.00,2.00", "line 3: date 2026-12-01 is after"),
    csv_case("far future", b"2030-01-02,1.00,2.00,1.00,2.00", "line 3: date 2030-01-02 is after"),
    csv_case("year one", b"0001-01-01,1.00,2.00,1.00,2.00", "line 3: date 0001-01-01 is before"),
    csv_case("before TWSE", b"1999-01-04,1.00,2.00,1.00,2.00", "date 1999-01-04 is before"),
    csv_case("a Sunday", b"2024-12-01,1.00,2.00,1.00,2.00", "date 2024-12-01 is a Sunday"),
    csv_case("400 nines", b"2024-12-03,1.00," + b"9" * 400 + b",1.00,2.00", "line 3: high is 400"),
    csv_case(
        "17 digits", b"2024-12-03,1.00,12345678901234567,1.00,2.00", "high '12345678901234567'"
    ),
    csv_case("13 digits", b"2024-12-03,1.00,1234567890123.00,1.00,2.00", "outside (0, 1,000,000)"),
    csv_case("1e308", b"2024-12-03,1.00,1e308,1.00,2.00", "high '1e308' is not a number"),
    csv_case("1E+999999999", b"2024-12-03,1.00,1E+999999999,1.00,2.00", "is not a number"),
    csv_case("inf", b"2024-12-03,1.00,Infinity,1.00,2.00", "high 'Infinity' is not a number"),
    csv_case("200 KB field", b"2024-12-03,1.00," + b"1" * 200_000 + b",1.00,2.00", "line 3"),
    csv_case("markup in a cell", b"2024-12-03,[/x],2.00,1.00,2.00", "open '[/x]' is not a number"),
    csv_case("full-width digits", "2024-12-03,１.00,2.00,1.00,2.00".encode(), "is not a number"),
    csv_case("week date", b"2024-W49-2,1.00,2.00,1.00,2.00", "'2024-W49-2' is not a date"),
    Case(
        "not UTF-8",
        ("import-csv", "{dir}/big5.csv"),
        1,
        "big5.csv: not UTF-8 text",
        files={"big5.csv": HEADER + "2024-12-03,一,2,1,2\n".encode("big5")},
    ),
    Case(
        "empty CSV",
        ("import-csv", "{dir}/empty.csv"),
        1,
        "empty.csv: the file is empty; expected the header date,open,high,low,close",
        files={"empty.csv": b""},
    ),
    Case("blank CSV", ("import-csv", "{dir}/b.csv"), 1, "file is empty", files={"b.csv": b"\n \n"}),
    Case("no such CSV", ("import-csv", "{dir}/missing.csv"), 1, "missing.csv: cannot read"),
    Case("export to a folder", ("export-csv", "{dir}"), 1, "not a regular file"),
    Case("export, no parent", ("export-csv", "{dir}/nope/out.csv"), 1, "does not exist"),
    Case("as-of in the future", ("update", "--as-of", "2027-01-15"), 1, "--as-of 2027-01-15 is"),
    Case("as-of 9999", ("update", "--as-of", "9999-12-31"), 1, "--as-of 9999-12-31 is after"),
    Case("as-of year one", ("backfill", "--as-of", "0001-01-01"), 1, "is before 1999-01-05"),
    Case("as-of nonsense", ("update", "--as-of", "2024-13-01"), 2, "'2024-13-01' is not a date"),
    Case("negative month", ("backfill", "--since", "-2024-01"), 2, "'-2024-01' is not a month"),
    Case("full-width month", ("backfill", "--since", "２０２４-01"), 2, "is not a month"),
    Case("step save 2024-13", ("step", "save", "2024-13"), 2, "no such month: 2024-13"),
    Case(
        "unknown load id",
        ("step", "merge", "nosuchload"),
        1,
        "no staged rows for load id 'nosuchload'",
    ),
    Case("delete backwards", ("delete", "--from", "2024-12-31", "--to", "2024-12-01"), 1, "--to"),
    # Days that have not happened, ranges the wrong way round, outputs that cannot be written:
    # refused before any work (the audit of the command line).
    Case("predict, future day", ("predict", "--day", "2025-01-02"), 2, "'--day': 2025-01-02 is"),
    Case("serve, future day", ("step", "serve", "lstm", "--day", "2025-01-02"), 2, "is after"),
    Case("train until 2030", ("train", "lstm", "--until", "2030-01-02"), 2, "after today in"),
    Case(
        "backtest from the future",
        ("backtest", "lstm", "--train-until", "2024-11-29", "--from", "2025-01-02", "--out", "x"),
        2,
        "'--from': 2025-01-02 is after today in Taipei (2024-12-31)",
    ),
    Case(
        "backtest backwards",
        words(
            "backtest lstm --train-until 2024-11-29", "--from 2024-12-20 --to 2024-12-02 --out x"
        ),
        1,
        "--to 2024-12-02 is before --from 2024-12-20",
    ),
    Case(
        "backtest from before its training end",
        words("backtest lstm --train-until 2024-11-29 --from 2024-11-05 --out {dir}/bt.csv"),
        1,
        "--from 2024-11-05 must be after --train-until 2024-11-29",
    ),
    Case(
        "backtest out, no parent",  # said at once, not after the training (here: too short)
        words("backtest lstm --train-until 2024-11-29 --from 2024-12-02 --out {dir}/nope/bt.csv"),
        1,
        "the folder {dir}/nope does not exist",
    ),
    Case(
        "backtest out is a folder",
        words("backtest classifier --train-until 2024-11-29 --from 2024-12-02 --out {dir}"),
        1,
        "{dir}: not a regular file",
    ),
    Case("import an empty path", ("import-csv", ""), 2, "'PATH': the path is empty"),
    Case("export to an empty path", ("export-csv", " "), 2, "'PATH': the path is empty"),
    Case(
        "simulate at a NaN fee",
        words("simulate --from 2024-12-02 --to 2024-12-03 --out {dir}/sim --fee nan"),
        2,
        "--fee nan is not a percentage within [0, 100)",
    ),
    Case(
        "simulate at a 100 % tax",
        words("simulate --from 2024-12-02 --to 2024-12-03 --out {dir}/sim --exit-tax 100"),
        2,
        "--exit-tax 100.0 is not a percentage",
    ),
    Case("step save, future month", ("step", "save", "2025-01"), 1, "month 2025-01 is after"),
    Case("step save 1998-12", ("step", "save", "1998-12"), 1, "month 1998-12 is before 1999-01"),
    Case(
        "dialect typo",
        ("status",),
        1,
        "no such database dialect",
        {"TAIEX_DB_URL": "postgress://a:b@h/x"},
    ),
    Case(
        "missing driver",
        ("status",),
        1,
        "No module named 'asyncpg'",
        {"TAIEX_DB_URL": "postgresql+asyncpg://a:b@h/x"},
    ),
    Case(
        "charset=evil",
        ("status",),
        1,
        "cannot open the database",
        {"TAIEX_DB_URL": "{mysql}?charset=evil"},
        needs="mysql",
    ),
    Case(
        # SQLAlchemy only warns about an option pysqlite does not take, and ignores it.
        "sqlite option typo",
        ("status",),
        1,
        "bad URL option: 'timeuot'",
        {"TAIEX_DB_URL": "sqlite:///{dir}/other.db?timeuot=5"},
    ),
    Case(
        "malformed URL with a password",
        ("status",),
        1,
        "mysql+pymysql://me:***@db:notaport/x",
        {"TAIEX_DB_URL": "mysql+pymysql://me:p@ss:word@db:notaport/x"},
    ),
    Case(
        "in-memory database",  # the import would report its rows and lose them at exit
        ("import-csv", "{dir}/in.csv"),
        1,
        "TAIEX_DB_URL 'sqlite://' is an in-memory database",
        {"TAIEX_DB_URL": "sqlite://"},
        {"in.csv": HEADER + GOOD},
    ),
    Case(
        "home is a file",
        ("status",),
        1,
        "is not a folder",
        {"TAIEX_HOME": "{dir}/file"},
        {"file": b"x"},
    ),
    Case(
        "config not UTF-8",
        ("status",),
        1,
        "is not UTF-8 text",
        {"TAIEX_CONFIG": "{dir}/config.toml"},
        {"config.toml": "twse_url = '台'\n".encode("big5")},
    ),
    Case(
        "config table is markup",
        ("status",),
        1,
        "[lstm] in the config file {dir}/config.toml=3",
        {"TAIEX_CONFIG": "{dir}/config.toml"},
        {"config.toml": b"lstm = 3\n"},
    ),
    Case(
        "config integer 2.7",
        ("status",),
        1,
        "revision_days in",
        {"TAIEX_CONFIG": "{dir}/config.toml"},
        {"config.toml": b"revision_days = 2.7\n"},
    ),
    Case(
        "config integer true",
        ("status",),
        1,
        "a boolean is not a number",
        {"TAIEX_CONFIG": "{dir}/config.toml"},
        {"config.toml": b"revision_days = true\n"},
    ),
    Case("NaN interval", ("status",), 1, "'nan' is not", {"TAIEX_TWSE_MIN_INTERVAL": "nan"}),
    Case(
        "NaN sMAPE", ("status",), 1, "TAIEX_LSTM_SMAPE_MAX='nan'", {"TAIEX_LSTM_SMAPE_MAX": "nan"}
    ),
    Case("inf timeout", ("status",), 1, "not a finite number", {"TAIEX_TWSE_TIMEOUT": "inf"}),
    Case("huge retries", ("status",), 1, "TAIEX_TWSE_RETRIES", {"TAIEX_TWSE_RETRIES": "9" * 30}),
    Case(
        "TWSE host, trailing dot",
        ("status",),
        1,
        "TWSE blocks clients",
        {"TAIEX_TWSE_URL": "https://WWW.TWSE.com.tw./x", "TAIEX_TWSE_MIN_INTERVAL": "0"},
    ),
    Case(
        "markup in a URL", ("status",), 1, "'http://[/x]' is not", {"TAIEX_TWSE_URL": "http://[/x]"}
    ),
]


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


def _prepare(case: Case, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if case.needs and not SERVER_URLS[case.needs]:
        pytest.skip(f"no {case.needs} server: set TAIEX_TEST_{case.needs.upper()}_URL to run")
    for name, content in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    values = {"dir": str(folder), "mysql": SERVER_URLS["mysql"]}
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(**values))
    return [arg.replace("{dir}", str(folder)) for arg in case.args]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_error_and_changes_nothing(
    loaded: Settings, case: Case, case_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = Snapshot.of(loaded)
    args = _prepare(case, case_dir, monkeypatch)
    expected = case.expected.replace("{dir}", str(case_dir))
    line = assert_one_clean_error(invoke(*args), case.code, expected)
    assert "p@ss:word" not in line and ":b@" not in line  # never a password
    assert Snapshot.of(loaded) == before


@pytest.mark.parametrize("name", ["taiex.db", "taiex.db-wal", "taiex.db.etl.lock"])
@pytest.mark.parametrize("command", ["export-csv", "backtest"])
def test_an_output_over_the_database_is_refused(
    loaded: Settings, name: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`taiex export-csv ~/.taiex/taiex.db` replaced the whole database with a CSV file."""
    database = loaded.home / "taiex.db"
    before, content = Snapshot.of(loaded), database.read_bytes()
    monkeypatch.chdir(loaded.home)  # a relative path names the database too
    target = name if name != "taiex.db-wal" else str(loaded.home / ".." / loaded.home.name / name)
    args = {
        "export-csv": ("export-csv", target),
        "backtest": (
            *words("backtest classifier --train-until 2024-11-29 --from 2024-12-02 --out"),
            target,
        ),
    }[command]
    assert_one_clean_error(invoke(*args), 1, f"{target}: is a file of the database")
    assert database.read_bytes() == content
    assert Snapshot.of(loaded) == before


# ---------------------------------------------------------------- a full disk


def cannot_mount(reason: str) -> None:
    """Skip, with the reason; fail where mounts are required (CI, TAIEX_REQUIRE_MOUNTS=1)."""
    if os.environ.get("TAIEX_REQUIRE_MOUNTS"):
        pytest.fail(f"{reason}, but TAIEX_REQUIRE_MOUNTS is set")
    pytest.skip(reason)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, full file system: a 64 kB tmpfs filled to the last byte (needs root)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        cannot_mount(f"cannot mount a small tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("report",), "cannot write (No space left on device)"),
        (("export-csv", "{full}/out.csv"), "cannot write (No space left on device)"),
    ],
)
def test_a_full_disk_is_one_error_and_changes_nothing(
    loaded: Settings,
    full_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    expected: str,
) -> None:
    before = Snapshot.of(loaded)
    # The database stays where it is; plots, the report and exports go to the full disk. (A load
    # writes nothing there: TWSE's responses are kept in the database.)
    monkeypatch.setenv("TAIEX_DB_URL", loaded.database_url)
    monkeypatch.setenv("TAIEX_HOME", str(full_disk))
    result = invoke(*(arg.replace("{full}", str(full_disk)) for arg in args))
    assert_one_clean_error(result, 1, expected)
    assert Snapshot.of(loaded) == before
    assert not [p for p in full_disk.rglob("*") if p.is_file() and p.name != "filler"]


@pytest.fixture
def read_only_home(tmp_path: Path) -> Iterator[Path]:
    """A home holding a database, bind-mounted read-only: a real read-only home, even for root."""
    home = tmp_path / "ro-home"
    home.mkdir()
    store = Store(f"sqlite:///{home / 'taiex.db'}")
    store.create_schema()
    store.dispose()
    commands = [
        ["mount", "--bind", str(home), str(home)],
        ["mount", "-o", "remount,ro,bind", str(home)],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", str(home)], capture_output=True, check=False)
            cannot_mount(f"cannot make a read-only mount (needs root): {done.stderr.decode()}")
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def test_a_read_only_home_names_the_database_not_the_tables(
    read_only_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` in a home that cannot be written: one line about opening the database, never
    "while creating the tables"."""
    for key in [k for k in os.environ if k.startswith("TAIEX_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TAIEX_HOME", str(read_only_home))
    line = assert_one_clean_error(invoke("status"), 1, "cannot open the database")
    assert "creating the tables" not in line
    assert f"sqlite:///{read_only_home / 'taiex.db'}" in line
