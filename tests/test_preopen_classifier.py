"""The pre-open round's entry signal: fit, probabilities, signal, artifact, evaluation, serving."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, InputError, NotFittedError
from taiex.features import entry_labels
from taiex.models.classifier import EntrySignalClassifier
from taiex.models.classifier_config import ClassifierConfig
from taiex.models.classifier_evaluation import evaluate, serve
from taiex.models.preopen import SYMBOLS
from taiex.models.preopen_classifier import (
    PreopenClassifierConfig,
    PreopenSignalClassifier,
    feature_names,
)
from taiex.overnight import QUIET_COLUMN, MissingCloseError, night_column, with_nights
from tests.series import ohlc_of_moves, synthetic_history
from tests.tolerance import assert_close

FAST = PreopenClassifierConfig(
    candidates=("logistic_regression",),
    grids={"logistic_regression": {"C": [0.1, 1.0]}},
    min_train_days=100,
)
N = 400
UNKNOWN = (50, 51, 120)  # rows whose night is not stored, besides the last


def night_history(n: int = N, seed: int = 3) -> pd.DataFrame:
    """TAIEX-like days whose next open follows the night's US moves, with the night columns.

    The four moves share a common factor; the gap of day t + 1 is 0.8 times their mean plus
    noise, so a model that reads the night must lean on it. The last night and those of
    :data:`UNKNOWN` are NaN."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.01, n)
    moves = common[:, None] + rng.normal(0.0, 0.004, (n, len(SYMBOLS)))
    gap = np.concatenate([[0.0], 0.8 * moves[:-1].mean(axis=1)]) + rng.normal(0.0, 0.002, n)
    history = ohlc_of_moves(gap, rng.normal(0.0003, 0.008, n), 0.01, rng)
    frame = pd.DataFrame(moves, columns=list(SYMBOLS))
    frame.insert(0, "date", history["date"])
    frame["quiet"] = False
    frame.loc[[*UNKNOWN, n - 1], list(SYMBOLS)] = np.nan
    return with_nights(history, frame, SYMBOLS)


def set_night(history: pd.DataFrame, row: int, move: float) -> pd.DataFrame:
    changed = history.copy()
    for symbol in SYMBOLS:
        changed.loc[row, night_column(symbol)] = move
    return changed


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return night_history()


@pytest.fixture(scope="module")
def fitted(history: pd.DataFrame) -> PreopenSignalClassifier:
    return PreopenSignalClassifier(FAST).fit(history)


# -- fitting ------------------------------------------------------------------------------------


def test_fit_trains_on_the_labelled_days_with_a_known_night(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    # Day 19 is the first with MA20; the last day has no label (and no night); the UNKNOWN
    # nights are skipped.
    assert fitted.train_start_ == history["date"].iloc[19].date()
    assert fitted.train_end_ == history["date"].iloc[-2].date()
    assert fitted.n_train_days_ == N - 20 - len(UNKNOWN)
    assert fitted.winner_ == "logistic_regression"
    assert list(fitted.model_.feature_names_in_) == feature_names(SYMBOLS)
    assert fitted.kind == "preopen-classifier"


def test_the_night_is_learned(fitted: PreopenSignalClassifier, history: pd.DataFrame) -> None:
    """Day t's label reads close[t+1], which the night moves: the night's coefficients push the
    probability the way the moves go, and the pre-open model ranks the days better than the
    same tournament without the night."""
    coef = fitted.model_.named_steps["model"].coef_[0]
    columns = feature_names(SYMBOLS)
    nights = [coef[columns.index(night_column(s))] for s in SYMBOLS]
    assert sum(nights) > 0.5
    evening = EntrySignalClassifier(FAST).fit(history[["date", "open", "high", "low", "close"]])
    labels = entry_labels(history).set_axis(pd.DatetimeIndex(history["date"]))
    pre, eve = fitted.predict_proba(history), evening.predict_proba(history)
    days = pre.index.intersection(labels.dropna().index)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels[days], pre[days]) > roc_auc_score(labels[days], eve[days]) + 0.01


def test_night_moves_change_the_probability(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    row = 200
    day = history["date"].iloc[row]
    up = fitted.predict_proba(set_night(history, row, 0.02))[day]
    down = fitted.predict_proba(set_night(history, row, -0.02))[day]
    assert up - down > 0.1


# -- predicting ---------------------------------------------------------------------------------


def test_predict_proba_gives_the_days_with_features_and_a_known_night(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    probabilities = fitted.predict_proba(history)
    unknown = history["date"].iloc[[*UNKNOWN, N - 1]]
    expected = history["date"].iloc[19:].loc[lambda d: ~d.isin(unknown)]
    assert list(probabilities.index) == list(expected)
    assert probabilities.between(0.0, 1.0).all()


def test_predict_proba_reads_no_later_day(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    before = fitted.predict_proba(history)
    later = set_night(history, 300, 0.05)
    later.loc[301:, ["open", "high", "low", "close"]] *= 1.2
    after = fitted.predict_proba(later)
    cut = history["date"].iloc[300]
    assert_close(after[after.index < cut], before[before.index < cut])
    assert not np.isclose(after[cut], before[cut])  # the changed night does move day 300


def test_predict_proba_needs_the_night_columns(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match=r"\^SOX"):
        fitted.predict_proba(history.drop(columns=[night_column("^SOX")]))


# -- the signal ---------------------------------------------------------------------------------


def test_signal_refuses_an_unknown_night_naming_the_day(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    day = history["date"].iloc[-1].date()
    with pytest.raises(MissingCloseError, match=f"night after {day}") as caught:
        fitted.signal(history)
    assert isinstance(caught.value, DataError)


def test_signal_from_the_last_day_and_its_night(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    known = set_night(history, N - 1, 0.01)
    signal = fitted.signal(known)
    last = known["date"].iloc[-1].date()
    assert signal["based_on"] == last
    assert signal["date"] == next_sessions(last, 1)[0]
    assert_close(signal["probability"], fitted.predict_proba(known).iloc[-1])
    assert signal["signal"] == int(signal["probability"] >= FAST.threshold)


def test_a_quiet_night_is_a_known_night(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    quiet = set_night(history, N - 1, 0.0)
    quiet.loc[N - 1, QUIET_COLUMN] = True
    assert 0.0 < fitted.signal(quiet)["probability"] < 1.0


# -- artifact -----------------------------------------------------------------------------------


def test_round_trip_gives_the_same_probabilities(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    data = fitted.to_bytes()
    loaded = PreopenSignalClassifier.from_bytes(data)
    assert_close(loaded.predict_proba(history), fitted.predict_proba(history))
    assert loaded.config == FAST
    assert (loaded.train_start_, loaded.train_end_) == (fitted.train_start_, fitted.train_end_)
    assert loaded.metadata() == fitted.metadata()
    assert loaded.to_bytes() == data
    meta = fitted.metadata()
    assert meta["kind"] == "preopen-classifier"
    assert meta["features"] == feature_names(SYMBOLS)


def test_artifacts_of_the_two_kinds_are_not_mixed_up(
    fitted: PreopenSignalClassifier, history: pd.DataFrame
) -> None:
    with pytest.raises(ArtifactError, match="preopen-classifier model, not the classifier"):
        EntrySignalClassifier.from_bytes(fitted.to_bytes())
    evening = EntrySignalClassifier(FAST).fit(history[["date", "open", "high", "low", "close"]])
    with pytest.raises(ArtifactError, match="classifier model, not the preopen-classifier"):
        PreopenSignalClassifier.from_bytes(evening.to_bytes())


# -- evaluation and serving (models/classifier_evaluation) -------------------------------------


def test_evaluate_and_serve_take_the_pre_open_model(history: pd.DataFrame) -> None:
    known = set_night(history, N - 1, 0.01)
    model = PreopenSignalClassifier(FAST).fit(known.iloc[:300])
    evaluation = evaluate(model, "v1", known, window=40)
    assert evaluation.kind == "preopen-classifier"
    assert evaluation.n == 40
    assert all(day > model.train_end_ for day in evaluation.days)
    assert evaluation.metric is not None and 0.5 < evaluation.metric <= 1.0
    assert evaluation.baseline is not None
    [row] = serve(model, "v1", known)
    assert row["based_on"] == known["date"].iloc[-1].date()
    assert_close(row["probability"], model.predict_proba(known).iloc[-1])
    with pytest.raises(MissingCloseError):
        serve(model, "v1", history)


# -- bad inputs ---------------------------------------------------------------------------------


def test_a_history_too_short_or_without_nights_is_refused(history: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="labelled days with a known night"):
        PreopenSignalClassifier(FAST).fit(history.iloc[:100])
    plain = synthetic_history(n=300)
    with pytest.raises(DataError, match="night"):
        PreopenSignalClassifier(FAST).fit(plain)
    unknown = history.copy()
    unknown[night_column("TSM")] = np.nan
    with pytest.raises(DataError, match="0 labelled days"):
        PreopenSignalClassifier(FAST).fit(unknown)


def test_unfitted_model_refuses() -> None:
    model = PreopenSignalClassifier(FAST)
    with pytest.raises(NotFittedError):
        model.predict_proba(night_history(200))
    with pytest.raises(NotFittedError):
        model.to_bytes()


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"symbols": [""]}, "list of names"),
        ({"symbols": ["TSM", "TSM"]}, "twice"),
        ({"symbols": "TSM"}, "list of names"),
        ({"threshold": 1.0}, "threshold"),
        ({"candidates": ["lstm"]}, "unknown classifier candidate"),
    ],
)
def test_bad_configs_are_refused(values: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        PreopenClassifierConfig.from_dict(values)


def test_config_round_trips_through_its_dict() -> None:
    config = PreopenClassifierConfig(symbols=("TSM", "^SOX"), threshold=0.6)
    values = config.to_dict()
    assert values["symbols"] == ["TSM", "^SOX"]
    assert PreopenClassifierConfig.from_dict(values) == config
    assert PreopenClassifierConfig.from_dict({}) == PreopenClassifierConfig()


def test_the_evening_config_is_not_taken() -> None:
    with pytest.raises(InputError, match="PreopenClassifierConfig"):
        PreopenSignalClassifier(ClassifierConfig())  # type: ignore[arg-type]


def test_a_config_with_other_symbols_reads_only_those(history: pd.DataFrame) -> None:
    config = PreopenClassifierConfig(
        symbols=("TSM", "^SOX"), candidates=FAST.candidates, grids=FAST.grids, min_train_days=100
    )
    model = PreopenSignalClassifier(config).fit(history.drop(columns=[night_column("^GSPC")]))
    assert list(model.model_.feature_names_in_)[-3:] == [
        night_column("TSM"),
        night_column("^SOX"),
        "intra",
    ]
    assert isinstance(model.train_end_, dt.date)
