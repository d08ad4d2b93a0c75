"""The night before a pre-open round: which US closes it may know, and the moves they make.

docs/design.md, "Two rounds a day" and "Overnight data". A US session dated D closes at 16:00
America/New_York, 13:00 on XNYS early-close days (the XNYS calendar of exchange-calendars knows
both, and the switches of daylight saving): 04:00 or 05:00 Taipei on D + 1. A close counts for a
round issued at T only when it closed at least :data:`PUBLISH_DELAY` before T.

The pre-open round for the TAIEX session after ``origin`` is issued at ``preopen`` (Taipei) on
that session's day. Its night runs from what was known at TAIEX's close on the origin day
(13:30 Taipei) to what is known at T: the night's move of a symbol is
``log(close[last] / close[base])``, ``base`` the last US session closed by 13:30 on the origin
day, ``last`` the last closed by T. Over several US sessions (TWSE closed for days) that is the
sum of their moves; with no US session in between it is 0, and flagged.

:func:`nights` answers for many origins at once, and production asks it for one: a backtest and
the live round read the same function, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from taiex.calendar import TAIPEI
from taiex.errors import DataError

if TYPE_CHECKING:
    import exchange_calendars as xc
    import pandas as pd


# A close becomes usable this long after the session's end (the feeds publish within minutes).
PUBLISH_DELAY = dt.timedelta(minutes=30)
TAIEX_CLOSE = dt.time(13, 30)  # the evening round knows the US closes published by then
DEFAULT_PREOPEN = dt.time(7, 30)
_NEW_YORK = ZoneInfo("America/New_York")
US_CALENDAR = "XNYS"
# A month before the first TAIEX session (1999-01-05): the closes of late 1998 that a first
# update asks for (overnight_load.FIRST_US_DAY) are sessions, not unknown days.
US_CALENDAR_START = "1998-12-01"


@cache
def _xnys() -> xc.ExchangeCalendar:
    # Imported here: exchange_calendars costs a second at import and most commands never need it.
    import exchange_calendars

    return exchange_calendars.get_calendar(US_CALENDAR, start=US_CALENDAR_START)


@cache
def _usable_from() -> pd.Series:
    """Each XNYS session's close plus the publishing delay (UTC), indexed by session."""
    usable: pd.Series = _xnys().closes + PUBLISH_DELAY
    return usable


def is_us_session(day: dt.date) -> bool:
    """Whether ``day`` is an XNYS session (within the calendar's span)."""
    import pandas as pd

    cal = _xnys()
    stamp = pd.Timestamp(day)
    return bool(cal.first_session <= stamp <= cal.last_session and cal.is_session(stamp))


def first_us_session() -> dt.date:
    """The first XNYS session of the calendar taiex reads: no close is known before it."""
    first: dt.date = _xnys().first_session.date()
    return first


def closed_through(now: dt.datetime) -> dt.date:
    """The last US date (New York) whose session, if it had one, has closed by ``now`` (an aware
    moment): today in New York once its session has closed or when it has none, else the day
    before. A close dated later cannot exist yet (Yahoo gives the live price as today's row)."""
    today = now.astimezone(_NEW_YORK).date()
    if is_us_session(today) and now < us_close(today):
        return today - dt.timedelta(days=1)
    return today


def us_close(session: dt.date) -> dt.datetime:
    """When the XNYS session ``session`` closed, in Taipei time; DataError for a day that is not
    a session."""
    import pandas as pd

    if not is_us_session(session):
        raise DataError(f"{session} is not an XNYS session")
    close: dt.datetime = _xnys().session_close(pd.Timestamp(session)).to_pydatetime()
    return close.astimezone(TAIPEI)


def round_time(session: dt.date, preopen: dt.time = DEFAULT_PREOPEN) -> dt.datetime:
    """When the pre-open round for the TAIEX session ``session`` is issued (Taipei)."""
    return dt.datetime.combine(session, preopen, tzinfo=TAIPEI)


def evening_time(origin: dt.date) -> dt.datetime:
    """TAIEX's close on ``origin``: what the evening round of that day knows (Taipei)."""
    return dt.datetime.combine(origin, TAIEX_CLOSE, tzinfo=TAIPEI)


def last_known_sessions(at: Sequence[dt.datetime]) -> list[dt.date | None]:
    """For each moment, the last XNYS session whose close is usable by then (None before the
    calendar's first close)."""
    import numpy as np
    import pandas as pd

    usable = _usable_from()
    moments = pd.DatetimeIndex([pd.Timestamp(moment).tz_convert("UTC") for moment in at])
    positions = np.searchsorted(usable.to_numpy(), moments.to_numpy(), side="right") - 1
    sessions = usable.index
    return [None if p < 0 else sessions[p].date() for p in positions]


@dataclass(frozen=True)
class Night:
    """The night between TAIEX's close on ``origin`` and the pre-open round at ``issued_at``:
    ``base``, the last US session usable at 13:30 Taipei on the origin day; ``last``, the last
    usable at ``issued_at``; ``sessions``, the US sessions closed in between (after ``base``, up
    to ``last``), in order."""

    origin: dt.date
    issued_at: dt.datetime
    base: dt.date | None
    last: dt.date | None
    sessions: tuple[dt.date, ...]

    @property
    def quiet(self) -> bool:
        """No US session closed in between: every move is 0, and flagged."""
        return not self.sessions


def nights(
    origins: Sequence[dt.date], rounds: Sequence[dt.date], preopen: dt.time = DEFAULT_PREOPEN
) -> list[Night]:
    """The night of each ``origins[i]``, whose pre-open round is for the TAIEX session
    ``rounds[i]`` (the next session after it: the next stored day in a backtest, the next XTAI
    session live), issued at ``preopen`` Taipei on that day."""
    if len(origins) != len(rounds):
        raise ValueError("one round day per origin")
    if any(r <= o for o, r in zip(origins, rounds, strict=True)):
        raise ValueError("a round's day comes after its origin")
    keys = [(origin, day, preopen) for origin, day in zip(origins, rounds, strict=True)]
    missing = list(dict.fromkeys(key for key in keys if key not in _KNOWN_NIGHTS))
    if missing:
        found = _compute_nights([k[0] for k in missing], [k[1] for k in missing], preopen)
        _KNOWN_NIGHTS.update(zip(missing, found, strict=True))
    return [_KNOWN_NIGHTS[key] for key in keys]


# A night is a fact of the two calendars, its origin, its round's day and time, nothing else: each
# is computed once per process. A round reads the night of every stored day since the first US
# close, several times (its check, serving, monitoring), and a replay day after day; computing
# them again was most of a pre-open round's cost (0.3 s a call over 2016-2024).
_KNOWN_NIGHTS: dict[tuple[dt.date, dt.date, dt.time], Night] = {}


def _compute_nights(
    origins: Sequence[dt.date], rounds: Sequence[dt.date], preopen: dt.time
) -> list[Night]:
    issued = [round_time(day, preopen) for day in rounds]
    bases = last_known_sessions([evening_time(day) for day in origins])
    lasts = last_known_sessions(issued)
    result = []
    for origin, at, base, last in zip(origins, issued, bases, lasts, strict=True):
        between = _sessions_after(base, last)
        result.append(Night(origin, at, base, last, between))
    return result


def _sessions_after(base: dt.date | None, last: dt.date | None) -> tuple[dt.date, ...]:
    if last is None or (base is not None and last <= base):
        return ()
    import pandas as pd

    cal = _xnys()
    first = cal.first_session if base is None else cal.next_session(pd.Timestamp(base))
    return tuple(cal.sessions_in_range(first, pd.Timestamp(last)).date)


@dataclass(frozen=True)
class Move:
    """A symbol's move over a night: ``log(close[last] / close[base])``; 0 and ``flagged`` when
    no US session closed in between."""

    symbol: str
    value: float
    flagged: bool


class MissingCloseError(DataError):
    """A close the round may know is not stored (not fetched yet, or never published): the
    round cannot be computed and falls back to the evening forecast."""


def night_moves(
    night: Night,
    closes: Mapping[str, Mapping[dt.date, float | Decimal]],
    symbols: Sequence[str],
) -> list[Move]:
    """The night's move of each symbol from its stored ``closes`` (symbol -> US date -> close);
    :class:`MissingCloseError` naming the first symbol and session that are not stored."""
    moves = []
    for symbol in symbols:
        if night.quiet:
            moves.append(Move(symbol, 0.0, True))
            continue
        stored = closes.get(symbol, {})
        for session in (night.base, night.last):
            if session is None or session not in stored:
                raise MissingCloseError(
                    f"no {symbol} close for the US session of {session} (usable from "
                    f"{_usable_text(session)}), needed by the pre-open round of "
                    f"{night.issued_at:%Y-%m-%d %H:%M} Taipei"
                )
        assert night.base is not None and night.last is not None
        ratio = float(stored[night.last]) / float(stored[night.base])
        moves.append(Move(symbol, math.log(ratio), False))
    return moves


def night_moves_frame(
    days: Sequence[dt.date],
    closes: Mapping[str, Mapping[dt.date, float | Decimal]],
    symbols: Sequence[str],
    preopen: dt.time = DEFAULT_PREOPEN,
) -> pd.DataFrame:
    """The night's moves of every stored TAIEX day but the last, whose pre-open round is on the
    next stored day (a backtest's view: the live round's day is the next XTAI session):
    ``date`` (the origin), one column per symbol (NaN where a close that symbol's move needs
    is not stored; the other symbols' moves stand), ``quiet`` and ``sessions`` (the US sessions
    of the night)."""
    import numpy as np
    import pandas as pd

    rows = {symbol: np.full(len(days), np.nan) for symbol in symbols}
    quiet = np.zeros(len(days), dtype=bool)
    sessions = np.zeros(len(days), dtype=np.int64)
    found = nights(list(days[:-1]), list(days[1:]), preopen) if len(days) > 1 else []
    for i, night in enumerate(found):
        quiet[i], sessions[i] = night.quiet, len(night.sessions)
        for symbol in symbols:  # each symbol on its own: one without a close blanks only itself
            try:
                (move,) = night_moves(night, closes, [symbol])
            except MissingCloseError:
                continue
            rows[symbol][i] = move.value
    return pd.DataFrame(
        {"date": pd.to_datetime(list(days)), **rows, "quiet": quiet, "sessions": sessions}
    )


def _usable_text(session: dt.date | None) -> str:
    if session is None:
        return "before the calendar starts"
    return f"{us_close(session) + PUBLISH_DELAY:%Y-%m-%d %H:%M} Taipei"


# ---------------------------------------------------------------- a history that knows its nights

# A pre-open model (a kind of the pre-open round) reads one frame, like every model: the TAIEX
# history, plus one column per symbol holding the night's move after that day (the night before
# the next session's pre-open round), NaN where it is not known. ``night:quiet`` says no US
# session closed that night (the moves are 0). The columns are named so that no price column can
# clash with them.
NIGHT_PREFIX = "night:"
QUIET_COLUMN = f"{NIGHT_PREFIX}quiet"


def night_column(symbol: str) -> str:
    """The history's column of ``symbol``'s night moves."""
    return f"{NIGHT_PREFIX}{symbol}"


def with_nights(history: pd.DataFrame, moves: pd.DataFrame, symbols: Sequence[str]) -> pd.DataFrame:
    """``history`` with its nights' moves as columns (:func:`night_column`, :data:`QUIET_COLUMN`):
    ``moves`` is a frame of :func:`night_moves_frame` (``date``, one column per symbol,
    ``quiet``); a day it does not hold gets NaN (unknown) and not quiet."""
    import pandas as pd

    wanted = moves.set_index(pd.to_datetime(moves["date"]))
    index = pd.to_datetime(history["date"])
    frame = history.copy()
    for symbol in symbols:
        frame[night_column(symbol)] = wanted[symbol].reindex(index).to_numpy(dtype=float)
    quiet = wanted["quiet"].reindex(index) if "quiet" in wanted else None
    frame[QUIET_COLUMN] = quiet.fillna(False).to_numpy(dtype=bool) if quiet is not None else False
    return frame


def night_symbols(history: pd.DataFrame) -> tuple[str, ...]:
    """The symbols whose night moves ``history`` carries, in its column order."""
    return tuple(
        str(column)[len(NIGHT_PREFIX) :]
        for column in history.columns
        if str(column).startswith(NIGHT_PREFIX) and column != QUIET_COLUMN
    )


def nights_of(history: pd.DataFrame, symbols: Sequence[str]) -> pd.DataFrame:
    """The moves frame (``date`` and one column per symbol) that :func:`with_nights` put in
    ``history``; DataError naming the first symbol whose column it lacks."""
    import pandas as pd

    missing = [s for s in symbols if night_column(s) not in history.columns]
    if missing:
        raise DataError(
            f"the history holds no night moves of {', '.join(missing)}: a pre-open model reads "
            "them (taiex.overnight.with_nights); if TAIEX_OVERNIGHT_SYMBOLS no longer lists "
            "them, train the pre-open models again (`taiex train preopen-forecaster`, "
            "`taiex train preopen-classifier`)"
        )
    columns = {symbol: history[night_column(symbol)].to_numpy(dtype=float) for symbol in symbols}
    return pd.DataFrame({"date": pd.to_datetime(history["date"]).to_numpy(), **columns})


@dataclass(frozen=True)
class NightsOfHistory:
    """A history with its nights (:func:`with_nights`) as a pre-open model reads it, the round
    its last day serves (``night``: before the next XTAI session) and, when that night's moves
    are not known, why (``problem``; the last row's moves are then NaN)."""

    frame: pd.DataFrame
    night: Night
    problem: str | None


def history_nights(
    history: pd.DataFrame,
    closes: Mapping[str, Mapping[dt.date, float | Decimal]],
    symbols: Sequence[str],
    preopen: dt.time = DEFAULT_PREOPEN,
) -> NightsOfHistory:
    """``history`` with each day's night: a stored day's before the next stored day's round (as
    a backtest sees it), the last day's before the round of the next XTAI session (the live
    round). Days before the first stored close are not looked at: their nights are unknown."""
    import pandas as pd

    from taiex.calendar import next_sessions

    days = [stamp.date() for stamp in pd.to_datetime(history["date"])]
    firsts = [min(stored) for stored in closes.values() if stored]
    # A night starts from the close before it: a week before the first close is enough.
    since = min(firsts) - dt.timedelta(days=7) if firsts else days[-1]
    start = next((i for i, day in enumerate(days) if day >= since), len(days) - 1)
    frame = with_nights(history, night_moves_frame(days[start:], closes, symbols, preopen), symbols)
    night = nights([days[-1]], next_sessions(days[-1], 1), preopen)[0]
    try:
        moves = night_moves(night, closes, symbols)
    except MissingCloseError as exc:
        return NightsOfHistory(frame, night, str(exc))
    last = frame.index[-1]
    for move in moves:
        frame.loc[last, night_column(move.symbol)] = move.value
    frame.loc[last, QUIET_COLUMN] = night.quiet
    return NightsOfHistory(frame, night, None)
