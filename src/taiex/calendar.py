"""Dates: the XTAI trading calendar (exchange-calendars) and the calendar month TWSE serves.

The calendar is the contract for forecast dates. For history it is only a guide: it lacks the
Saturday sessions of 1999-2000 and the make-up Saturdays until 2018, and a few typhoon closures, so
stored TWSE rows always win over it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, the unit TWSE serves and the ETL loads."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no such month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` (or ``YYYYMM``) to a Month; ValueError names the text when it is not one."""
        cleaned = text.strip().replace("-", "")
        if len(cleaned) != 6 or not cleaned.isdigit():
            raise ValueError(f"{text!r} is not a month (expected YYYY-MM)")
        return cls(int(cleaned[:4]), int(cleaned[4:]))

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return self.next().first_day - dt.timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_range(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last``, both included (empty when last < first)."""
    months = []
    current = first
    while current <= last:
        months.append(current)
        current = current.next()
    return months
