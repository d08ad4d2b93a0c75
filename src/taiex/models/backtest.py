"""Walk-forward backtests of a fresh, unregistered model of either kind.

:func:`walk_forward` is the one procedure: check the dates and the history, pick the days of the
test period, train a new model on the rows dated <= ``train_until`` only, then let the kind score
every test day. The model is not retrained during the test period, and its inputs there are the
real rows up to each day. :func:`backtest_lstm` and :func:`backtest_classifier` add what each kind
scores and summarises.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from taiex.errors import DataError, InputError
from taiex.features import entry_labels, trivial_score
from taiex.frames import FORECAST_COLUMNS, FloatArray, check_history, target_dates
from taiex.metrics import coverage, diebold_mariano, interval_score, roc_auc, smape_terms
from taiex.models.classifier import EntrySignalClassifier
from taiex.models.classifier_config import ClassifierConfig
from taiex.models.lstm import GapLevelForecaster
from taiex.models.lstm_config import LSTMConfig
from taiex.models.preopen import PreopenConfig, PreopenForecaster
from taiex.models.tournament import format_table

DateLike = dt.date | str | pd.Timestamp
M = TypeVar("M")

BACKTEST_COLUMNS = ["origin_date", "horizon", "target_date", *FORECAST_COLUMNS, "actual", "naive"]
SUMMARY_COLUMNS = [
    "horizon", "smape_model", "smape_naive", "ratio", "dm_t", "coverage_80", "coverage_95",
    "score_80", "score_95", "n",
]  # fmt: skip
CLASSIFIER_COLUMNS = ["date", "probability", "signal", "label"]


def walk_forward(
    history: pd.DataFrame,
    *,
    train_until: DateLike,
    start: DateLike,
    end: DateLike | None,
    fit: Callable[[pd.DataFrame], M],
    score: Callable[[M, pd.DatetimeIndex], pd.DataFrame],
) -> tuple[M, pd.DataFrame]:
    """Fit a model on the rows dated <= ``train_until`` and score the days in [start, end].

    ``fit`` gets the training rows and returns a fitted model; ``score`` gets it and the test
    days (a non-empty DatetimeIndex) and returns one frame of rows. ``start`` must follow
    ``train_until``, so that no test day's row is a training row.
    """
    until, first = pd.Timestamp(train_until), pd.Timestamp(start)
    if first <= until:
        raise InputError(f"backtest start {first.date()} must be after train_until {until.date()}")
    dates = pd.DatetimeIndex(check_history(history).dates)
    last = pd.Timestamp(end) if end is not None else dates[-1]
    days = dates[(dates >= first) & (dates <= last)]
    if days.empty:
        raise DataError(f"history has no day from {first.date()} to {last.date()} to backtest")
    model = fit(history.loc[dates <= until])
    return model, score(model, days)


# ---------------------------------------------------------------- LSTM


@dataclass(frozen=True)
class LSTMBacktest:
    """Forecasts from every origin of a test period by one model trained before it.

    ``rows``: :data:`BACKTEST_COLUMNS`, ``actual`` NaN where the target is past the data.
    ``summary``: :data:`SUMMARY_COLUMNS` per horizon (:func:`summarise`), over the rows whose
    target has an actual and is not after the test period's last day.
    """

    rows: pd.DataFrame
    summary: pd.DataFrame
    model: GapLevelForecaster | PreopenForecaster

    def text(self) -> str:
        """The summary per horizon, on days the model never saw: sMAPE beside the naive
        forecast's, their ratio and the Diebold-Mariano t of the difference; the intervals'
        coverage and interval (Winkler) score."""
        header = ("h", "model", "naive", "ratio", "DM t", "cover 80", "cover 95", "score 80",
                  "score 95", "pairs")  # fmt: skip
        widths = (2, 8, 8, 6, 6, 8, 8, 8, 8, 6)
        lines = [
            "sMAPE (%) on days the model never saw; DM t: Diebold-Mariano t of model minus naive "
            "(Newey-West, lag h; above 2: significantly worse than naive); score: mean interval "
            "score in % of the last close (lower is better)",
            " ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)),
        ]
        for r in self.summary.to_dict("records"):
            dm = "—" if r["dm_t"] is None or math.isnan(r["dm_t"]) else f"{r['dm_t']:+.2f}"
            lines.append(
                f"{r['horizon']:>2} {r['smape_model']:>8.4f} {r['smape_naive']:>8.4f} "
                f"{r['ratio']:>6.3f} {dm:>6} {r['coverage_80']:>7.1f}% {r['coverage_95']:>7.1f}% "
                f"{r['score_80']:>8.3f} {r['score_95']:>8.3f} {r['n']:>6}"
            )
        return "\n".join(lines)


def backtest_lstm(
    history: pd.DataFrame,
    *,
    train_until: DateLike,
    start: DateLike,
    end: DateLike | None = None,
    config: LSTMConfig = LSTMConfig(),
) -> LSTMBacktest:
    """Train an LSTM on rows dated <= ``train_until``, then forecast from every origin in
    [start, end] (default end: the last day). The last origins' later targets are in ``rows``
    (with their actual when the history has it) but not in the summary: it scores the period."""

    def score(model: GapLevelForecaster, days: pd.DatetimeIndex) -> pd.DataFrame:
        rows = model.predict_origins(history, [d.date() for d in days])
        rows["actual"] = _actual_opens(history, rows["target_date"])
        return rows[BACKTEST_COLUMNS]

    model, rows = walk_forward(
        history,
        train_until=train_until,
        start=start,
        end=end,
        fit=lambda train: GapLevelForecaster(config).fit(train),
        score=score,
    )
    return LSTMBacktest(rows=rows, summary=summarise(rows, end), model=model)


def backtest_preopen(
    history: pd.DataFrame,
    moves: pd.DataFrame,
    *,
    train_until: DateLike,
    start: DateLike,
    end: DateLike | None = None,
    config: PreopenConfig | None = None,
) -> LSTMBacktest:
    """The pre-open round's forecaster (:mod:`taiex.models.preopen`) trained on the rows dated
    <= ``train_until`` and their nights' ``moves`` (:func:`taiex.overnight.night_moves_frame`),
    then forecasting from every origin in [start, end] whose night is known: the same rows and
    summary as :func:`backtest_lstm`, ``origin_date`` being the TAIEX close before the round."""
    horizons = (config or PreopenConfig()).horizons
    prices = check_history(history)

    def score(model: PreopenForecaster, days: pd.DatetimeIndex) -> pd.DataFrame:
        known = moves.set_index("date").reindex(days)[list(model.config.symbols)]
        origins = [d.date() for d in days[known.notna().all(axis=1).to_numpy()]]
        if not origins:
            raise DataError(
                f"no night's moves for any origin from {days[0].date()} to {days[-1].date()}: "
                "load the US closes first (`taiex overnight update` or `import-csv`)"
            )
        rows = model.predict_origins(history, moves, origins)
        # One row per origin and horizon, in that order: the dates as the evening forecast's.
        index = np.searchsorted(prices.dates, rows["origin_date"].to_numpy("datetime64[ns]"))
        rows["target_date"] = target_dates(prices, index[::horizons], horizons).ravel()
        rows["actual"] = _actual_opens(history, rows["target_date"])
        return rows[BACKTEST_COLUMNS]

    model, rows = walk_forward(
        history,
        train_until=train_until,
        start=start,
        end=end,
        fit=lambda train: PreopenForecaster(config).fit(
            train, moves[moves["date"] <= train["date"].iloc[-1]]
        ),
        score=score,
    )
    return LSTMBacktest(rows=rows, summary=summarise(rows, end), model=model)


def _actual_opens(history: pd.DataFrame, target_dates: pd.Series) -> FloatArray:
    """The open of each target date in ``history``; NaN past its last day."""
    prices = check_history(history)
    index = np.searchsorted(prices.dates, target_dates.to_numpy("datetime64[ns]"))
    in_data = index < len(prices)
    actual: FloatArray = np.where(in_data, prices.open[np.minimum(index, len(prices) - 1)], np.nan)
    return actual


def summarise(rows: pd.DataFrame, end: DateLike | None = None) -> pd.DataFrame:
    """Per horizon, over the rows of a backtest frame that have an ``actual`` and (given ``end``)
    a target on or before ``end``: sMAPE of model and naive and their ratio; the Diebold-Mariano
    t of the per-pair sMAPE differences, model minus naive, in origin order, with Newey-West
    variance at lag h (positive: the model is worse; None when undefined); the coverage (%) and
    the mean interval (Winkler) score of the 80 % and 95 % bands, the score in percent of the
    origin's close."""
    scored = rows.dropna(subset=["actual"])
    if end is not None:
        scored = scored[pd.to_datetime(scored["target_date"]) <= pd.Timestamp(end)]
    records = []
    for horizon in sorted(int(h) for h in scored["horizon"].unique()):
        part = scored[scored["horizon"] == horizon].sort_values("origin_date")
        actual = part["actual"].to_numpy()
        model = smape_terms(part["forecast"], actual)
        naive = smape_terms(part["naive"], actual)
        record: dict[str, float | int | None] = {
            "horizon": horizon,
            "smape_model": float(model.mean()),
            "smape_naive": float(naive.mean()),
            "ratio": float(model.mean() / naive.mean()) if naive.mean() > 0 else math.nan,
            "dm_t": diebold_mariano(model, naive, lag=horizon),
            "n": len(part),
        }
        percent = 100.0 / part["naive"].to_numpy()
        for pct in (80, 95):
            lower = part[f"lower_{pct}"].to_numpy() * percent
            upper = part[f"upper_{pct}"].to_numpy() * percent
            record[f"coverage_{pct}"] = 100.0 * coverage(lower, upper, actual * percent)
            record[f"score_{pct}"] = interval_score(lower, upper, actual * percent, pct / 100)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


# ---------------------------------------------------------------- classifier


@dataclass(frozen=True)
class ClassifierBacktest:
    """A tournament trained on days <= ``train_until``, scored on later days.

    ``rows`` has columns :data:`CLASSIFIER_COLUMNS` (label NaN where unknown: the last day of the
    history). ``auc`` and ``trivial_auc`` are over the same labelled days; ``None`` with
    ``auc_note`` saying why when undefined (one class only).
    """

    rows: pd.DataFrame
    auc: float | None
    trivial_auc: float | None
    table: pd.DataFrame
    model: EntrySignalClassifier
    auc_note: str | None = None

    def text(self) -> str:
        """The tournament's table, then the winner's ROC AUC beside the trivial score's."""
        auc = "undefined" if self.auc is None else f"{self.auc:.4f}"
        trivial = "undefined" if self.trivial_auc is None else f"{self.trivial_auc:.4f}"
        note = f" ({self.auc_note})" if self.auc_note else ""
        return (
            f"{format_table(self.table)}\n"
            f"winner {self.model.winner_}: ROC AUC {auc}{note}; trivial close/MA20 score {trivial}"
        )


def backtest_classifier(
    history: pd.DataFrame,
    *,
    train_until: DateLike,
    start: DateLike,
    end: DateLike | None = None,
    config: ClassifierConfig = ClassifierConfig(),
    model_class: Callable[[ClassifierConfig], EntrySignalClassifier] = EntrySignalClassifier,
) -> ClassifierBacktest:
    """Run a fresh tournament on days <= ``train_until`` and score every day in [start, end].

    No training label reads data after ``train_until``: the model is fitted on the history cut
    at ``train_until``, where day ``train_until`` is the last row and so has no label (its label
    needs the next close). Labels of earlier days read closes up to ``train_until`` only.
    """

    def score(model: EntrySignalClassifier, days: pd.DatetimeIndex) -> pd.DataFrame:
        # Features of day t read days <= t only, so scoring on the full history leaks nothing.
        probability = model.predict_proba(history)
        labels = entry_labels(history).set_axis(pd.DatetimeIndex(history["date"]))
        days = days[days.isin(probability.index)]
        p = probability.loc[days].to_numpy()
        signal = (p >= model.config.threshold).astype(int)
        label = labels.loc[days].to_numpy()
        return pd.DataFrame({"date": days, "probability": p, "signal": signal, "label": label})

    model, rows = walk_forward(
        history,
        train_until=train_until,
        start=start,
        end=end,
        fit=lambda train: model_class(config).fit(train),
        score=score,
    )
    by_date = pd.DatetimeIndex(history["date"])
    trivial = trivial_score(history).set_axis(by_date).loc[pd.DatetimeIndex(rows["date"])]
    labelled = rows["label"].notna().to_numpy()
    labels = rows["label"].to_numpy()[labelled]
    auc, note = roc_auc(labels, rows["probability"].to_numpy()[labelled])
    trivial_auc, _ = roc_auc(labels, trivial.to_numpy()[labelled])
    return ClassifierBacktest(rows, auc, trivial_auc, model.table_, model, note)
