"""The report's pre-open facts: did the night move the outlook? (docs/design.md, "Two rounds a
day"; issue 21).

The pre-open round for the TAIEX session after the last stored day (the *origin*, the evening's
data day) is issued at ``TAIEX_PREOPEN_TIME`` (07:30 Taipei) with the night's US closes. The
report puts what each pre-open kind served from that origin beside what the evening kind that
serves the same thing (``KindSpec.serves``: forecasts, signals) served from it, says what
changed, and shows the night's moves as the round computes them (:func:`taiex.overnight.nights`,
:func:`taiex.overnight.night_moves`, from the stored closes). When the round has not served for
that origin (not due yet, a close missing, not run), it says so, and the evening's figures
stand. Each pre-open kind's monitoring comes from its own rows of its evaluation table (its
round's).

Like :mod:`taiex.report.facts`, nothing here loads a model: every figure is a stored row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taiex.errors import DataError
from taiex.kinds import KINDS, PREOPEN_KINDS, KindSpec
from taiex.models.registry import ModelVersion
from taiex.report.facts import (
    ChampionFacts,
    ForecastFacts,
    ForecastRow,
    SignalFacts,
    champion_facts,
    forecast_facts,
    signal_facts,
    version_kind,
)
from taiex.settings import Settings
from taiex.store import Store

PREOPEN_RUN = "taiex run --round pre-open"
# Differences smaller than this (index points) are "no change".
UNCHANGED_POINTS = 0.5


# ---------------------------------------------------------------- the night


@dataclass(frozen=True)
class SymbolMove:
    """One symbol's move over the night: ``move`` the log move (None: unknown, a close the
    round needs is not stored), ``quiet`` when no US session closed (0, flagged)."""

    symbol: str
    move: float | None
    base_close: float | None  # the close known at TAIEX's close on the origin day
    last_close: float | None  # the last close known at the round's time
    quiet: bool

    @property
    def percent(self) -> float | None:
        """The move as a percentage change of the close."""
        return None if self.move is None else math.expm1(self.move) * 100.0

    @property
    def flag(self) -> str | None:
        if self.quiet:
            return "quiet: no US session closed, counted as 0"
        if self.move is None:
            return "unknown: a close is not stored"
        return None


@dataclass(frozen=True)
class NightFacts:
    """The night before the round: the US sessions closed after ``base`` up to ``last``."""

    base: dt.date | None
    last: dt.date | None
    sessions: tuple[dt.date, ...]
    moves: tuple[SymbolMove, ...]
    problem: str | None  # why the round cannot be computed (a close it needs is not stored)

    @property
    def quiet(self) -> bool:
        return not self.sessions

    @property
    def known(self) -> bool:
        """Whether any symbol's move is known (or the night is quiet)."""
        return any(m.move is not None for m in self.moves)

    @property
    def largest(self) -> SymbolMove | None:
        """The known move of largest size (None on a quiet night or when none is known)."""
        known = [m for m in self.moves if m.move is not None and not m.quiet]
        return max(known, key=lambda m: abs(m.move or 0.0)) if known else None

    @property
    def sessions_text(self) -> str:
        if not self.sessions:
            return "none"
        return ", ".join(day.isoformat() for day in self.sessions)


# ---------------------------------------------------------------- the answers


@dataclass(frozen=True)
class ForecastChange:
    """One target date: the evening's forecast and the pre-open one (either may be missing)."""

    horizon: int
    date: dt.date
    evening: ForecastRow | None
    preopen: ForecastRow | None

    @property
    def difference(self) -> float | None:
        """Pre-open minus evening, in index points."""
        if self.evening is None or self.preopen is None:
            return None
        return self.preopen.forecast - self.evening.forecast

    @property
    def difference_pct(self) -> float | None:
        if self.difference is None or self.evening is None or not self.evening.forecast:
            return None
        return self.difference / self.evening.forecast * 100.0


@dataclass(frozen=True)
class ForecastComparison:
    """A pre-open kind serving forecasts, beside the evening kind serving them, from one origin."""

    spec: KindSpec
    evening_spec: KindSpec | None
    preopen: ForecastFacts | None
    evening: ForecastFacts | None
    rows: tuple[ForecastChange, ...]

    @property
    def served(self) -> bool:
        return self.preopen is not None

    @property
    def first(self) -> ForecastChange | None:
        return self.rows[0] if self.rows else None


@dataclass(frozen=True)
class SignalComparison:
    """A pre-open kind serving signals, beside the evening kind serving them, from one day."""

    spec: KindSpec
    evening_spec: KindSpec | None
    preopen: SignalFacts | None
    evening: SignalFacts | None

    @property
    def served(self) -> bool:
        return self.preopen is not None


@dataclass(frozen=True)
class PreopenFacts:
    """The pre-open round for ``session``, from the data to ``origin``, beside the evening's.

    ``ever``: whether the round ever served or was monitored; when it is False the other fields
    but the dates are empty (the page says so in one line)."""

    origin: dt.date
    session: dt.date
    issued_at: dt.datetime  # aware, Taipei
    due: bool  # the report was written after the round's time
    ever: bool
    night: NightFacts | None
    forecasts: tuple[ForecastComparison, ...] = ()
    signals: tuple[SignalComparison, ...] = ()
    champions: tuple[ChampionFacts, ...] = ()
    last_served: dt.date | None = None  # the latest origin any pre-open kind served from

    @property
    def served(self) -> bool:
        """Whether a pre-open kind served from ``origin``."""
        return any(c.served for c in self.forecasts) or any(c.served for c in self.signals)

    @property
    def status(self) -> str:
        """The round's state in one plain sentence (commands in backticks)."""
        time = f"{self.issued_at:%H:%M} Taipei on {self.session}"
        if self.served:
            return (
                f"Refreshed for the session of {self.session} with the night's US closes "
                f"(the round of {time}), from the data to {self.origin}."
            )
        earlier = (
            f" It last served from the data to {self.last_served}."
            if self.last_served and self.last_served != self.origin
            else ""
        )
        if not self.due:
            return (
                f"The pre-open round for {self.session} is due at {time}, once New York has "
                f"closed: until then the evening's figures stand.{earlier}"
            )
        if self.night is not None and self.night.problem is not None:
            return (
                f"The pre-open round for {self.session} has not served from the data to "
                f"{self.origin}: {self.night.problem}. The evening's figures stand "
                f"(`taiex overnight update`, then `{PREOPEN_RUN}`).{earlier}"
            )
        return (
            f"The pre-open round for {self.session} has not served from the data to "
            f"{self.origin} (not run, or it fell back): the evening's figures stand "
            f"(`{PREOPEN_RUN}`).{earlier}"
        )

    @property
    def changes(self) -> list[str]:
        """What changed since the evening, and why, in plain sentences."""
        lines = []
        for comparison in self.forecasts:
            line = _forecast_change(comparison, self.night)
            if line:
                lines.append(line)
        for signal in self.signals:
            line = _signal_change(signal)
            if line:
                lines.append(line)
        return lines

    @property
    def summary(self) -> str:
        """One line for ``taiex status``."""
        if not self.ever:
            return f"none yet: `{PREOPEN_RUN}` refreshes the forecast before the open"
        if not self.served:
            return self.status
        return " ".join([f"{self.session} from {self.origin}:", *self.changes])


def _night_words(night: NightFacts | None) -> str:
    if night is None or not night.known:
        return "With the night's moves unknown,"
    if night.quiet:
        return "With no US session closed overnight (every move 0, flagged),"
    largest = night.largest
    if largest is None or largest.percent is None:
        return "After the night,"
    others = [
        f"{m.symbol} {m.percent:+.1f} %"
        for m in night.moves
        if m is not largest and m.percent is not None
    ]
    rest = f"; {', '.join(others)}" if others else ""
    return f"The night's {largest.symbol} {largest.percent:+.1f} % (its largest move{rest})"


def _forecast_change(comparison: ForecastComparison, night: NightFacts | None) -> str | None:
    first = comparison.first
    if first is None or first.evening is None or first.preopen is None:
        return None
    difference = first.difference or 0.0
    evening, preopen = first.evening, first.preopen
    if abs(difference) < UNCHANGED_POINTS:
        moved = (
            f"left the first open ({first.date}) where the evening put it, {preopen.forecast:,.2f}"
        )
    else:
        direction = "up" if difference > 0 else "down"
        moved = (
            f"moved the first open ({first.date}) {direction} {abs(difference):,.0f} points "
            f"({first.difference_pct or 0.0:+.2f} %), from the evening's {evening.forecast:,.2f} "
            f"to {preopen.forecast:,.2f}"
        )
    line = f"{_night_words(night)} {moved}."
    before, after = _side(evening), _side(preopen)
    if before != after:
        line += (
            f" It now puts the open {after} the last close {preopen.naive:,.2f}, where the "
            f"evening put it {before}."
        )
    width_before = evening.upper_80 - evening.lower_80
    width_after = preopen.upper_80 - preopen.lower_80
    line += (
        f" Its 80 % band is {width_after:,.0f} points wide (the evening's: {width_before:,.0f})."
    )
    return line


def _side(row: ForecastRow) -> str:
    if row.forecast > row.naive:
        return "above"
    return "below" if row.forecast < row.naive else "at"


def _signal_change(comparison: SignalComparison) -> str | None:
    evening, preopen = comparison.evening, comparison.preopen
    if preopen is None:
        return None
    refreshed = f"{preopen.verdict} ({preopen.probability * 100:.0f} %)"
    if evening is None:
        return f"The refreshed entry signal for {preopen.date}: {refreshed}; no evening signal."
    was = f"{evening.verdict} ({evening.probability * 100:.0f} %)"
    if evening.signal == preopen.signal:
        return f"The entry signal for {preopen.date} stays {preopen.verdict}: {was} → {refreshed}."
    return f"The entry signal for {preopen.date} turned: {was} → {refreshed}."


# ---------------------------------------------------------------- reading the database


def gather_preopen(
    store: Store,
    settings: Settings,
    now: dt.datetime,
    last_day: dt.date | None,
    champions: Mapping[str, ModelVersion | None],
    evaluations: Mapping[str, Sequence[Mapping[str, Any]]],
) -> PreopenFacts | None:
    """The pre-open round from ``last_day`` (the last stored TAIEX day) beside the evening's;
    None when the round is off, there is no data, or the day is outside the calendar."""
    if settings.overnight_source == "none" or last_day is None or not PREOPEN_KINDS:
        return None
    from taiex.calendar import next_sessions
    from taiex.overnight import round_time

    try:
        session = next_sessions(last_day, 1)[0]
    except DataError:  # a stored day past the calendar: taiex status names it
        return None
    issued_at = round_time(session, settings.preopen)
    due = now.replace(tzinfo=dt.UTC) >= issued_at
    last_served = _last_served(store)
    ever = last_served is not None or any(
        champions.get(spec.name) or evaluations.get(spec.name) for spec in PREOPEN_KINDS
    )
    if not ever:
        return PreopenFacts(last_day, session, issued_at, due, ever=False, night=None)
    return PreopenFacts(
        origin=last_day,
        session=session,
        issued_at=issued_at,
        due=due,
        ever=True,
        night=_night(store, settings, last_day, session),
        forecasts=tuple(
            _forecast_comparison(store, spec, last_day, champions)
            for spec in PREOPEN_KINDS
            if spec.serves == "forecasts"
        ),
        signals=tuple(
            _signal_comparison(store, spec, last_day, champions)
            for spec in PREOPEN_KINDS
            if spec.serves == "signals"
        ),
        champions=champion_facts(PREOPEN_KINDS, champions, evaluations, settings),
        last_served=last_served,
    )


def _last_served(store: Store) -> dt.date | None:
    """The latest origin any pre-open kind served from."""
    days: list[dt.date] = []
    for spec in PREOPEN_KINDS:
        if spec.serves == "forecasts":
            rows = store.forecasts.latest(None, round_name=spec.round.value)
            days += [row["origin_date"] for row in rows[:1]]
        elif spec.serves == "signals":
            row = store.signals.latest(None, round_name=spec.round.value)
            days += [row["based_on"]] if row else []
    return max(days, default=None)


def _night(store: Store, settings: Settings, origin: dt.date, session: dt.date) -> NightFacts:
    """The night of ``origin`` before the round of ``session``, each symbol's move computed as
    the round computes it (one symbol at a time, so that one missing close leaves the others)."""
    from taiex.overnight import MissingCloseError, night_moves, nights

    night = nights([origin], [session], settings.preopen)[0]
    since = min(night.base or origin, origin) - dt.timedelta(days=10)
    closes = store.overnight.closes(settings.symbols, since=since)
    moves, problem = [], None
    for symbol in settings.symbols:
        stored = closes.get(symbol, {})
        base = stored.get(night.base) if night.base else None
        last = stored.get(night.last) if night.last else None
        known = (
            float(base) if base is not None else None,
            float(last) if last is not None else None,
        )
        try:
            (move,) = night_moves(night, closes, [symbol])
        except MissingCloseError as exc:
            problem = problem or str(exc)
            moves.append(SymbolMove(symbol, None, *known, quiet=False))
            continue
        moves.append(SymbolMove(symbol, move.value, *known, quiet=move.flagged))
    return NightFacts(night.base, night.last, night.sessions, tuple(moves), problem)


def _evening_of(spec: KindSpec) -> KindSpec | None:
    """The evening kind serving what ``spec`` serves."""
    return next((s for s in KINDS if s.serves == spec.serves), None)


def _pick(
    rows: Sequence[Mapping[str, Any]], spec: KindSpec, champion: ModelVersion | None
) -> list[Mapping[str, Any]]:
    """``spec``'s rows among ``rows``: its champion's, else its latest-made version's."""
    own = [row for row in rows if version_kind(str(row["model_version"])) == spec.name]
    if not own:
        return []
    versions = {str(row["model_version"]) for row in own}
    if champion is not None and champion.version in versions:
        chosen = champion.version
    else:
        chosen = str(max(own, key=lambda row: (row["created_at"], row["id"]))["model_version"])
    return [row for row in own if row["model_version"] == chosen]


def _forecast_at(
    store: Store, spec: KindSpec | None, origin: dt.date, champions: Mapping[str, Any]
) -> ForecastFacts | None:
    if spec is None:
        return None
    champion = champions.get(spec.name)
    rows = _pick(store.forecasts.of_origin(origin, round_name=spec.round.value), spec, champion)
    return forecast_facts(rows, champion) if rows else None


def _forecast_comparison(
    store: Store, spec: KindSpec, origin: dt.date, champions: Mapping[str, Any]
) -> ForecastComparison:
    evening_spec = _evening_of(spec)
    preopen = _forecast_at(store, spec, origin, champions)
    evening = _forecast_at(store, evening_spec, origin, champions)
    by_date: dict[dt.date, dict[str, ForecastRow]] = {}
    for name, facts in (("evening", evening), ("preopen", preopen)):
        for row in facts.rows if facts else ():
            by_date.setdefault(row.date, {})[name] = row
    rows = tuple(
        ForecastChange(
            horizon=(found.get("preopen") or found["evening"]).horizon,
            date=day,
            evening=found.get("evening"),
            preopen=found.get("preopen"),
        )
        for day, found in sorted(by_date.items())
    )
    return ForecastComparison(spec, evening_spec, preopen, evening, rows)


def _signal_at(
    store: Store, spec: KindSpec | None, day: dt.date, champions: Mapping[str, Any]
) -> SignalFacts | None:
    if spec is None:
        return None
    champion = champions.get(spec.name)
    rows = _pick(store.signals.of_day(day, round_name=spec.round.value), spec, champion)
    return signal_facts(rows[0], champion) if rows else None


def _signal_comparison(
    store: Store, spec: KindSpec, day: dt.date, champions: Mapping[str, Any]
) -> SignalComparison:
    evening_spec = _evening_of(spec)
    return SignalComparison(
        spec,
        evening_spec,
        preopen=_signal_at(store, spec, day, champions),
        evening=_signal_at(store, evening_spec, day, champions),
    )
