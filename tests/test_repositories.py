"""Forecasts, signals and evaluations on every backend: idempotent writes, the latest reads, and
timestamps from the store's clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taiex.errors import StorageError
from taiex.store import Store
from taiex.store.testing import rows
from tests.clock import StepClock, with_clock

ORIGIN = dt.date(2024, 12, 31)
TARGETS = [dt.date(2025, 1, d) for d in (2, 3, 6, 7, 8)]


def forecast_rows(version: str, origin: dt.date, level: float) -> list[dict[str, Any]]:
    return [
        {
            "model_version": version,
            "origin_date": origin,
            "horizon": h,
            "target_date": TARGETS[h - 1],
            "forecast": level + h,
            "lower_80": level - 10,
            "upper_80": level + 10,
            "lower_95": level - 20,
            "upper_95": level + 20,
            "naive": level,
        }
        for h in (5, 3, 1, 2, 4)  # any order: read back by horizon
    ]


def signal_row(version: str, based_on: dt.date, probability: float) -> dict[str, Any]:
    return {
        "model_version": version,
        "based_on": based_on,
        "target_date": based_on + dt.timedelta(days=1),
        "probability": probability,
        "signal": int(probability >= 0.5),
        "threshold": 0.5,
    }


LSTM_ROW = {
    "sMAPE": 0.82,
    "naive_sMAPE": 0.9,
    "sMAPE_by_horizon": {"1": 0.5, "5": 1.1},
    "naive_sMAPE_by_horizon": {"1": 0.6, "5": 1.2},
    "model_version": "lstm-v1",
    "data_date": ORIGIN,
    "window_start": dt.date(2024, 7, 1),
    "window_end": ORIGIN,
    "n_pairs": 600,
    "reason": None,
}
SVM_ROW = {
    "ROC_AUC": None,  # undefined: one class in the window
    "trivial_ROC_AUC": None,
    "model_version": "classifier-v1",
    "model_family": "logistic_regression",
    "data_date": ORIGIN,
    "window_start": dt.date(2024, 11, 1),
    "window_end": ORIGIN,
    "n_days": 40,
    "n_positive": 40,
    "n_negative": 0,
    "reason": "one class only",
}


def test_forecasts_are_saved_once_and_read_by_latest_origin(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    assert store.forecasts.latest(None) == [] and store.forecasts.count() == 0
    store.forecasts.save(forecast_rows("lstm-v1", ORIGIN - dt.timedelta(days=1), 100.0))
    store.forecasts.save(forecast_rows("lstm-v1", ORIGIN, 200.0))
    clock.advance(hours=1)
    # A rerun, even with other figures, adds nothing and changes nothing.
    store.forecasts.save(forecast_rows("lstm-v1", ORIGIN, 999.0))
    assert store.forecasts.count() == 10
    latest = store.forecasts.latest("lstm-v1")
    assert [r["horizon"] for r in latest] == [1, 2, 3, 4, 5]
    assert {(r["origin_date"], r["naive"]) for r in latest} == {(ORIGIN, 200.0)}
    assert {r["created_at"] for r in latest} == {clock.now - dt.timedelta(hours=1)}
    assert store.forecasts.latest("lstm-v9") == []

    store.forecasts.save(forecast_rows("lstm-v2", ORIGIN - dt.timedelta(days=3), 300.0))
    assert store.forecasts.latest(None)[0]["model_version"] == "lstm-v1"  # the latest origin
    store.forecasts.save(forecast_rows("lstm-v2", ORIGIN, 400.0))
    # Same origin for both: the one saved last.
    assert {r["model_version"] for r in store.forecasts.latest(None)} == {"lstm-v2"}
    assert store.forecasts.latest("lstm-v2")[0]["naive"] == 400.0


def test_signals_are_saved_once_and_read_by_latest_day(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    assert store.signals.latest(None) is None and store.signals.count() == 0
    store.signals.save([signal_row("classifier-v1", ORIGIN, 0.7)])
    store.signals.save([signal_row("classifier-v1", ORIGIN - dt.timedelta(days=1), 0.2)])
    clock.advance(hours=1)
    store.signals.save([signal_row("classifier-v1", ORIGIN, 0.1)])  # a rerun: nothing changes
    assert store.signals.count() == 2
    latest = store.signals.latest("classifier-v1")
    assert latest is not None
    assert (latest["based_on"], latest["probability"], latest["signal"]) == (ORIGIN, 0.7, 1)
    assert latest["created_at"] == clock.now - dt.timedelta(hours=1)
    store.signals.save([signal_row("classifier-v2", ORIGIN - dt.timedelta(days=5), 0.9)])
    assert store.signals.latest(None)["model_version"] == "classifier-v1"  # type: ignore[index]
    assert store.signals.latest("classifier-v2")["probability"] == 0.9  # type: ignore[index]
    assert store.signals.latest("classifier-v3") is None


def test_a_bad_signal_is_refused_not_skipped(store: Store) -> None:
    with pytest.raises(StorageError, match=r"^database error while saving signals: "):
        store.signals.save([{**signal_row("classifier-v1", ORIGIN, 0.7), "signal": None}])
    assert store.signals.count() == 0


def test_evaluations_are_recorded_once_per_version_and_day(store: Store) -> None:
    clock = StepClock()
    store = with_clock(store, clock)
    store.evaluations.record("lstm_model_evaluate", LSTM_ROW)
    store.evaluations.record(
        "lstm_model_evaluate", {**LSTM_ROW, "data_date": ORIGIN - dt.timedelta(days=1)}
    )
    clock.advance(hours=1)
    store.evaluations.record("lstm_model_evaluate", {**LSTM_ROW, "sMAPE": 5.0})  # a rerun
    store.evaluations.record("svm_model_evaluate", SVM_ROW)
    lstm = store.evaluations.rows("lstm_model_evaluate")
    assert [r["data_date"] for r in lstm] == [ORIGIN - dt.timedelta(days=1), ORIGIN]
    assert lstm[1]["sMAPE"] == 0.82 and lstm[1]["sMAPE_by_horizon"] == {"1": 0.5, "5": 1.1}
    assert [r["date"] for r in lstm] == [clock.now - dt.timedelta(hours=1)] * 2
    svm = store.evaluations.rows("svm_model_evaluate")
    assert len(svm) == 1
    assert (svm[0]["ROC_AUC"], svm[0]["reason"], svm[0]["date"]) == (
        None,
        "one class only",
        clock.now,
    )


def test_an_unknown_evaluation_table_is_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown evaluation table 'signals'"):
        store.evaluations.rows("signals")
    with pytest.raises(ValueError, match="lstm_model_evaluate, svm_model_evaluate"):
        store.evaluations.record("weighted_index", LSTM_ROW)
    assert rows(store, "lstm_model_evaluate") == []


def test_the_clock_is_now(store: Store) -> None:
    clock = StepClock()
    assert with_clock(store, clock).now() == clock.now
    now = store.now()  # the default: UTC, naive, to the second
    assert now.tzinfo is None and now.microsecond == 0
    utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((utc - now).total_seconds()) < 60


# ---------------------------------------------------------------- TWSE's responses and figures


def test_a_response_is_kept_verbatim_and_replaced_by_the_next(store: Store) -> None:
    body = '{"stat":"OK","title":"113年02月 發行量加權股價指數歷史資料","data":[]}'.encode()
    assert store.responses.get("2024-02") is None
    store.responses.save("2024-02", body, "http://twse/x?date=20240201", dt.date(2024, 2, 5))
    first = store.responses.get("2024-02")
    assert first is not None and first.body == body and first.intact
    assert (first.url, first.fetched_on) == ("http://twse/x?date=20240201", dt.date(2024, 2, 5))
    assert len(first.sha256) == 64 and first.fetched_at is not None
    store.responses.save("2024-02", body + b" ", "http://twse/x?date=20240201", dt.date(2024, 3, 9))
    again = store.responses.get("2024-02")
    assert (
        again is not None and again.body == body + b" " and again.fetched_on == dt.date(2024, 3, 9)
    )
    assert store.responses.count() == 1
    big = b"x" * 200_000  # beyond MySQL's BLOB
    store.responses.save("2024-03", big, "u", dt.date(2024, 4, 1))
    stored = store.responses.get("2024-03")
    assert stored is not None and stored.body == big


def test_a_figure_is_stored_once_and_the_latest_of_a_kind_is_found(store: Store) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300
    store.figures.save(
        "lstm_v1_20241105.png", "evaluation-lstm", "lstm-v1", dt.date(2024, 11, 5), png
    )
    store.figures.save(
        "lstm_v1_20241106.png", "evaluation-lstm", "lstm-v1", dt.date(2024, 11, 6), png
    )
    store.figures.save(
        "lstm_v1_20241106.png", "evaluation-lstm", "lstm-v1", dt.date(2024, 11, 6), b"x"
    )
    latest = store.figures.latest("evaluation-lstm")
    assert latest is not None
    assert (latest.name, latest.png) == ("lstm_v1_20241106.png", png)  # a rerun added nothing
    assert store.figures.count() == 2
    assert store.figures.latest("evaluation-classifier") is None


def test_real_numbers_come_back_as_written(store: Store) -> None:
    """Double precision everywhere (MySQL's FLOAT kept about 7 digits: 23,456.8 for 23,456.78)."""
    level = 23456.789012345678
    rows_in = forecast_rows("lstm-v1", ORIGIN, level)
    store.forecasts.save(rows_in)
    back = store.forecasts.between("lstm-v1", ORIGIN, ORIGIN)
    assert [r["forecast"] for r in back] == [level + h for h in range(1, 6)]
    assert [r["naive"] for r in back] == [level] * 5
    store.signals.save([signal_row("classifier-v1", ORIGIN, 0.123456789012345)])
    (signal,) = store.signals.between("classifier-v1", ORIGIN, ORIGIN)
    assert signal["probability"] == 0.123456789012345
    next_day = ORIGIN + dt.timedelta(days=1)
    assert store.signals.between("classifier-v1", next_day, next_day) == []
