"""How the classifier tournament runs and when its probability says "enter"."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from taiex.errors import InputError
from taiex.models.candidates import CANDIDATES, Grid, candidate


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
            candidate(name)
        for name, grid in self.grids.items():
            _check_grid(name, grid)
        if self.min_train_days < 1:
            raise InputError(f"min_train_days must be >= 1, got {self.min_train_days}")

    def grid(self, name: str) -> Grid:
        """The grid of candidate ``name``: the override when given, else the default."""
        return self.grids.get(name, candidate(name).grid)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form; ``from_dict`` reads it back."""
        values = dataclasses.asdict(self)
        values["candidates"] = list(self.candidates)
        values["grids"] = {k: {p: list(v) for p, v in g.items()} for k, g in self.grids.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Self:
        """The config ``to_dict`` gave, or a config file's table; keys it does not know are
        left out."""
        fields = {f.name for f in dataclasses.fields(cls)}
        # Checked at run time (the kind spec checks a config file's types, __post_init__ the
        # names and ranges).
        known: dict[str, Any] = {k: v for k, v in values.items() if k in fields}
        known["candidates"] = tuple(known.get("candidates", tuple(CANDIDATES)))
        return cls(**known)


def _check_grid(name: str, grid: object) -> None:
    """A grid is a table of parameter names to non-empty lists of values (what
    ``ParameterGrid`` needs; anything else ended in a scikit-learn traceback)."""
    if not isinstance(grid, Mapping):
        raise InputError(f"grids.{name} must be a table of parameter lists, got {grid!r}")
    for parameter, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise InputError(
                f"grids.{name}.{parameter} must be a non-empty list of values, got {values!r}"
            )
