"""Scale-free windows: features, volatility and targets against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from taiex.frames import Prices, check_history
from taiex.windows import (
    FEATURES,
    MIN_VOLATILITY,
    realised_volatility,
    targets,
    window_features,
)
from tests.series import synthetic_history

PRICES = ["open", "high", "low", "close"]


def _prices(frame: pd.DataFrame) -> Prices:
    return check_history(frame, min_rows=1, purpose="a test")


def test_features_match_their_definitions() -> None:
    frame = synthetic_history(100)
    prices = _prices(frame)
    origin = 80
    x = window_features(prices, np.array([origin]), 60)[0]  # (60, F)
    assert x.shape == (60, len(FEATURES))
    rows = frame.iloc[origin - 59 : origin + 1].reset_index(drop=True)
    close, prev = rows["close"], rows["close"].shift()
    np.testing.assert_allclose(x[1:, 0], np.log(close / prev)[1:])
    np.testing.assert_allclose(x[1:, 1], np.log(rows["open"] / prev)[1:])
    np.testing.assert_allclose(x[:, 2], np.log(rows["high"] / close))
    np.testing.assert_allclose(x[:, 3], np.log(rows["low"] / close))
    np.testing.assert_allclose(x[:, 4], np.log(close / close.iloc[-1]))
    assert x[0, 0] == 0.0 and x[0, 1] == 0.0 and x[-1, 4] == 0.0


def test_windows_and_targets_do_not_see_the_price_level() -> None:
    frame = synthetic_history(120)
    scaled = frame.copy()
    scaled[PRICES] *= 4.8  # ~10,000 -> ~48,000
    origins = np.arange(59, 110)
    a, b = _prices(frame), _prices(scaled)
    np.testing.assert_allclose(window_features(a, origins, 60), window_features(b, origins, 60))
    np.testing.assert_allclose(targets(a, origins, 5), targets(b, origins, 5), atol=1e-12)
    np.testing.assert_allclose(
        realised_volatility(a, origins, 20), realised_volatility(b, origins, 20)
    )


def test_targets_are_zero_when_the_opens_repeat_the_close() -> None:
    frame = synthetic_history(80)
    frame.loc[70:, ["open", "high", "low", "close"]] = frame.loc[69, "close"]
    y = targets(_prices(frame), np.array([69, 70]), 5)
    assert np.all(y == 0.0)


def test_volatility_is_the_std_of_the_last_returns_with_a_floor() -> None:
    frame = synthetic_history(100)
    vol = realised_volatility(_prices(frame), np.array([90]), 20)
    returns = np.diff(np.log(frame["close"].to_numpy()))[70:90]  # closes 70..90
    assert vol[0] == np.std(returns)
    flat = frame.copy()
    flat[PRICES] = 100.0
    assert realised_volatility(_prices(flat), np.array([90]), 20)[0] == MIN_VOLATILITY
