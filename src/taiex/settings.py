"""One settings object, read from ``TAIEX_*`` environment variables and an optional TOML file.

The file is ``$TAIEX_CONFIG`` when set, else ``$TAIEX_HOME/config.toml`` when it exists. Its
keys are the variable names without the prefix, in lower case (``db_url = "sqlite:///..."``).
The environment wins over the file, the file over the defaults. The models' tables (``[lstm]``,
``[classifier]``) can come from the environment too, as JSON objects
(``TAIEX_LSTM='{"max_epochs": 5}'``): that is how the Airflow DAG hands a container the settings
its worker read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from taiex.errors import SettingsError

TWSE_URL = "https://www.twse.com.tw/rwd/zh/TAIEX/MI_5MINS_HIST"
TWSE_DOMAIN = "twse.com.tw"
# TWSE blocks an IP above about 3 requests in 5 seconds; 2 s between starts stays well below.
TWSE_POLITE_INTERVAL = 2.0
# A month of MI_5MINS_HIST is about 5 kB: a response above 1 MB is not TWSE's.
TWSE_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of docs/design.md ("Configuration")."""

    home: Path = field(default_factory=lambda: Path("~/.taiex").expanduser())
    db_url: str = ""  # empty means the SQLite file under home
    # Where the report page goes: a folder, or an fsspec URL (s3://bucket/taiex/); empty means
    # the folder report/ under home.
    report_url: str = ""
    # The report's daily archive beside it: pages older than this many days (before the newest
    # archived data day) are removed, except the first page of each month.
    report_keep_days: int = 90
    twse_url: str = TWSE_URL
    twse_min_interval: float = TWSE_POLITE_INTERVAL
    twse_retries: int = 5
    twse_backoff: float = 2.0
    # The whole of one request (connect, headers, body) must finish within this many seconds.
    twse_timeout: float = 30.0
    twse_max_bytes: int = TWSE_MAX_BYTES
    # The previous month is asked again during this many days of a new month (TWSE revises).
    revision_days: int = 5
    lstm_smape_max: float = 100.0
    lstm_naive_margin: float = 0.05
    # Retrain the LSTM when it is significantly worse than naive over its window: the
    # Diebold-Mariano t of the per-pair sMAPE differences above this (issue 10).
    lstm_dm_t_max: float = 2.0
    classifier_auc_min: float = 0.8
    # ... unless the trivial close/MA20 score does no better than the classifier's AUC plus this
    # on the same days: then the days are hard for any rule, and a retrain cannot help (the
    # replay of 2016-2021 in BENCHMARKS.md). Negative: the guard is off (-1: always retrain
    # below the floor).
    classifier_trivial_margin: float = 0.02
    # The pre-open round (docs/design.md, "Overnight data"): where the US closes come from
    # (yahoo, csv:PATH_OR_URL or none: no round), which symbols, and when the round is issued
    # on a TAIEX session day, Taipei time (HH:MM).
    overnight_source: str = "yahoo"
    overnight_symbols: str = "^GSPC,^IXIC,^SOX,TSM"
    preopen_time: str = "07:30"
    # The Airflow DAGs' limit on each task, in minutes (dags/taiex_dag_common.py reads them when
    # it is parsed, from the scheduler's environment: ``TAIEX_TASK_TIMEOUT_FIT=60``). Sized from
    # BENCHMARKS.md, about ten times the slowest step measured on a loaded 2-core machine:
    # - network (download_weighted_stock_price, download_overnight_closes): a day asks TWSE for
    #   a month or two in 2-10 s ("A day with nothing new under Airflow"), but the first run on an
    #   empty database backfills 332 months at TWSE's 2-s interval, about 11 minutes ("ETL"); a
    #   US-close fetch is one request a symbol.
    # - load (save_to_database, merge_weighted_index): 1-6 s a day, the whole history staged and
    #   merged in under 3 s ("ETL", "A day with nothing new under Airflow").
    # - model (evaluate_<kind>, the pre-open round's night, the branches): 2-20 s under Airflow,
    #   an LSTM evaluation computed afresh (600 pairs) included.
    # - fit (train_<kind>, and <kind>'s serving task, which trains the first model on a database
    #   with none): an LSTM fit 40-63 s of CPU, the classifier tournament 23-43 s, a retrain of
    #   both kinds 3-6 minutes on a loaded machine ("Forecaster", "Classifier", "The daily loop
    #   replayed"); the original recipe's fit 7 minutes.
    # - report (process_models_predict_outputs and the other report tasks): 4-14 s.
    task_timeout_network: float = 15.0
    task_timeout_load: float = 5.0
    task_timeout_model: float = 10.0
    task_timeout_fit: float = 45.0
    task_timeout_report: float = 5.0
    # Minutes before a failed task's next try (all but the downloads, which back off from 1
    # minute): what a load lock held by a `taiex` command needs to pass. A model task's one retry
    # is for a lost worker, which the scheduler notices first ([scheduler]
    # task_instance_heartbeat_timeout): a cluster may shorten both (the Celery test: seconds).
    task_retry_delay: float = 5.0
    # Notifications (docs/design.md, "Notifications"): Apprise URLs separated by spaces (they
    # hold tokens: never in a repr or a log), and the events sent (commas or spaces between).
    notify_urls: str = field(default="", repr=False)
    notify_events: str = "failed,signal-changed,promoted,stale"
    # Hyperparameters from the config file's [lstm] and [classifier] tables (LSTMConfig and
    # ClassifierConfig field names); empty means the models' defaults.
    lstm: Mapping[str, object] = field(default_factory=dict)
    classifier: Mapping[str, object] = field(default_factory=dict)
    # ... and [preopen_forecaster] (PreopenModelConfig's) and [preopen_classifier]
    # (PreopenClassifierConfig's), the pre-open round's models.
    preopen_forecaster: Mapping[str, object] = field(default_factory=dict)
    preopen_classifier: Mapping[str, object] = field(default_factory=dict)
    # Where each value was read (``TAIEX_TWSE_RETRIES``, ``twse_retries in /x/config.toml``), so
    # that an error names the place to fix; no setting of its own.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._check()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, the SQLite file under ``home`` when none is set."""
        return self.db_url or f"sqlite:///{self.home / 'taiex.db'}"

    @property
    def symbols(self) -> tuple[str, ...]:
        """``overnight_symbols`` as a tuple, in the order given."""
        return tuple(symbol.strip() for symbol in self.overnight_symbols.split(","))

    @property
    def preopen(self) -> dt.time:
        """``preopen_time`` as a time of day (Taipei)."""
        hours, minutes = self.preopen_time.split(":")
        return dt.time(int(hours), int(minutes))

    @property
    def notify_event_names(self) -> tuple[str, ...]:
        """``notify_events`` as event names."""
        from taiex.notify import parse_events

        return parse_events(self.notify_events)

    @property
    def plots_dir(self) -> Path:
        return self.home / "plots"

    @property
    def report_location(self) -> str:
        """``report_url``, else the folder ``report`` under ``home``."""
        return self.report_url or str(self.home / "report")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``) and the config file."""
        env = os.environ if environ is None else environ
        home = Path(env.get("TAIEX_HOME") or "~/.taiex").expanduser()
        values: dict[str, object] = {"home": home}
        where: dict[str, str] = {"home": "TAIEX_HOME"}
        config_path = env.get("TAIEX_CONFIG")
        config = Path(config_path).expanduser() if config_path else home / "config.toml"
        if config_path or config.is_file():
            from_file = _read_config(config)
            values.update(from_file)
            where.update({key: _file_origin(key, config) for key in from_file})
        for f in dataclasses.fields(cls):
            if f.name in _NOT_SETTINGS:
                continue
            raw = env.get(f"TAIEX_{f.name.upper()}")
            if raw is not None and f.name in _TABLES:
                values[f.name] = _json_table(f.name, raw)
                where[f.name] = f"TAIEX_{f.name.upper()}"
            elif raw is not None and f.name != "home":
                values[f.name] = raw
                where[f.name] = f"TAIEX_{f.name.upper()}"
        # Each value converted to its field's type (SettingsError otherwise): keyword arguments.
        converted: dict[str, Any] = {k: _convert(k, v, where[k]) for k, v in values.items()}
        return cls(**converted, origins=where)

    def to_environ(self) -> dict[str, str]:
        """The settings that differ from the defaults as ``TAIEX_*`` variables, tables as JSON:
        what :meth:`from_env` reads back. Neither ``home`` nor ``db_url``: the one is a
        machine's folder, the other a secret to hand over on its own; nor ``notify_urls``
        (tokens; a container's step sends nothing)."""
        environ = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("home", "db_url", "notify_urls", *_NOT_SETTINGS) or value == getattr(
                _DEFAULTS, f.name
            ):
                continue
            text = json.dumps(dict(value)) if f.name in _TABLES else str(value)
            environ[f"TAIEX_{f.name.upper()}"] = text
        return environ

    @classmethod
    def from_variables(cls, names: tuple[str, ...], environ: Mapping[str, str]) -> Settings:
        """Only the settings ``names`` from their ``TAIEX_*`` variables (empty: unset), checked
        and converted as :meth:`from_env` does, every other setting its default and no config
        file read: what a DAG file reads when Airflow parses it."""
        values: dict[str, Any] = {}
        where: dict[str, str] = {}
        for name in names:
            variable = f"TAIEX_{name.upper()}"
            if environ.get(variable):
                values[name] = _convert(name, environ[variable], variable)
                where[name] = variable
        return cls(**values, origins=where)

    def task_timeout(self, group: str) -> dt.timedelta:
        """``task_timeout_<group>`` (minutes) as a timedelta."""
        return dt.timedelta(minutes=getattr(self, f"task_timeout_{group}"))

    def origin(self, name: str) -> str:
        """Where the value of setting ``name`` came from, as an error message names it."""
        if name in self.origins:
            return self.origins[name]
        return f"[{name}] in the config file" if name in _TABLES else f"TAIEX_{name.upper()}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def _check(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not (low <= value <= high and math.isfinite(value)):
                raise SettingsError(
                    f"{self.origin(name)} must be within [{low:g}, {high:g}], got {value}"
                )
        if self.twse_timeout <= 0:
            raise SettingsError(
                f"{self.origin('twse_timeout')} must be > 0, got {self.twse_timeout}"
            )
        if self.home.exists() and not self.home.is_dir():
            raise SettingsError(f"TAIEX_HOME {self.home} is not a folder")
        for table in _TABLES:
            _check_finite(getattr(self, table), self.origin(table))
        if is_memory_sqlite(self.db_url):
            # Each command is its own process: what one stored would be gone when it ends.
            raise SettingsError(
                f"{self.origin('db_url')} {self.db_url!r} is an in-memory database: whatever "
                "a command stores there is lost when it ends; name a file (sqlite:///path.db)"
            )
        self._check_twse_url()
        self._check_overnight()
        self._check_notify()

    def _check_notify(self) -> None:
        from taiex import notify

        try:
            notify.parse_events(self.notify_events)
        except ValueError as exc:
            raise SettingsError(
                f"{self.origin('notify_events')}={self.notify_events!r}: {exc}"
            ) from None
        urls = notify.split_urls(self.notify_urls)
        if not urls:
            return
        try:
            bad = notify.unusable_urls(urls)
        except ImportError as exc:
            raise SettingsError(
                f"{self.origin('notify_urls')} is set but Apprise is not installed "
                f"(pip install apprise): {exc}"
            ) from None
        if bad:
            # Only the scheme: the rest of an Apprise URL holds its tokens.
            which = ", ".join(f"URL {n} ({notify.service(urls[n - 1])}://...)" for n in bad)
            raise SettingsError(
                f"{self.origin('notify_urls')}: Apprise cannot use {which}; see "
                "https://github.com/caronc/apprise/wiki for each service's URL"
            )

    def _check_overnight(self) -> None:
        source = self.overnight_source
        if not (source in ("yahoo", "none") or (source.startswith("csv:") and source[4:].strip())):
            raise SettingsError(
                f"{self.origin('overnight_source')}={source!r}: use yahoo, csv:PATH_OR_URL or none"
            )
        location = source[4:].strip()
        if source.startswith("csv:") and "://" in location and not _is_http_url(location):
            raise SettingsError(
                f"{self.origin('overnight_source')}={source!r}: {location!r} is not an http(s) "
                "URL (a file is csv:PATH)"
            )
        symbols = self.symbols
        if not all(_SYMBOL.fullmatch(symbol) for symbol in symbols) or len(set(symbols)) < len(
            symbols
        ):
            raise SettingsError(
                f"{self.origin('overnight_symbols')}={self.overnight_symbols!r}: give distinct "
                "Yahoo Finance symbols separated by commas, in upper case as Yahoo writes them "
                "(^GSPC,^IXIC,^SOX,TSM)"
            )
        if not _TIME.fullmatch(self.preopen_time):
            raise SettingsError(
                f"{self.origin('preopen_time')}={self.preopen_time!r} is not a time of day "
                "before TAIEX's 09:00 open (HH:MM, Taipei)"
            )

    def _check_twse_url(self) -> None:
        if not _is_http_url(self.twse_url):
            raise SettingsError(
                f"{self.origin('twse_url')} {self.twse_url!r} is not an http(s) URL"
            )
        if is_twse_host(self.twse_url) and self.twse_min_interval < TWSE_POLITE_INTERVAL:
            raise SettingsError(
                f"{self.origin('twse_min_interval')}={self.twse_min_interval} is below "
                f"{TWSE_POLITE_INTERVAL} s; TWSE blocks clients that ask faster"
            )


# The groups of Airflow tasks with a limit of their own (``task_timeout_<group>``).
TASK_TIMEOUTS = ("network", "load", "model", "fit", "report")

# Bounds of every number: finite, and small enough that no sleep or loop overflows.
_RANGES: dict[str, tuple[float, float]] = {
    "twse_min_interval": (0, 3600),
    "twse_retries": (0, 100),
    "twse_backoff": (0, 3600),
    "twse_timeout": (0, 3600),
    "twse_max_bytes": (1, 1_000_000_000),
    "revision_days": (0, 31),
    "report_keep_days": (1, 36_600),  # a day to a century (keep everything)
    "lstm_smape_max": (0, 200),  # sMAPE is within [0, 200]
    "lstm_naive_margin": (0, 100),
    "lstm_dm_t_max": (0, 100),
    "classifier_auc_min": (0, 1),
    "classifier_trivial_margin": (-1, 1),
    # Minutes: from 3 s (a test's planted hang) to a day.
    **{f"task_timeout_{group}": (0.05, 1440) for group in TASK_TIMEOUTS},
    "task_retry_delay": (0, 1440),
}

# A Yahoo Finance symbol: capitals, digits and ^ . - = (^GSPC, TSM, BRK-B, ES=F, 2330.TW).
# Lower case is refused: yfinance asks Yahoo in upper case and answers under that name, so "tsm"
# was never found, and "TSM,tsm" were two symbols stored apart.
_SYMBOL = re.compile(r"[A-Z0-9^.=-]{1,20}", re.ASCII)
# The round is issued before TAIEX opens at 09:00 (and after midnight: it belongs to that day).
_TIME = re.compile(r"0[0-8]:[0-5]\d", re.ASCII)

# Tables: in the config file, or JSON in the environment.
_TABLES = ("lstm", "classifier", "preopen_forecaster", "preopen_classifier")
_NOT_SETTINGS = ("origins",)  # fields that no variable or key sets


def _file_origin(key: str, config: Path) -> str:
    return f"[{key}] in the config file {config}" if key in _TABLES else f"{key} in {config}"


def _json_table(name: str, raw: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SettingsError(f"TAIEX_{name.upper()}={raw!r} is not a JSON object")
    return value


def is_memory_sqlite(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``,
    a ``mode=memory`` URI), read as SQLAlchemy reads it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0].strip().lower() != "sqlite":
        return False
    path, _, query = rest.partition("?")
    database = path.removeprefix("/")
    return database in ("", ":memory:") or "mode=memory" in query


def _is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        return valid and (parts.port is None or parts.port > 0)
    except ValueError:  # a bad port, a bracket that is no IPv6 address, ...
        return False


def url_host(url: str) -> str:
    """The host of ``url`` as DNS compares it: lower case, without a trailing dot."""
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def is_twse_host(url: str) -> bool:
    """Whether ``url`` points at TWSE (``twse.com.tw`` or any of its subdomains)."""
    host = url_host(url)
    return host == TWSE_DOMAIN or host.endswith("." + TWSE_DOMAIN)


def _split_password(url: str) -> tuple[str, str | None, str]:
    """(before, password, after) of a URL's ``user:password@`` part, tolerant of bad URLs.

    The authority ends at the first ``/`` after ``://``; its last ``@`` ends the user part, so a
    password holding ``@`` or ``:`` is still found whole.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, None, ""
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    userinfo, at, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon:
        return url, None, ""
    return f"{scheme}://{user}:", password, f"@{host}{path}"


def url_password(url: str, *, raw: bool = False) -> str | None:
    """The password in a database URL, found even when the URL is malformed: decoded
    (``p@ss`` for ``p%40ss``), or as the URL spells it with ``raw=True``."""
    password = _split_password(url)[1]
    if not password:
        return None
    return password if raw else unquote(password)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, whether the URL parses or not."""
    before, password, after = _split_password(url)
    return url if password is None else f"{before}***{after}"


def _check_finite(value: object, where: str) -> None:
    """Refuse NaN and infinities anywhere in a table of hyperparameters."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{where}: {value} is not a finite number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{where}: {key}")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_finite(item, where)


def _table(value: object) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError("expected a table")
    return dict(value)


_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)


def _integer(value: object) -> int:
    """An int from an int or its decimal text; never from a bool, a float (2.7) or other digits."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError("not a whole number")


def _number(value: object) -> float:
    """A finite float from a number or its ASCII text; never from a bool, NaN or an infinity."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, str) and not value.isascii():
        raise ValueError("not a number")
    if not isinstance(value, int | float | str):
        raise TypeError("not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


_CONVERTERS: dict[str, Callable[[object], object]] = {
    f.name: {"float": _number, "int": _integer, "str": _text}.get(str(f.type), lambda v: v)
    for f in dataclasses.fields(Settings)
}
_CONVERTERS["home"] = lambda v: Path(str(v)).expanduser()
_CONVERTERS.update({name: _table for name in _TABLES})


def _urls(value: object) -> str:
    """Apprise URLs: text, or a TOML list of texts. The error never shows the value (tokens)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return " ".join(value)
    raise SettingsError("notify_urls must be text or a list of texts (Apprise URLs)")


_CONVERTERS["notify_urls"] = _urls
_CONVERTERS["notify_events"] = lambda v: " ".join(v) if isinstance(v, list) else _text(v)


def _convert(name: str, value: object, where: str) -> object:
    try:
        return _CONVERTERS[name](value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SettingsError(f"{where}={value!r} is not a valid value ({exc})") from exc


def _read_config(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"config file {path} is not UTF-8 text ({exc.reason})") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc}") from exc
    known = {f.name for f in dataclasses.fields(Settings)} - {"home", *_NOT_SETTINGS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"config file {path}: unknown keys {', '.join(unknown)}")
    return data


_DEFAULTS = Settings()
