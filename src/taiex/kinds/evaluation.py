"""What a model's evaluation gives, and how the values of a table's row are read (light: the
standard library only; pandas for the annotations, when type checking).

:class:`Evaluation` is what a kind's evaluation (:mod:`taiex.models.lstm_evaluation`,
:mod:`taiex.models.classifier_evaluation`) computes, what the monitor stores through the kind's
spec and what the report reads back. Rows (of the store's tables, or to store there) are
mappings of column to value; the ``as_*`` functions read one value with its type checked.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# A row of a table, or one to store there: column -> value.
Row = Mapping[str, object]


@dataclass(frozen=True)
class Evaluation:
    """One model measured over its window, as the monitor computed it (``days`` and ``frame``
    hold the scored days and pairs) or as read back from its table (window bounds and counts)."""

    kind: str
    model_version: str
    data_date: dt.date  # the last day of data the evaluation saw
    metric: float | None  # None: undefined (``reason`` says why)
    baseline: float | None  # the baseline's figure on the same pairs or days
    n: int  # pairs (forecasts) or days (signals) scored
    days: tuple[dt.date, ...] = ()  # the window's days the model did not train on
    reason: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)  # the kind's own figures
    frame: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    window_start: dt.date | None = None  # default: the first of ``days``
    window_end: dt.date | None = None
    n_days: int = -1  # default: len(days)

    def __post_init__(self) -> None:
        # Frozen: derived fields are set once, here.
        if self.days:
            object.__setattr__(self, "days", tuple(self.days))
            object.__setattr__(self, "window_start", self.window_start or self.days[0])
            object.__setattr__(self, "window_end", self.window_end or self.days[-1])
        if self.n_days < 0:
            object.__setattr__(self, "n_days", len(self.days))

    def summary(self) -> dict[str, object]:
        return {
            "model_version": self.model_version,
            "data_date": self.data_date.isoformat(),
            "metric": self.metric,
            "baseline": self.baseline,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "days": self.n_days,
            "n": self.n,
            "reason": self.reason,
            **self.detail,
        }


def unseen_window(days: Sequence[dt.date], train_end: dt.date, window: int) -> list[dt.date]:
    """The last ``window`` of ``days`` that come after ``train_end`` (the model never saw them)."""
    return [d for d in days if d > train_end][-window:]


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# ---------------------------------------------------------------- reading a row's values


def as_float(value: object) -> float:
    """A row's number as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def as_number(value: object) -> float | None:
    """A row's number as a float; None for NULL or NaN."""
    if value is None:
        return None
    result = as_float(value)
    return None if math.isnan(result) else result


def as_count(value: object) -> int:
    """A row's whole number."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    raise TypeError(f"expected a whole number, got {value!r}")


def as_date(value: object) -> dt.date:
    """A row's date (a datetime counts as its date)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if not isinstance(value, dt.date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


def as_optional_date(value: object) -> dt.date | None:
    return None if value is None else as_date(value)


def as_text(value: object) -> str | None:
    """A row's text; None for NULL."""
    return None if value is None else str(value)
