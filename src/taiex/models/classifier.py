"""The entry-signal classifier: the winner of a tournament of scikit-learn pipelines.

Question asked for day t (docs/design.md, "Definitions"): will close[t+1] be above MA20[t]?
Features and label come from ``taiex.features``; the candidates from
:mod:`taiex.models.candidates`; the choice by time-series CV from :mod:`taiex.models.tournament`.
The winner is refit on every training day.

Signal: P(close[t+1] > MA20[t]) from the last day's features, and 1 (enter, 適合進場) when it
reaches the threshold, 0 (不適合進場) otherwise. The default threshold 0.5 is the decision that
minimises the expected number of wrong signals when a wrong "enter" and a wrong "stay out" cost the
same, and it means just that only if the output is a calibrated probability: logistic regression
and gradient boosting minimise log loss, the SVM's scores go through Platt (sigmoid) scaling, and
the forest's and k-NN's outputs are local class frequencies, roughly calibrated. On 2025-2026 the
winner's mean probability was 0.709 against a base rate of 0.722. A user with asymmetric costs
sets another threshold; AUC, the monitored metric, does not depend on it.

Artifacts (:mod:`taiex.models.artifact`): the header holds the metadata (config, winner, table,
training range), the payload the fitted pipeline serialised with skops, loaded back trusting only
:data:`~taiex.models.candidates.TRUSTED_TYPES`. Storage is not done here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

import pandas as pd

from taiex import __version__
from taiex.calendar import next_sessions
from taiex.errors import ArtifactError, DataError, InputError, NotFittedError
from taiex.features import FEATURE_COLUMNS, classifier_features
from taiex.kinds.protocols import Signal
from taiex.models import artifact
from taiex.models.candidates import TRUSTED_TYPES, candidate_pipeline
from taiex.models.classifier_config import ClassifierConfig
from taiex.models.tournament import TrainingSet, run_tournament, training_set

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = ["ClassifierConfig", "EntrySignalClassifier"]

logger = logging.getLogger(__name__)


class EntrySignalClassifier:
    """Says whether the next trading day is a day to enter (1) or not (0).

    ``fit(history)`` runs the tournament on every labelled day of ``history`` and refits the
    winner on all of them. Learned state: ``model_`` (the fitted Pipeline), ``winner_`` (candidate
    name), ``winner_params_``, ``table_`` (columns ``candidate, params, cv_auc_mean, cv_auc_std,
    rank``), ``train_start_`` and ``train_end_`` (first and last labelled day trained on; the last
    day of ``history`` has no label, so ``train_end_`` is the day before it).
    """

    kind: ClassVar[str] = "classifier"
    title: ClassVar[str] = "classifier"  # in its messages

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        self.config = config

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, history: pd.DataFrame) -> Self:
        data = self._training_set(history)
        started = time.perf_counter()
        table = run_tournament(data, self.config)
        best = table.iloc[0]
        if math.isnan(best["cv_auc_mean"]):
            raise DataError(f"no {self.title} candidate could be fitted on this history")
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
            "%s tournament: %s %s won with CV AUC %.4f +- %.4f over %d candidates "
            "(%d training days %s..%s, %.1f s)",
            self.title,
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

    def _training_set(self, history: pd.DataFrame) -> TrainingSet:
        """Every labelled day of ``history`` with its features (what a subclass reads)."""
        return training_set(history, self.config)

    def _features(self, history: pd.DataFrame) -> pd.DataFrame:
        """The features of every day of ``history`` (NaN where unknown)."""
        return classifier_features(history)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("the entry-signal classifier is not fitted; call fit first")

    # -- predicting ----------------------------------------------------------------------------

    def predict_proba(self, history: pd.DataFrame) -> pd.Series:
        """P(label = 1) of every day of ``history`` with features (the first 19 days have none).

        Indexed by date. Day t's value is the probability that close[t+1] > MA20[t].
        """
        self._check_fitted()
        features = self._features(history)
        usable = features.notna().all(axis=1)
        index = pd.DatetimeIndex(history.loc[usable, "date"], name="date")
        if not usable.any():
            return pd.Series([], index=index, dtype=float, name="probability")
        probability = self.model_.predict_proba(features.loc[usable])[:, 1]
        return pd.Series(probability, index=index, name="probability")

    def signal(self, history: pd.DataFrame) -> Signal:
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
            with quiet_skops():
                import skops.io as sio

                self._payload = bytes(sio.dumps(self.model_))
        return self._payload

    def _description(self) -> dict[str, object]:
        """The model's metadata in the artifact header."""
        best = self.table_.iloc[0]
        return {
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
        }

    @staticmethod
    def _libraries() -> dict[str, str]:
        import sklearn

        with quiet_skops():
            import skops

        return {"scikit-learn": sklearn.__version__, "skops": skops.__version__}

    def metadata(self) -> dict[str, object]:
        """JSON-able description: kind, format, library versions, config, winner, table,
        training range and ``sha256``, the hex digest of the serialised model (the skops payload
        in ``to_bytes``; the artifact as a whole carries its own checksum too)."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "format_version": artifact.FORMAT_VERSION,
            "libraries": {"taiex": __version__, **self._libraries()},
            **self._description(),
            "sha256": hashlib.sha256(self._model_payload()).hexdigest(),
        }

    def to_bytes(self) -> bytes:
        """The artifact (:mod:`taiex.models.artifact`): the description and the skops payload."""
        self._check_fitted()
        header: artifact.Header = {
            "libraries": self._libraries(),
            "metadata": self._description(),
        }
        return artifact.pack(self.kind, header, self._model_payload())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Rebuild a fitted classifier from ``to_bytes`` output; ``ArtifactError`` if it is bad."""
        header, payload = artifact.unpack(data, cls.kind)
        _warn_on_version_change(header["libraries"].get("scikit-learn"))
        model = _load_model(payload)
        meta: dict[str, Any] = header["metadata"]  # JSON: what does not fit raises below
        try:
            classifier = cls(cls._config_from(meta["config"]))
            classifier.model_ = model
            classifier.winner_ = str(meta["winner"])
            classifier.winner_params_ = dict(meta["winner_params"])
            classifier.table_ = _table_from_records(meta["table"])
            classifier.train_start_ = dt.date.fromisoformat(meta["train_start"])
            classifier.train_end_ = dt.date.fromisoformat(meta["train_end"])
            classifier.n_train_days_ = int(meta["n_train_days"])
            classifier._restore(meta)
        except (KeyError, TypeError, ValueError, InputError) as exc:
            # The checksum held, so the writer itself produced a header this version cannot read.
            raise ArtifactError(
                f"{cls.title} artifact header is incomplete or invalid: {exc!r}"
            ) from exc
        classifier._payload = payload
        return classifier

    @classmethod
    def _config_from(cls, values: Mapping[str, object]) -> ClassifierConfig:
        """The config an artifact's header describes."""
        return ClassifierConfig.from_dict(values)

    def _restore(self, meta: Mapping[str, Any]) -> None:
        """What a subclass keeps in the header beyond the evening classifier's (nothing)."""


def _json_float(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _table_records(table: pd.DataFrame) -> list[dict[str, object]]:
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


def _warn_on_version_change(saved: str | None) -> None:
    import sklearn

    if saved != sklearn.__version__:
        logger.warning(
            "classifier artifact was saved with scikit-learn %s and is loaded with %s; "
            "retrain if its predictions look wrong",
            saved,
            sklearn.__version__,
        )


# A package of scikit-learn that imports torch when imported (the array API's torch adapter).
TORCH_ADAPTER = "sklearn.externals.array_api_compat.torch"


@contextlib.contextmanager
def quiet_skops() -> Iterator[None]:
    """skops.io without its side effects on a task:

    - importing it lists scikit-learn's estimators by importing every sklearn package, the
      torch adapter among them (which the listing then ignores): torch comes along, about 7 s
      and 250 MB in a task that needs scikit-learn only. The adapter is made unimportable for
      that while (the listing skips what fails to import), then importable again;
    - to find the module of an object without one (numpy's ufuncs) it calls getattr on every
      loaded module, on importing and on saving or loading. Under Airflow that wakes each of its
      deprecation shims: about 1,160 warnings a task. Warnings raised from that walk are ignored;
      skops' own errors still raise.
    """
    block = TORCH_ADAPTER not in sys.modules
    if block:
        sys.modules[TORCH_ADAPTER] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"skops\.io\._utils")
            yield
    finally:
        if block and sys.modules.get(TORCH_ADAPTER, "") is None:
            del sys.modules[TORCH_ADAPTER]


def _load_model(payload: bytes) -> Pipeline:
    from sklearn.pipeline import Pipeline

    with quiet_skops():
        import skops.io as sio

    try:
        with quiet_skops():
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
