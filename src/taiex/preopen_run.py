"""The pre-open round as a job (docs/design.md, "Two rounds a day"): ``taiex run --round
pre-open``, and the steps of the DAG ``taiex_preopen``.

The round for the TAIEX session S is issued at ``TAIEX_PREOPEN_TIME`` (07:30) Taipei on S. Its
origin is the last stored TAIEX day before S (the evening's data day), and it knows the US closes
published by then (:mod:`taiex.overnight`). It refreshes the forecast of the next opens and the
entry signal with the night's moves; when a close the night needs is not stored (not published
yet, or the source failed), the evening's answer stands, and the summary says why.

``--as-of D`` means what it means for every load: as if today were D in Taipei, here at the round's
time, so the round is the one for the first session on or after D. Live, the round is today's
until TAIEX opens (09:00), the next session's after.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from taiex.calendar import (
    FIRST_TRADING_DAY,
    TAIPEI,
    check_as_of,
    next_sessions,
    sessions_between,
)
from taiex.errors import ArtifactError, DataError, InputError, SourceError
from taiex.etl import ETL_LOCK
from taiex.kinds import KINDS, PREOPEN_KINDS
from taiex.overnight import Night, closed_through, round_time
from taiex.pipeline import (
    Context,
    DataUpdate,
    Progress,
    Silent,
    draw_outputs,
    monitor,
    nights_of_history,
    serve,
    update_data,
)
from taiex.rounds import Round

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from taiex.kinds import KindSpec
    from taiex.monitor import KindSummary
    from taiex.overnight import NightsOfHistory
    from taiex.overnight_source import OvernightSource

log = logging.getLogger(__name__)

TAIEX_OPEN = dt.time(9, 0)


@dataclass(frozen=True)
class RoundTime:
    """The round for the TAIEX session ``session``, issued at ``issued_at`` (Taipei)."""

    session: dt.date
    issued_at: dt.datetime


def round_for(as_of: dt.date | None, preopen: dt.time, now: dt.datetime | None = None) -> RoundTime:
    """The round a run makes: as if today were ``as_of`` at the round's time, else at ``now``
    (the clock): today's session's round before TAIEX opens, the next session's after."""
    if as_of is not None:
        today = (now or dt.datetime.now(TAIPEI)).astimezone(TAIPEI).date()
        check_as_of(as_of, today)
        if as_of <= FIRST_TRADING_DAY:  # its round would start from no evening
            raise InputError(
                f"--as-of {as_of}: the first pre-open round is for the session after "
                f"{FIRST_TRADING_DAY}, the first day TWSE serves"
            )
        session = next_sessions(as_of - dt.timedelta(days=1), 1)[0]
    else:
        moment = (now or dt.datetime.now(TAIPEI)).astimezone(TAIPEI)
        today = moment.date()
        after = today if moment.time() >= TAIEX_OPEN else today - dt.timedelta(days=1)
        session = next_sessions(after, 1)[0]
    return RoundTime(session, round_time(session, preopen))


def origin_of(ctx: Context, session: dt.date) -> dt.date:
    """The last stored TAIEX day before ``session``: the data the round starts from."""
    history = ctx.history(session - dt.timedelta(days=1))
    origin: dt.date = history["date"].iloc[-1].date()
    return origin


def data_is_behind(ctx: Context, session: dt.date) -> bool:
    """Whether the session before ``session`` is not stored (the evening's data is missing)."""
    last = ctx.store.summary()["last_date"]
    before = _session_before(session)
    return last is None or last < before


def _session_before(session: dt.date) -> dt.date:
    # The last XTAI session of the fortnight before ``session`` (clamped to the calendar's span,
    # so that a round near either end of it is not refused with a calendar error).
    sessions = sessions_between(session - dt.timedelta(days=15), session - dt.timedelta(days=1))
    return sessions[-1] if sessions else session - dt.timedelta(days=1)


class OvernightUpdate(TypedDict):
    """What the round's download of US closes did: its source, the rows, or why it failed."""

    source: str
    through: str  # the last US date asked for (New York)
    inserted: int
    updated: int
    error: str | None


def update_overnight_data(ctx: Context, issued_at: dt.datetime) -> OvernightUpdate:
    """Fetch the US closes published by ``issued_at`` (or by now, if earlier) from
    ``TAIEX_OVERNIGHT_SOURCE`` and store them; InputError when the round is off."""
    from taiex.overnight_load import update_overnight

    settings = ctx.settings
    source = _source(ctx)
    through = closed_through(min(issued_at, dt.datetime.now(TAIPEI)))
    load = update_overnight(ctx.store, source, settings.symbols, through)
    return {
        "source": load.source,
        "through": through.isoformat(),
        "inserted": load.result.inserted,
        "updated": load.result.updated,
        "error": None,
    }


class NightSummary(TypedDict):
    """The night the round knows: the US sessions closed since the origin's close, each
    symbol's log move (None when unknown), and whether no session closed (moves 0, flagged)."""

    base: str | None
    last: str | None
    sessions: list[str]
    quiet: bool
    moves: dict[str, float | None]


class PreopenSummary(TypedDict):
    """``taiex run --round pre-open``'s JSON."""

    round: str
    session: str  # the TAIEX session the round is for
    issued_at: str
    origin: str  # the last TAIEX close it starts from
    data: DataUpdate | None  # the TWSE update, when the evening's data was missing
    overnight: OvernightUpdate
    night: NightSummary
    fallback: str | None  # why the evening's answer stands, when it does
    served: dict[str, dict[str, object]]
    monitor: dict[str, KindSummary]
    outputs: dict[str, str]
    seconds: float


def run_preopen(
    ctx: Context,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> PreopenSummary:
    """The pre-open round in one process: the US closes, the night, each pre-open kind's
    answer (or the evening's, saying why), their monitoring, the report. Like the evening's
    job it holds the load lock throughout."""
    from taiex import notify

    steps = notify.Steps(progress or Silent())
    since = ctx.store.now()
    try:
        summary = _run_preopen(ctx, as_of, steps, now)
    except Exception as exc:
        notify.job_failed(ctx.settings, Round.pre_open, steps.current, exc)
        raise
    notify.after_preopen(ctx, summary, since)  # TAIEX_NOTIFY_URLS; never raises
    return summary


def _run_preopen(
    ctx: Context, as_of: dt.date | None, progress: Progress, now: dt.datetime | None
) -> PreopenSummary:
    started = time.monotonic()
    when = round_for(as_of, ctx.settings.preopen, now)
    with ctx.store.lock(ETL_LOCK):
        data = None
        if data_is_behind(ctx, when.session):
            progress.step("data")
            data = update_data(ctx, as_of, progress)
        origin = origin_of(ctx, when.session)
        progress.step("US closes")
        overnight = _overnight(ctx, when.issued_at)
        answer = answer_round(ctx, when.session, origin, overnight["error"], progress.step)
        if ctx.draw:
            progress.step("report")
        outputs = draw_outputs(ctx) if ctx.draw else {}
    return {
        "round": "pre-open",
        "session": when.session.isoformat(),
        "issued_at": when.issued_at.isoformat(),
        "origin": origin.isoformat(),
        "data": data,
        "overnight": overnight,
        "night": night_summary(answer.nights.night, answer.nights.frame, ctx.settings.symbols),
        "fallback": answer.fallback,
        "served": answer.served,
        "monitor": answer.monitored,
        "outputs": outputs,
        "seconds": round(time.monotonic() - started, 3),
    }


def _source(ctx: Context) -> OvernightSource:
    """The source ``TAIEX_OVERNIGHT_SOURCE`` names; InputError when it names none (the round is
    off) or is not a source."""
    from taiex.overnight_source import overnight_source

    settings = ctx.settings
    source = overnight_source(settings.overnight_source)
    if source is None:
        raise InputError(
            f"{settings.origin('overnight_source')}=none: the pre-open round is off; set it to "
            "yahoo or csv:PATH_OR_URL"
        )
    return source


def _overnight(ctx: Context, issued_at: dt.datetime) -> OvernightUpdate:
    """The download of US closes; a source that fails leaves what is stored, and says why: one
    that cannot be reached, and one whose answer is refused (a CSV file missing or holding a bad
    row), which stores nothing either. A setting that names no source stays an error."""
    _source(ctx)
    try:
        return update_overnight_data(ctx, issued_at)
    except (SourceError, DataError, InputError) as exc:
        log.warning("US closes not updated: %s", exc)
        return {
            "source": ctx.settings.overnight_source,
            "through": "",
            "inserted": 0,
            "updated": 0,
            "error": str(exc),
        }


@dataclass(frozen=True)
class RoundAnswer:
    """What the round for a session answered from its origin: its night, why the evening's
    answer stands (None: each pre-open kind served), what was served (by kind: the pre-open
    kinds', or on a fallback the evening kinds') and each pre-open kind's monitoring."""

    nights: NightsOfHistory
    fallback: str | None
    served: dict[str, dict[str, object]]
    monitored: dict[str, KindSummary]


def answer_round(
    ctx: Context,
    session: dt.date,
    origin: dt.date,
    update_error: str | None = None,
    step: Callable[[str], None] = lambda name: None,
) -> RoundAnswer:
    """The round for ``session`` from the stored data up to ``origin``, after its downloads:
    the night, each pre-open kind's answer or, when the round cannot serve, the evening's (stored
    or made now), then each pre-open kind's monitoring. ``update_error``, why the download of
    US closes failed, is added to a fallback's reason. The live round, the DAG's steps and a
    simulation all answer through here, so they cannot drift apart."""
    nights = nights_of_history(ctx, ctx.history(origin))
    fallback = round_fallback(nights.problem, session, origin, update_error)
    served: dict[str, dict[str, object]] = {}
    if fallback is None:
        try:
            for spec in PREOPEN_KINDS:
                step(f"serve {spec.name}")
                served[spec.name] = serve(ctx, spec.name, origin)
        # A first model that cannot be trained yet (too few nights), or a champion whose
        # artifact does not load and no former one to stand in: the evening's answer stands, and
        # the monitoring below replaces the unloadable champion.
        except (DataError, ArtifactError) as exc:
            fallback, served = f"the pre-open round cannot serve: {exc}", {}
    if fallback is not None:
        log.warning("the pre-open round of %s falls back to the evening's: %s", session, fallback)
        for spec in KINDS:
            step(f"serve {spec.name}")
            served[spec.name] = serve(ctx, spec.name, origin)
    monitored: dict[str, KindSummary] = {}
    for spec in PREOPEN_KINDS:
        step(f"monitor {spec.name}")
        try:
            monitored[spec.name] = monitor(ctx, spec.name, origin)
        except DataError as exc:
            if fallback is None:
                raise
            monitored[spec.name] = unmonitored(ctx, spec, str(exc))
            continue
        challenger = monitored[spec.name]["challenger"]
        if fallback is None and challenger is not None and challenger["promoted"]:
            served[spec.name] = challenger["output"]
    return RoundAnswer(nights, fallback, served, monitored)


def round_fallback(
    problem: str | None, session: dt.date, origin: dt.date, update_error: str | None = None
) -> str | None:
    """Why the round for ``session`` cannot serve from ``origin`` (the evening's answer
    stands), or None: a close of the night is not stored (``problem``), or the stored data stops
    before the session before ``session``."""
    if problem is None:
        after = next_sessions(origin, 1)[0]
        if after != session:  # the data stops before the evening's day
            return (
                f"the last stored TAIEX day is {origin}, not the session before {session}: "
                "the round would forecast sessions already traded"
            )
        return None
    failed = f" (the update failed: {update_error})" if update_error else ""
    return f"{problem}{failed}"


def unmonitored(ctx: Context, spec: KindSpec, reason: str) -> KindSummary:
    """The monitoring of a pre-open kind that could not be measured on a fallback (its first
    model cannot be trained before enough nights are known, say)."""
    return {
        "champion": None,
        "metric_name": spec.metric.name,
        "metric": None,
        "baseline": None,
        "threshold": spec.threshold(ctx.settings),
        "retrain": False,
        "reason": f"not monitored: {reason}",
        "evaluation": None,
        "challenger": None,
        "skipped_artifacts": [],
    }


def night_summary(night: Night, frame: pd.DataFrame, symbols: tuple[str, ...]) -> NightSummary:
    """The night of the history's last day, as JSON."""
    from taiex.overnight import night_column

    last = frame.iloc[-1]
    moves: dict[str, float | None] = {}
    for symbol in symbols:
        value = float(last[night_column(symbol)])
        moves[symbol] = None if value != value else round(value, 6)  # NaN: unknown
    return {
        "base": night.base.isoformat() if night.base else None,
        "last": night.last.isoformat() if night.last else None,
        "sessions": [day.isoformat() for day in night.sessions],
        "quiet": night.quiet,
        "moves": moves,
    }


# ---------------------------------------------------------------- the DAG's steps (taiex step)

# The DAG ``taiex_preopen`` runs the round as separate tasks that share only the database: each
# step below is one task's work for the round of one XTAI session (the run's day), reruns to the
# same result for that session, and returns what ``taiex step`` prints as one line of JSON.


def session_round(ctx: Context, session: dt.date) -> RoundTime:
    """The round for the XTAI session ``session``, issued at the configured pre-open time on
    that day; InputError when ``session`` is not a session."""
    if sessions_between(session, session) != [session]:
        raise InputError(f"{session} is not an XTAI session: it has no pre-open round")
    return RoundTime(session, round_time(session, ctx.settings.preopen))


def overnight_step(ctx: Context, session: dt.date, *, strict: bool = False) -> OvernightUpdate:
    """Fetch and store the US closes the round for ``session`` may know (published by its
    issue time): one transaction, idempotent (a close stored again is the same row). A source
    that fails leaves what is stored and says why (the night then falls back), unless ``strict``:
    then it raises, so that a scheduler retries it. InputError when the round is off."""
    when = session_round(ctx, session)
    if strict:
        return update_overnight_data(ctx, when.issued_at)
    return _overnight(ctx, when.issued_at)


class NightStep(TypedDict):
    """``taiex step night``'s JSON: the round, its origin, its night, and whether it falls back
    to the evening's answer (why, or None: each pre-open kind serves)."""

    round: str
    session: str
    issued_at: str
    origin: str
    night: NightSummary
    fallback: str | None


def night_step(ctx: Context, session: dt.date, update_error: str | None = None) -> NightStep:
    """The origin and the night of the round for ``session`` from the stored TAIEX days and US
    closes, and whether the round falls back to the evening's answer (a close it may know is not
    stored, or the evening's data is missing); ``update_error``, why the download failed, is
    added to a fallback's reason. Reads only: a rerun gives the same answer while nothing new is
    stored."""
    when = session_round(ctx, session)
    origin = origin_of(ctx, session)
    nights = nights_of_history(ctx, ctx.history(origin))
    fallback = round_fallback(nights.problem, session, origin, update_error)
    if fallback is not None:
        log.warning(
            "the pre-open round of %s falls back to the evening's answer: %s", session, fallback
        )
    return {
        "round": "pre-open",
        "session": session.isoformat(),
        "issued_at": when.issued_at.isoformat(),
        "origin": origin.isoformat(),
        "night": night_summary(nights.night, nights.frame, ctx.settings.symbols),
        "fallback": fallback,
    }
