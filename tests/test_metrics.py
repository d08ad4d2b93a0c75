"""The forecast metrics on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from taiex.metrics import (
    MIN_DM_PAIRS,
    coverage,
    diebold_mariano,
    interval_score,
    interval_scores,
    smape,
    smape_terms,
)


def test_smape_terms_are_each_pairs_share_and_average_to_smape() -> None:
    # 200 |F - A| / (|A| + |F|): 200*10/210, 0, and 0 for the 0/0 pair.
    terms = smape_terms([110.0, 50.0, 0.0], [100.0, 50.0, 0.0])
    assert terms.tolist() == pytest.approx([2000 / 210, 0.0, 0.0])
    assert smape([110.0, 50.0, 0.0], [100.0, 50.0, 0.0]) == pytest.approx(2000 / 210 / 3)


def test_diebold_mariano_by_hand() -> None:
    # d = [2, 0, 2, 0, ...] (10 pairs), mean 1, centred [1, -1, 1, -1, ...]
    # gamma0 = 10 / 10 = 1; gamma1 = 9 * (-1) / 10 = -0.9
    # lag 1: variance = 1 + 2 * (1 - 1/2) * (-0.9) = 0.1; t = 1 / sqrt(0.1 / 10) = 10
    model, naive = [3.0, 1.0] * 5, [1.0] * 10
    assert diebold_mariano(model, naive, lag=1) == pytest.approx(10.0)
    # lag 0: variance 1; t = 1 / sqrt(1 / 10)
    assert diebold_mariano(model, naive, lag=0) == pytest.approx(10**0.5)
    # a model better than its baseline has a negative statistic
    assert diebold_mariano(naive, model, lag=1) == pytest.approx(-10.0)


def test_diebold_mariano_is_undefined_without_enough_pairs_or_variance() -> None:
    # Nine nearly equal differences would give a huge t from a variance of nothing much.
    nearly_equal = [2.0 + 1e-9 * k for k in range(MIN_DM_PAIRS)]
    assert diebold_mariano(nearly_equal[:-1], [1.0] * (MIN_DM_PAIRS - 1), lag=5) is None
    assert diebold_mariano([3.0, 1.0] * 5, [1.0] * MIN_DM_PAIRS, lag=5) is not None
    assert diebold_mariano([1.0] * 12, [2.0] * 12, lag=1) is None


def test_interval_score_and_coverage_by_hand() -> None:
    # 80 %: alpha 0.2, a miss costs 2 / 0.2 = 10 per point outside.
    # inside: width 2; 1 below: 2 + 10; 1.5 above: 2 + 15. Mean 31 / 3.
    lower, upper, actual = [9.0, 9.0, 9.0], [11.0, 11.0, 11.0], [10.0, 8.0, 12.5]
    assert interval_score(lower, upper, actual, level=0.8) == pytest.approx(31 / 3)
    # 95 %: a miss costs 40 per point: (2 + 42 + 62) / 3
    assert interval_score(lower, upper, actual, level=0.95) == pytest.approx(106 / 3)
    np.testing.assert_allclose(interval_scores(lower, upper, actual, level=0.8), [2.0, 12.0, 17.0])
    assert coverage(lower, upper, actual) == pytest.approx(1 / 3)
    assert coverage([1.0], [1.0], [1.0]) == 1.0  # the bounds belong to the interval


def test_interval_metrics_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="level"):
        interval_score([1.0], [2.0], [1.5], level=80)
    with pytest.raises(ValueError, match="shape"):
        coverage([1.0, 2.0], [2.0], [1.5])
    with pytest.raises(ValueError, match="no pairs"):
        coverage([], [], [])
