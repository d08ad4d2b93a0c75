"""How much of the network's correction the forecaster keeps: the rule on tables of block scores
worked by hand, the blocks it reads, and two controls that show the network can learn (a planted
pattern) and that nothing is kept where there is nothing to learn (a driftless random walk)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taiex.errors import ArtifactError
from taiex.metrics import diebold_mariano, smape_terms
from taiex.models import artifact
from taiex.models.lstm import GapLevelForecaster, LSTMConfig
from taiex.models.lstm_config import split_origins
from taiex.models.lstm_training import LAMBDAS, SHARE_MARGIN, pick_shares, share_ratios
from tests.series import ohlc_of_moves, regime_history

# Small enough for seconds of CPU, with enough optimiser steps (batch 32) to learn a pattern.
SMALL = LSTMConfig(
    hidden_size=16,
    ensemble=1,
    max_epochs=20,
    patience=5,
    batch_size=32,
    learning_rate=3e-3,
    gap_span=200,
    band_pool=200,
)


def table(*block_ratios: list[float], gap_level: float = 1.0) -> np.ndarray:
    """Block scores (blocks, len(LAMBDAS), 1 horizon): each block's sMAPE of every share, from
    the ratios of shares 0.25 … 1 to the gap level's ``gap_level``."""
    rows = [[gap_level, *(gap_level * r for r in ratios)] for ratios in block_ratios]
    return np.array(rows)[:, :, None]


SIZES = np.array([100, 100, 100])


# ---------------------------------------------------------------- the rule, by hand


def test_a_clear_gain_in_every_block_is_kept() -> None:
    # Shares 0.25 … 1 cut the gap level's sMAPE by 2, 4, 6, 8 % in every block: 1 is best.
    scores = table(*[[0.98, 0.96, 0.94, 0.92]] * 3)
    assert pick_shares(scores, SIZES).tolist() == [1.0]


def test_a_gain_below_the_margin_is_not_kept() -> None:
    # A gain of 1 % (the served fit's were 0.1 %) is within the margin of 3 %.
    scores = table(*[[0.9975, 0.995, 0.9925, 0.99]] * 3)
    assert SHARE_MARGIN == 0.03
    assert pick_shares(scores, SIZES).tolist() == [0.0]


def test_a_share_that_loses_in_one_block_is_not_kept() -> None:
    # Pooled, share 1 gains (0.85 + 0.85 + 1.01) / 3 = 0.903, but it loses in the third block;
    # share 0.75 gains less but everywhere, so it is the one kept.
    scores = table([0.95, 0.9, 0.87, 0.85], [0.95, 0.9, 0.87, 0.85], [0.99, 0.995, 0.999, 1.01])
    ratios = share_ratios(scores, SIZES)[:, 0]
    assert ratios[4] == pytest.approx(2.71 / 3, rel=1e-12)
    assert pick_shares(scores, SIZES).tolist() == [0.75]


def test_near_ties_go_to_the_smaller_share() -> None:
    # 0.5 reaches 0.900, 1 reaches 0.895: within 1 % of each other, so the smaller share wins.
    scores = table(*[[0.95, 0.900, 0.897, 0.895]] * 3)
    assert pick_shares(scores, SIZES).tolist() == [0.5]


def test_blocks_weigh_by_their_size() -> None:
    # A small block's large gain does not carry a large block's loss of nothing.
    scores = table([0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0])
    assert share_ratios(scores, np.array([10, 990]))[4, 0] == pytest.approx(0.995, rel=1e-12)
    assert pick_shares(scores, np.array([10, 990])).tolist() == [0.0]


def test_each_horizon_is_decided_alone() -> None:
    keep = table(*[[0.98, 0.96, 0.94, 0.92]] * 3)
    drop = table(*[[1.0, 1.001, 1.002, 1.003]] * 3)
    scores = np.concatenate([keep, drop, keep], axis=2)
    assert pick_shares(scores, SIZES).tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("ratios", "kept"),
    [
        ([0.97, 0.93, 0.89, 0.85], 1.0),
        ([0.9975, 0.995, 0.9925, 0.999], 0.0),  # a shade of gain
        ([1.0, 1.001, 1.0005, 1.002], 0.0),  # no gain at all
        ([0.95, 0.90, 0.86, 0.87], 0.75),  # 1 is within the tie, 0.5 is not
    ],
)
def test_a_one_percent_wobble_of_every_score_changes_no_share(
    ratios: list[float], kept: float
) -> None:
    """Decisions clear of the rule's edges (the margin, the tie) by more than a wobble of ±1 %
    of every block's score can move them stay put; ``bench/regimes.py`` measures the same on the
    real fits."""
    scores = table(*[ratios] * 5, gap_level=0.8)
    sizes = np.full(5, 120)
    chosen = pick_shares(scores, sizes)
    assert chosen.tolist() == [kept]
    rng = np.random.default_rng(0)
    for _ in range(500):
        wobbled = scores * rng.uniform(0.99, 1.01, scores.shape)
        np.testing.assert_array_equal(pick_shares(wobbled, sizes), chosen)


# ---------------------------------------------------------------- the blocks it reads


def test_share_blocks_are_apart_from_the_stopping_blocks_and_training() -> None:
    config = LSTMConfig()
    split = split_origins(6_000, config)
    assert split is not None
    assert len(split.blocks) == len(split.share_blocks) == config.validation_blocks
    targets = {
        name: {int(t) + h for t in origins for h in range(1, config.horizons + 1)}
        for name, origins in {
            "train": split.train,
            "stopping": split.validation,
            "shares": np.concatenate(split.share_blocks),
        }.items()
    }
    assert not targets["shares"] & targets["stopping"]
    assert not targets["shares"] & targets["train"]
    assert not targets["stopping"] & targets["train"]
    for stop, share in zip(split.blocks, split.share_blocks, strict=True):
        assert share[0] - stop[-1] == config.horizons + 1  # purged between the halves
        assert abs(len(share) - len(stop)) <= 1


# ---------------------------------------------------------------- the controls


def planted_history(n: int, seed: int = 0, beta: float = -0.5) -> pd.DataFrame:
    """A random walk whose overnight gap undoes half of the previous session's open-to-close
    move (plus a little noise): a pattern a window's last day shows, that the network can learn."""
    rng = np.random.default_rng(seed)
    sigma = 0.01
    intraday = rng.normal(0.0, sigma, n)
    gap = np.concatenate([[0.0], beta * intraday[:-1]]) + rng.normal(0.0, sigma / 6, n)
    return ohlc_of_moves(gap, intraday, sigma, rng)


def _h1_out_of_sample(model: GapLevelForecaster, history: pd.DataFrame, first: int) -> float | None:
    """The DM t of the h1 forecast against naive from origin row ``first`` on (< 0: better)."""
    origins = list(history["date"].iloc[first : len(history) - 1].dt.date)
    rows = model.predict_origins(history, origins)
    h1 = rows[rows["horizon"] == 1]
    actual = history.set_index("date")["open"].reindex(h1["target_date"]).to_numpy()
    model_loss = smape_terms(h1["forecast"].to_numpy(), actual)
    naive_loss = smape_terms(h1["naive"].to_numpy(), actual)
    return diebold_mariano(model_loss, naive_loss, 1)


def test_positive_control_a_planted_pattern_earns_a_share_and_beats_naive() -> None:
    history = planted_history(1_400)
    model = GapLevelForecaster(SMALL).fit(history.iloc[:1_100])
    assert model.lambdas_[0] > 0.0
    assert model.shares_ is not None
    assert model.shares_.ratios[LAMBDAS.index(model.lambdas_[0]), 0] <= 1.0 - SHARE_MARGIN
    t = _h1_out_of_sample(model, history, 1_099)
    assert t is not None and t < -2.0


@pytest.mark.parametrize("seed", [0, 1])
def test_negative_control_a_driftless_random_walk_keeps_no_share(seed: int) -> None:
    model = GapLevelForecaster(SMALL).fit(regime_history(1_100, seed=seed))
    assert model.lambdas_.tolist() == [0.0] * 5
    assert model.shares_ is not None and (model.shares_.ratios > 1.0 - SHARE_MARGIN).all()


# ---------------------------------------------------------------- the record


@pytest.fixture(scope="module")
def fitted() -> GapLevelForecaster:
    return GapLevelForecaster(SMALL).fit(planted_history(700))


def test_the_shares_and_the_table_they_were_chosen_on_are_in_the_metadata(
    fitted: GapLevelForecaster,
) -> None:
    meta = fitted.metadata()
    assert meta["lambdas"] == fitted.lambdas_.tolist()
    assert set(meta["share_ratios"]) == {"0", "0.25", "0.5", "0.75", "1"}
    assert meta["share_ratios"]["0"] == [1.0] * 5
    table = np.array(meta["share_blocks"]["smape"])
    sizes = np.array(meta["share_blocks"]["sizes"])
    assert table.shape == (5, len(LAMBDAS), 5)
    # The stored table gives the stored shares again, as anyone can check.
    assert pick_shares(table, sizes).tolist() == meta["lambdas"]
    assert {"shares_1", "validation_1", "train"} <= set(meta["segments"])
    assert meta["segments"]["shares_1"]["windows"] == sizes[0]
    again = GapLevelForecaster.from_bytes(fitted.to_bytes())
    assert again.shares_ is not None and fitted.shares_ is not None
    np.testing.assert_array_equal(again.shares_.scores, fitted.shares_.scores)


def _with_metadata(data: bytes, change: dict[str, object]) -> bytes:
    header, payload = artifact.unpack(data, "lstm")
    metadata = {**header["metadata"], **change}
    metadata = {k: v for k, v in metadata.items() if v is not None}
    return artifact.pack("lstm", {"libraries": header["libraries"], "metadata": metadata}, payload)


def test_an_artifact_from_before_the_ratios_loads_and_forecasts_as_it_did(
    fitted: GapLevelForecaster,
) -> None:
    history = planted_history(700)
    before = {"share_ratios": None, "share_blocks": None}
    old = GapLevelForecaster.from_bytes(_with_metadata(fitted.to_bytes(), before))
    assert old.shares_ is None
    assert "share_ratios" not in old.metadata() and "share_blocks" not in old.metadata()
    pd.testing.assert_frame_equal(old.predict(history), fitted.predict(history))


def test_an_artifact_with_broken_ratios_is_refused_in_one_line(fitted: GapLevelForecaster) -> None:
    broken = _with_metadata(fitted.to_bytes(), {"share_blocks": {"sizes": [3], "smape": [[1.0]]}})
    with pytest.raises(ArtifactError, match="bad contents") as caught:
        GapLevelForecaster.from_bytes(broken)
    assert "\n" not in str(caught.value)


def test_the_reports_note_reads_what_the_fit_recorded() -> None:
    from taiex.kinds.lstm import version_note

    assert version_note({}) is None  # a model of the previous method: no shares
    assert version_note({"lambdas": [0.0, 1.0, 0.5, 0.0, 0.25]}) == (
        "network's share kept, h1–h5: 0 1 0.5 0 0.25"
    )
