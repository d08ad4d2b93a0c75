"""Dates: which days can be TWSE sessions, the latest --as-of, strict months, calendar bounds."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from taiex.calendar import (
    EXTRA_SESSIONS,
    FIRST_TRADING_DAY,
    Month,
    check_as_of,
    day_problem,
    next_sessions,
    sessions_between,
    unlisted_days,
)
from taiex.errors import DataError, InputError
from tests.series import REAL_CSV

TODAY = dt.date(2024, 12, 31)


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        (dt.date(2024, 12, 30), None),  # a Monday
        (dt.date(2018, 12, 22), None),  # a make-up Saturday
        (dt.date(2024, 11, 30), None),  # any Saturday may be one
        (FIRST_TRADING_DAY, None),
        (TODAY, None),
        (dt.date(2024, 12, 29), "is a Sunday"),
        (dt.date(2025, 1, 2), "is after today in Taipei (2024-12-31)"),
        (dt.date(2030, 1, 2), "is after today"),
        (dt.date(1999, 1, 4), "is before 1999-01-05"),
        (dt.date(1, 1, 1), "is before 1999-01-05"),
    ],
)
def test_which_days_can_be_sessions(day: dt.date, problem: str | None) -> None:
    found = day_problem(day, TODAY)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_as_of_is_never_later_than_today_nor_before_twse() -> None:
    assert check_as_of(TODAY, TODAY) == TODAY
    with pytest.raises(InputError, match=r"--as-of 2025-01-15 is after today in Taipei"):
        check_as_of(dt.date(2025, 1, 15), TODAY)
    with pytest.raises(InputError, match="after today"):
        check_as_of(dt.date(9999, 12, 31), TODAY)
    with pytest.raises(InputError, match="before 1999-01-05"):
        check_as_of(dt.date(1, 1, 1), TODAY)


@pytest.mark.parametrize("text", ["-2024-01", "２０２４-01", "2024-1", "2024--01", "+2024-01", ""])
def test_months_are_ascii_yyyy_mm_only(text: str) -> None:
    with pytest.raises(ValueError, match="is not a month"):
        Month.parse(text)


def test_months_parse() -> None:
    assert Month.parse(" 2024-01 ") == Month.parse("202401") == Month(2024, 1)
    with pytest.raises(ValueError, match="no such month"):
        Month.parse("2024-13")


def test_stored_days_far_outside_the_calendar_do_not_crash() -> None:
    # A status over 0001-01-01 … 2030-01-02 used to overflow; it is clamped to the calendar.
    sessions = sessions_between(dt.date(1, 1, 1), dt.date(2030, 1, 2))
    assert sessions[0] >= dt.date(1999, 1, 1)
    assert unlisted_days([dt.date(1, 1, 1), dt.date(2030, 1, 2)]) == [
        dt.date(1, 1, 1),
        dt.date(2030, 1, 2),
    ]
    with pytest.raises(DataError, match=r"outside the XTAI calendar.*taiex delete --from 2030"):
        next_sessions(dt.date(2030, 1, 2), 5)


def test_unlisted_days_spare_the_known_saturday_sessions() -> None:
    days = [dt.date(2018, 12, 22), dt.date(2000, 2, 9), dt.date(2024, 12, 30)]
    assert unlisted_days(days) == []
    invented = [dt.date(2024, 11, 30), dt.date(2024, 12, 29), dt.date(2024, 10, 10)]
    assert unlisted_days([*days, *invented]) == sorted(invented)


@pytest.mark.realdata
def test_every_real_day_is_a_session_or_a_known_extra_one() -> None:
    days = pd.read_csv(REAL_CSV, usecols=["date"])["date"].map(dt.date.fromisoformat)
    assert unlisted_days(days) == []
    assert set(days) >= EXTRA_SESSIONS
    assert all(day_problem(day, dt.date(2026, 8, 18)) is None for day in days)
