"""One settings object, read from ``TAIEX_*`` environment variables and an optional TOML file.

The file is ``$TAIEX_CONFIG`` when set, else ``$TAIEX_HOME/config.toml`` when it exists. Its
keys are the variable names without the prefix, in lower case (``db_url = "sqlite:///..."``).
The environment wins over the file, the file over the defaults.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from taiex.errors import SettingsError

TWSE_URL = "https://www.twse.com.tw/rwd/zh/TAIEX/MI_5MINS_HIST"
# TWSE blocks an IP above about 3 requests in 5 seconds; 2 s between starts stays well below.
TWSE_POLITE_INTERVAL = 2.0


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of DESIGN.md."""

    home: Path = field(default_factory=lambda: Path("~/.taiex").expanduser())
    db_url: str = ""  # empty means the SQLite file under home
    twse_url: str = TWSE_URL
    twse_min_interval: float = TWSE_POLITE_INTERVAL
    twse_retries: int = 5
    twse_backoff: float = 2.0
    twse_timeout: float = 30.0
    # The previous month is asked again during this many days of a new month (TWSE revises).
    revision_days: int = 5
    lstm_smape_max: float = 100.0
    lstm_naive_margin: float = 0.05
    # Retrain the LSTM when it is significantly worse than naive over its window: the
    # Diebold-Mariano t of the per-pair sMAPE differences above this (issue 10).
    lstm_dm_t_max: float = 2.0
    classifier_auc_min: float = 0.8
    # Hyperparameters from the config file's [lstm] and [classifier] tables (LSTMConfig and
    # ClassifierConfig field names); empty means the models' defaults.
    lstm: Mapping[str, Any] = field(default_factory=dict)
    classifier: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, the SQLite file under ``home`` when none is set."""
        return self.db_url or f"sqlite:///{self.home / 'taiex.db'}"

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def plots_dir(self) -> Path:
        return self.home / "plots"

    @property
    def report_dir(self) -> Path:
        return self.home / "report"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``) and the config file."""
        env = os.environ if environ is None else environ
        home = Path(env.get("TAIEX_HOME") or "~/.taiex").expanduser()
        values: dict[str, Any] = {"home": home}
        config_path = env.get("TAIEX_CONFIG")
        config = Path(config_path).expanduser() if config_path else home / "config.toml"
        if config_path or config.exists():
            values.update(_read_config(config))
        for f in dataclasses.fields(cls):
            raw = env.get(f"TAIEX_{f.name.upper()}")
            if raw is not None and f.name not in ("home", *_TABLES):
                values[f.name] = raw
        return cls(**{k: _convert(k, v) for k, v in values.items()})

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def _check(self) -> None:
        positive = ("twse_timeout",)
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"TAIEX_{name.upper()} must be > 0, got {getattr(self, name)}")
        non_negative = (
            "twse_min_interval",
            "twse_retries",
            "twse_backoff",
            "revision_days",
            "lstm_smape_max",
            "lstm_naive_margin",
            "lstm_dm_t_max",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise SettingsError(f"TAIEX_{name.upper()} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.classifier_auc_min <= 1:
            raise SettingsError(
                f"TAIEX_CLASSIFIER_AUC_MIN must be within [0, 1], got {self.classifier_auc_min}"
            )
        host = urlsplit(self.twse_url).hostname or ""
        if host.endswith("twse.com.tw") and self.twse_min_interval < TWSE_POLITE_INTERVAL:
            raise SettingsError(
                f"TAIEX_TWSE_MIN_INTERVAL={self.twse_min_interval} is below "
                f"{TWSE_POLITE_INTERVAL} s; TWSE blocks clients that ask faster"
            )


_TABLES = ("lstm", "classifier")  # settings that only the config file can give


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError("expected a table")
    return dict(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    f.name: {"float": float, "int": int, "str": str}.get(str(f.type), lambda v: v)
    for f in dataclasses.fields(Settings)
}
_CONVERTERS["home"] = lambda v: Path(v).expanduser()
_CONVERTERS.update({name: _table for name in _TABLES})


def _convert(name: str, value: Any) -> Any:
    try:
        return _CONVERTERS[name](value)
    except (TypeError, ValueError) as exc:
        where = f"[{name}] in the config file" if name in _TABLES else f"TAIEX_{name.upper()}"
        raise SettingsError(f"{where}={value!r} is not a valid value") from exc


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc}") from exc
    known = {f.name for f in dataclasses.fields(Settings)} - {"home"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"config file {path}: unknown keys {', '.join(unknown)}")
    return data
