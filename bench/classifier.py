"""Benchmark of the entry-signal classifier on the real TAIEX history.

Train on days <= 2024-12-31 (the tournament chooses on CV only), score 2025-01-01 onward. Rows:
every candidate with its best CV params refit on all training days, the tournament's winner, the
trivial score close/MA20 - 1, the original system's SVC (whole-series MinMax, hard labels and its
decision function), and LightGBM for reference (not a candidate).

    PYTHONPATH=src .venv/bin/python bench/classifier.py [CSV]  # default tests/data/taiex_daily.csv

Prints a Markdown table. Skips, saying why, when CSV names no file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import TimeSeriesSplit

from real_data import REAL_CSV
from taiex.features import classifier_features, entry_labels, moving_average_20, trivial_score
from taiex.models.backtest import backtest_classifier as backtest
from taiex.models.candidates import candidate_pipeline
from taiex.models.classifier import ClassifierConfig
from taiex.models.tournament import best_params

TRAIN_UNTIL = pd.Timestamp("2024-12-31")
TEST_START = pd.Timestamp("2025-01-01")


@dataclass
class Row:
    name: str
    cv: list[float] | None
    test_auc: float
    seconds: float | None
    note: str = ""


@dataclass
class Data:
    """Labelled training days (features, labels) and labelled test days, on one history."""

    history: pd.DataFrame
    train: np.ndarray[Any, Any]  # boolean masks over the history's rows
    test: np.ndarray[Any, Any]
    labels: pd.Series
    features: pd.DataFrame


def load(path: Path) -> Data:
    history = pd.read_csv(path, parse_dates=["date"])
    # Training labels come from the history cut at TRAIN_UNTIL, so the last training day has none.
    cut = history[history["date"] <= TRAIN_UNTIL]
    train_labels = entry_labels(cut).reindex(history.index)
    labels = entry_labels(history)
    features = classifier_features(history)
    has_features = features.notna().all(axis=1).to_numpy()
    train = has_features & train_labels.notna().to_numpy()
    test = has_features & labels.notna().to_numpy() & (history["date"] >= TEST_START).to_numpy()
    return Data(history, train, test, labels, features)


def folds(data: Data, config: ClassifierConfig) -> list[tuple[np.ndarray[Any, Any], ...]]:
    splitter = TimeSeriesSplit(n_splits=config.n_splits, gap=config.gap)
    return list(splitter.split(np.flatnonzero(data.train)))


def cv_of_scores(data: Data, config: ClassifierConfig, score: pd.Series) -> list[float]:
    y, s = data.labels[data.train].to_numpy(), score[data.train].to_numpy()
    return [float(roc_auc_score(y[te], s[te])) for _, te in folds(data, config)]


def cv_of_model(
    data: Data, config: ClassifierConfig, make: Callable[[], Any], x: pd.DataFrame
) -> list[float]:
    xs, y = x[data.train].reset_index(drop=True), data.labels[data.train].to_numpy()
    aucs = []
    for tr, te in folds(data, config):
        model = make().fit(xs.iloc[tr], y[tr])
        aucs.append(float(roc_auc_score(y[te], score_of(model, xs.iloc[te]))))
    return aucs


def score_of(model: Any, x: pd.DataFrame) -> np.ndarray[Any, Any]:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x)[:, 1])
    return np.asarray(model.decision_function(x))


def candidate_rows(data: Data, table: pd.DataFrame, config: ClassifierConfig) -> list[Row]:
    y_train = data.labels[data.train].to_numpy().astype(int)
    y_test = data.labels[data.test].to_numpy().astype(int)
    rows = []
    for name in config.candidates:
        params = best_params(table, name)
        best = table[table["candidate"] == name].sort_values("rank").iloc[0]
        started = time.perf_counter()
        model = candidate_pipeline(name, params, seed=config.seed)
        model.fit(data.features[data.train], y_train)
        seconds = time.perf_counter() - started
        auc = float(roc_auc_score(y_test, score_of(model, data.features[data.test])))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        rows.append(Row(name, [best["cv_auc_mean"], best["cv_auc_std"]], auc, seconds, f"{shown}"))
    return rows


def every_setting_markdown(data: Data, table: pd.DataFrame, config: ClassifierConfig) -> str:
    """Every candidate x params of the tournament, refit on all training days, with test AUC.

    For honesty only: the choice is made on CV; this shows what the test period would have said.
    """
    y_train = data.labels[data.train].to_numpy().astype(int)
    y_test = data.labels[data.test].to_numpy().astype(int)
    lines = [
        "| rank | candidate | params | CV AUC mean ± std | test AUC |",
        "|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        model = candidate_pipeline(row["candidate"], row["params"], seed=config.seed)
        model.fit(data.features[data.train], y_train)
        auc = float(roc_auc_score(y_test, score_of(model, data.features[data.test])))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items()))
        cv = f"{row['cv_auc_mean']:.4f} ± {row['cv_auc_std']:.4f}"
        lines.append(f"| {row['rank']} | {row['candidate']} | {shown} | {cv} | {auc:.4f} |")
    return "\n".join(lines)


def original_rows(data: Data, config: ClassifierConfig) -> list[Row]:
    """The original system: raw OHLC + MA20 MinMax-scaled over the whole series, linear SVC."""
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.svm import SVC

    raw = data.history[["open", "high", "low", "close"]].assign(
        ma20=moving_average_20(data.history["close"])
    )
    usable = raw.notna().all(axis=1)
    # The leak the original had: min and max are taken over every day, test days included.
    scaled = pd.DataFrame(MinMaxScaler().fit_transform(raw[usable]), index=raw.index[usable])
    scaled = scaled.reindex(raw.index)
    y_train = data.labels[data.train].to_numpy().astype(int)
    y_test = data.labels[data.test].to_numpy().astype(int)
    started = time.perf_counter()
    svc = SVC(kernel="linear", C=150).fit(scaled[data.train], y_train)
    seconds = time.perf_counter() - started
    hard = float(roc_auc_score(y_test, svc.predict(scaled[data.test])))
    soft = float(roc_auc_score(y_test, svc.decision_function(scaled[data.test])))
    cv = cv_of_model(data, config, lambda: SVC(kernel="linear", C=150), scaled)
    return [
        Row("original SVC, hard 0/1 labels", None, hard, seconds, "linear, C=150, leaky MinMax"),
        Row("original SVC, decision function", cv, soft, seconds, "linear, C=150, leaky MinMax"),
    ]


def lightgbm_row(data: Data, config: ClassifierConfig) -> Row | None:
    try:
        from lightgbm import LGBMClassifier
    except ImportError:
        return None

    def make() -> Any:
        return LGBMClassifier(
            n_estimators=200, learning_rate=0.03, num_leaves=7, min_child_samples=50, verbose=-1
        )

    cv = cv_of_model(data, config, make, data.features)
    started = time.perf_counter()
    model = make().fit(data.features[data.train], data.labels[data.train].astype(int))
    seconds = time.perf_counter() - started
    y_test = data.labels[data.test].to_numpy().astype(int)
    auc = float(roc_auc_score(y_test, score_of(model, data.features[data.test])))
    return Row("lightgbm (reference only)", cv, auc, seconds, "200 trees, 7 leaves, lr 0.03")


def fmt_cv(cv: list[float] | None, *, summary: bool = False) -> str:
    if cv is None:
        return "—"
    mean, std = (cv[0], cv[1]) if summary else (float(np.mean(cv)), float(np.std(cv)))
    return f"{mean:.4f} ± {std:.4f}"


def table_markdown(rows: list[tuple[Row, bool]]) -> str:
    lines = [
        "| model | CV AUC mean ± std | test AUC | fit s | params / note |",
        "|---|---|---|---|---|",
    ]
    for row, summary in rows:
        seconds = "—" if row.seconds is None else f"{row.seconds:.1f}"
        cv = fmt_cv(row.cv, summary=summary)
        lines.append(f"| {row.name} | {cv} | {row.test_auc:.4f} | {seconds} | {row.note} |")
    return "\n".join(lines)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REAL_CSV
    if not path.exists():
        print(f"skipped: the real history is not present at {path}")
        return 0
    config = ClassifierConfig()
    data = load(path)
    started = time.perf_counter()
    result = backtest(data.history, train_until=TRAIN_UNTIL, start=TEST_START, config=config)
    tournament_seconds = time.perf_counter() - started
    model = result.model
    assert result.auc is not None and result.trivial_auc is not None
    winner_cv = [result.table.iloc[0]["cv_auc_mean"], result.table.iloc[0]["cv_auc_std"]]
    rows: list[tuple[Row, bool]] = [(r, True) for r in candidate_rows(data, result.table, config)]
    shown = ", ".join(f"{k}={v}" for k, v in sorted(model.winner_params_.items()))
    winner_note = f"{shown}; fit s = the whole tournament (CV of every setting) + refit"
    rows.append(
        (
            Row(
                f"**winner: {model.winner_}**",
                winner_cv,
                result.auc,
                tournament_seconds,
                winner_note,
            ),
            True,
        )
    )
    trivial = trivial_score(data.history)
    trivial_test = float(roc_auc_score(data.labels[data.test], trivial[data.test]))
    trivial_cv = cv_of_scores(data, config, trivial)
    rows.append(
        (Row("trivial close/MA20 − 1", trivial_cv, trivial_test, None, "no fitting"), False)
    )
    rows.extend((r, False) for r in original_rows(data, config))
    extra = lightgbm_row(data, config)
    if extra is not None:
        rows.append((extra, False))
    n_train, n_test = int(data.train.sum()), int(data.test.sum())
    first, last = data.history["date"][data.test].iloc[[0, -1]].dt.date
    print(
        f"training days {n_train} (to {TRAIN_UNTIL.date()}), test days {n_test} ({first}..{last})"
    )
    print(f"backtest AUC {result.auc:.4f}, trivial AUC {result.trivial_auc:.4f} on the same days\n")
    print(table_markdown(rows))
    print("\nEvery setting of the tournament (refit on all training days):\n")
    print(every_setting_markdown(data, result.table, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
