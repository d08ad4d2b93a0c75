"""The pre-open forecaster (models/preopen.py) on planted series: shapes, a planted night's
relation recovered, no look-ahead, determinism, its state, and bad input refused in one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from taiex.errors import DataError, NotFittedError
from taiex.metrics import coverage
from taiex.models.preopen import (
    PREDICT_COLUMNS,
    SYMBOLS,
    PreopenConfig,
    PreopenForecaster,
    conformal_width,
    lad,
)
from tests.tolerance import assert_close

BETA = np.array([0.05, 0.05, 0.15, 0.10])  # the night's planted coefficients at h1


def planted(
    n: int = 900, seed: int = 0, beta: np.ndarray = BETA, noise: float = 0.002, day: float = 0.008
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A history whose gap is ``beta . x`` plus noise, ``x`` the previous row's night (four
    correlated moves), the sessions' own moves of ``day`` standard deviation, and the moves
    frame: row t holds the night after day t."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.010, n)
    x = 0.6 * common[:, None] + rng.normal(0.0, 0.008, (n, 4))
    intra = rng.normal(0.0, day, n)
    gap = np.concatenate([[0.0], x[:-1] @ beta + rng.normal(0.0, noise, n - 1)])
    log_open = np.log(10_000.0) + np.cumsum(gap + np.concatenate([[0.0], intra[:-1]]))
    open_ = np.exp(log_open)
    close = open_ * np.exp(intra)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.003, n)))
    dates = pd.bdate_range("2015-01-05", periods=n)
    history = pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close})
    moves = pd.DataFrame({"date": dates, **{s: x[:, j] for j, s in enumerate(SYMBOLS)}})
    return history, moves


@pytest.fixture(scope="module")
def series() -> tuple[pd.DataFrame, pd.DataFrame]:
    return planted()


@pytest.fixture(scope="module")
def fitted(series: tuple[pd.DataFrame, pd.DataFrame]) -> PreopenForecaster:
    history, moves = series
    return PreopenForecaster().fit(history.iloc[:700], moves.iloc[:700])


def night(moves: pd.DataFrame, row: int) -> dict[str, float]:
    return {s: float(moves[s].iloc[row]) for s in SYMBOLS}


# ---------------------------------------------------------------- shapes


def test_predict_gives_one_row_per_horizon_with_ordered_bands(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    frame = fitted.predict(history.iloc[:750], night(moves, 749))
    assert list(frame.columns) == PREDICT_COLUMNS
    assert frame["horizon"].tolist() == [1, 2, 3, 4, 5]
    assert (frame["naive"] == history["close"].iloc[749]).all()
    ordered = frame[["lower_95", "lower_80", "forecast", "upper_80", "upper_95"]].to_numpy()
    assert (np.diff(ordered, axis=1) > 0).all()
    assert fitted.coef_.shape == (5, 6)
    assert fitted.bounds_.shape == (2, 2, 5)


def test_predict_origins_covers_every_origin_with_moves(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    days = list(history["date"].iloc[700:720].dt.date)
    rows = fitted.predict_origins(history.iloc[:720], moves.iloc[:720], days)
    assert len(rows) == 20 * 5
    assert rows["origin_date"].dt.date.unique().tolist() == days


# ---------------------------------------------------------------- the planted relation


def test_the_planted_night_is_recovered(fitted: PreopenForecaster) -> None:
    np.testing.assert_allclose(fitted.coef_[0, :4], BETA, atol=0.02)
    assert np.abs(fitted.coef_[0, 4:]).max() < 0.05  # TAIEX's own day plays no part here


def test_later_horizons_scale_the_night_vector_of_h1() -> None:
    # Calm sessions and a long, equally weighted history: the later horizons' targets hold the
    # night's news under three or four later nights' gaps, so their scale is noisy otherwise.
    history, moves = planted(n=3000, day=0.002)
    model = PreopenForecaster(PreopenConfig(half_life_years=math.inf)).fit(history, moves)
    night_h1 = model.coef_[0, :4]
    for h in range(1, 5):
        ratio = model.coef_[h, :4] / night_h1
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        assert 0.8 < ratio[0] < 1.2  # the planted news is permanent: about the same at h1..h5


def test_out_of_sample_the_forecast_beats_naive_and_the_band_covers(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    rows = fitted.predict_origins(history, moves, list(history["date"].iloc[700:890].dt.date))
    h1 = rows[rows["horizon"] == 1]
    actual = history["open"].to_numpy()[701:891]
    model = np.abs(np.log(h1["forecast"].to_numpy() / actual)).mean()
    naive = np.abs(np.log(h1["naive"].to_numpy() / actual)).mean()
    assert model < 0.7 * naive  # the planted night explains about 60 % of the gap's variance
    assert 0.70 <= coverage(h1["lower_80"], h1["upper_80"], actual) <= 0.90
    assert 0.88 <= coverage(h1["lower_95"], h1["upper_95"], actual) <= 1.0


def test_lad_takes_the_median_where_least_squares_takes_the_mean() -> None:
    design = np.ones((9, 1))
    target = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 50.0])
    assert lad(design, target, np.ones(9))[0] == pytest.approx(1.0, abs=1e-4)  # mean 6.0
    weights = np.array([3.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert lad(design, target, weights)[0] == pytest.approx(0.0, abs=1e-4)


def test_conformal_width_is_the_split_conformal_order_statistic() -> None:
    scores = np.arange(1.0, 100.0)  # 99 scores: ceil(100 * 0.8) = 80th
    assert conformal_width(scores, 0.8) == 80.0
    assert conformal_width(scores[:10], 0.95) == 10.0  # the rank passes m: the largest


# ---------------------------------------------------------------- no look-ahead


def test_a_forecast_reads_nothing_after_its_origin(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    alone = fitted.predict(history.iloc[:760], night(moves, 759))
    changed = history.copy()
    changed.loc[760:, ["open", "high", "low", "close"]] *= 1.3
    moved = moves.copy()
    moved.loc[760:, list(SYMBOLS)] = 0.05
    rows = fitted.predict_origins(changed, moved, [history["date"].iloc[759].date()])
    pd.testing.assert_frame_equal(
        rows[PREDICT_COLUMNS].reset_index(drop=True), alone.reset_index(drop=True)
    )


def test_a_fit_reads_no_target_past_its_history(
    series: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """The night of the history's last day (and those before it whose opens are not in the
    history yet) are the rounds to come: a fit cannot learn from them."""
    history, moves = series
    part = history.iloc[:600]
    one = PreopenForecaster().fit(part, moves.iloc[:600])
    other = moves.iloc[:600].copy()
    other.loc[599, list(SYMBOLS)] = 0.09  # the night after day 599: no target in the history
    two = PreopenForecaster().fit(part, other)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.bounds_, two.bounds_)


# ---------------------------------------------------------------- determinism and state


def test_the_same_data_give_the_same_model(series: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    history, moves = series
    one = PreopenForecaster().fit(history.iloc[:650], moves.iloc[:650]).state()
    two = PreopenForecaster().fit(history.iloc[:650], moves.iloc[:650]).state()
    assert one == two


def test_the_state_round_trips_through_json(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    again = PreopenForecaster.from_state(json.loads(json.dumps(fitted.state(), allow_nan=False)))
    pd.testing.assert_frame_equal(
        again.predict(history.iloc[:750], night(moves, 749)),
        fitted.predict(history.iloc[:750], night(moves, 749)),
    )
    assert again.config == fitted.config


def test_a_state_of_the_first_version_is_read_as_fitted(
    series: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """A state written before band_night_weight and later_half_life_years: its bounds are
    multipliers of S alone, so it is served with S alone (weight 0), not the new default."""
    history, moves = series
    config = PreopenConfig(band_night_weight=0.0, later_half_life_years=2.0)
    old = PreopenForecaster(config).fit(history.iloc[:700], moves.iloc[:700])
    state = old.state()
    del state["config"]["band_night_weight"], state["config"]["later_half_life_years"]
    again = PreopenForecaster.from_state(json.loads(json.dumps(state)))
    assert again.config == config
    pd.testing.assert_frame_equal(
        again.predict(history.iloc[:750], night(moves, 749)),
        old.predict(history.iloc[:750], night(moves, 749)),
    )


# ---------------------------------------------------------------- the band's scale


def test_a_large_night_widens_the_band_by_its_predicted_move(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    """The band is centre +- q sqrt(S^2 + k m^2), m the night's predicted move at h: the same
    history with a quiet and a large night gives half-widths whose squares differ by
    q^2 k (m_large^2 - m_quiet^2), and with weight 0 the night leaves the width alone."""
    history, _ = series
    k = fitted.config.band_night_weight
    assert k == 0.7
    part = history.iloc[:750]
    quiet = fitted.predict(part, [0.0, 0.0, 0.0, 0.0])
    large = fitted.predict(part, [-0.04, -0.05, -0.07, -0.08])
    q = fitted.bounds_[0, 1]  # the 80 % multipliers, per horizon
    night = np.array([-0.04, -0.05, -0.07, -0.08]) @ fitted.coef_[:, :4].T

    def half_width(frame: pd.DataFrame) -> np.ndarray:
        return np.log(frame["upper_80"] / frame["forecast"]).to_numpy()

    assert (half_width(large) > half_width(quiet)).all()
    assert_close(half_width(large) ** 2 - half_width(quiet) ** 2, q**2 * k * night**2, rtol=1e-7)
    plain = PreopenForecaster.from_state(
        {**fitted.state(), "config": {**fitted.state()["config"], "band_night_weight": 0.0}}
    )
    assert_close(half_width(plain.predict(part, [-0.04, -0.05, -0.07, -0.08])), half_width(quiet))


def test_the_later_horizons_have_their_own_half_life(
    series: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """later_half_life_years weights the fits of h >= 2 only: h1's coefficients are those of
    the same half-life at every horizon, the later ones are not."""
    history, moves = series
    same = PreopenForecaster(PreopenConfig(later_half_life_years=2.0))
    same.fit(history.iloc[:700], moves.iloc[:700])
    own = PreopenForecaster(PreopenConfig(later_half_life_years=0.5))
    own.fit(history.iloc[:700], moves.iloc[:700])
    np.testing.assert_array_equal(own.coef_[0], same.coef_[0])
    assert np.abs(own.coef_[1:] - same.coef_[1:]).max() > 1e-4


def test_equal_weights_are_a_half_life_of_infinity(
    series: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    history, moves = series
    model = PreopenForecaster(PreopenConfig(half_life_years=math.inf))
    model.fit(history.iloc[:650], moves.iloc[:650])
    np.testing.assert_allclose(model.coef_[0, :4], BETA, atol=0.02)


# ---------------------------------------------------------------- bad input


def test_predict_before_fit_is_refused(series: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    history, moves = series
    with pytest.raises(NotFittedError, match="not fitted"):
        PreopenForecaster().predict(history, night(moves, 10))


@pytest.mark.parametrize(
    ("moves", "message"),
    [
        ({"^GSPC": 0.01, "^IXIC": 0.01, "^SOX": 0.01}, "lack TSM"),
        ([0.01, 0.02], "must be 4 numbers"),
        ([0.01, float("nan"), 0.0, 0.0], "must be finite"),
        (["a", 0.0, 0.0, 0.0], "not numbers"),
    ],
)
def test_a_bad_night_is_refused(
    series: tuple[pd.DataFrame, pd.DataFrame],
    fitted: PreopenForecaster,
    moves: object,
    message: str,
) -> None:
    history, _ = series
    with pytest.raises(DataError, match=message):
        fitted.predict(history.iloc[:750], moves)  # type: ignore[arg-type]


def test_a_missing_night_in_many_origins_is_refused(
    series: tuple[pd.DataFrame, pd.DataFrame], fitted: PreopenForecaster
) -> None:
    history, moves = series
    gap = moves.iloc[:720].copy()
    gap.loc[710, "^SOX"] = np.nan
    day = history["date"].iloc[710].date()
    with pytest.raises(DataError, match=f"no night's moves for origin {day}"):
        fitted.predict_origins(history.iloc[:720], gap, [day])


def test_bad_moves_frames_are_refused(series: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    history, moves = series
    model = PreopenForecaster()
    with pytest.raises(DataError, match="lack column"):
        model.fit(history, moves.drop(columns=["TSM"]))
    with pytest.raises(DataError, match="not a day of the history"):
        model.fit(history.iloc[:600], moves.iloc[:601])
    with pytest.raises(DataError, match="two rows for origin"):
        model.fit(history, pd.concat([moves, moves.iloc[[5]]]))
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        model.fit(history, moves.to_dict())  # type: ignore[arg-type]
    strings = moves.assign(date=moves["date"].dt.strftime("%Y-%m-%d"))
    with pytest.raises(DataError, match="datetime64"):
        model.fit(history, strings)


def test_too_few_nights_are_refused(series: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    history, moves = series
    few = moves.copy()
    few.loc[: len(few) - 100, list(SYMBOLS)] = np.nan
    with pytest.raises(DataError, match="needs at least 250 origins with the night's moves"):
        PreopenForecaster().fit(history, few)


def test_a_symbol_that_never_moves_is_refused(series: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    history, moves = series
    still = moves.assign(TSM=0.0)
    with pytest.raises(DataError, match="design is singular"):
        PreopenForecaster().fit(history, still)


@pytest.mark.parametrize(
    "settings",
    [
        {"half_life_years": 0.0},
        {"band_pool": 20},
        {"band_pool": 300, "min_rows": 250},
        {"symbols": ("^SOX", "^SOX")},
        {"band_folds": 1},
        {"gap_shrink": -1.0},
        {"later_half_life_years": 0.0},
        {"band_night_weight": -0.1},
        {"band_night_weight": math.inf},
    ],
)
def test_config_rejects_nonsense(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="PreopenConfig"):
        PreopenConfig(**settings)  # type: ignore[arg-type]
