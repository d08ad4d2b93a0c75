"""The replay: every trading day of a range, the daily job as it would have run that evening.

The simulation has a database of its own (:mod:`taiex.simulation.scratch`), filled from the
user's stored history up to the day before the first simulated session. Each simulated evening
adds that session's row, as the day's download would have, then runs the daily job's model steps
(:func:`taiex.pipeline.run_models`: serve, monitor, retrain, promote) for that data day, with the
store's clock set to the evening and the retrain decision passed through the chosen policy. The
steps are the real ones; the simulation only advances the clock and hides the future: a day's
steps never see a later row, because it is not in the database yet. The report and the
evaluation plots are the daily job's faces, not its decisions, and are not drawn.

After each day, what was served and decided is appended to the folder's CSV tables, then the
database is committed; a run stopped at any point resumes at the first day not committed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from taiex import __version__
from taiex.errors import DataError, InputError
from taiex.files import write_atomic
from taiex.kinds.evaluation import as_count
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
    from taiex.monitor import KindSummary
    from taiex.pipeline import Context, DataUpdate, RunSummary
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
    rows = _user_rows(settings, request)
    sessions = [row.date for row in rows if request.start <= row.date <= request.end]
    if not sessions:
        raise DataError(
            f"no stored trading day between {request.start} and {request.end}: "
            "load them first (`taiex backfill` or `taiex import-csv`)"
        )
    folder = RunFolder(out)
    folder.create()
    about = _about(settings, request, sessions)
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
        replay = _Replay(settings, scratch, folder, request, sessions, observer)
        try:
            if done is None:
                replay.seed([row for row in rows if row.date < sessions[0]])
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


def _about(settings: Settings, request: Request, sessions: Sequence[dt.date]) -> About:
    """What the simulation is (kept in ``simulation.json``, copied into the summary)."""
    from taiex.kinds import KINDS

    return {
        "policy": request.policy,
        "period": {"first": sessions[0].isoformat(), "last": sessions[-1].isoformat()},
        "costs": asdict(request.costs),
        "thresholds": {spec.name: spec.threshold(settings) for spec in KINDS},
        "settings": {
            "lstm_naive_margin": settings.lstm_naive_margin,
            "lstm_dm_t_max": settings.lstm_dm_t_max,
            "classifier_trivial_margin": settings.classifier_trivial_margin,
            **{spec.name: spec.params(settings) for spec in KINDS},
        },
        "taiex_version": __version__,
    }


# What must match for a folder's days to belong to the same simulation (the end may move).
_SAME = ("policy", "costs", "thresholds", "settings")


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
    """The scratch database's context and the day-by-day loop over it."""

    def __init__(
        self,
        settings: Settings,
        scratch: ScratchDatabase,
        folder: RunFolder,
        request: Request,
        sessions: Sequence[dt.date],
        observer: Observer,
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
        self.done = 0

    def close(self) -> None:
        self.ctx.close()

    def seed(self, rows: Sequence[DailyRow]) -> None:
        """The history before the first simulated session."""
        if rows:
            self.ctx.store.merge_rows(rows, source="simulation")

    def run_day(self, row: DailyRow) -> None:
        from taiex.pipeline import run_models

        day = row.date
        self.clock.set(day)
        cpu, wall = time.process_time(), time.perf_counter()
        steps = _StepTimer(self.ctx, self.observer, day)
        merged = self.ctx.store.merge_rows([row], source="simulation")
        data: DataUpdate = {
            "inserted": merged.inserted,
            "updated": merged.updated,
            "last_date": str(day),
        }
        result = run_models(self.ctx, data, day, steps)
        steps.close()
        record = _DayRecord.of(self.ctx, day, result, steps)
        cpu_seconds = time.process_time() - cpu
        record.days.append(
            {"date": day, "cpu_seconds": cpu_seconds, "seconds": time.perf_counter() - wall}
        )
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
                tuple(str(v["version"]) for v in record.versions),
                tuple(str(d["challenger"]) for d in record.decisions if d["promoted"]),
            )
        )


class SimulatedClock:
    """The store's clock: the evening of the simulated day (so timestamps repeat on a rerun)."""

    def __init__(self) -> None:
        self.now = dt.datetime.combine(dt.date(1999, 1, 1), EVENING_UTC)

    def set(self, day: dt.date) -> None:
        self.now = dt.datetime.combine(day, EVENING_UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class _StepTimer:
    """Times the job's steps and tells which versions each one registered (its training)."""

    def __init__(self, ctx: Context, observer: Observer, day: dt.date) -> None:
        self.ctx = ctx
        self.observer = observer
        self.day = day
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
        self.observer.step(f"{self.day} {name}")

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

    @classmethod
    def of(cls, ctx: Context, day: dt.date, result: RunSummary, steps: _StepTimer) -> _DayRecord:
        from taiex.kinds import KINDS

        record = cls()
        history = ctx.history(day)
        for spec in KINDS:
            served = result["served"][spec.name]
            rows = _served_rows(ctx, spec, str(served["version"]), day)
            if spec.serves == "forecasts":
                record.forecasts.extend(_forecast_rows(rows, history))
            else:
                record.signals.extend(_signal_rows(rows, history))
            part = result["monitor"][spec.name]
            record.decisions.append(_decision_row(day, spec.name, part, served))
        registry = ctx.registry()
        for version, seconds in steps.trained.items():
            kind_name = version.rsplit("-v", 1)[0]
            registered = registry.get(kind_name, version)
            record.versions.append(
                {
                    "kind": kind_name,
                    "version": version,
                    "train_start": registered.train_start,
                    "train_end": registered.train_end,
                    "trained_on_day": day,
                    "seconds": seconds,
                }
            )
        return record


def _served_rows(ctx: Context, spec: KindSpec, version: str, day: dt.date) -> Rows:
    """The rows the champion stored for the day (what the report would have shown)."""
    rows: Rows = getattr(ctx.store, spec.serves).between(version, day, day)
    return rows


def _forecast_rows(rows: Rows, history: pd.DataFrame) -> Rows:
    horizons = [as_count(row["horizon"]) for row in rows]
    drift = drift_forecast(history["close"].to_numpy(float), max(horizons))
    pairs = zip(rows, horizons, strict=True)
    return [{**row, "drift": drift[h - 1], "actual": None} for row, h in pairs]


def _signal_rows(rows: Rows, history: pd.DataFrame) -> Rows:
    from taiex.features import trivial_score

    tail = history.tail(40).reset_index(drop=True)  # MA20 needs 20 days; the score one day
    trivial = float(trivial_score(tail).iloc[-1])
    close = float(tail["close"].iloc[-1])
    return [
        {
            "date": row["based_on"],
            "probability": row["probability"],
            "signal": row["signal"],
            "label": None,
            "model_version": row["model_version"],
            "trivial": trivial,
            "close": close,
        }
        for row in rows
    ]


def _decision_row(
    day: dt.date, kind: str, part: KindSummary, served: Mapping[str, object]
) -> dict[str, object]:
    challenger: Mapping[str, object] = part.get("challenger") or {}
    return {
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


def _user_rows(settings: Settings, request: Request) -> list[DailyRow]:
    """The user's stored days up to the last simulated one (only read)."""
    store = Store.existing(settings)
    try:
        return store.read_rows(end=request.end)
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
