"""The pre-open round's entry signal (issue 21) against the evening signal and the trivial score.

Day t's question is the evening's, P(close[t+1] > MA20[t]); the pre-open round asks it at 07:30
Taipei before session t + 1 and also knows the night's log moves of ``^GSPC, ^IXIC, ^SOX, TSM``
(``taiex.overnight``, read as ``bench/preopen.py`` reads them: ``read_history``, ``read_moves``).

**Walk-forward by year**, 2018 ... 2024: year Y's days are the days t dated in Y with a label
and a known night; each year is scored by models fitted once on every row before Y's first day
(so the last training label reads a close before Y). Nothing after 2024-12-31 is read (the US
closes after it are the hold-out; the label of 2024-12-31 needs 2025's first close, so that day is
not scored). Contenders, on the same days:

- **trivial**: close[t] / MA20[t] - 1 (``features.trivial_score``);
- **evening**: ``EntrySignalClassifier()`` (the default config), trained on the whole history
  before Y, as the product trains it;
- **evening 2016+**: the same, trained only on the rows the pre-open model can train on (from
  19 days before the first known night): says how much of the gap is the night and how much the
  shorter, more recent training window;
- **pre-open**: ``PreopenSignalClassifier()`` (the default config) on the history with its
  nights (``overnight.with_nights``), trained on the days with a known night (from 2016-06-27).

Figures: ROC AUC per year, pooled over the tuning years 2018-2020, the judged years 2021-2024
and all; for pre-open - evening and pre-open - trivial a moving-block bootstrap interval (95 %,
percentile; blocks of 20 consecutive scored days, 2,000 resamples, seed 21): the labels of
neighbouring days share closes and MA20, so days are not independent.

**Discipline.** The features (``--variants``) and the method were chosen on 2018-2020 only;
2021-2024 were run once, after, and are reported as not tuned on.

    nice -n 10 python bench/preopen_signal.py [--quick] [--variants] [--csv PATH] [--us-csv PATH]

``--quick``: the tuning years only. Deterministic.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from preopen import read_history, read_moves
from real_data import REAL_CSV, US_CSV
from taiex.features import classifier_features, entry_labels, trivial_score
from taiex.frames import HISTORY_COLUMNS
from taiex.metrics import roc_auc
from taiex.models.candidates import candidate_pipeline
from taiex.models.classifier import EntrySignalClassifier
from taiex.models.preopen import SYMBOLS
from taiex.models.preopen_classifier import (
    INTRA,
    PreopenClassifierConfig,
    PreopenSignalClassifier,
    preopen_features,
)
from taiex.models.tournament import TrainingSet, run_tournament
from taiex.overnight import night_column, with_nights

YEARS = tuple(range(2018, 2025))
TUNING = (2018, 2019, 2020)
JUDGED = (2021, 2022, 2023, 2024)
RESAMPLES = 2_000
BLOCK = 20
SEED = 21
SCORES = ("trivial", "evening", "evening 2016+", "pre-open")


# ------------------------------------------------------------------------ data and fits


def load(csv: Path, us_csv: Path) -> pd.DataFrame:
    """The history up to 2024-12-31 with its nights (``night:<symbol>``, ``night:quiet``)."""
    history = read_history(csv)
    return with_nights(history, read_moves(history, us_csv), SYMBOLS)


def first_night_row(history: pd.DataFrame) -> int:
    known = history[[night_column(s) for s in SYMBOLS]].notna().all(axis=1).to_numpy()
    return int(np.argmax(known))


@dataclass
class Year:
    """One year's scored days (date, label and one column per score) and its fits."""

    frame: pd.DataFrame
    winner: str
    fit_cpu: float  # the pre-open fit, s


def score_year(history: pd.DataFrame, year: int) -> Year:
    start = int((history["date"] < pd.Timestamp(year, 1, 1)).sum())
    train = history.iloc[:start]
    ohlc = list(HISTORY_COLUMNS)
    cpu = time.process_time()
    preopen = PreopenSignalClassifier().fit(train)
    fit_cpu = time.process_time() - cpu
    evening = EntrySignalClassifier().fit(train[ohlc])
    # 19 rows before the first known night: its day is the first with MA20 and a night.
    recent = max(first_night_row(history) - 19, 0)
    evening_recent = EntrySignalClassifier().fit(train[ohlc].iloc[recent:])
    # Scored on the whole history: day t's score reads days <= t (and its night) only.
    frame = pd.DataFrame({"date": history["date"], "label": entry_labels(history)})
    frame["trivial"] = trivial_score(history).to_numpy()
    dates = pd.DatetimeIndex(history["date"])
    for name, model, rows in (
        ("evening", evening, history[ohlc]),
        ("evening 2016+", evening_recent, history[ohlc]),
        ("pre-open", preopen, history),
    ):
        frame[name] = model.predict_proba(rows).reindex(dates).to_numpy()
    in_year = frame["date"].dt.year == year
    scored = frame[in_year].dropna(subset=["label", *SCORES]).reset_index(drop=True)
    return Year(scored, f"{preopen.winner_} {preopen.winner_params_}", fit_cpu)


# ------------------------------------------------------------------------ AUC and bootstrap


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (Mann-Whitney, ties averaged): ``roc_auc``'s figure, fast enough for
    thousands of resamples."""
    ranks = rankdata(scores)
    positives = labels == 1
    n1 = int(positives.sum())
    n0 = len(labels) - n1
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def block_indices(n: int, rng: np.random.Generator) -> np.ndarray:
    """One moving-block resample of ``n`` days: blocks of :data:`BLOCK` consecutive days from
    random starts, joined and cut to ``n``."""
    block = min(BLOCK, n)
    starts = rng.integers(0, n - block + 1, size=-(-n // block))
    return (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]


def interval(frame: pd.DataFrame, a: str, b: str) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on ``frame``'s days and its 95 % moving-block bootstrap interval."""
    y = frame["label"].to_numpy(dtype=int)
    sa, sb = frame[a].to_numpy(), frame[b].to_numpy()
    rng = np.random.default_rng(SEED)
    diffs = []
    while len(diffs) < RESAMPLES:
        rows = block_indices(len(y), rng)
        if y[rows].min() == y[rows].max():
            continue  # one class only: AUC undefined; draw again
        diffs.append(auc(y[rows], sa[rows]) - auc(y[rows], sb[rows]))
    low, high = np.quantile(diffs, [0.025, 0.975])
    return auc(y, sa) - auc(y, sb), float(low), float(high)


# ------------------------------------------------------------------------ tables


def _diff(cell: tuple[float, float, float]) -> str:
    d, low, high = cell
    return f"{d:+.4f} [{low:+.4f}, {high:+.4f}]"


def table(groups: dict[str, pd.DataFrame], winners: dict[str, str]) -> str:
    differences = ["pre-open − evening [95 %]", "pre-open − trivial [95 %]"]
    head = ["year", "days", "share 1", *(f"AUC {s}" for s in SCORES), *differences, "winner"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, frame in groups.items():
        y = frame["label"].to_numpy(dtype=int)
        aucs = []
        for s in SCORES:
            value, _ = roc_auc(y, frame[s].to_numpy())
            aucs.append("—" if value is None else f"{value:.4f}")
        cells = [name, str(len(frame)), f"{y.mean():.3f}", *aucs,
                 _diff(interval(frame, "pre-open", "evening")),
                 _diff(interval(frame, "pre-open", "trivial")), winners.get(name, "")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ variants


def variant_features(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Feature sets tried on the tuning years; "chosen" is the module's."""
    evening = classifier_features(history)
    chosen = preopen_features(history, SYMBOLS)
    moves = chosen[[night_column(s) for s in SYMBOLS]]
    known = moves.notna().all(axis=1)
    gap = np.log(history["open"] / history["close"].shift(1)).rename("gap")
    sox_rel = (moves[night_column("^SOX")] - chosen[INTRA]).rename("sox_minus_intra")
    return {
        "evening features only (2016+ days)": evening.where(known),
        "evening + moves": pd.concat([evening, moves], axis=1),
        "evening + moves + intra (chosen)": chosen,
        "evening + moves + gap + intra": pd.concat([chosen, gap], axis=1),
        "evening + moves + ^SOX − intra": pd.concat([evening, moves, sox_rel], axis=1),
        "evening + mean of the moves": pd.concat(
            [evening, moves.mean(axis=1).rename("mean_move")], axis=1
        ),
    }


def variants(history: pd.DataFrame, years: Sequence[int]) -> str:
    """Each feature set through the tournament, fitted before each tuning year; AUC pooled."""
    labels = entry_labels(history)
    config = PreopenClassifierConfig()
    rows_of = np.arange(len(history))
    lines = ["| features | " + " | ".join(map(str, years)) + " | pooled |", "|---|"
             + "---|" * (len(years) + 1)]  # fmt: skip
    for name, features in variant_features(history).items():
        usable = (features.notna().all(axis=1) & labels.notna()).to_numpy()
        parts, cells = [], []
        for year in years:
            start = int((history["date"] < pd.Timestamp(year, 1, 1)).sum())
            # As score_year: the last training label (row start - 2) reads a close before Y.
            before = usable & (rows_of < start - 1)
            fit = _fitted(features[before], labels[before], history["date"][before], config)
            rows = usable & (history["date"].dt.year == year).to_numpy()
            part = (labels[rows].to_numpy(dtype=int), fit(features[rows]))
            parts.append(part)
            cells.append(f"{auc(*part):.4f}")
        pooled = auc(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {pooled:.4f} |")
    return "\n".join(lines)


def _fitted(
    features: pd.DataFrame, labels: pd.Series, dates: pd.Series, config: PreopenClassifierConfig
) -> Callable[[pd.DataFrame], np.ndarray]:
    data = TrainingSet(
        features.reset_index(drop=True), labels.to_numpy(dtype=np.int64), pd.DatetimeIndex(dates)
    )
    best = run_tournament(data, config).iloc[0]
    model = candidate_pipeline(best["candidate"], best["params"], seed=config.seed)
    model.fit(data.features, data.labels)
    return lambda rows: np.asarray(model.predict_proba(rows)[:, 1])


# ------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL_CSV, help="the TAIEX daily history")
    parser.add_argument("--us-csv", type=Path, default=US_CSV, help="the US closes")
    parser.add_argument("--quick", action="store_true", help="the tuning years 2018-2020 only")
    parser.add_argument("--variants", action="store_true", help="feature sets, tuning years")
    args = parser.parse_args(argv)
    for path in (args.csv, args.us_csv):
        if not path.exists():
            print(f"skipped: no data at {path}")
            return 0
    logging.basicConfig(level=logging.ERROR)  # knn settings too large for early folds warn
    started = time.perf_counter()
    history = load(args.csv, args.us_csv)
    years = TUNING if args.quick else YEARS
    done = {year: score_year(history, year) for year in years}
    groups = {str(y): done[y].frame for y in years}
    for name, chosen in (("tuning 2018–2020", TUNING), ("judged 2021–2024", JUDGED),
                         ("all 2018–2024", YEARS)):  # fmt: skip
        if all(y in done for y in chosen):
            groups[name] = pd.concat([done[y].frame for y in chosen], ignore_index=True)
    winners = {str(y): done[y].winner for y in years}
    print(f"### ROC AUC on the same days (walk-forward by year; {RESAMPLES} block resamples)")
    print(table(groups, winners))
    cpu = time.process_time()
    full = PreopenSignalClassifier().fit(history)
    print(
        f"\ncost: a pre-open fit on every day up to {full.train_end_} ({full.n_train_days_} "
        f"days with a night): {time.process_time() - cpu:.1f} s CPU (winner {full.winner_} "
        f"{full.winner_params_}); the yearly fits: "
        + ", ".join(f"{done[y].fit_cpu:.1f}" for y in years)
        + " s CPU"
    )
    if args.variants:
        print(f"\n### Feature sets on the tuning years {TUNING[0]}–{TUNING[-1]} (AUC)")
        print(variants(history, TUNING))
    print(
        f"\nruntime {time.perf_counter() - started:.0f} s wall; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
