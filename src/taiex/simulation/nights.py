"""The nights a simulation asks for, computed once each.

A pre-open round reads its history with every day's night (:func:`taiex.overnight.history_nights`),
which asks :func:`taiex.overnight.nights` for the night of every stored day since the first US
close, a few times a round (the round's own check, serving, monitoring). A night is a fact of the
two exchanges' calendars, of its origin and of the round's time, nothing else: the same arguments
give the same :class:`~taiex.overnight.Night`. Over a simulation the days only grow, so all but
the last night of each call were computed the day before; recomputing them was most of a
pre-open round's cost (about 0.3 s a call over 2016–2024, against a few milliseconds here).

:func:`remembered_nights` makes :mod:`taiex.overnight` answer from a memo of the nights already
computed while the replay runs, and puts the function back after it. What a night is stays the
function's own work: a night not yet in the memo is computed by it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence

from taiex import overnight
from taiex.overnight import DEFAULT_PREOPEN, Night

Key = tuple[dt.date, dt.date, dt.time]


class NightMemo:
    """:func:`taiex.overnight.nights`, remembering each (origin, round, time)'s night."""

    def __init__(self) -> None:
        self.compute = overnight.nights
        self.known: dict[Key, Night] = {}

    def __call__(
        self,
        origins: Sequence[dt.date],
        rounds: Sequence[dt.date],
        preopen: dt.time = DEFAULT_PREOPEN,
    ) -> list[Night]:
        if len(origins) != len(rounds):
            raise ValueError("one round day per origin")
        keys = [(origin, day, preopen) for origin, day in zip(origins, rounds, strict=True)]
        missing = list(dict.fromkeys(key for key in keys if key not in self.known))
        if missing:
            found = self.compute([k[0] for k in missing], [k[1] for k in missing], preopen)
            self.known.update(zip(missing, found, strict=True))
        return [self.known[key] for key in keys]


@contextlib.contextmanager
def remembered_nights() -> Iterator[NightMemo]:
    """While it is open, :mod:`taiex.overnight` computes each night once."""
    memo = NightMemo()
    overnight.nights = memo  # type: ignore[assignment]
    try:
        yield memo
    finally:
        overnight.nights = memo.compute  # type: ignore[assignment]
