"""A clock for the store that stands still until a test moves it: no sleeps, exact timestamps."""

from __future__ import annotations

import datetime as dt

from taiex.store import Store


class StepClock:
    def __init__(self, start: dt.datetime = dt.datetime(2025, 1, 2, 8, 0, 0)) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def with_clock(store: Store, clock: StepClock) -> Store:
    """The same database as ``store``, its timestamps from ``clock``."""
    return Store(store.engine, clock=clock)
