"""The candidates of the classifier tournament: scikit-learn pipelines, their grids, and the types
their fitted state holds.

Each candidate is a ``Pipeline`` that holds its own scaling, so a scaler only ever sees the days it
is fitted on (the original system scaled with statistics of the whole series, test days included).
Estimators are imported inside the builders: scikit-learn costs a second at import, and most
commands never fit a classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taiex.errors import InputError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Parameter names of a candidate's estimator, each with the values to try.
Grid = Mapping[str, Sequence[object]]

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


@dataclass(frozen=True)
class Candidate:
    """One family of the tournament: how to build it, and where its grid's names live."""

    name: str
    build: Callable[[int], Pipeline]  # seed -> unfitted pipeline
    prefix: str  # the pipeline path of the estimator whose parameters the grid names
    grid: Grid


def _svm(seed: int) -> Pipeline:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    # SVC(probability=True) runs its own 5-fold Platt scaling inside every fit; a sigmoid fitted
    # on 3 held-out folds gives the same kind of probability at about half the cost.
    svc = SVC(kernel="linear", C=1.0, cache_size=500, random_state=seed)
    calibrated = CalibratedClassifierCV(svc, method="sigmoid", cv=3)
    return Pipeline([("scale", StandardScaler()), ("model", calibrated)])


def _logistic_regression(seed: int) -> Pipeline:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def _random_forest(seed: int) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    # Trees split on thresholds, so scaling would change nothing: the pipeline has no scaler.
    model = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=50, max_features="sqrt", random_state=seed
    )
    return Pipeline([("model", model)])


def _hist_gradient_boosting(seed: int) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    # No early stopping: its validation split would be a random (not time-ordered) sample.
    model = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_depth=3, early_stopping=False, random_state=seed
    )
    return Pipeline([("model", model)])


def _knn(seed: int) -> Pipeline:
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


def candidate_pipeline(
    name: str, params: Mapping[str, object] | None = None, *, seed: int = 0
) -> Pipeline:
    """A fresh, unfitted pipeline of candidate ``name`` with the grid-level ``params`` set."""
    found = candidate(name)
    pipeline = found.build(seed)
    full = {found.prefix + key: value for key, value in (params or {}).items()}
    unknown = sorted(key for key in full if key not in pipeline.get_params())
    if unknown:
        names = ", ".join(key.removeprefix(found.prefix) for key in unknown)
        raise InputError(f"grids.{name}: {names} is not a parameter of the {name} candidate")
    return pipeline.set_params(**full)


def candidate(name: str) -> Candidate:
    """The candidate called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return CANDIDATES[name]
    except KeyError:
        known = ", ".join(CANDIDATES)
        raise InputError(f"unknown classifier candidate {name!r}; known: {known}") from None
