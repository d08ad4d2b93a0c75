"""The LSTM forecaster: shapes and dates, leakage, determinism, artifacts, scale, bad input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, NotFittedError
from taiex.metrics import smape
from taiex.models.lstm import (
    BACKTEST_COLUMNS,
    ORIGIN_COLUMNS,
    PREDICT_COLUMNS,
    SUMMARY_COLUMNS,
    LSTMConfig,
    LSTMForecaster,
    backtest,
)
from tests.series import real_history, synthetic_history

TINY = LSTMConfig(hidden_size=8, num_layers=1, max_epochs=4, patience=2, batch_size=64, ensemble=2)
PRICES = ["open", "high", "low", "close"]
HEADER_SIZE = 45  # magic (11) + format version (2) + sha256 (32)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic_history(400)


@pytest.fixture(scope="module")
def model(history: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster(TINY).fit(history)


@pytest.fixture(scope="module")
def artifact(model: LSTMForecaster) -> bytes:
    return model.to_bytes()


def _perturbed_after(history: pd.DataFrame, row: int, seed: int = 1) -> pd.DataFrame:
    """The same history, with every price after ``row`` scaled by a random factor."""
    changed = history.copy()
    factors = np.random.default_rng(seed).uniform(0.5, 1.5, len(history) - row - 1)
    changed.loc[changed.index[row + 1 :], PRICES] *= factors[:, None]
    return changed


def _intervals_ordered(frame: pd.DataFrame) -> bool:
    chain = ["lower_95", "lower_80", "forecast", "upper_80", "upper_95"]
    values = frame[chain].to_numpy()
    return bool((np.diff(values, axis=1) >= 0).all())


# ---------------------------------------------------------------- predict


def test_predict_gives_five_xtai_sessions_after_the_last_day(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    forecast = model.predict(history)
    last = history["date"].iloc[-1].date()
    assert list(forecast.columns) == PREDICT_COLUMNS
    assert forecast["horizon"].tolist() == [1, 2, 3, 4, 5]
    assert [d.date() for d in forecast["date"]] == next_sessions(last, 5)
    assert (forecast["naive"] == history["close"].iloc[-1]).all()
    assert np.isfinite(forecast[PREDICT_COLUMNS[2:]].to_numpy()).all()


def test_intervals_are_ordered_and_widen_with_the_level(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    rows = model.predict_origins(history)
    assert _intervals_ordered(rows)
    assert (rows["upper_95"] - rows["lower_95"] > rows["upper_80"] - rows["lower_80"]).all()


def test_predict_origins_dates_follow_the_history_then_the_calendar(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    dates = history["date"]
    origins = [dates.iloc[100].date(), dates.iloc[-3].date()]
    rows = model.predict_origins(history, origins)
    assert list(rows.columns) == ORIGIN_COLUMNS
    early = rows[rows["origin_date"] == dates.iloc[100]]
    assert early["target_date"].tolist() == dates.iloc[101:106].tolist()
    late = rows[rows["origin_date"] == dates.iloc[-3]]
    beyond = [pd.Timestamp(d) for d in next_sessions(dates.iloc[-1].date(), 3)]
    assert late["target_date"].tolist() == [*dates.iloc[-2:].tolist(), *beyond]


def test_predict_origins_defaults_to_every_day_with_a_full_window(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    rows = model.predict_origins(history)
    assert len(rows) == (len(history) - 59) * 5
    assert rows["origin_date"].iloc[0] == history["date"].iloc[59]
    last = rows[rows["origin_date"] == history["date"].iloc[-1]].reset_index(drop=True)
    expected = model.predict(history)
    np.testing.assert_array_equal(last["forecast"], expected["forecast"])


def test_a_forecast_depends_on_its_window_only(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    whole = model.predict(history)
    window = model.predict(history.tail(60))
    pd.testing.assert_frame_equal(whole, window)


def test_unknown_or_too_early_origins_are_refused(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match="not a day of the history"):
        model.predict_origins(history, [pd.Timestamp("2019-06-01").date()])
    with pytest.raises(DataError, match="fewer than 60 trading days"):
        model.predict_origins(history, [history["date"].iloc[10].date()])


def test_predict_before_fit_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        LSTMForecaster(TINY).predict(synthetic_history(80))


# ---------------------------------------------------------------- leakage


def test_later_rows_do_not_change_earlier_forecasts(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    cutoff = 250
    changed = _perturbed_after(history, cutoff)
    before = model.predict_origins(history)
    after = model.predict_origins(changed)
    early = before["origin_date"] <= history["date"].iloc[cutoff]
    cols = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive"]
    pd.testing.assert_frame_equal(before.loc[early, cols], after.loc[early, cols])
    assert not np.allclose(before.loc[~early, "forecast"], after.loc[~early, "forecast"])


def test_backtest_trains_on_rows_up_to_train_until_only() -> None:
    history = synthetic_history(500)
    train_until, start = history["date"].iloc[399].date(), history["date"].iloc[400].date()
    cutoff = 450
    changed = _perturbed_after(history, cutoff)
    a = backtest(history, train_until=train_until, start=start, config=TINY)
    b = backtest(changed, train_until=train_until, start=start, config=TINY)
    assert a.model.to_bytes() == b.model.to_bytes()
    assert a.model.metadata()["train_end"] == train_until.isoformat()
    early = a.rows["origin_date"] <= history["date"].iloc[cutoff]
    forecasts = [c for c in BACKTEST_COLUMNS if c != "actual"]  # actuals after cutoff changed
    pd.testing.assert_frame_equal(a.rows.loc[early, forecasts], b.rows.loc[early, forecasts])
    # Changing a row before train_until does change the model: the test above can fail.
    earlier = _perturbed_after(history, 300)
    c = backtest(earlier, train_until=train_until, start=start, config=TINY)
    assert c.model.to_bytes() != a.model.to_bytes()


def test_backtest_start_must_follow_train_until(history: pd.DataFrame) -> None:
    day = history["date"].iloc[350].date()
    with pytest.raises(DataError, match="must be after train_until"):
        backtest(history, train_until=day, start=day, config=TINY)


# ---------------------------------------------------------------- backtest


def test_backtest_rows_and_summary() -> None:
    history = synthetic_history(480)
    result = backtest(
        history,
        train_until=history["date"].iloc[399].date(),
        start=history["date"].iloc[400].date(),
        config=TINY,
    )
    rows, summary = result.rows, result.summary
    assert list(rows.columns) == BACKTEST_COLUMNS
    assert len(rows) == 80 * 5
    beyond = rows["target_date"] > history["date"].iloc[-1]
    assert rows.loc[beyond, "actual"].isna().all()
    assert rows.loc[~beyond, "actual"].notna().all()
    assert beyond.sum() == 1 + 2 + 3 + 4 + 5  # the last 5 origins reach past the data
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["horizon"].tolist() == [1, 2, 3, 4, 5]
    assert summary["n"].tolist() == [79, 78, 77, 76, 75]
    h1 = rows[(rows["horizon"] == 1) & ~beyond]
    assert summary["smape_naive"].iloc[0] == pytest.approx(smape(h1["naive"], h1["actual"]))
    assert summary["ratio"].iloc[0] == pytest.approx(
        summary["smape_model"].iloc[0] / summary["smape_naive"].iloc[0]
    )
    assert summary[["coverage_80", "coverage_95"]].stack().between(0, 100).all()
    assert (summary["coverage_95"] >= summary["coverage_80"]).all()


# ---------------------------------------------------------------- determinism


def test_two_fits_give_identical_bytes_and_forecasts(
    model: LSTMForecaster, artifact: bytes, history: pd.DataFrame
) -> None:
    again = LSTMForecaster(TINY).fit(history)
    assert again.to_bytes() == artifact
    pd.testing.assert_frame_equal(again.predict_origins(history), model.predict_origins(history))


def test_another_seed_gives_another_model(history: pd.DataFrame, artifact: bytes) -> None:
    other = LSTMForecaster(LSTMConfig(**{**TINY.__dict__, "seed": 1})).fit(history)
    assert other.to_bytes() != artifact


def test_fit_leaves_the_callers_random_state_alone(history: pd.DataFrame) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LSTMForecaster(TINY).fit(history)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- artifact


def test_round_trip_keeps_forecasts_and_bytes(
    model: LSTMForecaster, artifact: bytes, history: pd.DataFrame
) -> None:
    loaded = LSTMForecaster.from_bytes(artifact)
    pd.testing.assert_frame_equal(loaded.predict_origins(history), model.predict_origins(history))
    assert loaded.to_bytes() == artifact
    assert loaded.metadata() == model.metadata()


def test_metadata_is_json_and_names_the_payload_checksum(
    model: LSTMForecaster, artifact: bytes, history: pd.DataFrame
) -> None:
    meta = json.loads(json.dumps(model.metadata()))
    assert meta["sha256"] == hashlib.sha256(artifact[HEADER_SIZE:]).hexdigest()
    assert meta["format_version"] == 1
    assert meta["train_start"] == history["date"].iloc[0].date().isoformat()
    assert meta["train_end"] == history["date"].iloc[-1].date().isoformat()
    assert meta["config"]["hidden_size"] == TINY.hidden_size
    assert len(meta["epochs_run"]) == TINY.ensemble
    assert all(1 <= e <= TINY.max_epochs for e in meta["epochs_run"])
    assert len(meta["validation"]["smape_naive"]) == 5


@pytest.mark.parametrize("where", [0, 12, HEADER_SIZE - 1, HEADER_SIZE + 7, -1, "middle"])
def test_a_flipped_byte_is_refused(artifact: bytes, where: int | str) -> None:
    position = len(artifact) // 2 if where == "middle" else int(where)
    corrupt = bytearray(artifact)
    corrupt[position] ^= 0x01
    with pytest.raises(ArtifactError, match=r"checksum|not a taiex LSTM artifact|format version"):
        LSTMForecaster.from_bytes(bytes(corrupt))


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage" * 20, b"TAIEX-LSTM\n", pytest.param(None, id="truncated")],
)
def test_garbage_and_truncated_artifacts_are_refused(artifact: bytes, data: bytes | None) -> None:
    blob = artifact[: len(artifact) - 100] if data is None else data
    with pytest.raises(ArtifactError):
        LSTMForecaster.from_bytes(blob)


def test_a_flipped_payload_byte_names_the_checksum(artifact: bytes) -> None:
    corrupt = bytearray(artifact)
    corrupt[-10] ^= 0xFF
    with pytest.raises(ArtifactError, match="fails its checksum"):
        LSTMForecaster.from_bytes(bytes(corrupt))


# ---------------------------------------------------------------- scale


def test_doubling_the_series_doubles_the_forecasts(
    model: LSTMForecaster, history: pd.DataFrame
) -> None:
    doubled = history.copy()
    doubled[PRICES] *= 2.0
    cols = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive"]
    base = model.predict_origins(history)[cols].to_numpy()
    same_model = model.predict_origins(doubled)[cols].to_numpy()
    np.testing.assert_allclose(same_model, 2.0 * base, rtol=1e-9)
    refitted = LSTMForecaster(TINY).fit(doubled).predict_origins(doubled)[cols].to_numpy()
    np.testing.assert_allclose(refitted, 2.0 * base, rtol=1e-5)


# ---------------------------------------------------------------- bad history


def test_short_history_names_the_row_count(model: LSTMForecaster) -> None:
    short = synthetic_history(59)
    with pytest.raises(DataError, match=r"59 rows; .* at least 60"):
        model.predict(short)
    needed = TINY.min_fit_rows()
    with pytest.raises(DataError, match=rf"100 rows; fitting the LSTM .* at least {needed}"):
        LSTMForecaster(TINY).fit(synthetic_history(100))


def _with(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    changed = frame.copy()
    changed.loc[changed.index[row], column] = value
    return changed


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda h: _with(h, 70, "close", np.nan), r"column close has 1 NaN or infinite"),
        (lambda h: _with(h, 70, "open", np.inf), r"column open has 1 NaN or infinite"),
        (lambda h: _with(h, 71, "low", 0.0), r"column low has 1 non-positive"),
        (lambda h: _with(h, 72, "high", -5.0), r"column high has 1 non-positive"),
        (lambda h: _with(h, 73, "date", h["date"].iloc[72]), r"duplicate date .* \(row 73\)"),
        (lambda h: h.iloc[::-1].reset_index(drop=True), r"not sorted ascending"),
        (lambda h: h.drop(columns="low"), r"lacks column\(s\) low"),
        (lambda h: _with(h, 5, "date", pd.NaT), r"missing date at row 5"),
    ],
)
def test_bad_history_is_refused_with_the_reason(
    model: LSTMForecaster, damage: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    bad = damage(synthetic_history(400))
    with pytest.raises(DataError, match=message):
        model.predict(bad)
    with pytest.raises(DataError, match=message):
        LSTMForecaster(TINY).fit(bad)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="volatility_span"):
        LSTMConfig(volatility_span=60)
    with pytest.raises(ValueError, match="fractions"):
        LSTMConfig(validation_fraction=0.5, calibration_fraction=0.4)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_history_is_accepted_and_forecast_near_its_level() -> None:
    history = real_history()
    model = LSTMForecaster(TINY).fit(history.tail(600))
    forecast = model.predict(history)
    last_close = history["close"].iloc[-1]
    assert ((forecast["forecast"] / last_close - 1).abs() < 0.1).all()
    assert _intervals_ordered(forecast)


def test_no_origins_give_an_empty_frame(model: LSTMForecaster, history: pd.DataFrame) -> None:
    rows = model.predict_origins(history, [])
    assert list(rows.columns) == ORIGIN_COLUMNS
    assert rows.empty
