"""The progress bars of the ``taiex`` command, on stderr: months loaded (with an ETA that knows
the rate limit) and sessions replayed. Each appears only once its work starts, so a command
refused at once prints its one error line and nothing else."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from taiex.console import stderr

if TYPE_CHECKING:
    from taiex.etl import MonthLoad
    from taiex.simulation.replay import DayDone

log = logging.getLogger("taiex")


class LoadProgress:
    """The pipeline's progress as a Rich bar of months with an ETA (shown only once loading
    starts, so a run refused by the lock prints its one line and nothing else)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._eta: EtaColumn | None = None

    def __enter__(self) -> LoadProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def loading(self, months: int, to_fetch: int, interval: float) -> None:
        if not months:
            return
        self._eta = EtaColumn(to_fetch, months - to_fetch, interval)
        columns = (BarColumn(), MofNCompleteColumn(), TextColumn("months"), self._eta)
        self._bar = Progress(TextColumn("[bold]{task.description}"), *columns, console=stderr)
        self._bar.start()
        self._task = self._bar.add_task("loading", total=months)

    def loaded(self, load: MonthLoad) -> None:
        if self._bar is None or self._eta is None or self._task is None:
            return
        self._eta.done(load.source == "twse", load.seconds)
        self._bar.update(self._task, advance=1, description=f"loaded {load.month}")

    def step(self, name: str) -> None:
        if self._bar is not None and name != "data":
            self._bar.stop()
            self._bar = None
        log.info("step: %s", name)


class EtaColumn(ProgressColumn):
    """Time left: months still to fetch pay the rate limit, cached months only the merge."""

    def __init__(self, fetch: int, cached: int, interval: float) -> None:
        super().__init__()
        self.fetch_left = fetch
        self.cached_left = cached
        self.interval = interval
        self.fetch_seconds: list[float] = []
        self.cached_seconds: list[float] = []

    def done(self, fetched: bool, seconds: float) -> None:
        if fetched:
            self.fetch_left = max(0, self.fetch_left - 1)
            self.fetch_seconds.append(seconds)
        else:
            self.cached_left = max(0, self.cached_left - 1)
            self.cached_seconds.append(seconds)

    def seconds_left(self) -> float:
        fetch = _mean(self.fetch_seconds, default=0.5)
        cached = _mean(self.cached_seconds, default=0.02)
        return self.fetch_left * max(fetch, self.interval) + self.cached_left * cached

    def render(self, task: Task) -> Text:
        seconds = round(self.seconds_left())
        return Text(f"ETA {seconds // 60}:{seconds % 60:02d}", style="progress.remaining")


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


class SimulationProgress:
    """The replay's progress: a bar of sessions with the day and step at work, and an ETA. It
    appears once the replay starts, so a refused run prints its one error line and nothing
    else."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sessions"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr,
        )
        self.task: TaskID | None = None
        self.days_run = 0

    def __enter__(self) -> SimulationProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()

    def started(self, total: int, done: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("simulating", total=total, completed=done)

    def step(self, name: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=name)

    def day_done(self, day: DayDone) -> None:
        self.days_run += 1
        if self.task is not None:
            self.bar.update(self.task, completed=day.done, description=f"{day.day} done")
