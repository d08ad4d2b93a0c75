"""The store's clock: every timestamp the store writes comes from one injectable function."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

# Returns now in UTC, naive (every backend stores it the same way), to the second.
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """Now in UTC, naive, to the second: the default :data:`Clock`."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
