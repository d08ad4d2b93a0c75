"""The entry-signal classifier: a tournament of scikit-learn pipelines chosen by time-series CV.

Question asked for day t (DESIGN.md): will close[t+1] be above MA20[t]? Features and label come from
``taiex.features``. Each candidate is a ``Pipeline`` that holds its own scaling, so a scaler only
ever sees the days it is fitted on (the original system scaled with statistics of the whole
series, test days included).

Selection: every candidate x hyperparameter set is scored by ROC AUC of its probabilities (never
hard 0/1 labels) over ``TimeSeriesSplit`` folds, with a gap between training and validation days
so a validation day never shares a close with the last training label. The best mean CV AUC wins
and is refit on every training day. The test period plays no part in the choice.

Signal: P(close[t+1] > MA20[t]) from the last day's features, and 1 (enter, 適合進場) when it
reaches the threshold, 0 (不適合進場) otherwise. The default threshold 0.5 is the decision that
minimises the expected number of wrong signals when a wrong "enter" and a wrong "stay out" cost the
same, and it means just that only if the output is a calibrated probability: logistic regression
and gradient boosting minimise log loss, the SVM's scores go through Platt (sigmoid) scaling, and
the forest's and k-NN's outputs are local class frequencies, roughly calibrated. On 2025-2026 the
winner's mean probability was 0.709 against a base rate of 0.722. A user with asymmetric costs
sets another threshold; AUC, the monitored metric, does not depend on it.

Artifacts: ``to_bytes`` gives ``MAGIC | sha256(body) | body`` where body is a JSON header (the
metadata) followed by the fitted pipeline serialised with skops. ``from_bytes`` checks the magic
and the checksum, then loads with skops trusting only ``TRUSTED_TYPES``. Storage is not done here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from taiex import __version__
from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, InputError, NotFittedError
from taiex.features import FEATURE_COLUMNS, classifier_features, entry_labels, trivial_score
from taiex.metrics import roc_auc

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAGIC = b"TAIEXCLF"
_DIGEST_SIZE = 32
_LENGTH_SIZE = 4

# Types a fitted candidate holds that skops does not trust by default. Audited: each is a
# scikit-learn class whose state is plain arrays and numbers, rebuilt through scikit-learn's own
# __setstate__; none can run code named by the payload. A new candidate whose pipeline needs
# another type fails to load until the type is audited and added here.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.tree._tree.Tree",
)

Grid = Mapping[str, Sequence[Any]]
DateLike = dt.date | str | pd.Timestamp


@dataclass(frozen=True)
class Candidate:
    """One family of the tournament: how to build it, and where its grid's names live."""

    name: str
    build: Callable[[int], Any]  # seed -> unfitted Pipeline
    prefix: str  # the pipeline path of the estimator whose parameters the grid names
    grid: Grid


def _svm(seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    # SVC(probability=True) runs its own 5-fold Platt scaling inside every fit; a sigmoid fitted
    # on 3 held-out folds gives the same kind of probability at about half the cost.
    svc = SVC(kernel="linear", C=1.0, cache_size=500, random_state=seed)
    calibrated = CalibratedClassifierCV(svc, method="sigmoid", cv=3)
    return Pipeline([("scale", StandardScaler()), ("model", calibrated)])


def _logistic_regression(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def _random_forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    # Trees split on thresholds, so scaling would change nothing: the pipeline has no scaler.
    model = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=50, max_features="sqrt", random_state=seed
    )
    return Pipeline([("model", model)])


def _hist_gradient_boosting(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    # No early stopping: its validation split would be a random (not time-ordered) sample.
    model = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_depth=3, early_stopping=False, random_state=seed
    )
    return Pipeline([("model", model)])


def _knn(seed: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    # kd_tree fixed so the fitted model always holds the same (audited) types.
    model = KNeighborsClassifier(n_neighbors=100, algorithm="kd_tree")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


# Small grids: the whole tournament on the full history (about 6,800 days) takes well under a
# minute on 2 cores. Settings that lost clearly in trials on 1999-2024 CV (rbf C=10, forests with
# every feature per split, boosting deeper than 3) are left out to keep it so.
CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate(
            "svm", _svm, "model__estimator__", {"kernel": ["linear", "rbf"], "C": [0.1, 1.0]}
        ),
        Candidate(
            "logistic_regression", _logistic_regression, "model__", {"C": [0.01, 0.1, 1.0, 10.0]}
        ),
        Candidate("random_forest", _random_forest, "model__", {"min_samples_leaf": [20, 50]}),
        Candidate(
            "hist_gradient_boosting",
            _hist_gradient_boosting,
            "model__",
            {"learning_rate": [0.03, 0.1], "max_depth": [2, 3]},
        ),
        Candidate(
            "knn",
            _knn,
            "model__",
            {"n_neighbors": [50, 100, 250], "weights": ["uniform", "distance"]},
        ),
    )
}


def candidate_pipeline(name: str, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> Any:
    """A fresh, unfitted pipeline of candidate ``name`` with the grid-level ``params`` set."""
    candidate = _candidate(name)
    pipeline = candidate.build(seed)
    full = {candidate.prefix + key: value for key, value in (params or {}).items()}
    return pipeline.set_params(**full)


def _candidate(name: str) -> Candidate:
    try:
        return CANDIDATES[name]
    except KeyError:
        known = ", ".join(CANDIDATES)
        raise InputError(f"unknown classifier candidate {name!r}; known: {known}") from None


@dataclass(frozen=True)
class ClassifierConfig:
    """How the tournament runs.

    ``grids`` replaces the default grid of the candidates it names, with parameter names as the
    candidate's estimator knows them (``{"svm": {"C": [1.0]}}``). ``min_train_days`` is the
    fewest labelled days ``fit`` accepts.
    """

    n_splits: int = 5
    gap: int = 1
    threshold: float = 0.5
    candidates: tuple[str, ...] = tuple(CANDIDATES)
    grids: Mapping[str, Grid] = field(default_factory=dict)
    seed: int = 0
    min_train_days: int = 250

    def __post_init__(self) -> None:
        if self.n_splits < 2:
            raise InputError(f"n_splits must be >= 2, got {self.n_splits}")
        if self.gap < 1:
            # A label of day t reads close[t+1]: without a gap the last training label would
            # read the first validation day's close.
            raise InputError(f"gap must be >= 1 day, got {self.gap}")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold must be within (0, 1), got {self.threshold}")
        if not self.candidates:
            raise InputError("at least one candidate is needed")
        if len(set(self.candidates)) != len(self.candidates):
            raise InputError(f"candidates are listed twice: {self.candidates}")
        for name in (*self.candidates, *self.grids):
            _candidate(name)
        if self.min_train_days < 1:
            raise InputError(f"min_train_days must be >= 1, got {self.min_train_days}")

    def grid(self, name: str) -> Grid:
        """The grid of candidate ``name``: the override when given, else the default."""
        return self.grids.get(name, _candidate(name).grid)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``from_dict`` reads it back."""
        values = dataclasses.asdict(self)
        values["candidates"] = list(self.candidates)
        values["grids"] = {k: {p: list(v) for p, v in g.items()} for k, g in self.grids.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClassifierConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in fields}
        known["candidates"] = tuple(known.get("candidates", tuple(CANDIDATES)))
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# The tournament


@dataclass(frozen=True)
class _TrainingSet:
    features: pd.DataFrame
    labels: np.ndarray[Any, np.dtype[np.int64]]
    dates: pd.DatetimeIndex


def _training_set(history: pd.DataFrame, config: ClassifierConfig) -> _TrainingSet:
    """Every labelled day of ``history`` with its features; the last day never has a label."""
    features = classifier_features(history)
    labels = entry_labels(history)
    usable = features.notna().all(axis=1) & labels.notna()
    n_days = int(usable.sum())
    if n_days < config.min_train_days:
        raise DataError(
            f"history too short to train the classifier: {n_days} labelled days "
            f"(needs {config.min_train_days}, plus 20 days for the first MA20)"
        )
    y = labels[usable].to_numpy(dtype=np.int64)
    _check_two_classes(y, "the training window")
    return _TrainingSet(
        features=features.loc[usable].reset_index(drop=True),
        labels=y,
        dates=pd.DatetimeIndex(history.loc[usable, "date"]),
    )


def _check_two_classes(y: np.ndarray[Any, Any], where: str) -> None:
    positives = int(y.sum())
    if positives in (0, y.size):
        only = "1 (close above MA20)" if positives else "0 (close not above MA20)"
        raise DataError(
            f"{where} holds one class only: all {y.size} labels are {only}; "
            "a classifier needs days of both kinds (use a longer window)"
        )


Split = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]


def _splits(data: _TrainingSet, config: ClassifierConfig) -> list[Split]:
    """Time-ordered folds; each training and validation part must hold both classes."""
    from sklearn.model_selection import TimeSeriesSplit

    splitter = TimeSeriesSplit(n_splits=config.n_splits, gap=config.gap)
    try:
        splits = list(splitter.split(data.features))
    except ValueError as exc:
        raise DataError(f"history too short for {config.n_splits} CV folds: {exc}") from exc
    for number, (train, test) in enumerate(splits, start=1):
        first, last = data.dates[test[0]].date(), data.dates[test[-1]].date()
        where = f"CV fold {number}/{len(splits)} (validation {first}..{last})"
        _check_two_classes(data.labels[train], f"{where}, training part,")
        _check_two_classes(data.labels[test], f"{where}, validation part,")
    return splits


def _cv_aucs(pipeline: Any, data: _TrainingSet, splits: list[Split]) -> list[float]:
    from sklearn.base import clone

    aucs = []
    for train, test in splits:
        model = clone(pipeline).fit(data.features.iloc[train], data.labels[train])
        scores = model.predict_proba(data.features.iloc[test])[:, 1]
        auc, _ = roc_auc(data.labels[test], scores)  # both classes checked in _splits
        aucs.append(math.nan if auc is None else auc)
    return aucs


def _tournament(data: _TrainingSet, config: ClassifierConfig) -> pd.DataFrame:
    """Every candidate x params with its mean and std CV AUC, best first (``rank`` 1)."""
    from sklearn.model_selection import ParameterGrid

    splits = _splits(data, config)
    rows = []
    for name in config.candidates:
        for params in ParameterGrid(dict(config.grid(name))):
            pipeline = candidate_pipeline(name, params, seed=config.seed)
            try:
                aucs = _cv_aucs(pipeline, data, splits)
            except ValueError as exc:  # a setting the data cannot take, e.g. k > training days
                logger.warning("candidate %s %s failed in CV: %s", name, params, exc)
                aucs = [math.nan]
            mean, std = float(np.mean(aucs)), float(np.std(aucs))
            logger.debug("candidate %s %s: CV AUC %.4f +- %.4f", name, params, mean, std)
            rows.append({"candidate": name, "params": dict(params), "mean": mean, "std": std})
    return _ranked(rows)


def _ranked(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).rename(columns={"mean": "cv_auc_mean", "std": "cv_auc_std"})
    table["order"] = range(len(table))
    # Best mean first; a tie goes to the steadier one, then to the earlier in the list.
    table = table.sort_values(
        ["cv_auc_mean", "cv_auc_std", "order"], ascending=[False, True, True], na_position="last"
    )
    table["rank"] = range(1, len(table) + 1)
    columns = ["candidate", "params", "cv_auc_mean", "cv_auc_std", "rank"]
    return table.loc[:, columns].reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """The tournament table as fixed-width text, best first."""
    lines = [f"{'rank':>4}  {'candidate':<24} {'CV AUC':>16}  params"]
    for row in table.to_dict("records"):
        params = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items()))
        auc = f"{row['cv_auc_mean']:.4f} ± {row['cv_auc_std']:.4f}"
        lines.append(f"{row['rank']:>4}  {row['candidate']:<24} {auc:>16}  {params}")
    return "\n".join(lines)


def best_params(table: pd.DataFrame, candidate: str) -> dict[str, Any]:
    """The params of ``candidate``'s best row in a tournament table."""
    rows = table[table["candidate"] == candidate]
    if rows.empty:
        raise InputError(f"candidate {candidate!r} is not in the tournament table")
    return dict(rows.sort_values("rank").iloc[0]["params"])


# ---------------------------------------------------------------------------------------------
# The classifier


class EntrySignalClassifier:
    """Says whether the next trading day is a day to enter (1) or not (0).

    ``fit(history)`` runs the tournament on every labelled day of ``history`` and refits the
    winner on all of them. Learned state: ``model_`` (the fitted Pipeline), ``winner_`` (candidate
    name), ``winner_params_``, ``table_`` (columns ``candidate, params, cv_auc_mean, cv_auc_std,
    rank``), ``train_start_`` and ``train_end_`` (first and last labelled day trained on; the last
    day of ``history`` has no label, so ``train_end_`` is the day before it).
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        self.config = config

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, history: pd.DataFrame) -> Self:
        data = _training_set(history, self.config)
        started = time.perf_counter()
        table = _tournament(data, self.config)
        best = table.iloc[0]
        if math.isnan(best["cv_auc_mean"]):
            raise DataError("no classifier candidate could be fitted on this history")
        winner, params = str(best["candidate"]), dict(best["params"])
        model = candidate_pipeline(winner, params, seed=self.config.seed)
        self.model_ = model.fit(data.features, data.labels)
        self.winner_ = winner
        self.winner_params_ = params
        self.table_ = table
        self.train_start_: dt.date = data.dates[0].date()
        self.train_end_: dt.date = data.dates[-1].date()
        self.n_train_days_ = len(data.labels)
        self._payload: bytes | None = None  # the skops bytes, made once on demand
        logger.info(
            "classifier tournament: %s %s won with CV AUC %.4f +- %.4f over %d candidates "
            "(%d training days %s..%s, %.1f s)",
            winner,
            params,
            best["cv_auc_mean"],
            best["cv_auc_std"],
            len(table),
            self.n_train_days_,
            self.train_start_,
            self.train_end_,
            time.perf_counter() - started,
        )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("the entry-signal classifier is not fitted; call fit first")

    # -- predicting ----------------------------------------------------------------------------

    def predict_proba(self, history: pd.DataFrame) -> pd.Series:
        """P(label = 1) of every day of ``history`` with features (the first 19 days have none).

        Indexed by date. Day t's value is the probability that close[t+1] > MA20[t].
        """
        self._check_fitted()
        features = classifier_features(history)
        usable = features.notna().all(axis=1)
        index = pd.DatetimeIndex(history.loc[usable, "date"], name="date")
        if not usable.any():
            return pd.Series([], index=index, dtype=float, name="probability")
        probability = self.model_.predict_proba(features.loc[usable])[:, 1]
        return pd.Series(probability, index=index, name="probability")

    def signal(self, history: pd.DataFrame) -> dict[str, Any]:
        """The signal for the next XTAI session after the last day of ``history``.

        Returns ``date`` (the session the signal is for), ``based_on`` (the last day),
        ``probability`` (that the session's close ends above MA20 of ``based_on``), ``signal``
        (1 = enter when probability >= threshold, else 0) and ``threshold``.
        """
        self._check_fitted()
        if history.empty:
            raise DataError("no history to base a signal on")
        probabilities = self.predict_proba(history)
        last = pd.Timestamp(history["date"].iloc[-1])
        if probabilities.empty or probabilities.index[-1] != last:
            raise DataError(f"the last day {last.date()} has no MA20 (needs 20 days of history)")
        probability = float(probabilities.iloc[-1])
        threshold = self.config.threshold
        return {
            "date": next_sessions(last.date(), 1)[0],
            "based_on": last.date(),
            "probability": probability,
            "signal": int(probability >= threshold),
            "threshold": threshold,
        }

    # -- artifacts -----------------------------------------------------------------------------

    def _model_payload(self) -> bytes:
        # skops names its inner files at random, so two dumps of one model differ: dump once and
        # keep the bytes, so that the checksum in metadata() matches the bytes of to_bytes().
        if self._payload is None:
            import skops.io as sio

            self._payload = bytes(sio.dumps(self.model_))
        return self._payload

    def metadata(self) -> dict[str, Any]:
        """JSON-able description: versions, config, winner, table, training range, sha256.

        ``sha256`` is the hex digest of the serialised model (the skops payload in
        ``to_bytes``); the artifact as a whole carries its own checksum too.
        """
        self._check_fitted()
        import sklearn
        import skops

        payload = self._model_payload()
        best = self.table_.iloc[0]
        return {
            "kind": "taiex.entry_signal_classifier",
            "format_version": FORMAT_VERSION,
            "taiex_version": __version__,
            "sklearn_version": sklearn.__version__,
            "skops_version": skops.__version__,
            "config": self.config.to_dict(),
            "features": list(FEATURE_COLUMNS),
            "winner": self.winner_,
            "winner_params": self.winner_params_,
            "cv_auc_mean": _json_float(best["cv_auc_mean"]),
            "cv_auc_std": _json_float(best["cv_auc_std"]),
            "table": _table_records(self.table_),
            "train_start": self.train_start_.isoformat(),
            "train_end": self.train_end_.isoformat(),
            "n_train_days": self.n_train_days_,
            "sha256": hashlib.sha256(payload).hexdigest(),
        }

    def to_bytes(self) -> bytes:
        """``MAGIC | sha256(body) | body``, body = 4-byte header length, JSON header, payload."""
        header = json.dumps(self.metadata(), sort_keys=True, allow_nan=False).encode("utf-8")
        body = len(header).to_bytes(_LENGTH_SIZE, "big") + header + self._model_payload()
        return MAGIC + hashlib.sha256(body).digest() + body

    @classmethod
    def from_bytes(cls, data: bytes) -> EntrySignalClassifier:
        """Rebuild a fitted classifier from ``to_bytes`` output; ``ArtifactError`` if it is bad."""
        header, payload = _unpack(bytes(data))
        model = _load_model(payload)
        try:
            classifier = cls(ClassifierConfig.from_dict(header["config"]))
            classifier.model_ = model
            classifier.winner_ = str(header["winner"])
            classifier.winner_params_ = dict(header["winner_params"])
            classifier.table_ = _table_from_records(header["table"])
            classifier.train_start_ = dt.date.fromisoformat(header["train_start"])
            classifier.train_end_ = dt.date.fromisoformat(header["train_end"])
            classifier.n_train_days_ = int(header["n_train_days"])
        except (KeyError, TypeError, ValueError, InputError) as exc:
            # The checksum held, so the writer itself produced a header this version cannot read.
            raise ArtifactError(
                f"classifier artifact header is incomplete or invalid: {exc!r}"
            ) from exc
        classifier._payload = payload
        return classifier


def _json_float(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "candidate": str(row["candidate"]),
            "params": dict(row["params"]),
            "cv_auc_mean": _json_float(row["cv_auc_mean"]),
            "cv_auc_std": _json_float(row["cv_auc_std"]),
            "rank": int(row["rank"]),
        }
        for row in table.to_dict("records")
    ]


def _table_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame.from_records(records, columns=["candidate", "params", "rank"])
    for column in ("cv_auc_mean", "cv_auc_std"):
        values = [r[column] for r in records]
        table[column] = [math.nan if v is None else float(v) for v in values]
    return table.loc[:, ["candidate", "params", "cv_auc_mean", "cv_auc_std", "rank"]]


def _unpack(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Check magic, checksum and header; return the header and the skops payload."""
    prefix = len(MAGIC) + _DIGEST_SIZE
    if not data.startswith(MAGIC):
        raise ArtifactError("not a taiex classifier artifact (its first bytes are not the marker)")
    if len(data) < prefix + _LENGTH_SIZE:
        raise ArtifactError(f"classifier artifact truncated: {len(data)} bytes")
    digest, body = data[len(MAGIC) : prefix], data[prefix:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError(
            "classifier artifact fails its sha256 checksum: it is corrupt or truncated"
        )
    length = int.from_bytes(body[:_LENGTH_SIZE], "big")
    try:
        header = json.loads(body[_LENGTH_SIZE : _LENGTH_SIZE + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"classifier artifact header is unreadable: {exc}") from exc
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        found = header.get("format_version") if isinstance(header, dict) else None
        raise ArtifactError(
            f"classifier artifact format {found!r} is not the supported {FORMAT_VERSION}"
        )
    payload = body[_LENGTH_SIZE + length :]
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise ArtifactError("classifier model payload does not match the sha256 in its header")
    _warn_on_version_change(header)
    return header, payload


def _warn_on_version_change(header: Mapping[str, Any]) -> None:
    import sklearn

    saved = header.get("sklearn_version")
    if saved != sklearn.__version__:
        logger.warning(
            "classifier artifact was saved with scikit-learn %s and is loaded with %s; "
            "retrain if its predictions look wrong",
            saved,
            sklearn.__version__,
        )


def _load_model(payload: bytes) -> Any:
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    try:
        model = sio.loads(payload, trusted=list(TRUSTED_TYPES))
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise ArtifactError(f"classifier artifact holds types not audited as safe: {exc}") from exc
    except Exception as exc:  # skops raises many kinds on a damaged zip; all mean "corrupt"
        raise ArtifactError(f"classifier model payload cannot be loaded: {exc}") from exc
    if not isinstance(model, Pipeline):
        raise ArtifactError(
            f"classifier model payload holds a {type(model).__name__}, not a Pipeline"
        )
    return model


# ---------------------------------------------------------------------------------------------
# Backtest


@dataclass(frozen=True)
class ClassifierBacktest:
    """A tournament trained on days <= ``train_until``, scored on later days.

    ``rows`` has columns ``date, probability, signal, label`` (label NaN where unknown: the last
    day of the history). ``auc`` and ``trivial_auc`` are over the same labelled days; ``None``
    with ``auc_note`` saying why when undefined (one class only).
    """

    rows: pd.DataFrame
    auc: float | None
    trivial_auc: float | None
    table: pd.DataFrame
    model: EntrySignalClassifier
    auc_note: str | None = None


def backtest(
    history: pd.DataFrame,
    *,
    train_until: DateLike,
    start: DateLike,
    end: DateLike | None = None,
    config: ClassifierConfig = ClassifierConfig(),
) -> ClassifierBacktest:
    """Run a fresh tournament on days <= ``train_until`` and score every day in [start, end].

    No training label reads data after ``train_until``: the model is fitted on the history cut
    at ``train_until``, where day ``train_until`` is the last row and so has no label (its label
    needs the next close). Labels of earlier days read closes up to ``train_until`` only.
    """
    until, first = pd.Timestamp(train_until), pd.Timestamp(start)
    last = pd.Timestamp(end) if end is not None else None
    if first <= until:
        raise InputError(f"start {first.date()} must be after train_until {until.date()}")
    dates = history["date"]
    model = EntrySignalClassifier(config).fit(history.loc[dates <= until])
    in_period = (dates >= first) & ((dates <= last) if last is not None else True)
    rows = _scored_rows(model, history, in_period)
    if rows.empty:
        raise DataError(f"no day with features from {first.date()} to {last or dates.iloc[-1]}")
    by_date = pd.DatetimeIndex(history["date"])
    trivial = trivial_score(history).set_axis(by_date).loc[pd.DatetimeIndex(rows["date"])]
    labelled = rows["label"].notna().to_numpy()
    labels = rows["label"].to_numpy()[labelled]
    auc, note = roc_auc(labels, rows["probability"].to_numpy()[labelled])
    trivial_auc, _ = roc_auc(labels, trivial.to_numpy()[labelled])
    return ClassifierBacktest(rows, auc, trivial_auc, model.table_, model, note)


def _scored_rows(
    model: EntrySignalClassifier, history: pd.DataFrame, in_period: pd.Series
) -> pd.DataFrame:
    # Features of day t read days <= t only, so scoring on the full history leaks nothing.
    probability = model.predict_proba(history)
    labels = entry_labels(history).set_axis(pd.DatetimeIndex(history["date"]))
    period = pd.DatetimeIndex(history.loc[in_period, "date"])
    days = period[period.isin(probability.index)]
    p = probability.loc[days].to_numpy()
    return pd.DataFrame(
        {
            "date": days,
            "probability": p,
            "signal": (p >= model.config.threshold).astype(int),
            "label": labels.loc[days].to_numpy(),
        }
    )
