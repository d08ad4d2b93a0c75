"""The XTAI trading calendar (exchange-calendars): next sessions and expected sessions.

The calendar is the contract for forecast dates. For history it is only a guide: it lacks the
Saturday sessions of 1999-2000 and the make-up Saturdays until 2018, and a few typhoon closures, so
stored TWSE rows always win over it.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import pandas as pd

CALENDAR_NAME = "XTAI"
CALENDAR_START = "1999-01-01"


@cache
def _calendar() -> Any:
    # Imported here: exchange_calendars costs a second at import and most commands never need it.
    import exchange_calendars as xc

    return xc.get_calendar(CALENDAR_NAME, start=CALENDAR_START)


def next_sessions(after: dt.date, count: int) -> list[dt.date]:
    """The ``count`` XTAI sessions strictly after ``after`` (which need not be a session)."""
    cal = _calendar()
    first = cal.date_to_session(pd.Timestamp(after), direction="next")
    if first.date() == after:
        first = cal.next_session(first)
    sessions = cal.sessions_window(first, count)
    return [ts.date() for ts in sessions]


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """The XTAI sessions from ``start`` to ``end``, both included."""
    cal = _calendar()
    if end < start:
        return []
    last = min(pd.Timestamp(end), cal.last_session)
    return [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(start), last)]


def is_session(day: dt.date) -> bool:
    return bool(_calendar().is_session(pd.Timestamp(day)))
