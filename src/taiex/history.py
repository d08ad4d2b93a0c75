"""Names and helpers shared by every layer that handles daily index history (light: no pandas)."""

from __future__ import annotations

import datetime as dt
from typing import Any

PRICE_COLUMNS = ("open", "high", "low", "close")
# What a forecast row holds for each horizon, beside its dates.
FORECAST_VALUES = ("forecast", "lower_80", "upper_80", "lower_95", "upper_95", "naive")


def as_date(value: Any) -> dt.date:
    """A date from a date, datetime, numpy datetime64 or pandas Timestamp."""
    if type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    import pandas as pd

    return pd.Timestamp(value).date()
