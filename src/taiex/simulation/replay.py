"""The replay: every trading day of a range, the two rounds of the day as they would have run.

The simulation has a database of its own (:mod:`taiex.simulation.scratch`), filled from the
user's stored history up to the day before the first simulated session, and with the user's
stored US closes. Each simulated session S runs its two rounds (docs/design.md, "Two rounds a
day"):

- the **pre-open round** of S, at ``TAIEX_PREOPEN_TIME`` (07:30) Taipei on S, before S's row is
  in the database: the night from the stored US closes, each pre-open kind's answer from the
  last stored day (the evening's answer standing, with the reason, when a close the night needs
  is not stored), then their monitoring and retraining (:class:`_PreopenRound`, the steps of
  :func:`taiex.preopen_run.run_preopen` after its downloads);
- the **evening round** after S's close: S's row is added, as the day's download would have, then
  the daily job's model steps (:func:`taiex.pipeline.run_models`: serve, monitor, retrain,
  promote) run for that data day.

The store's clock is set to each round's time and the retrain decision passed through the chosen
policy. The steps are the real ones; the simulation only advances the clock and hides the
future: a round never sees a later TWSE row, because it is not in the database yet. The US
closes are all copied at the start, later ones included: which of them a round may use is the
night computation's rule (:mod:`taiex.overnight`: a close counts only from 30 minutes after its
session's close), the same rule the live round and the backtests follow, so the copy is what the
live store would have held, less what a late or failed download would have missed. With
``TAIEX_OVERNIGHT_SOURCE=none``, or no US close of the configured symbols stored, only the
evening round is replayed, and the summary says why. The report and the evaluation plots are the
daily job's faces, not its decisions, and are not drawn.

After each session, what both rounds served and decided is appended to the folder's CSV tables,
then the database is committed; a run stopped at any point resumes at the first session not
committed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from taiex import __version__
from taiex.errors import DataError, InputError
from taiex.files import write_atomic
from taiex.kinds.evaluation import as_count
from taiex.rounds import Round
from taiex.settings import Settings
from taiex.simulation import policies
from taiex.simulation.records import (
    DAYS,
    DECISIONS,
    FORECASTS,
    SIGNALS,
    VERSIONS,
    RunFolder,
)
from taiex.simulation.scratch import ScratchDatabase
from taiex.simulation.summary import About, Costs, Summary, drift_forecast, summarise
from taiex.source import DailyRow
from taiex.store import Store

if TYPE_CHECKING:
    from taiex.etl import MonthLoad
    from taiex.kinds import KindSpec
    from taiex.pipeline import Context, DataUpdate
    from taiex.simulation.records import Table

log = logging.getLogger(__name__)

# The evening the daily job runs (Taipei 18:00 is 10:00 UTC): the store's clock on a simulated day.
EVENING_UTC = dt.time(10, 0)


@dataclass(frozen=True)
class Request:
    """What to simulate: the sessions in ``[start, end]``, by ``policy``, trading at ``costs``."""

    start: dt.date
    end: dt.date
    policy: str = policies.CONFIGURED
    costs: Costs = field(default_factory=Costs)

    def __post_init__(self) -> None:
        policies.check(self.policy)
        if self.end < self.start:
            raise InputError(f"--to {self.end} is before --from {self.start}")


@dataclass(frozen=True)
class DayDone:
    """One simulated evening, for whoever shows the progress."""

    day: dt.date
    done: int  # sessions done so far, this one included
    total: int
    cpu_seconds: float
    trained: tuple[str, ...]  # versions trained this evening
    promoted: tuple[str, ...]


class Observer(Protocol):
    """Told what the replay does (the CLI's progress bar)."""

    def started(self, total: int, done: int) -> None: ...

    def step(self, name: str) -> None: ...

    def day_done(self, day: DayDone) -> None: ...


class Quiet:
    def started(self, total: int, done: int) -> None:
        pass

    def step(self, name: str) -> None:
        pass

    def day_done(self, day: DayDone) -> None:
        pass


@dataclass(frozen=True)
class Outcome:
    folder: Path
    summary: Summary
    days_run: int  # sessions simulated by this call (the others were done before)


def simulate(
    settings: Settings, out: Path, request: Request, observer: Observer | None = None
) -> Outcome:
    """Replay ``request``'s sessions into the folder ``out`` (resuming what it holds) and write
    its summary and page; the user's database is only read."""
    observer = observer or Quiet()
    rows, closes = _user_data(settings, request)
    sessions = [row.date for row in rows if request.start <= row.date <= request.end]
    if not sessions:
        raise DataError(
            f"no stored trading day between {request.start} and {request.end}: "
            "load them first (`taiex backfill` or `taiex import-csv`)"
        )
    folder = RunFolder(out)
    folder.create()
    about = _about(settings, request, sessions, preopen_off(settings, closes))
    _check_folder(folder, about)
    scratch = ScratchDatabase(out)
    done = scratch.last_day()
    if done is not None and done > sessions[-1]:
        raise InputError(
            f"{out} holds sessions up to {done}, after --to {request.end}: choose another --out"
        )
    scratch.restore()
    folder.truncate_after(done)
    todo = [day for day in sessions if done is None or day > done]
    observer.started(len(sessions), len(sessions) - len(todo))
    by_day = {row.date: row for row in rows}
    ran = 0
    if todo:
        preopen = Round.pre_open.value in about["rounds"]
        replay = _Replay(settings, scratch, folder, request, sessions, observer, preopen=preopen)
        try:
            if done is None:
                replay.seed([row for row in rows if row.date < sessions[0]], closes)
            for day in todo:
                replay.run_day(by_day[day])
                ran += 1
        finally:
            replay.close()
    summary = finish(folder, rows, about, request.costs)
    return Outcome(out, summary, ran)


def finish(folder: RunFolder, rows: Sequence[DailyRow], about: About, costs: Costs) -> Summary:
    """Write the outcomes into the tables, then ``summary.json`` and ``index.html``."""
    from taiex.simulation.page import write_page

    last = about["period"]["last"]
    folder.fill_outcomes(_frame([row for row in rows if row.date.isoformat() <= last]))
    summary = summarise(folder, costs, about)
    text = json.dumps(summary, indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomic(folder.path / RunFolder.SUMMARY, text.encode("utf-8"))
    write_page(folder, summary, costs)
    return summary


# ---------------------------------------------------------------- the folder's settings

Closes = dict[str, dict[dt.date, Decimal]]  # symbol -> US date -> close


def preopen_off(settings: Settings, closes: Closes) -> str | None:
    """Why the pre-open round is not replayed (None when it is): the source is ``none``, or no
    US close of the configured symbols is stored."""
    if settings.overnight_source == "none":
        return f"{settings.origin('overnight_source')}=none: the pre-open round is off"
    if not any(closes.values()):
        return (
            f"no US close of {', '.join(settings.symbols)} is stored: load them first "
            "(`taiex overnight update`, or `taiex overnight import-csv FILE`)"
        )
    return None


def _about(
    settings: Settings, request: Request, sessions: Sequence[dt.date], off: str | None
) -> About:
    """What the simulation is (kept in ``simulation.json``, copied into the summary)."""
    from taiex.kinds import KINDS, PREOPEN_KINDS

    kinds = KINDS if off else KINDS + PREOPEN_KINDS
    rounds = [Round.evening.value] + ([] if off else [Round.pre_open.value])
    overnight: dict[str, object] = {}
    if not off:
        overnight = {
            "overnight_symbols": list(settings.symbols),
            "preopen_time": settings.preopen.strftime("%H:%M"),
        }
    return {
        "policy": request.policy,
        "period": {"first": sessions[0].isoformat(), "last": sessions[-1].isoformat()},
        "rounds": rounds,
        "preopen_off": off,
        "costs": asdict(request.costs),
        "thresholds": {spec.name: spec.threshold(settings) for spec in kinds},
        "settings": {
            "lstm_naive_margin": settings.lstm_naive_margin,
            "lstm_dm_t_max": settings.lstm_dm_t_max,
            "classifier_trivial_margin": settings.classifier_trivial_margin,
            **overnight,
            **{spec.name: spec.params(settings) for spec in kinds},
        },
        "taiex_version": __version__,
    }


# What must match for a folder's days to belong to the same simulation (the end may move).
_SAME = ("policy", "rounds", "costs", "thresholds", "settings")


def _check_folder(folder: RunFolder, about: About) -> None:
    path = folder.path / RunFolder.SETTINGS
    first = about["period"]["first"]
    if path.exists():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from exc
        different = [key for key in _SAME if kept.get(key) != about.get(key)]
        if kept.get("period", {}).get("first") != first:
            different.insert(0, "the first day")
        if different:
            raise InputError(
                f"{folder.path} holds another simulation ({', '.join(different)}: not the "
                "same); choose another --out, or remove it to start again"
            )
    text = json.dumps({k: v for k, v in about.items()}, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"))


# ---------------------------------------------------------------- the replay


class _Replay:
    """The scratch database's context and the session-by-session loop over it."""

    def __init__(
        self,
        settings: Settings,
        scratch: ScratchDatabase,
        folder: RunFolder,
        request: Request,
        sessions: Sequence[dt.date],
        observer: Observer,
        *,
        preopen: bool,
    ) -> None:
        from taiex.pipeline import Context

        self.clock = SimulatedClock()
        scratch_settings = settings.replace(home=folder.path / "home", db_url=scratch.url)
        store = Store(scratch.url, clock=self.clock)
        store.upgrade()
        policy = policies.build(request.policy, sessions)
        self.ctx = Context(scratch_settings, store, policy=policy, draw=False)
        self.scratch = scratch
        self.folder = folder
        self.sessions = sessions
        self.observer = observer
        self.preopen = preopen
        self.done = 0

    def close(self) -> None:
        self.ctx.close()

    def seed(self, rows: Sequence[DailyRow], closes: Closes) -> None:
        """The history before the first simulated session, and every stored US close of the
        configured symbols (a round uses only those published by its time)."""
        from taiex.overnight_source import UsClose

        if rows:
            self.ctx.store.merge_rows(rows, source="simulation")
        if self.preopen:
            us = [
                UsClose(symbol, day, close)
                for symbol, stored in closes.items()
                for day, close in sorted(stored.items())
            ]
            self.ctx.store.overnight.merge(us, source="simulation")

    def run_day(self, row: DailyRow) -> None:
        """Both rounds of the session ``row.date``: its pre-open round, then its evening."""
        day = row.date
        record = _DayRecord()
        cpu = time.process_time()
        trained: list[str] = []
        if self.preopen:
            trained += self._preopen(day, record)
        trained += self._evening(row, record)
        cpu_seconds = time.process_time() - cpu
        for table, rows in record.tables():
            self.folder.append(table, rows)
        self.scratch.commit()
        self.done += 1
        self.observer.day_done(
            DayDone(
                day,
                self.sessions.index(day) + 1,
                len(self.sessions),
                cpu_seconds,
                tuple(trained),
                tuple(str(d["challenger"]) for d in record.decisions if d["promoted"]),
            )
        )

    def _evening(self, row: DailyRow, record: _DayRecord) -> list[str]:
        """The daily job's model steps after the session's close, with its row added."""
        from taiex.kinds import KINDS
        from taiex.pipeline import run_models

        day = row.date
        self.clock.set(day)
        cpu, wall = time.process_time(), time.perf_counter()
        steps = _StepTimer(self.ctx, self.observer, f"{day}")
        merged = self.ctx.store.merge_rows([row], source="simulation")
        data: DataUpdate = {
            "inserted": merged.inserted,
            "updated": merged.updated,
            "last_date": str(day),
        }
        result = run_models(self.ctx, data, day, steps)
        steps.close()
        history = self.ctx.history(day)
        evening = Round.evening
        for spec in KINDS:
            served = result["served"][spec.name]
            rows = _served_rows(self.ctx, spec, str(served["version"]), day)
            record.add_served(spec, rows, history, evening)
            part = result["monitor"][spec.name]
            record.decisions.append(_decision_row(day, evening, spec.name, part, served))
        record.add_versions(self.ctx, steps, day, evening)
        record.days.append(_day_row(day, evening, cpu, wall, None))
        return list(steps.trained)

    def _preopen(self, session: dt.date, record: _DayRecord) -> list[str]:
        """The pre-open round of ``session``: the steps of :func:`taiex.preopen_run.run_preopen`
        after its downloads (the US closes are in the scratch database already; TWSE's row of
        ``session`` is not, and the last stored day is the origin)."""
        from taiex.kinds import PREOPEN_KINDS
        from taiex.overnight import round_time
        from taiex.preopen_run import answer_round, origin_of

        ctx = self.ctx
        self.clock.set_moment(round_time(session, ctx.settings.preopen))
        cpu, wall = time.process_time(), time.perf_counter()
        steps = _StepTimer(ctx, self.observer, f"{session} pre-open")
        origin = origin_of(ctx, session)
        steps.step("night")
        history = ctx.history(origin)
        result = answer_round(ctx, session, origin, step=steps.step)
        fallback, served, monitored = result.fallback, result.served, result.monitored
        steps.close()
        pre_open = Round.pre_open
        for spec in PREOPEN_KINDS:
            source = spec if fallback is None else _evening_kind(spec)
            if source is None:  # no evening kind serves what it serves: nothing stands
                continue
            answer = served[source.name]
            rows = _served_rows(ctx, source, str(answer["version"]), origin)
            record.add_served(spec, rows, history, pre_open)
            record.decisions.append(
                _decision_row(session, pre_open, spec.name, monitored[spec.name], answer)
            )
        record.add_versions(ctx, steps, session, pre_open)
        record.days.append(_day_row(session, pre_open, cpu, wall, fallback))
        return list(steps.trained)


def _evening_kind(spec: KindSpec) -> KindSpec | None:
    """The evening kind whose answer stands for the pre-open kind ``spec`` (it serves the same)."""
    from taiex.kinds import KINDS

    return next((kind for kind in KINDS if kind.serves == spec.serves), None)


def _day_row(
    day: dt.date, round_name: Round, cpu: float, wall: float, fallback: str | None
) -> dict[str, object]:
    return {
        "round": round_name.value,
        "date": day,
        "cpu_seconds": time.process_time() - cpu,
        "seconds": time.perf_counter() - wall,
        "fallback": fallback,
    }


class SimulatedClock:
    """The store's clock: the round's time on the simulated day (so timestamps repeat on a
    rerun), in UTC."""

    def __init__(self) -> None:
        self.now = dt.datetime.combine(dt.date(1999, 1, 1), EVENING_UTC)

    def set(self, day: dt.date) -> None:
        """The evening of ``day``."""
        self.now = dt.datetime.combine(day, EVENING_UTC)

    def set_moment(self, moment: dt.datetime) -> None:
        """An aware moment (the pre-open round's)."""
        self.now = moment.astimezone(dt.UTC).replace(tzinfo=None)

    def __call__(self) -> dt.datetime:
        return self.now


class _StepTimer:
    """Times a round's steps and tells which versions each one registered (its training)."""

    def __init__(self, ctx: Context, observer: Observer, label: str) -> None:
        self.ctx = ctx
        self.observer = observer
        self.label = label
        self.known = {v.version for v in ctx.registry().versions()}
        self.current: tuple[str, float] | None = None
        self.trained: dict[str, float] = {}  # version -> seconds of the step that trained it

    # The pipeline's Progress protocol.
    def loading(self, months: int, to_fetch: int, interval: float) -> None:
        pass

    def loaded(self, load: MonthLoad) -> None:
        pass

    def step(self, name: str) -> None:
        self._end_step()
        self.current = (name, time.perf_counter())
        self.observer.step(f"{self.label} {name}")

    def close(self) -> None:
        self._end_step()

    def _end_step(self) -> None:
        if self.current is None:
            return
        _, started = self.current
        seconds = time.perf_counter() - started
        versions = {v.version for v in self.ctx.registry().versions()}
        for version in sorted(versions - self.known):
            self.trained[version] = seconds
        self.known = versions
        self.current = None


Rows = list[dict[str, object]]


@dataclass
class _DayRecord:
    """What a session's rounds served and decided, as the rows of the folder's tables."""

    forecasts: Rows = field(default_factory=list)
    signals: Rows = field(default_factory=list)
    decisions: Rows = field(default_factory=list)
    versions: Rows = field(default_factory=list)
    days: Rows = field(default_factory=list)

    def tables(self) -> list[tuple[Table, Rows]]:
        return [
            (FORECASTS, self.forecasts),
            (SIGNALS, self.signals),
            (DECISIONS, self.decisions),
            (VERSIONS, self.versions),
            (DAYS, self.days),
        ]

    def add_served(
        self, spec: KindSpec, rows: Rows, history: pd.DataFrame, round_name: Round
    ) -> None:
        """The rows served for ``spec`` (the kind of the round) from ``history``'s last day."""
        if spec.serves == "forecasts":
            self.forecasts.extend(_forecast_rows(rows, history, round_name))
        else:
            self.signals.extend(_signal_rows(rows, history, round_name))

    def add_versions(
        self, ctx: Context, steps: _StepTimer, day: dt.date, round_name: Round
    ) -> None:
        registry = ctx.registry()
        for version, seconds in steps.trained.items():
            kind_name = version.rsplit("-v", 1)[0]
            registered = registry.get(kind_name, version)
            self.versions.append(
                {
                    "round": round_name.value,
                    "kind": kind_name,
                    "version": version,
                    "train_start": registered.train_start,
                    "train_end": registered.train_end,
                    "trained_on_day": day,
                    "seconds": seconds,
                }
            )


def _served_rows(ctx: Context, spec: KindSpec, version: str, day: dt.date) -> Rows:
    """The rows the champion stored for the day (what the report would have shown)."""
    rows: Rows = getattr(ctx.store, spec.serves).between(version, day, day)
    return rows


def _forecast_rows(rows: Rows, history: pd.DataFrame, round_name: Round) -> Rows:
    if not rows:
        return []
    horizons = [as_count(row["horizon"]) for row in rows]
    drift = drift_forecast(history["close"].to_numpy(float), max(horizons))
    pairs = zip(rows, horizons, strict=True)
    return [
        {**row, "round": round_name.value, "drift": drift[h - 1], "actual": None}
        for row, h in pairs
    ]


def _signal_rows(rows: Rows, history: pd.DataFrame, round_name: Round) -> Rows:
    from taiex.features import trivial_score

    tail = history.tail(40).reset_index(drop=True)  # MA20 needs 20 days; the score one day
    trivial = float(trivial_score(tail).iloc[-1])
    close = float(tail["close"].iloc[-1])
    # The evening trades at the day's close; the pre-open round at the next open (an outcome).
    trade_price = close if round_name is Round.evening else None
    return [
        {
            "round": round_name.value,
            "date": row["based_on"],
            "probability": row["probability"],
            "signal": row["signal"],
            "label": None,
            "model_version": row["model_version"],
            "trivial": trivial,
            "close": close,
            "trade_price": trade_price,
        }
        for row in rows
    ]


def _decision_row(
    day: dt.date,
    round_name: Round,
    kind: str,
    part: Mapping[str, Any],
    served: Mapping[str, object],
) -> dict[str, object]:
    challenger: Mapping[str, object] = part.get("challenger") or {}
    return {
        "round": round_name.value,
        "date": day,
        "kind": kind,
        "champion": (part.get("evaluation") or {}).get("model_version"),
        "metric": part.get("metric"),
        "baseline": part.get("baseline"),
        "threshold": part.get("threshold"),
        "retrain": bool(part.get("retrain")),
        "reason": part.get("reason"),
        "challenger": challenger.get("version"),
        "challenger_score": challenger.get("score"),
        "champion_score": challenger.get("champion_score"),
        "promoted": bool(challenger.get("promoted")),
        "served_by": served["version"],
    }


def _user_data(settings: Settings, request: Request) -> tuple[list[DailyRow], Closes]:
    """The user's stored days up to the last simulated one, and the stored US closes of the
    configured symbols (none when the overnight source is ``none``); only read."""
    store = Store.existing(settings)
    try:
        rows = store.read_rows(end=request.end)
        closes: Closes = {}
        if settings.overnight_source != "none":
            closes = dict(store.overnight.closes(settings.symbols))
        return rows, closes
    finally:
        store.dispose()


def _frame(rows: Sequence[DailyRow]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(r.date, float(r.open), float(r.high), float(r.low), float(r.close)) for r in rows],
        columns=["date", "open", "high", "low", "close"],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


Callback = Callable[[DayDone], None]
