"""When a US close is known for a pre-open round, case by case on the real calendars (XNYS,
XTAI and TWSE's own stored days), and the night's moves from the real US closes."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from taiex.calendar import TAIPEI
from taiex.errors import DataError
from taiex.overnight import (
    DEFAULT_PREOPEN,
    MissingCloseError,
    Night,
    is_us_session,
    last_known_sessions,
    night_moves,
    nights,
    us_close,
)
from tests.series import REAL_DATA

D = dt.date
SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")


def taipei(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=TAIPEI)


def night(origin: dt.date, round_day: dt.date, preopen: dt.time = DEFAULT_PREOPEN) -> Night:
    (found,) = nights([origin], [round_day], preopen)
    return found


@pytest.fixture(scope="module")
def closes() -> dict[str, dict[dt.date, float]]:
    """The real US closes 2016-06 … 2024-12 (tests/data/us_closes.csv), symbol -> day -> close."""
    frame = pd.read_csv(REAL_DATA / "us_closes.csv", parse_dates=["date"])
    return {
        symbol: dict(zip(rows["date"].dt.date, rows["close"], strict=True))
        for symbol, rows in frame.groupby("symbol")
    }


# ---------------------------------------------------------------- when a close is known


def test_a_us_close_is_four_or_five_in_the_morning_in_taipei() -> None:
    assert us_close(D(2024, 3, 8)) == taipei("2024-03-09", "05:00")  # EST: 16:00 = 21:00 UTC
    assert us_close(D(2024, 3, 11)) == taipei("2024-03-12", "04:00")  # EDT from 2024-03-10
    assert us_close(D(2024, 11, 1)) == taipei("2024-11-02", "04:00")  # EDT until 2024-11-03
    assert us_close(D(2024, 11, 4)) == taipei("2024-11-05", "05:00")  # EST


def test_an_early_close_is_at_one_in_new_york() -> None:
    assert us_close(D(2024, 11, 29)) == taipei("2024-11-30", "02:00")  # 13:00 EST
    assert us_close(D(2024, 7, 3)) == taipei("2024-07-04", "01:00")  # 13:00 EDT


def test_a_close_counts_thirty_minutes_after_it_is_made() -> None:
    # Monday 2024-03-11 (EDT) closed at 04:00 Taipei on the 12th: usable from 04:30.
    before, at = taipei("2024-03-12", "04:29"), taipei("2024-03-12", "04:30")
    assert last_known_sessions([before, at]) == [D(2024, 3, 8), D(2024, 3, 11)]


@pytest.mark.parametrize(
    ("round_day", "preopen", "last"),
    [
        # Daylight saving in New York: the same round time sees Monday's close in summer time
        # (04:00 + 30 min) and not in winter time (05:00 + 30 min).
        (D(2024, 10, 29), dt.time(5, 15), D(2024, 10, 28)),
        (D(2024, 11, 5), dt.time(5, 15), D(2024, 11, 1)),
        (D(2024, 11, 5), dt.time(5, 30), D(2024, 11, 4)),
        (D(2024, 3, 5), dt.time(4, 45), D(2024, 3, 1)),  # EST: Monday 03-04 at 05:00
        (D(2024, 3, 12), dt.time(4, 45), D(2024, 3, 11)),  # EDT: Monday 03-11 at 04:00
    ],
)
def test_daylight_saving_moves_what_a_round_knows(
    round_day: dt.date, preopen: dt.time, last: dt.date
) -> None:
    origin = round_day - dt.timedelta(days=1)
    assert night(origin, round_day, preopen).last == last


def test_a_weekday_round_knows_the_night_s_one_session() -> None:
    found = night(D(2024, 3, 11), D(2024, 3, 12))
    assert found.issued_at == taipei("2024-03-12", "07:30")
    assert (found.base, found.last, found.sessions) == (
        D(2024, 3, 8),
        D(2024, 3, 11),
        (D(2024, 3, 11),),
    )
    assert not found.quiet


def test_a_monday_round_knows_friday() -> None:
    found = night(D(2024, 3, 8), D(2024, 3, 11))  # across the switch to summer time
    assert (found.base, found.last, found.sessions) == (
        D(2024, 3, 7),
        D(2024, 3, 8),
        (D(2024, 3, 8),),
    )


@pytest.mark.realdata
def test_a_us_holiday_on_a_twse_day_gives_a_quiet_night(
    closes: dict[str, dict[dt.date, float]],
) -> None:
    # TWSE traded on 2024-07-04; New York did not (and closed early on the 3rd).
    assert not is_us_session(D(2024, 7, 4))
    found = night(D(2024, 7, 4), D(2024, 7, 5))
    assert (found.base, found.last, found.sessions) == (D(2024, 7, 3), D(2024, 7, 3), ())
    assert found.quiet
    moves = night_moves(found, closes, SYMBOLS)
    assert [(m.value, m.flagged) for m in moves] == [(0.0, True)] * 4


@pytest.mark.realdata
def test_a_twse_holiday_accumulates_the_us_sessions(
    closes: dict[str, dict[dt.date, float]],
) -> None:
    # Lunar New Year 2024: TWSE closed from 02-06 to 02-14; New York traded 8 sessions.
    found = night(D(2024, 2, 5), D(2024, 2, 15))
    assert found.base == D(2024, 2, 2) and found.last == D(2024, 2, 14)
    assert len(found.sessions) == 8 and found.sessions[0] == D(2024, 2, 5)
    (sox,) = night_moves(found, closes, ["^SOX"])
    daily = [
        math.log(closes["^SOX"][day] / closes["^SOX"][before])
        for before, day in zip((found.base, *found.sessions), found.sessions, strict=False)
    ]
    assert sox.value == pytest.approx(sum(daily), rel=1e-12) and not sox.flagged
    assert sox.value == pytest.approx(
        math.log(closes["^SOX"][D(2024, 2, 14)] / closes["^SOX"][D(2024, 2, 2)]), rel=1e-12
    )


@pytest.mark.realdata
def test_an_early_close_after_thanksgiving(closes: dict[str, dict[dt.date, float]]) -> None:
    # Friday 2024-11-29 closed at 13:00 New York (02:00 Taipei on the 30th).
    found = night(D(2024, 11, 29), D(2024, 12, 2))
    assert (found.base, found.last, found.sessions) == (
        D(2024, 11, 27),
        D(2024, 11, 29),
        (D(2024, 11, 29),),
    )
    (spx,) = night_moves(found, closes, ["^GSPC"])
    assert spx.value == pytest.approx(math.log(6032.38 / 5998.74), rel=1e-12)


def test_a_twse_make_up_saturday() -> None:
    # TWSE traded on Saturday 2018-12-22 (a make-up session XTAI does not list).
    friday_night = night(D(2018, 12, 21), D(2018, 12, 22))
    assert friday_night.sessions == (D(2018, 12, 21),)
    assert friday_night.issued_at == taipei("2018-12-22", "07:30")
    # From Saturday's close to Monday's round, New York has not traded.
    weekend = night(D(2018, 12, 22), D(2018, 12, 24))
    assert weekend.base == D(2018, 12, 21) and weekend.quiet


@pytest.mark.realdata
def test_a_round_before_the_close_is_stored_falls_back(
    closes: dict[str, dict[dt.date, float]],
) -> None:
    found = night(D(2024, 12, 30), D(2024, 12, 31))
    assert found.last == D(2024, 12, 30)
    partial = {symbol: dict(days) for symbol, days in closes.items()}
    del partial["TSM"][D(2024, 12, 30)]  # the feed has not delivered TSM's close yet
    with pytest.raises(
        MissingCloseError, match=r"no TSM close for the US session of 2024-12-30"
    ) as caught:
        night_moves(found, partial, SYMBOLS)
    assert "usable from 2024-12-31 05:30 Taipei" in str(caught.value)
    assert "pre-open round of 2024-12-31 07:30 Taipei" in str(caught.value)


def test_a_round_before_the_close_is_published_knows_only_the_night_before() -> None:
    # At 04:20 Taipei, Monday 2024-03-11's close (04:00) is not usable yet: a quiet night.
    found = night(D(2024, 3, 11), D(2024, 3, 12), dt.time(4, 20))
    assert found.last == D(2024, 3, 8) and found.quiet


def test_many_origins_give_what_each_alone_gives() -> None:
    origins = [D(2024, 2, 5), D(2024, 3, 8), D(2024, 7, 4), D(2024, 11, 29)]
    rounds = [D(2024, 2, 15), D(2024, 3, 11), D(2024, 7, 5), D(2024, 12, 2)]
    assert nights(origins, rounds) == [night(o, r) for o, r in zip(origins, rounds, strict=True)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(DataError, match="2024-07-04 is not an XNYS session"):
        us_close(D(2024, 7, 4))
    with pytest.raises(ValueError, match="after its origin"):
        nights([D(2024, 3, 8)], [D(2024, 3, 8)])
    with pytest.raises(ValueError, match="one round day per origin"):
        nights([D(2024, 3, 8)], [])
