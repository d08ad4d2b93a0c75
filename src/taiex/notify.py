"""Notifications through Apprise (docs/design.md, "Notifications").

``TAIEX_NOTIFY_URLS`` lists Apprise URLs (separated by spaces); ``TAIEX_NOTIFY_EVENTS`` which
events are sent: ``failed`` (the job or a task failed: the step and the error line),
``signal-changed`` (the evening's signal differs from the previous served one, or the pre-open
signal from the evening's for the same session), ``promoted`` (a champion was promoted or rolled
back), ``stale`` (TWSE had not published the day by :data:`STALE_AFTER` Taipei, or the pre-open
round fell back to the evening's answer) and ``summary`` (the forecast, its band, the signal).

The events of a round are read from the database after it ends, so ``taiex run`` (both rounds)
and the DAGs' callbacks say the same things. Sending never fails the job: a notification that
cannot be sent is one warning line, naming only the URLs' services (an Apprise URL holds tokens).
Apprise is imported only when something is sent or a URL checked; the settings import this
module's light part (the scheduler parses the DAGs with it), the rest is imported when used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taiex.rounds import Round

if TYPE_CHECKING:
    from taiex.pipeline import Context, Progress, RunSummary
    from taiex.preopen_run import PreopenSummary
    from taiex.settings import Settings

log = logging.getLogger(__name__)

EVENTS = ("failed", "signal-changed", "promoted", "stale", "summary")
DEFAULT_EVENTS = ("failed", "signal-changed", "promoted", "stale")
# TWSE publishes the day's index after the 13:30 close, usually by 14:30: an evening round that
# finds no row for its session day after this time (Taipei) says the data is stale.
STALE_AFTER = dt.time(15, 0)
SIGNAL_LABELS = {1: "enter", 0: "stay out"}


@dataclass(frozen=True)
class Event:
    """One notification: its event name (one of :data:`EVENTS`), a title, a body, and the
    facts it was made of (for tests and logs)."""

    name: str
    title: str
    body: str
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """Apprise's notification type."""
        return {"failed": "failure", "stale": "warning"}.get(self.name, "info")


# ---------------------------------------------------------------- settings


def parse_events(text: str) -> tuple[str, ...]:
    """The event names of ``TAIEX_NOTIFY_EVENTS`` (commas or spaces between them); ValueError
    naming an unknown one."""
    names = tuple(dict.fromkeys(part for part in text.replace(",", " ").split() if part))
    unknown = [name for name in names if name not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}: use any of {', '.join(EVENTS)}")
    return names


def split_urls(text: str) -> tuple[str, ...]:
    """The Apprise URLs of ``TAIEX_NOTIFY_URLS`` (separated by spaces)."""
    return tuple(text.split())


def service(url: str) -> str:
    """What a log may say of an Apprise URL: its scheme (``tgram``, ``json``), never the rest."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isascii() and scheme.isalnum() else "?"


def unusable_urls(urls: Sequence[str]) -> list[int]:
    """The positions (from 1) of the URLs Apprise cannot parse."""
    apprise = _apprise()
    with _quiet_apprise():
        return [
            number
            for number, url in enumerate(urls, 1)
            if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None
        ]


def _apprise() -> Any:
    import apprise

    return apprise


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Apprise's own log lines may hold a URL's tokens: none gets through while it works."""
    logger = logging.getLogger("apprise")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


# ---------------------------------------------------------------- sending


def send(settings: Settings, events: Sequence[Event]) -> list[str]:
    """Send the events ``TAIEX_NOTIFY_EVENTS`` selects to every URL; the names of those sent.
    Never raises: a failure is one warning line."""
    urls = split_urls(settings.notify_urls)
    wanted = [event for event in events if event.name in settings.notify_event_names]
    if not urls or not wanted:
        return []
    services = ", ".join(service(url) for url in urls)
    sent: list[str] = []
    try:
        apprise = _apprise()
        with _quiet_apprise():
            notifier = apprise.Apprise()
            for url in urls:
                notifier.add(url)
            for event in wanted:
                if notifier.notify(title=event.title, body=event.body, notify_type=event.kind):
                    sent.append(event.name)
                else:
                    log.warning(
                        "notification %r not sent to every service (%s)", event.name, services
                    )
    except Exception as exc:  # never fail the job for a notification
        log.warning(
            "notifications not sent (%s) to %s: %s",
            ", ".join(e.name for e in wanted),
            services,
            type(exc).__name__,
        )
    return sent


def failed(round_name: Round | str, step: str, error: BaseException | str) -> Event:
    """The job (or a task, ``step``) failed; the error's first line."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    line = f"{type(error).__name__}: {text}" if isinstance(error, BaseException) else text
    return Event(
        "failed",
        f"taiex {Round(round_name).value}: failed at {step}",
        f"{step}: {line}",
        {"step": step, "error": line},
    )


class Steps:
    """A :class:`~taiex.pipeline.Progress` that remembers the step it is at, for ``failed``."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.current = "start"

    def loading(self, months: int, to_fetch: int, interval: float) -> None:
        self._progress.loading(months, to_fetch, interval)

    def loaded(self, load: Any) -> None:
        self._progress.loaded(load)

    def step(self, name: str) -> None:
        self.current = name
        self._progress.step(name)


def job_failed(settings: Settings, round_name: Round, step: str, error: BaseException) -> None:
    """``failed`` for ``taiex run``; nothing for a lock held by another run (it is temporary)."""
    from taiex.errors import LockedError

    if settings.notify_urls and not isinstance(error, LockedError):
        send(settings, [failed(round_name, step, error)])


def by_hand(settings: Settings, version: Any, action: str) -> None:
    """``promoted`` for a champion set by hand (``taiex models promote`` or ``rollback``): no
    round follows it to tell, so it is sent at once. ``action`` is "promoted" or "rolled back"."""
    if not settings.notify_urls:
        return
    with _never_fails("the champion change's"):
        send(
            settings,
            [
                Event(
                    "promoted",
                    f"taiex: {version.kind} {version.version} promoted by hand"
                    if action == "promoted"
                    else f"taiex: {version.kind} rolled back to {version.version} by hand",
                    f"{version.version} is the {version.kind} champion ({action} by hand)",
                    {"kind": version.kind, "version": version.version, "action": action},
                )
            ],
        )


def after_evening(
    ctx: Context, summary: RunSummary, as_of: dt.date | None, since: dt.datetime
) -> None:
    """The evening round's events, sent (``taiex run``)."""
    from taiex.calendar import TAIPEI, taipei_today

    if not ctx.settings.notify_urls:
        return
    last = summary["data"]["last_date"]
    with _never_fails("the evening round's"):
        events = round_events(
            ctx,
            Round.evening,
            dt.date.fromisoformat(last) if last else None,
            since,
            run_day=as_of or taipei_today(),
            now=None if as_of else dt.datetime.now(TAIPEI),
        )
        send(ctx.settings, events)


def after_preopen(ctx: Context, summary: PreopenSummary, since: dt.datetime) -> None:
    """The pre-open round's events, sent (``taiex run --round pre-open``)."""
    if not ctx.settings.notify_urls:
        return
    with _never_fails("the pre-open round's"):
        events = round_events(
            ctx,
            Round.pre_open,
            dt.date.fromisoformat(summary["origin"]),
            since,
            session=dt.date.fromisoformat(summary["session"]),
            fallback=summary["fallback"],
        )
        send(ctx.settings, events)


def dag_events(
    ctx: Context,
    round_name: str,
    day: str,
    since: str,
    fallback: str | None = None,
) -> list[str]:
    """The DAGs' step: the events of the round of the run's ``day`` (the evening's data day, or
    the pre-open round's session) since ``since`` (the run's start, UTC), sent; their names."""
    from taiex.preopen_run import origin_of

    the_round = Round(round_name)
    when = dt.date.fromisoformat(day)
    start = dt.datetime.fromisoformat(since)
    if start.tzinfo is not None:
        start = start.astimezone(dt.UTC).replace(tzinfo=None)
    if the_round is Round.evening:
        last = ctx.history(when)["date"].iloc[-1]
        events = round_events(ctx, the_round, _as_date(last), start, run_day=when, now=None)
    else:
        events = round_events(
            ctx, the_round, origin_of(ctx, when), start, session=when, fallback=fallback
        )
    return send(ctx.settings, events)


@contextlib.contextmanager
def _never_fails(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        log.warning("%s notifications not made: %s: %s", what, type(exc).__name__, exc)


# ---------------------------------------------------------------- the events of a round


def round_events(
    ctx: Context,
    round_name: Round,
    day: dt.date | None,
    since: dt.datetime,
    *,
    run_day: dt.date | None = None,
    now: dt.datetime | None = None,
    session: dt.date | None = None,
    fallback: str | None = None,
) -> list[Event]:
    """What a round that started at ``since`` (the store's clock, naive UTC) and answered from
    the data day ``day`` produced: promotions, a changed signal, stale data, the summary.

    The evening: ``run_day`` is the day it ran for, ``now`` the clock (None: the deadline has
    passed, a past day). The pre-open round: ``session`` and its ``fallback`` reason."""
    events: list[Event] = []
    label = round_name.value
    events.extend(_promotions(ctx, label, since))
    if round_name is Round.evening:
        stale = _evening_stale(day, run_day, now)
    else:
        stale = f"the pre-open round of {session} fell back: {fallback}" if fallback else ""
    if stale:
        events.append(Event("stale", f"taiex {label}: stale data", stale, {"reason": stale}))
    if day is None:
        return events
    serving = round_name if not fallback else Round.evening
    signal = _served_signal(ctx, serving, day)
    change = _signal_change(ctx, round_name, day, signal, since) if not fallback else None
    if change:
        events.append(change)
    events.append(_summary(ctx, label, serving, day, signal, fallback))
    return events


def _promotions(ctx: Context, label: str, since: dt.datetime) -> list[Event]:
    events = []
    versions = ctx.registry().versions()
    for version in versions:
        if version.promoted_at is None or version.promoted_at < since:
            continue
        if version.status != "champion":
            continue
        score = (
            f" (score {version.score:.4g} vs the champion's {version.champion_score:.4g})"
            if version.score is not None and version.champion_score is not None
            else ""
        )
        reason = f": {version.decision_reason}" if version.decision_reason else ""
        events.append(
            Event(
                "promoted",
                f"taiex {label}: {version.kind} {version.version} promoted",
                f"{version.version} is the {version.kind} champion{score}{reason}",
                {"kind": version.kind, "version": version.version},
            )
        )
    return events


def _evening_stale(day: dt.date | None, run_day: dt.date | None, now: dt.datetime | None) -> str:
    from taiex.calendar import TAIPEI, sessions_between

    if run_day is None or sessions_between(run_day, run_day) != [run_day]:
        return ""
    if day is not None and day >= run_day:
        return ""
    if now is not None and now < dt.datetime.combine(run_day, STALE_AFTER, TAIPEI):
        return ""
    return (
        f"TWSE has not published {run_day} by {STALE_AFTER:%H:%M} Taipei: the last stored day "
        f"is {day}; the answer is from that day"
    )


def _champions(ctx: Context) -> set[str]:
    return {v.version for v in ctx.registry().versions() if v.promoted_at is not None}


def _served_signal(ctx: Context, round_name: Round, day: dt.date) -> dict[str, Any] | None:
    """The signal a round served from ``day``: its champion's row."""
    rows = ctx.store.signals.of_day(day, round_name=round_name.value)
    return _latest(rows, _champions(ctx))


def _latest(rows: Sequence[dict[str, Any]], champions: set[str]) -> dict[str, Any] | None:
    ranked = [row for row in rows if row["model_version"] in champions] or list(rows)
    return max(ranked, key=lambda row: row["id"]) if ranked else None


def _signal_change(
    ctx: Context,
    round_name: Round,
    day: dt.date,
    signal: dict[str, Any] | None,
    since: dt.datetime,
) -> Event | None:
    from taiex.calendar import sessions_between

    if signal is None or signal["created_at"] < since:  # nothing new this round
        return None
    if round_name is Round.evening:
        # The previous served signal: the pre-open round's for this day's session, or the
        # evening's before it.
        before = [s for s in sessions_between(day - dt.timedelta(days=10), day) if s < day]
        rows = ctx.store.signals.of_day(before[-1]) if before else []
        previous = _latest(rows, _champions(ctx))
        versus = "the previous served signal"
    else:
        previous = _served_signal(ctx, Round.evening, day)
        versus = "the evening's"
    if previous is None or int(previous["signal"]) == int(signal["signal"]):
        return None
    new, old = _label(signal["signal"]), _label(previous["signal"])
    target = _as_date(signal["target_date"])
    return Event(
        "signal-changed",
        f"taiex {round_name.value}: the entry signal for {target} is {new}",
        f"{new} (probability {float(signal['probability']):.2f}) for {target}, was {old} "
        f"({versus}, {previous['round']} round from {_as_date(previous['based_on'])})",
        {
            "signal": int(signal["signal"]),
            "previous": int(previous["signal"]),
            "target": str(target),
        },
    )


def _summary(
    ctx: Context,
    label: str,
    serving: Round,
    day: dt.date,
    signal: dict[str, Any] | None,
    fallback: str | None,
) -> Event:
    from taiex.calendar import next_sessions
    from taiex.kinds import of_round

    lines = []
    facts: dict[str, object] = {"origin": str(day)}
    for spec in of_round(serving):
        if spec.serves != "forecasts":
            continue
        champion = ctx.registry().champion(spec.name)
        rows = ctx.store.forecasts.between(champion.version, day, day) if champion else []
        if rows:
            row = rows[0]
            target = _as_date(row["target_date"])
            lines.append(
                f"forecast for {target}: {float(row['forecast']):,.0f} (80 % band "
                f"{float(row['lower_80']):,.0f} – {float(row['upper_80']):,.0f})"
            )
            facts.update(
                forecast=float(row["forecast"]),
                lower_80=float(row["lower_80"]),
                upper_80=float(row["upper_80"]),
                target=str(target),
            )
    if signal is not None:
        lines.append(
            f"signal for {_as_date(signal['target_date'])}: {_label(signal['signal'])} "
            f"(probability {float(signal['probability']):.2f})"
        )
        facts["signal"] = int(signal["signal"])
    if fallback:
        lines.append(f"the evening's answer stands: {fallback}")
    after = next_sessions(day, 1)[0]
    return Event("summary", f"taiex {label}: {after}", "\n".join(lines) or "nothing served", facts)


def _label(signal: object) -> str:
    return SIGNAL_LABELS.get(int(str(signal)), str(signal))


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date"):
        return value.date()  # type: ignore[no-any-return]
    return dt.date.fromisoformat(str(value)[:10])
