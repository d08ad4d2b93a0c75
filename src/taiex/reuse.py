"""What a model step stored for a data day, taken again while it still holds.

What a champion serves from a day, and its evaluation on that day, depend only on the champion
and on the prices up to that day. Stored once, they stand for any rerun of the step for the same
day as long as three things hold: the champion is the same version; its artifact still passes its
checksum (it loaded when the answer was made, and the same bytes load the same; one that does not
is the monitor's "unloadable champion"); and no price up to that day was revised after the answer
was made (TWSE corrects a day now and then: what was computed from the old price is stale). Then
the step answers from the database, without the model's libraries or its artifact: a day with
nothing new costs a few queries.

Neither torch nor scikit-learn is imported here: a step that finds its answer here imports
nothing of the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from taiex.errors import ArtifactError
from taiex.frames import to_date
from taiex.kinds import KindSpec
from taiex.models.registry import ModelVersion, Registry
from taiex.store import Store

Revisions = Sequence[tuple[dt.date, dt.datetime]]  # (day revised, when), as the store lists them


def made_before_a_revision(day: object, made_at: object, revisions: Revisions) -> bool:
    """Whether something computed from the prices up to ``day`` at ``made_at`` predates a
    revision of one of them."""
    when, made = to_date(day), _moment(made_at)
    return any(revised <= when and made <= moment for revised, moment in revisions)


def sound_champion(registry: Registry, kind: str) -> ModelVersion | None:
    """The champion of ``kind`` when its artifact is there and passes its checksum; None when
    there is no champion or its artifact is damaged (the full step then decides what to do)."""
    champion = registry.champion(kind)
    if champion is None:
        return None
    try:
        registry.artifact(champion)
    except ArtifactError:
        return None
    return champion


def fresh_rows(
    spec: KindSpec, store: Store, version: str, first: dt.date, last: dt.date
) -> list[dict[str, object]]:
    """What ``version`` served from the days ``first`` … ``last`` (stored by ``spec.serves``),
    except the rows made before a revision of a price up to their day: they were computed from
    prices that have changed since."""
    rows: list[dict[str, object]] = getattr(store, spec.serves).between(version, first, last)
    revisions = store.prices.revisions(last)
    return [
        row
        for row in rows
        if not made_before_a_revision(row[spec.served_day], row["created_at"], revisions)
    ]


def served(spec: KindSpec, store: Store, version: str, day: dt.date) -> list[dict[str, object]]:
    """What ``version`` served from ``day``, or [] when it served nothing from it or served it
    before a revision of a price up to it. The rows of one day are stored together (one
    transaction), so they are all there or none is."""
    return fresh_rows(spec, store, version, day, day)


def evaluation(
    spec: KindSpec, store: Store, version: str, day: dt.date
) -> Mapping[str, object] | None:
    """The stored evaluation of ``version`` on the data up to ``day``, when ``spec.from_row``
    gives back from it exactly what was computed and it was measured after every revision of a
    price up to ``day``; None otherwise."""
    row = store.evaluations.get(spec.metric.table, version, day)
    if row is None or any(row.get(column) is None for column in spec.exact_row_columns):
        return None
    if made_before_a_revision(day, row["date"], store.prices.revisions(day)):
        return None
    return row


def _moment(value: object) -> dt.datetime:
    """A row's timestamp (``created_at``, ``date``)."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    return value
