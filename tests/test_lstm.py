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
from taiex.models import artifact
from taiex.models.lstm import ORIGIN_COLUMNS, PREDICT_COLUMNS, GapLevelForecaster, LSTMConfig
from tests.series import real_history, regime_history, synthetic_history

TINY = LSTMConfig(hidden_size=8, num_layers=1, max_epochs=4, patience=2, batch_size=64, ensemble=2)
PRICES = ["open", "high", "low", "close"]
PREFIX_SIZE = 58  # magic, format version, header and payload lengths, sha256


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic_history(400)


@pytest.fixture(scope="module")
def model(history: pd.DataFrame) -> GapLevelForecaster:
    return GapLevelForecaster(TINY).fit(history)


@pytest.fixture(scope="module")
def artifact_bytes(model: GapLevelForecaster) -> bytes:
    return model.to_bytes()


def perturbed_after(history: pd.DataFrame, row: int, seed: int = 1) -> pd.DataFrame:
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
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    forecast = model.predict(history)
    last = history["date"].iloc[-1].date()
    assert list(forecast.columns) == PREDICT_COLUMNS
    assert forecast["horizon"].tolist() == [1, 2, 3, 4, 5]
    assert [d.date() for d in forecast["date"]] == next_sessions(last, 5)
    assert (forecast["naive"] == history["close"].iloc[-1]).all()
    assert np.isfinite(forecast[PREDICT_COLUMNS[2:]].to_numpy()).all()


def test_intervals_are_ordered_and_widen_with_the_level(
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    rows = model.predict_origins(history)
    assert _intervals_ordered(rows)
    assert (rows["upper_95"] - rows["lower_95"] > rows["upper_80"] - rows["lower_80"]).all()


def test_predict_origins_dates_follow_the_history_then_the_calendar(
    model: GapLevelForecaster, history: pd.DataFrame
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
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    rows = model.predict_origins(history)
    assert len(rows) == (len(history) - 59) * 5
    assert rows["origin_date"].iloc[0] == history["date"].iloc[59]
    last = rows[rows["origin_date"] == history["date"].iloc[-1]].reset_index(drop=True)
    expected = model.predict(history)
    np.testing.assert_array_equal(last["forecast"], expected["forecast"])


def test_a_forecast_reads_a_bounded_stretch_of_history() -> None:
    """The level and the bands read further back than the window (1,000 overnight gaps at each
    of the pool's 900 known outcomes, a variance filter that forgets where it started within a
    few hundred days): the last 2,200 rows give the forecast of the whole history."""
    history = regime_history(2700, gap_mean=0.002, seed=3)
    model = GapLevelForecaster(TINY).fit(history.iloc[:600])
    whole = model.predict(history)
    assert (whole["forecast"] > whole["naive"] * 1.001).all()  # the level is there to be read
    pd.testing.assert_frame_equal(model.predict(history.tail(2200)), whole, rtol=1e-9)
    assert not np.allclose(model.predict(history.tail(300))["lower_80"], whole["lower_80"])


def _actual(history: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    opens = pd.Series(history["open"].to_numpy(), index=pd.to_datetime(history["date"]))
    return pd.Series(opens.reindex(rows["target_date"]).to_numpy(), index=rows.index)


def test_coverage_returns_to_nominal_within_20_origins_after_volatility_triples() -> None:
    """Issue 10: fitted before the jump, the model's bands cover within 5 points of their level
    from the 20th origin after the daily volatility triples."""
    jump = 1500
    history = regime_history(jump + 600, jump_at=jump, seed=2)
    model = GapLevelForecaster(TINY).fit(history.iloc[:1200])
    origins = [d.date() for d in history["date"].iloc[jump + 20 : jump + 520]]
    rows = model.predict_origins(history, origins)
    actual = _actual(history, rows)
    for pct in (80, 95):
        inside = (rows[f"lower_{pct}"] <= actual) & (actual <= rows[f"upper_{pct}"])
        assert abs(100 * inside.mean() - pct) <= 5.0, (pct, 100 * inside.mean())


def test_on_a_driftless_random_walk_the_forecast_is_naive() -> None:
    """Issue 10: where there is nothing to learn (no drift, no typical overnight gap), the fitted
    model falls back to naive: every forecast within 0.05 % of the last close."""
    history = regime_history(1500, seed=5)
    model = GapLevelForecaster(TINY).fit(history.iloc[:1200])
    rows = model.predict_origins(history)
    assert (rows["forecast"] / rows["naive"] - 1).abs().max() < 0.0005


def test_a_steady_overnight_gap_is_forecast() -> None:
    """The other side of the fallback: a market that opens 0.2 % above its close gets it."""
    history = regime_history(1500, gap_mean=0.002, seed=5)
    model = GapLevelForecaster(TINY).fit(history.iloc[:1200])
    rows = model.predict_origins(history, [history["date"].iloc[-1].date()])
    np.testing.assert_allclose(rows["forecast"] / rows["naive"] - 1, 0.002, atol=0.0005)


def test_unknown_or_too_early_origins_are_refused(
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match="not a day of the history"):
        model.predict_origins(history, [pd.Timestamp("2019-06-01").date()])
    with pytest.raises(DataError, match="fewer than 60 trading days"):
        model.predict_origins(history, [history["date"].iloc[10].date()])


def test_predict_before_fit_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        GapLevelForecaster(TINY).predict(synthetic_history(80))


# ---------------------------------------------------------------- leakage


def test_later_rows_do_not_change_earlier_forecasts(
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    cutoff = 250
    changed = perturbed_after(history, cutoff)
    before = model.predict_origins(history)
    after = model.predict_origins(changed)
    early = before["origin_date"] <= history["date"].iloc[cutoff]
    cols = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive"]
    pd.testing.assert_frame_equal(before.loc[early, cols], after.loc[early, cols])
    assert not np.allclose(before.loc[~early, "forecast"], after.loc[~early, "forecast"])


# ---------------------------------------------------------------- determinism


def test_two_fits_give_identical_bytes_and_forecasts(
    model: GapLevelForecaster, artifact_bytes: bytes, history: pd.DataFrame
) -> None:
    again = GapLevelForecaster(TINY).fit(history)
    assert again.to_bytes() == artifact_bytes
    pd.testing.assert_frame_equal(again.predict_origins(history), model.predict_origins(history))


def test_another_seed_gives_another_model(history: pd.DataFrame, artifact_bytes: bytes) -> None:
    other = GapLevelForecaster(LSTMConfig(**{**TINY.__dict__, "seed": 1})).fit(history)
    assert other.to_bytes() != artifact_bytes


def test_fit_leaves_the_callers_random_state_alone(history: pd.DataFrame) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GapLevelForecaster(TINY).fit(history)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- artifact


def test_round_trip_keeps_forecasts_and_bytes(
    model: GapLevelForecaster, artifact_bytes: bytes, history: pd.DataFrame
) -> None:
    loaded = GapLevelForecaster.from_bytes(artifact_bytes)
    pd.testing.assert_frame_equal(loaded.predict_origins(history), model.predict_origins(history))
    assert loaded.to_bytes() == artifact_bytes
    assert loaded.metadata() == model.metadata()


def test_metadata_is_json_and_names_the_payload_checksum(
    model: GapLevelForecaster, artifact_bytes: bytes, history: pd.DataFrame
) -> None:
    meta = json.loads(json.dumps(model.metadata()))
    _, payload = artifact.unpack(artifact_bytes, "lstm")
    assert meta["sha256"] == hashlib.sha256(payload).hexdigest()
    assert meta["format_version"] == artifact.FORMAT_VERSION == 2
    assert meta["kind"] == "lstm" and set(meta["libraries"]) == {"taiex", "torch"}
    assert meta["train_start"] == history["date"].iloc[0].date().isoformat()
    assert meta["train_end"] == history["date"].iloc[-1].date().isoformat()
    assert meta["config"]["hidden_size"] == TINY.hidden_size
    assert len(meta["epochs_run"]) == TINY.ensemble
    assert all(1 <= e <= TINY.max_epochs for e in meta["epochs_run"])
    assert len(meta["validation"]["smape_naive"]) == 5


@pytest.mark.parametrize(
    "where", [0, 12, 13, 17, 25, PREFIX_SIZE - 1, PREFIX_SIZE + 7, -1, "middle"]
)
def test_a_flipped_byte_is_refused(artifact_bytes: bytes, where: int | str) -> None:
    position = len(artifact_bytes) // 2 if where == "middle" else int(where)
    corrupt = bytearray(artifact_bytes)
    corrupt[position] ^= 0x01
    with pytest.raises(
        ArtifactError, match=r"checksum|not a taiex model artifact|format version|truncated|longer"
    ):
        GapLevelForecaster.from_bytes(bytes(corrupt))


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage" * 20, b"TAIEX-LSTM\n", artifact.MAGIC, pytest.param(None, id="truncated")],
)
def test_garbage_and_truncated_artifacts_are_refused(
    artifact_bytes: bytes, data: bytes | None
) -> None:
    blob = artifact_bytes[: len(artifact_bytes) - 100] if data is None else data
    with pytest.raises(ArtifactError):
        GapLevelForecaster.from_bytes(blob)


def test_a_flipped_payload_byte_names_the_checksum(artifact_bytes: bytes) -> None:
    corrupt = bytearray(artifact_bytes)
    corrupt[-10] ^= 0xFF
    with pytest.raises(ArtifactError, match="fails its checksum"):
        GapLevelForecaster.from_bytes(bytes(corrupt))


# ---------------------------------------------------------------- scale


def test_doubling_the_series_doubles_the_forecasts(
    model: GapLevelForecaster, history: pd.DataFrame
) -> None:
    doubled = history.copy()
    doubled[PRICES] *= 2.0
    cols = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive"]
    base = model.predict_origins(history)[cols].to_numpy()
    same_model = model.predict_origins(doubled)[cols].to_numpy()
    np.testing.assert_allclose(same_model, 2.0 * base, rtol=1e-9)
    refitted = GapLevelForecaster(TINY).fit(doubled).predict_origins(doubled)[cols].to_numpy()
    np.testing.assert_allclose(refitted, 2.0 * base, rtol=1e-5)


# ---------------------------------------------------------------- bad history


def test_short_history_names_the_row_count(model: GapLevelForecaster) -> None:
    short = synthetic_history(59)
    with pytest.raises(DataError, match=r"59 rows; .* at least 60"):
        model.predict(short)
    needed = TINY.min_fit_rows()
    with pytest.raises(DataError, match=rf"100 rows; fitting the LSTM .* at least {needed}"):
        GapLevelForecaster(TINY).fit(synthetic_history(100))


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
    model: GapLevelForecaster, damage: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    bad = damage(synthetic_history(400))
    with pytest.raises(DataError, match=message):
        model.predict(bad)
    with pytest.raises(DataError, match=message):
        GapLevelForecaster(TINY).fit(bad)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="volatility_span"):
        LSTMConfig(volatility_span=60)
    with pytest.raises(ValueError, match="validation_fraction"):
        LSTMConfig(validation_fraction=0.8)
    with pytest.raises(ValueError, match="band_reaction"):
        LSTMConfig(band_reaction=0.5, band_persistence=0.4)
    with pytest.raises(ValueError, match=r"band_fall_weight.*fall_weight >= 0"):
        LSTMConfig(band_fall_weight=-0.5)
    with pytest.raises(ValueError, match="gap_shrink"):
        LSTMConfig(gap_shrink=-1.0)
    with pytest.raises(ValueError, match="validation_blocks"):
        LSTMConfig(validation_blocks=0)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_history_is_accepted_and_forecast_near_its_level() -> None:
    history = real_history()
    model = GapLevelForecaster(TINY).fit(history.tail(600))
    forecast = model.predict(history)
    last_close = history["close"].iloc[-1]
    assert ((forecast["forecast"] / last_close - 1).abs() < 0.1).all()
    assert _intervals_ordered(forecast)


def test_no_origins_give_an_empty_frame(model: GapLevelForecaster, history: pd.DataFrame) -> None:
    rows = model.predict_origins(history, [])
    assert list(rows.columns) == ORIGIN_COLUMNS
    assert rows.empty
