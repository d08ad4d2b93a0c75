"""Dates: the XTAI trading calendar (exchange-calendars) and the calendar month TWSE serves.

The calendar is the contract for forecast dates. For history it is only a guide: it lacks the
Saturday sessions of 1999-2000 and the make-up Saturdays until 2018, and a few typhoon closures, so
stored TWSE rows always win over it. :data:`EXTRA_SESSIONS` lists the days TWSE traded that XTAI
lacks, so that any other stored day XTAI does not list can be flagged as suspect.

"Today" is always today in Taipei, read through :func:`taipei_today`; code that must be testable
on another day takes a ``today`` or a ``clock`` argument instead of calling it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from taiex.errors import DataError, InputError

CALENDAR_NAME = "XTAI"
CALENDAR_START = "1999-01-01"
TAIPEI = ZoneInfo("Asia/Taipei")
# The first day TWSE serves MI_5MINS_HIST for: nothing can be stored before it.
FIRST_TRADING_DAY = dt.date(1999, 1, 5)

# Days TWSE traded that XTAI does not list: the Saturday sessions of 1999-2000, the make-up
# Saturdays until 2018, and 2000-02-09 (from TWSE's own history, 1999-01-05 ... 2026-08-18).
_EXTRA_SESSIONS = """
    1999-01-16 1999-01-30 1999-02-06 1999-02-20 1999-03-06 1999-03-20 1999-04-03 1999-04-17
    1999-05-15 1999-05-29 1999-06-05 1999-07-03 1999-07-17 1999-07-31 1999-08-07 1999-08-21
    1999-09-04 1999-09-18 1999-10-02 1999-10-16 1999-10-30 1999-11-06 1999-11-20 1999-12-04
    1999-12-18 2000-01-15 2000-01-29 2000-02-09 2000-02-19 2000-03-04 2000-04-01 2000-04-08
    2000-04-15 2000-04-29 2000-05-06 2000-05-20 2000-06-03 2000-06-17 2000-07-15 2000-07-29
    2000-08-05 2000-08-19 2000-09-02 2000-09-16 2000-09-30 2000-10-07 2000-10-21 2000-11-04
    2000-11-18 2000-12-02 2000-12-16 2000-12-30 2006-10-14 2007-03-03 2007-04-14 2007-06-23
    2007-09-29 2009-01-10 2009-01-17 2009-06-06 2010-02-06 2012-02-04 2012-03-03 2012-12-22
    2013-02-23 2013-09-14 2014-12-27 2016-01-30 2016-06-04 2016-09-10 2017-02-18 2017-06-03
    2017-09-30 2018-03-31 2018-12-22
"""
EXTRA_SESSIONS = frozenset(dt.date.fromisoformat(day) for day in _EXTRA_SESSIONS.split())

_MONTH = re.compile(r"(\d{4})-?(\d{2})", re.ASCII)


def taipei_today() -> dt.date:
    """Today in Taipei, the day TWSE's data belongs to (the real clock)."""
    return dt.datetime.now(TAIPEI).date()


def day_problem(day: dt.date, today: dt.date) -> str | None:
    """Why ``day`` cannot be a TWSE trading day, or None when it can be.

    Saturdays can (TWSE's make-up sessions are real); Sundays never are.
    """
    if day < FIRST_TRADING_DAY:
        return f"date {day} is before {FIRST_TRADING_DAY}, the first day TWSE serves"
    if day > today:
        return f"date {day} is after today in Taipei ({today})"
    if day.weekday() == 6:
        return f"date {day} is a Sunday, never a TWSE session"
    return None


def check_as_of(day: dt.date, today: dt.date) -> dt.date:
    """``day`` when it can be the day a load acts as of; InputError otherwise.

    A day after today would let a pretended date pass for a fetch time and freeze months.
    """
    if day > today:
        raise InputError(f"--as-of {day} is after today in Taipei ({today})")
    if day < FIRST_TRADING_DAY:
        raise InputError(f"--as-of {day} is before {FIRST_TRADING_DAY}, the first day TWSE serves")
    return day


def unlisted_days(days: Iterable[dt.date]) -> list[dt.date]:
    """The ``days`` that are neither XTAI sessions nor known extra TWSE sessions (suspects)."""
    candidates = sorted(set(days) - EXTRA_SESSIONS)
    if not candidates:
        return []
    sessions = set(sessions_between(candidates[0], candidates[-1]))
    return [day for day in candidates if day not in sessions]


@cache
def _calendar() -> Any:
    # Imported here: exchange_calendars costs a second at import and most commands never need it.
    import exchange_calendars as xc

    return xc.get_calendar(CALENDAR_NAME, start=CALENDAR_START)


def next_sessions(after: dt.date, count: int) -> list[dt.date]:
    """The ``count`` XTAI sessions strictly after ``after`` (which need not be a session).

    DataError when they run past the calendar's end (a stored day in the far future).
    """
    cal = _calendar()
    if not cal.first_session.date() <= after < cal.last_session.date():
        raise DataError(
            f"{after} is outside the XTAI calendar ({cal.first_session.date()} … "
            f"{cal.last_session.date()}): remove the day with `taiex delete --from {after}`"
        )
    first = cal.date_to_session(pd.Timestamp(after), direction="next")
    if first.date() == after:
        first = cal.next_session(first)
    if cal.sessions_distance(first, cal.last_session) < count:
        raise DataError(f"XTAI lists fewer than {count} sessions after {after}")
    sessions = cal.sessions_window(first, count)
    return [ts.date() for ts in sessions]


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """The XTAI sessions from ``start`` to ``end``, both included."""
    cal = _calendar()
    # Clamped to the calendar's span: stored days far outside it must not crash a status.
    first = max(start, cal.first_session.date())
    last = min(end, cal.last_session.date())
    if last < first:
        return []
    return list(cal.sessions_in_range(pd.Timestamp(first), pd.Timestamp(last)).date)


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
        """``YYYY-MM`` (or ``YYYYMM``, ASCII digits) to a Month; ValueError names the text."""
        match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a month (expected YYYY-MM)")
        return cls(int(match[1]), int(match[2]))

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
