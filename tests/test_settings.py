"""Settings from the environment and the config file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taiex.errors import SettingsError
from taiex.settings import Settings, redact_url, url_password


def test_defaults_follow_design(tmp_path: Path) -> None:
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'taiex.db'}"
    assert s.twse_url == "https://www.twse.com.tw/rwd/zh/TAIEX/MI_5MINS_HIST"
    assert (s.twse_min_interval, s.lstm_smape_max, s.classifier_auc_min) == (2.0, 100.0, 0.8)
    assert (s.lstm_naive_margin, s.lstm_dm_t_max) == (0.05, 2.0)
    assert Settings.from_env(
        {"TAIEX_HOME": str(tmp_path), "TAIEX_LSTM_DM_T_MAX": "3"}
    ) == s.replace(lstm_dm_t_max=3.0)
    assert (s.plots_dir, s.report_location) == (
        tmp_path / "plots",
        str(tmp_path / "report"),
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
        ("lstm = 3\n", r"\[lstm\] in the config file .*config.toml=3 is not a valid value"),
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
        ({"TAIEX_TWSE_RETRIES": "-1"}, r"TAIEX_TWSE_RETRIES must be within \[0, 100\]"),
        ({"TAIEX_LSTM_DM_T_MAX": "-1"}, r"TAIEX_LSTM_DM_T_MAX must be within \[0, 100\]"),
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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # NaN compares false with everything: it used to pass every bound and switch a check off.
        ({"TAIEX_TWSE_MIN_INTERVAL": "nan"}, "TAIEX_TWSE_MIN_INTERVAL='nan' is not a valid"),
        ({"TAIEX_LSTM_SMAPE_MAX": "nan"}, "TAIEX_LSTM_SMAPE_MAX='nan' is not a valid"),
        ({"TAIEX_CLASSIFIER_AUC_MIN": "NaN"}, "TAIEX_CLASSIFIER_AUC_MIN='NaN' is not a valid"),
        ({"TAIEX_TWSE_TIMEOUT": "inf"}, "not a finite number"),
        ({"TAIEX_TWSE_BACKOFF": "1e999"}, "not a finite number"),
        ({"TAIEX_TWSE_BACKOFF": "1e300"}, r"TAIEX_TWSE_BACKOFF must be within \[0, 3600\]"),
        ({"TAIEX_TWSE_RETRIES": "99999999999999999999"}, "TAIEX_TWSE_RETRIES='9+' is not"),
        ({"TAIEX_TWSE_RETRIES": "2.7"}, "not a whole number"),
        ({"TAIEX_TWSE_RETRIES": "３"}, "not a whole number"),
        ({"TAIEX_TWSE_TIMEOUT": "３"}, "TAIEX_TWSE_TIMEOUT='３' is not a valid value"),
        ({"TAIEX_TWSE_MAX_BYTES": "0"}, "TAIEX_TWSE_MAX_BYTES must be within"),
        ({"TAIEX_TASK_RETRY_DELAY": "-1"}, r"TAIEX_TASK_RETRY_DELAY must be within \[0, 1440\]"),
        ({"TAIEX_TASK_RETRY_DELAY": "nan"}, "TAIEX_TASK_RETRY_DELAY='nan' is not a valid"),
        ({"TAIEX_TWSE_URL": "ftp://example.org/x"}, "is not an http"),
        # Hosts compare as DNS does: a trailing dot or capitals are still TWSE.
        (
            {"TAIEX_TWSE_URL": "https://www.TWSE.com.tw./rwd", "TAIEX_TWSE_MIN_INTERVAL": "0.5"},
            "TWSE blocks clients that ask faster",
        ),
        (
            {"TAIEX_TWSE_URL": "https://TWSE.COM.TW/rwd", "TAIEX_TWSE_MIN_INTERVAL": "0"},
            "TWSE blocks clients that ask faster",
        ),
    ],
)
def test_non_finite_and_loose_numbers_are_refused(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("9+", "9+")):
        Settings.from_env({"TAIEX_HOME": str(tmp_path), **env})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("twse_retries = 2.7\n", r"twse_retries in .*config.toml=2.7 is not a valid value"),
        ("twse_retries = true\n", r"twse_retries in .*config.toml=True is not a valid value"),
        ("twse_timeout = true\n", "a boolean is not a number"),
        ("twse_timeout = nan\n", "not a finite number"),
        ("twse_timeout = inf\n", "not a finite number"),
        ("lstm_smape_max = -inf\n", "not a finite number"),
        ("twse_url = 5\n", "twse_url in .*=5 is not a valid value"),
        ("[lstm]\nlearning_rate = nan\n", r"\[lstm\] in the config file .*: learning_rate"),
        ("[classifier]\ngrids = { svm = { C = [1.0, inf] } }\n", "not a finite number"),
    ],
)
def test_config_file_numbers_are_strict(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TAIEX_HOME": str(tmp_path)})


def test_whole_floats_and_integer_text_are_fine(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("twse_timeout = 3\ntwse_retries = 4\n")
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_TWSE_BACKOFF": " 0.5 "})
    assert (s.twse_timeout, s.twse_retries, s.twse_backoff) == (3.0, 4, 0.5)


def test_a_config_file_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes("twse_url = '台'\n".encode("big5"))
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        Settings.from_env({"TAIEX_HOME": str(tmp_path)})


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    with pytest.raises(SettingsError, match=f"TAIEX_HOME {home} is not a folder"):
        Settings.from_env({"TAIEX_HOME": str(home)})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql+pymysql://me:p@ss:word@db:3306/x", "mysql+pymysql://me:***@db:3306/x"),
        ("postgresql://me:s3cret@db/x", "postgresql://me:***@db/x"),
        ("postgresql://me:s3cret@db:notaport/x", "postgresql://me:***@db:notaport/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgresql://me@db/x", "postgresql://me@db/x"),
    ],
)
def test_urls_never_show_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    password = url_password(url)
    assert password is None or password not in redact_url(url)


def test_the_models_tables_from_the_environment_as_json(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[lstm]\nhidden_size = 8\n")
    env = {"TAIEX_HOME": str(tmp_path), "TAIEX_LSTM": '{"epochs": 2, "hidden_size": 4}'}
    assert dict(Settings.from_env(env).lstm) == {"epochs": 2, "hidden_size": 4}
    for bad in ("3", "[1]", "{epochs: 2"):
        with pytest.raises(SettingsError, match=r"TAIEX_LSTM=.* is not a JSON object"):
            Settings.from_env({**env, "TAIEX_LSTM": bad})


def test_to_environ_gives_back_the_same_settings_without_home_and_database(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(
        'db_url = "sqlite:///secret.db"\nrevision_days = 3\n[classifier]\nfamilies = ["logistic"]\n'
    )
    s = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_REPORT_URL": "s3://bucket/taiex/"})
    environ = s.to_environ()
    assert environ == {
        "TAIEX_REPORT_URL": "s3://bucket/taiex/",
        "TAIEX_REVISION_DAYS": "3",
        "TAIEX_CLASSIFIER": '{"families": ["logistic"]}',
    }
    elsewhere = tmp_path / "elsewhere"
    again = Settings.from_env({"TAIEX_HOME": str(elsewhere), **environ})
    assert again == s.replace(home=elsewhere, db_url="")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A value from the file is named by its key and file: no such variable is set.
        ("revision_days = 99\n", r"^revision_days in .*config.toml must be within \[0, 31\]"),
        ("twse_timeout = 0\n", r"^twse_timeout in .*config.toml must be > 0"),
        ("twse_url = 'ftp://x'\n", r"^twse_url in .*config.toml 'ftp://x' is not an http"),
        ("twse_min_interval = 0.5\n", r"^twse_min_interval in .*config.toml=0.5 is below 2.0"),
    ],
)
def test_a_bad_value_from_the_config_file_names_its_key_and_file(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TAIEX_HOME": str(tmp_path)})


def test_a_bad_model_table_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    from taiex.kinds.lstm import LSTM

    settings = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_LSTM": '{"nope": 1}'})
    with pytest.raises(SettingsError, match=r"^TAIEX_LSTM: unknown keys nope$"):
        LSTM.config(settings)
    with pytest.raises(SettingsError, match=r"^TAIEX_LSTM: max_epochs: inf is not a finite"):
        Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_LSTM": '{"max_epochs": 1e999}'})


@pytest.mark.parametrize(
    ("kind", "table", "message"),
    [
        # These reached torch or scikit-learn and ended in a traceback.
        ("lstm", {"max_epochs": 2.0}, "max_epochs must be a whole number, got 2.0"),
        ("lstm", {"hidden_size": 4.5}, "hidden_size must be a whole number, got 4.5"),
        ("lstm", {"max_epochs": "x"}, "max_epochs must be a whole number, got 'x'"),
        ("lstm", {"dropout": True}, "dropout must be a number, got True"),
        ("lstm", {"device": 5}, "device must be a string, got 5"),
        ("classifier", {"n_splits": 2.5}, "n_splits must be a whole number, got 2.5"),
        ("classifier", {"candidates": "svm"}, "candidates must be a list of strings, got 'svm'"),
        ("classifier", {"threshold": "0.5"}, "threshold must be a number, got '0.5'"),
        ("lstm", {"seed": -1}, "LSTMConfig.seed must be >= 0, got -1"),
        ("classifier", {"grids": {"svm": 5}}, "grids.svm must be a table of parameter lists"),
        ("classifier", {"grids": {"svm": {"C": "x"}}}, "grids.svm.C must be a non-empty list"),
        ("classifier", {"grids": {"svm": {"C": []}}}, "grids.svm.C must be a non-empty list"),
    ],
)
def test_a_model_table_value_of_the_wrong_type_is_named(
    tmp_path: Path, kind: str, table: dict[str, object], message: str
) -> None:
    from taiex.kinds import get

    spec = get(kind)
    env = {"TAIEX_HOME": str(tmp_path), f"TAIEX_{kind.upper()}": json.dumps(table)}
    with pytest.raises(SettingsError, match=f"^TAIEX_{kind.upper()}: {re.escape(message)}"):
        spec.config(Settings.from_env(env))


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://", "sqlite:///file:x?mode=memory"]
)
def test_an_in_memory_database_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError, match="is an in-memory database"):
        Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_DB_URL": url})
    (tmp_path / "config.toml").write_text(f"db_url = '{url}'\n")
    with pytest.raises(SettingsError, match=r"^db_url in .*config.toml 'sqlite"):
        Settings.from_env({"TAIEX_HOME": str(tmp_path)})


def test_a_database_file_named_memory_is_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    assert Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_DB_URL": url}).db_url == url
