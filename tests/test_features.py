"""MA20, the entry label and the classifier features (docs/design.md, "Definitions")."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taiex.errors import DataError
from taiex.features import (
    FEATURE_COLUMNS,
    RANGE_FLOOR,
    classifier_features,
    entry_labels,
    moving_average_20,
    trivial_score,
)
from taiex.metrics import roc_auc
from tests.series import real_history, synthetic_history


def handmade_history() -> pd.DataFrame:
    """23 days whose MA20 and labels are easy to work out by hand.

    Days 0-19 alternate 90, 110 (day 0 = 90): MA20[19] = (10*90 + 10*110)/20 = 100.
    Day 20 closes 90: the window 1..20 sums 1910 + 90 = 2000, MA20[20] = 100.
    Day 21 closes 130: the window 2..21 sums 1800 + 90 + 130 = 2020, MA20[21] = 101.
    Day 22 closes 101: the window 3..22 sums 1710 + 90 + 130 + 101 = 2031, MA20[22] = 101.55.
    """
    close = [90.0, 110.0] * 10 + [90.0, 130.0, 101.0]
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2024-01-01", periods=len(close)),
            "open": close,
            "high": [c + 2.0 for c in close],
            "low": [c - 2.0 for c in close],
            "close": close,
        }
    )
    return frame


def test_ma20_by_hand() -> None:
    ma20 = moving_average_20(handmade_history()["close"])
    assert ma20.iloc[:19].isna().all()
    assert ma20.iloc[19:].tolist() == pytest.approx([100.0, 100.0, 101.0, 101.55])


def test_labels_by_hand() -> None:
    labels = entry_labels(handmade_history())
    # Day 19: close[20] = 90 is not above 100 -> 0. Day 20: 130 > 100 -> 1.
    # Day 21: 101 is not strictly above 101 -> 0. Day 22: last day, the next close is unknown.
    assert labels.iloc[:19].isna().all()
    assert labels.iloc[19:22].tolist() == [0.0, 1.0, 0.0]
    assert math.isnan(labels.iloc[22])
    assert labels.index.equals(handmade_history().index)


def test_labels_match_a_loop_over_the_definition() -> None:
    history = synthetic_history(n=120, seed=3)
    close = history["close"].tolist()
    expected = []
    for t in range(len(close)):
        if t < 19 or t == len(close) - 1:
            expected.append(math.nan)
        else:
            ma20 = sum(close[t - 19 : t + 1]) / 20
            expected.append(1.0 if close[t + 1] > ma20 else 0.0)
    got = entry_labels(history).tolist()
    assert np.array_equal(np.array(got), np.array(expected), equal_nan=True)


def test_features_by_hand() -> None:
    features = classifier_features(handmade_history())
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert features.iloc[:19].isna().all().all()
    day19 = features.iloc[19]  # close 110, high 112, low 108, MA20 100
    assert day19["close_vs_ma20"] == pytest.approx(0.10)
    assert day19["high_vs_ma20"] == pytest.approx(0.12)
    assert day19["low_vs_ma20"] == pytest.approx(0.08)
    assert day19["day_range"] == pytest.approx(112 / 108 - 1)
    assert day19["close_vs_ma20_in_ranges"] == pytest.approx(0.10 / (112 / 108 - 1 + RANGE_FLOOR))
    assert features.iloc[19:].notna().all().all()


def test_trivial_score_is_close_over_ma20_minus_one() -> None:
    history = handmade_history()
    score = trivial_score(history)
    assert score.iloc[:19].isna().all()
    assert score.iloc[19:].tolist() == pytest.approx([0.10, -0.10, 130 / 101 - 1, 101 / 101.55 - 1])


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=0, max_value=98), seed=st.integers(0, 10_000))
def test_features_of_day_t_ignore_later_days(cut: int, seed: int) -> None:
    history = synthetic_history(n=100, seed=1)
    changed = history.copy()
    rng = np.random.default_rng(seed)
    later = changed.index > cut
    factor = rng.uniform(0.5, 2.0, size=int(later.sum()))
    for column in ("open", "high", "low", "close"):
        changed.loc[later, column] = changed.loc[later, column] * factor
    before = classifier_features(history).loc[:cut]
    after = classifier_features(changed).loc[:cut]
    pd.testing.assert_frame_equal(before, after)
    # The change did reach the later days, so the test can tell a leak from no change.
    changed_later = classifier_features(changed).loc[cut + 1 :]
    assert not changed_later.equals(classifier_features(history).loc[cut + 1 :])


def test_features_are_scale_free() -> None:
    history = synthetic_history(n=80, seed=2)
    scaled = history.copy()
    scaled[["open", "high", "low", "close"]] *= 3.0
    pd.testing.assert_frame_equal(classifier_features(history), classifier_features(scaled))


def test_unsorted_history_is_refused() -> None:
    history = synthetic_history(n=40).iloc[::-1]
    with pytest.raises(DataError, match="sorted ascending"):
        classifier_features(history)


def test_missing_column_is_refused() -> None:
    with pytest.raises(DataError, match="close"):
        entry_labels(synthetic_history(n=40).drop(columns="close"))


def test_missing_price_is_refused() -> None:
    history = synthetic_history(n=40)
    history.loc[5, "open"] = np.nan
    with pytest.raises(DataError, match="column open has 1 NaN or infinite"):
        classifier_features(history)


@pytest.mark.realdata
def test_trivial_auc_on_real_history_matches_design() -> None:
    history = real_history()
    labels = entry_labels(history)
    scored = (history["date"] >= "2025-01-01") & labels.notna()
    auc, _ = roc_auc(labels[scored], trivial_score(history)[scored])
    assert auc == pytest.approx(0.944, abs=0.001)  # docs/design.md: "ROC AUC ≈ 0.944"
