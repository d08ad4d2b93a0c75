"""Settings from the environment and the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from taiex.errors import SettingsError
from taiex.settings import Settings


def test_defaults_follow_design(tmp_path: Path) -> None:
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'taiex.db'}"
    assert s.twse_url == "https://www.twse.com.tw/rwd/zh/TAIEX/MI_5MINS_HIST"
    assert (s.twse_min_interval, s.lstm_smape_max, s.classifier_auc_min) == (2.0, 100.0, 0.8)
    assert (s.lstm_naive_margin, s.lstm_dm_t_max) == (0.05, 2.0)
    assert Settings.from_env(
        {"TAIEX_HOME": str(tmp_path), "TAIEX_LSTM_DM_T_MAX": "3"}
    ) == s.replace(lstm_dm_t_max=3.0)
    assert (s.raw_dir, s.plots_dir, s.report_dir) == (
        tmp_path / "raw",
        tmp_path / "plots",
        tmp_path / "report",
    )


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'db_url = "sqlite:///x.db"\ntwse_retries = 9\n[lstm]\nhidden_size = 8\n'
    )
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_TWSE_RETRIES": "2"})
    assert (s.db_url, s.twse_retries, dict(s.lstm)) == ("sqlite:///x.db", 2, {"hidden_size": 8})


def test_explicit_config_path(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("classifier_auc_min = 0.5\n")
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_CONFIG": str(config)})
    assert s.classifier_auc_min == 0.5
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_env({"TAIEX_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nonsense = 1\n", "unknown keys nonsense"),
        ("twse_retries = [\n", "cannot be read"),
        ("lstm = 3\n", r"\[lstm\] in the config file=3 is not a valid value"),
    ],
)
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TAIEX_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TAIEX_TWSE_TIMEOUT": "0"}, "TAIEX_TWSE_TIMEOUT must be > 0"),
        ({"TAIEX_TWSE_RETRIES": "-1"}, "TAIEX_TWSE_RETRIES must be >= 0"),
        ({"TAIEX_LSTM_DM_T_MAX": "-1"}, "TAIEX_LSTM_DM_T_MAX must be >= 0"),
        ({"TAIEX_CLASSIFIER_AUC_MIN": "1.5"}, "within"),
        ({"TAIEX_TWSE_BACKOFF": "fast"}, "'fast' is not a valid value"),
        ({"TAIEX_TWSE_MIN_INTERVAL": "1"}, "TWSE blocks clients that ask faster"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TAIEX_HOME": str(tmp_path), **env})


def test_a_fast_interval_is_fine_for_a_local_server(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "TAIEX_HOME": str(tmp_path),
            "TAIEX_TWSE_URL": "http://127.0.0.1:8000/x",
            "TAIEX_TWSE_MIN_INTERVAL": "0",
        }
    )
    assert s.twse_min_interval == 0.0
