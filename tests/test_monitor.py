"""Monitoring: metrics by hand on small series, the decision table, trials, bad windows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from taiex.errors import LockedError, SettingsError
from taiex.kinds import KINDS, MIN_DAYS_TO_JUDGE, Evaluation, TypedKindSpec
from taiex.kinds.classifier import CLASSIFIER
from taiex.kinds.classifier import decide as decide_classifier
from taiex.kinds.lstm import LSTM
from taiex.kinds.lstm import decide as decide_lstm
from taiex.metrics import diebold_mariano
from taiex.models.classifier_evaluation import evaluate as evaluate_classifier
from taiex.models.lstm_evaluation import evaluate as evaluate_lstm
from taiex.models.lstm_evaluation import pooled_dm_t
from taiex.models.registry import Registry
from taiex.monitor import (
    comparison_days,
    evaluate_kind,
    first_model,
    holdout_end,
    record_evaluation,
    retrain_kind,
)
from taiex.settings import Settings
from taiex.store import Store
from taiex.store.testing import update_rows
from tests.series import TINY_MODELS, synthetic_history


def frame(opens: list[float], closes: list[float]) -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-01", periods=len(opens))
    highs = [max(o, c) + 1 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) - 1 for o, c in zip(opens, closes, strict=True)]
    return pd.DataFrame({"date": dates, "open": opens, "high": highs, "low": lows, "close": closes})


# ---------------------------------------------------------------- sMAPE by hand


@dataclass(frozen=True)
class _Cfg:
    window: int = 2
    horizons: int = 2


class GrowthForecaster:
    """Forecasts open[t+h] = close[t] * (1 + 0.01 h): simple enough to check by hand."""

    kind = "lstm"

    def __init__(self, train_end: dt.date) -> None:
        self.config = _Cfg()
        self.train_end_ = train_end

    def predict_origins(self, history: pd.DataFrame, origins: list[dt.date]) -> pd.DataFrame:
        dates = list(history["date"].dt.date)
        rows = []
        for origin in origins:
            i = dates.index(origin)
            close = float(history["close"].iloc[i])
            for h in (1, 2):
                target = dates[i + h] if i + h < len(dates) else None
                rows.append(
                    {
                        "origin_date": origin,
                        "horizon": h,
                        "target_date": target,
                        "forecast": close * (1 + 0.01 * h),
                        "naive": close,
                    }
                )
        return pd.DataFrame(rows)


def smape_pair(f: float, a: float) -> float:
    return 2 * abs(f - a) / (abs(a) + abs(f))


def test_lstm_smape_by_hand() -> None:
    history = frame(
        opens=[100, 101, 102, 103, 104, 105], closes=[100, 100, 110, 100, 100, 100]
    )  # rows 0..5
    dates = list(history["date"].dt.date)
    model = GrowthForecaster(train_end=dates[3])
    ev = evaluate_lstm(model, "lstm-v9", history, window=120)  # type: ignore[arg-type]
    # Unseen targets: rows 4 and 5. Their pairs: (origin 3, h1) (origin 2, h2) → row 4 (open 104);
    # (origin 4, h1) (origin 3, h2) → row 5 (open 105). Closes: row 2 = 110, rows 3, 4 = 100.
    pairs = [(101.0, 104), (110 * 1.02, 104), (101.0, 105), (102.0, 105)]
    naive = [(100.0, 104), (110.0, 104), (100.0, 105), (100.0, 105)]
    expected = 100 / 4 * sum(smape_pair(f, a) for f, a in pairs)
    assert ev.days == tuple(dates[4:])
    assert ev.n == 4
    assert ev.metric == pytest.approx(expected)
    assert ev.baseline == pytest.approx(100 / 4 * sum(smape_pair(f, a) for f, a in naive))
    h1 = 100 / 2 * (smape_pair(101, 104) + smape_pair(101, 105))
    assert ev.detail["smape_by_horizon"]["1"] == pytest.approx(h1, abs=1e-6)
    # Two days are too few for a Diebold-Mariano t (metrics.MIN_DM_PAIRS).
    assert ev.detail["dm_t"] is None


def test_pooled_dm_t_is_the_t_of_the_daily_mean_differences() -> None:
    # 12 target days, each with an h1 and an h2 pair, rows shuffled: per day the mean of
    # model-minus-naive sMAPE terms, then their t in date order at lag 5.
    rows, daily = [], []
    for day in range(12):
        target = dt.date(2024, 1, 1) + dt.timedelta(days=day)
        terms = []
        for h, forecast in ((1, 101.0 + 2 * (day % 2)), (2, 99.0 - day % 3)):
            rows.append(
                {"target_date": target, "horizon": h, "forecast": forecast, "naive": 100.5,
                 "actual": 100.0}
            )  # fmt: skip
            terms.append(100 * (smape_pair(forecast, 100.0) - smape_pair(100.5, 100.0)))
        daily.append(sum(terms) / 2)
    pairs = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    expected = diebold_mariano(daily, [0.0] * len(daily), lag=5)
    assert expected is not None
    assert pooled_dm_t(pairs, lag=5) == pytest.approx(expected, abs=1e-6)


def test_lstm_window_is_the_last_days_after_training() -> None:
    history = frame(opens=[100.0] * 10, closes=[100.0] * 10)
    dates = list(history["date"].dt.date)
    ev = evaluate_lstm(GrowthForecaster(dates[2]), "v", history, window=3)  # type: ignore[arg-type]
    assert ev.days == tuple(dates[-3:])
    fresh = evaluate_lstm(GrowthForecaster(dates[-1]), "v", history, window=120)  # type: ignore[arg-type]
    assert fresh.metric is None and "no trading day after" in (fresh.reason or "")


# ---------------------------------------------------------------- AUC by hand


class FixedClassifier:
    kind = "classifier"

    def __init__(self, probabilities: pd.Series, train_end: dt.date) -> None:
        self.probabilities = probabilities
        self.train_end_ = train_end
        self.winner_ = "fixed"

    def predict_proba(self, history: pd.DataFrame) -> pd.Series:
        return self.probabilities


def test_classifier_auc_by_hand() -> None:
    closes = [100.0] * 19 + [100.0, 101.0, 99.0, 102.0, 98.0, 103.0]
    history = frame(opens=closes, closes=closes)
    dates = pd.to_datetime(history["date"])
    # MA20 from row 19. Labels: row 19 → close[20]=101 > MA20[19]=100 → 1; row 20 → 99 > 100.05
    # → 0; row 21 → 102 > 100 → 1; row 22 → 98 > 100.1 → 0; row 23 → 103 > 100 → 1; row 24 none.
    probabilities = pd.Series([0.5] * 19 + [0.9, 0.6, 0.4, 0.3, 0.8, 0.7], index=dates)
    model = FixedClassifier(probabilities, train_end=dates[18].date())
    ev = evaluate_classifier(model, "classifier-v9", history, window=40)  # type: ignore[arg-type]
    # Positives (rows 19, 21, 23) score 0.9, 0.4, 0.8; negatives (20, 22) 0.6, 0.3.
    # Pairs won: 0.9>0.6, 0.9>0.3, 0.4>0.3, 0.8>0.6, 0.8>0.3 → 5 of 6.
    assert ev.metric == pytest.approx(5 / 6)
    assert ev.n == 5 and ev.detail["n_positive"] == 3 and ev.detail["n_negative"] == 2
    assert ev.days == tuple(d.date() for d in dates[19:24])
    assert ev.baseline is not None  # the trivial score on the same days


def test_single_class_window_stores_null_with_the_reason(tmp_path: Any) -> None:
    closes = [100.0 + i for i in range(40)]  # always rising: every label is 1
    history = frame(opens=closes, closes=closes)
    dates = pd.to_datetime(history["date"])
    model = FixedClassifier(pd.Series(np.linspace(0, 1, 40), index=dates), dates[25].date())
    ev = evaluate_classifier(model, "classifier-v1", history, window=40)  # type: ignore[arg-type]
    assert ev.metric is None and "class 1" in (ev.reason or "")
    decision = decide_classifier(ev, Settings(classifier_auc_min=0.8))
    assert not decision.retrain and "not judged" in decision.reason
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.upgrade()
    record_evaluation(store, CLASSIFIER, ev)
    record_evaluation(store, CLASSIFIER, ev)  # a rerun adds nothing
    rows = store.evaluations.rows(CLASSIFIER.metric.table)
    assert len(rows) == 1
    assert rows[0]["ROC_AUC"] is None and "class 1" in rows[0]["reason"]
    assert (rows[0]["n_positive"], rows[0]["n_negative"]) == (13, 0)


# ---------------------------------------------------------------- decisions, each rule alone

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(20)]


def lstm_eval(
    metric: float | None, naive: float | None, days: int = 20, dm_t: float | None = None
) -> Evaluation:
    return Evaluation(
        "lstm", "lstm-v1", DAYS[-1], metric, naive, days * 5, tuple(DAYS[:days]),
        detail={"dm_t": dm_t},
    )  # fmt: skip


def limits(
    smape_max: float = 100, margin: float = 0.05, auc_min: float = 0.8, dm_t_max: float = 2.0
) -> Settings:
    return Settings(
        lstm_smape_max=smape_max, lstm_naive_margin=margin, classifier_auc_min=auc_min,
        lstm_dm_t_max=dm_t_max,
    )  # fmt: skip


def test_lstm_decisions() -> None:
    assert decide_lstm(None, limits()).retrain
    too_high = decide_lstm(lstm_eval(120.0, 200.0), limits())
    assert too_high.retrain and "> TAIEX_LSTM_SMAPE_MAX 100" in too_high.reason
    assert too_high.code == "threshold"
    worse = decide_lstm(lstm_eval(1.06, 1.0), limits())
    assert worse.retrain and "more than 5% worse than the naive" in worse.reason
    assert worse.code == "baseline"
    assert not decide_lstm(lstm_eval(1.04, 1.0), limits()).retrain
    assert not decide_lstm(lstm_eval(0.9, 1.0), limits()).retrain
    undefined = decide_lstm(lstm_eval(None, None), limits(0, 0))
    assert not undefined.retrain and "not judged" in undefined.reason
    few = decide_lstm(lstm_eval(120.0, 1.0, days=MIN_DAYS_TO_JUDGE - 1), limits())
    assert not few.retrain and "at least" in few.reason


def test_lstm_retrains_when_significantly_worse_than_naive() -> None:
    """Within the margin, but consistently worse: the Diebold-Mariano t decides (issue 10)."""
    significant = decide_lstm(lstm_eval(1.02, 1.0, dm_t=2.5), limits())
    assert significant.retrain and significant.code == "significance"
    assert "t +2.50 > TAIEX_LSTM_DM_T_MAX 2" in significant.reason
    assert not decide_lstm(lstm_eval(1.02, 1.0, dm_t=1.5), limits()).retrain
    assert not decide_lstm(lstm_eval(1.02, 1.0, dm_t=2.5), limits(dm_t_max=3)).retrain
    healthy = decide_lstm(lstm_eval(0.98, 1.0, dm_t=-1.2), limits())
    assert not healthy.retrain and "t -1.20" in healthy.reason
    assert not decide_lstm(lstm_eval(1.02, 1.0, dm_t=None), limits()).retrain  # undefined t


def test_classifier_decisions() -> None:
    def ev(metric: float | None) -> Evaluation:
        return Evaluation("classifier", "c-v1", DAYS[-1], metric, 0.9, 20, tuple(DAYS))

    assert decide_classifier(None, limits()).retrain
    low = decide_classifier(ev(0.79), limits())
    assert low.retrain and "< TAIEX_CLASSIFIER_AUC_MIN 0.8" in low.reason
    assert not decide_classifier(ev(0.8), limits()).retrain
    assert not decide_classifier(ev(None), limits()).retrain


@pytest.mark.parametrize(
    ("auc", "trivial", "margin", "retrain"),
    [
        (0.70, 0.90, 0.02, True),  # the trivial score does far better: the edge is lost
        (0.70, 0.72, 0.02, False),  # within the margin: hard days for any rule
        (0.70, 0.60, 0.02, False),  # better than the trivial score: retraining cannot help
        (0.70, 0.60, -1.0, True),  # the guard off: below the floor is enough
        (0.70, None, 0.02, True),  # no trivial score to compare with: the floor alone
        (0.85, 0.99, 0.02, False),  # above the floor: healthy, whatever the trivial score
    ],
)
def test_a_low_auc_that_the_trivial_score_shares_is_not_a_stale_model(
    auc: float, trivial: float | None, margin: float, retrain: bool
) -> None:
    evaluation = Evaluation("classifier", "c-v1", DAYS[-1], auc, trivial, 20, tuple(DAYS))
    settings = Settings(classifier_auc_min=0.8, classifier_trivial_margin=margin)
    decision = decide_classifier(evaluation, settings)
    assert decision.retrain is retrain
    if not retrain and auc < 0.8:
        assert decision.code == "hard-days" and "TAIEX_CLASSIFIER_TRIVIAL_MARGIN" in decision.reason
        reading = CLASSIFIER.reading(evaluation, decision, settings)
        assert "hard days for any rule" in reading and "retrain is due" not in reading


def test_every_kind_reads_back_what_it_stored() -> None:
    """A kind's evaluation row and its reading back agree (what the report relies on)."""
    for spec in KINDS:
        ev = Evaluation(spec.name, f"{spec.name}-v1", DAYS[-1], 0.9, 0.8, 100, tuple(DAYS))
        row = {
            "model_version": ev.model_version,
            "data_date": ev.data_date,
            "window_start": ev.window_start,
            "window_end": ev.window_end,
            "reason": None,
            "model_family": None,
            **spec.evaluation_row(ev),
        }
        back = spec.from_row(row)
        assert (back.metric, back.baseline, back.n) == (0.9, 0.8, 100)
        if spec is LSTM:
            ev = replace(ev, detail={"dm_t": 2.5})
            assert spec.from_row({**row, **spec.evaluation_row(ev)}).detail["dm_t"] == 2.5
        assert (back.window_start, back.window_end) == (DAYS[0], DAYS[-1])
        assert back.n_days >= MIN_DAYS_TO_JUDGE


def test_comparison_days_are_the_recent_half() -> None:
    assert comparison_days(DAYS) == DAYS[10:]
    assert comparison_days(DAYS[:12]) == DAYS[2:12]  # never fewer than MIN_DAYS_TO_JUDGE


# ---------------------------------------------------------------- trials with scripted models


class ScriptedModel:
    """A model whose score on any window is fixed: what a trial decides is then known."""

    def __init__(self, score: float | None, train_start: dt.date, train_end: dt.date) -> None:
        self.score = score
        self.train_start_ = train_start
        self.train_end_ = train_end

    def to_bytes(self) -> bytes:
        return f"scripted:{self.score}:{self.train_end_}".encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ScriptedModel:
        _, score, end = data.decode().split(":")
        day = dt.date.fromisoformat(end)
        return cls(None if score == "None" else float(score), day, day)

    def metadata(self) -> dict[str, Any]:
        return {"score": self.score}


@dataclasses.dataclass(frozen=True)
class ScriptedSpec(TypedKindSpec[Any, Any]):
    """The classifier's spec with models whose scores come from a queue."""

    scores: list[float | None] = dataclasses.field(default_factory=list)

    def fit(self, settings: Settings, history: pd.DataFrame) -> ScriptedModel:
        days = list(history["date"].dt.date)
        return ScriptedModel(self.scores.pop(0), days[0], days[-1])

    def from_bytes(self, data: bytes) -> ScriptedModel:
        return ScriptedModel.from_bytes(data)

    def params(self, settings: Settings) -> dict[str, Any]:
        return {"scripted": True}

    def run_evaluation(
        self, model: Any, version: str, history: pd.DataFrame, days: Any
    ) -> Evaluation:
        dates = list(history["date"].dt.date)
        chosen = list(days) if days is not None else [d for d in dates if d > model.train_end_]
        return Evaluation(
            "classifier", version, dates[-1], model.score, 0.5, 40, tuple(chosen[-40:])
        )


def scripted_spec(scores: list[float | None], higher_is_better: bool = True) -> ScriptedSpec:
    base = {f.name: getattr(CLASSIFIER, f.name) for f in dataclasses.fields(TypedKindSpec)}
    base["metric"] = dataclasses.replace(CLASSIFIER.metric, higher_is_better=higher_is_better)
    return ScriptedSpec(**base, scores=list(scores))


SETTINGS = Settings()


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    store.upgrade()
    return store


HISTORY = synthetic_history(n=200, start="2024-01-01", seed=1)


@pytest.mark.parametrize(
    ("challenger", "promoted"), [(0.9, True), (0.7, False), (0.8, False), (None, False)]
)
def test_a_challenger_is_promoted_only_when_better(
    sqlite_store: Store, challenger: float | None, promoted: bool
) -> None:
    spec = scripted_spec([0.8, challenger])
    registry = Registry(sqlite_store)
    first = first_model(spec, SETTINGS, registry, HISTORY)
    assert first.promoted and registry.champion("classifier").version == "classifier-v1"  # type: ignore[union-attr]
    assert registry.champion("classifier").train_end == holdout_end(spec, HISTORY)  # type: ignore[union-attr]
    trial = retrain_kind(spec, sqlite_store, HISTORY, SETTINGS)
    assert trial.promoted is promoted
    assert (trial.score, trial.champion_score) == (challenger, 0.8)
    kept = registry.get("classifier", "classifier-v2")
    assert kept.decision == ("promoted" if promoted else "rejected")
    assert (kept.score, kept.champion_score) == (challenger, 0.8)
    assert registry.champion("classifier").version == (  # type: ignore[union-attr]
        "classifier-v2" if promoted else "classifier-v1"
    )
    # The challenger learned from the older half of the champion's unseen window, no more.
    champion_days = [d for d in HISTORY["date"].dt.date if d > first_model_end(registry)]
    judged = comparison_days(champion_days[-40:])
    assert kept.train_end < judged[0]


def first_model_end(registry: Registry) -> dt.date:
    return registry.get("classifier", "classifier-v1").train_end


def test_lower_is_better_for_smape(sqlite_store: Store) -> None:
    spec = scripted_spec([1.0, 0.9], higher_is_better=False)
    first_model(spec, SETTINGS, Registry(sqlite_store), HISTORY)
    assert retrain_kind(spec, sqlite_store, HISTORY, SETTINGS).promoted


def test_a_repeat_retrain_on_the_same_days_trains_nothing(sqlite_store: Store) -> None:
    spec = scripted_spec([0.8, 0.7])
    first_model(spec, SETTINGS, Registry(sqlite_store), HISTORY)
    retrain_kind(spec, sqlite_store, HISTORY, SETTINGS)
    again = retrain_kind(
        spec, sqlite_store, HISTORY, SETTINGS
    )  # the queue is empty: a fit would fail
    assert not again.promoted and "tried already" in again.reason
    assert len(Registry(sqlite_store).versions("classifier")) == 2


def test_a_failed_retrain_leaves_the_champion(sqlite_store: Store) -> None:
    spec = scripted_spec([0.8])  # the challenger's fit will fail: nothing left to pop
    first_model(spec, SETTINGS, Registry(sqlite_store), HISTORY)
    with pytest.raises(IndexError):
        retrain_kind(spec, sqlite_store, HISTORY, SETTINGS)
    registry = Registry(sqlite_store)
    assert [v.version for v in registry.versions("classifier")] == ["classifier-v1"]
    assert registry.champion("classifier").version == "classifier-v1"  # type: ignore[union-attr]


def test_two_retrains_at_once_do_not_make_two_champions(sqlite_store: Store) -> None:
    spec = scripted_spec([0.8, 0.9, 0.95])
    first_model(spec, SETTINGS, Registry(sqlite_store), HISTORY)
    outcomes: list[object] = []

    def retrain() -> None:
        try:
            outcomes.append(retrain_kind(spec, Store(sqlite_store.engine), HISTORY, SETTINGS))
        except LockedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=retrain) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    registry = Registry(sqlite_store)
    statuses = [v.status for v in registry.versions("classifier")]
    assert statuses.count("champion") == 1
    assert registry.champion("classifier") is not None
    assert len(outcomes) == 2


# ---------------------------------------------------------------- real models, tiny settings

TINY = Settings(**TINY_MODELS)


def test_real_models_end_to_end(sqlite_store: Store) -> None:
    history = synthetic_history(n=480, start="2023-01-02", seed=5)
    for spec in KINDS:
        report = evaluate_kind(spec, sqlite_store, history, TINY)
        assert report.evaluation is None and report.decision.retrain  # no model yet
        trial = retrain_kind(spec, sqlite_store, history, TINY)
        assert trial.promoted
        report = evaluate_kind(spec, sqlite_store, history, TINY)
        assert report.evaluation is not None and len(report.evaluation.days) == spec.window
        assert report.evaluation.metric is not None and report.evaluation.baseline is not None
        forced = replace(
            TINY, lstm_smape_max=0.0, classifier_auc_min=1.0, classifier_trivial_margin=-1.0
        )
        assert evaluate_kind(spec, sqlite_store, history, forced).decision.retrain
    lstm_rows = sqlite_store.evaluations.rows(LSTM.metric.table)
    assert len(lstm_rows) == 1  # evaluated twice on the same day: one row
    assert (
        lstm_rows[0]["n_pairs"] == 600
        and lstm_rows[0]["window_end"] == history["date"].iloc[-1].date()
    )


def test_bad_model_settings_are_named() -> None:
    with pytest.raises(SettingsError, match=r"\[lstm\] in the config file: unknown keys hiden"):
        LSTM.config(Settings(lstm={"hiden": 3}))
    with pytest.raises(SettingsError, match=r"\[classifier\]"):
        CLASSIFIER.config(Settings(classifier={"candidates": ["nope"]}))


# ---------------------------------------------------------------- a champion that cannot load


def damage(store: Store, version: str) -> None:
    update_rows(store, "model_versions", {"artifact": b"damaged"}, version=version)


def crowned_second(store: Store, scores: list[float | None]) -> ScriptedSpec:
    """classifier-v1 (0.8), then classifier-v2 (0.9) promoted over it; the rest of ``scores``
    are the next challengers'. Then v2's artifact is damaged."""
    spec = scripted_spec([0.8, 0.9, *scores])
    first_model(spec, SETTINGS, Registry(store), HISTORY)
    assert retrain_kind(spec, store, HISTORY, SETTINGS).promoted
    damage(store, "classifier-v2")
    return spec


def test_a_champion_that_cannot_load_counts_as_failing(sqlite_store: Store) -> None:
    spec = crowned_second(sqlite_store, [])
    report = evaluate_kind(spec, sqlite_store, HISTORY, SETTINGS)
    assert report.champion == "classifier-v2"
    assert report.decision.retrain and report.decision.code == "unloadable"
    assert "the champion classifier-v2 cannot be loaded" in report.decision.reason
    assert "classifier-v1 was evaluated in its place" in report.decision.reason
    assert report.evaluation is not None and report.evaluation.model_version == "classifier-v1"
    # The reason is recorded with the version and with the evaluation row.
    broken = Registry(sqlite_store).get("classifier", "classifier-v2")
    assert broken.decision == "unloadable" and "cannot be loaded" in (broken.decision_reason or "")
    (row,) = sqlite_store.evaluations.rows(CLASSIFIER.metric.table)
    assert "classifier-v2 cannot be loaded" in row["reason"]
    again = evaluate_kind(spec, sqlite_store, HISTORY, SETTINGS)  # a rerun adds nothing
    assert again.decision == report.decision
    assert len(sqlite_store.evaluations.rows(CLASSIFIER.metric.table)) == 1


@pytest.mark.parametrize(
    ("challenger", "champion"), [(0.85, "classifier-v3"), (0.7, "classifier-v1")]
)
def test_a_champion_that_cannot_load_is_replaced(
    sqlite_store: Store, challenger: float, champion: str
) -> None:
    """A challenger that beats the last good champion takes the title; one that does not leaves
    it to that last good champion. Either way the unloadable one is champion no more."""
    spec = crowned_second(sqlite_store, [challenger])
    trial = retrain_kind(spec, sqlite_store, HISTORY, SETTINGS)
    registry = Registry(sqlite_store)
    assert registry.champion("classifier").version == champion  # type: ignore[union-attr]
    assert registry.get("classifier", "classifier-v2").status == "retired"
    assert trial.promoted is (champion == "classifier-v3")
    assert trial.champion_score == 0.8  # measured against the last good champion
    if champion == "classifier-v1":
        assert "classifier-v1, the last good champion, replaces classifier-v2" in trial.reason
    assert evaluate_kind(spec, sqlite_store, HISTORY, SETTINGS).decision.code != "unloadable"


def test_when_no_version_loads_a_new_model_replaces_the_champion(sqlite_store: Store) -> None:
    spec = crowned_second(sqlite_store, [0.6])
    damage(sqlite_store, "classifier-v1")
    report = evaluate_kind(spec, sqlite_store, HISTORY, SETTINGS)
    assert report.decision.retrain and report.evaluation is None
    assert "classifier-v2 cannot be loaded" in report.decision.reason
    trial = retrain_kind(spec, sqlite_store, HISTORY, SETTINGS)
    assert trial.promoted and "a new model replaces classifier-v2" in trial.reason
    assert Registry(sqlite_store).champion("classifier").version == "classifier-v3"  # type: ignore[union-attr]


def test_the_lstm_evaluation_reuses_what_was_served_and_gives_the_same_figures(
    tmp_path: Any,
) -> None:
    """Each evening forecasts only the origins its champion did not serve, and its figures are
    exactly those of a whole recomputation; a revised price makes what was served before stale."""
    from decimal import Decimal

    from taiex.monitor import evaluate_champion
    from taiex.source import DailyRow
    from tests.clock import StepClock

    clock = StepClock()
    store = Store(f"sqlite:///{tmp_path / 'reuse.db'}", clock=clock)
    store.upgrade()
    full = synthetic_history(n=480, start="2023-01-02", seed=5)
    store.merge_rows([_row(r) for r in full.itertuples()], source="test")
    retrain_kind(LSTM, store, full.iloc[:-6], TINY)
    registry = Registry(store)

    def evening(history: pd.DataFrame) -> tuple[int, int]:
        """Serve, then evaluate: (origins reused, origins computed)."""
        clock.advance(hours=1)
        loaded, evaluation = evaluate_champion(LSTM, registry, history)
        assert loaded is not None and evaluation is not None
        fresh = LSTM.run_evaluation(loaded.model, loaded.version.version, history, None)
        assert (evaluation.metric, evaluation.baseline) == (fresh.metric, fresh.baseline)
        assert evaluation.detail["smape_by_horizon"] == fresh.detail["smape_by_horizon"]
        pd.testing.assert_frame_equal(evaluation.frame, fresh.frame, check_exact=True)
        store.forecasts.save(LSTM.served_rows(loaded.model, loaded.version.version, history))
        return evaluation.detail["origins_reused"], evaluation.detail["origins_computed"]

    counts = [evening(full.iloc[: len(full) - left]) for left in (5, 4, 3, 2, 1, 0)]
    # Each evening reuses what the evenings before it served.
    assert counts == [(0, 124), (1, 123), (2, 122), (3, 121), (4, 120), (5, 119)]
    # TWSE revises a close two days back: what was served before it is made again.
    day = full.iloc[-3]
    clock.advance(hours=1)
    revised = DailyRow(
        day["date"].date(), *(Decimal(f"{day[c]:.2f}") for c in ("open", "high", "low")),
        Decimal(f"{day['close'] + 1:.2f}"),
    )  # fmt: skip
    store.merge_rows([revised], source="test")
    assert evening(store.read_history()) == (3, 121)


def _row(r: Any) -> Any:
    from decimal import Decimal

    from taiex.source import DailyRow

    return DailyRow(r.date.date(), *(Decimal(f"{v:.2f}") for v in (r.open, r.high, r.low, r.close)))


def test_the_classifier_is_scored_on_a_tail_as_on_the_whole_history() -> None:
    """Its evaluation and its signal read only the last days, bit for bit as the whole history
    would give them."""
    from taiex.features import entry_labels, trivial_score
    from taiex.metrics import roc_auc
    from taiex.models.classifier import ClassifierConfig, EntrySignalClassifier
    from taiex.models.classifier_evaluation import serve

    history = synthetic_history(n=480, start="2023-01-02", seed=5)
    model = EntrySignalClassifier(ClassifierConfig.from_dict(TINY_MODELS["classifier"]))
    model.fit(history.iloc[:300])
    whole = pd.DataFrame(
        {
            "label": entry_labels(history).to_numpy(),
            "trivial": trivial_score(history).to_numpy(),
            "probability": model.predict_proba(history).reindex(history["date"]).to_numpy(),
        },
        index=history["date"].dt.date,
    )
    for days in (None, list(history["date"].dt.date.iloc[350:380])):
        evaluation = evaluate_classifier(model, "classifier-v1", history, days, window=40)
        chosen = list(evaluation.days)
        assert chosen == (days or list(whole.index[-41:-1]))
        expected = whole.loc[chosen]
        assert evaluation.frame["probability"].tolist() == expected["probability"].tolist()
        assert evaluation.frame["trivial"].tolist() == expected["trivial"].tolist()
        assert evaluation.metric == roc_auc(expected["label"], expected["probability"])[0]
    served = serve(model, "classifier-v1", history)[0]
    assert served["probability"] == whole["probability"].iloc[-1]
