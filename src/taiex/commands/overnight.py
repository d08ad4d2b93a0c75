"""``taiex overnight``: the US closes of the pre-open round (update from the source, import a
file, list what is stored)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taiex import console
from taiex.commands.common import JsonFlag, load_settings, nonempty_path
from taiex.errors import InputError

if TYPE_CHECKING:
    from taiex.overnight_load import OvernightLoad

app = typer.Typer(
    help="The US closes of the pre-open round: update, import, list.\n\n"
    "Example: taiex overnight list"
)


@app.command("update")
def overnight_update() -> None:
    """Fetch the US closes since the last stored ones from TAIEX_OVERNIGHT_SOURCE (on a first
    run, the whole history since 1999) and store them; a move beyond 25 % in a day is stored
    only when a second fetch gives it again.

    Example: TAIEX_OVERNIGHT_SOURCE=csv:us_closes.csv taiex overnight update
    """
    from taiex.overnight_load import update_overnight
    from taiex.overnight_source import last_closed_day, overnight_source
    from taiex.store import Store

    settings = load_settings()
    source = overnight_source(settings.overnight_source)
    if source is None:
        raise InputError(
            f"{settings.origin('overnight_source')}=none: the pre-open round is off, "
            "there is nothing to update"
        )
    store = Store.from_settings(settings)
    load = update_overnight(store, source, settings.symbols, last_closed_day())
    _print_load(load, "confirmed by a second fetch")


@app.command("import-csv")
def overnight_import_csv(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="CSV with the header date,symbol,close (any order).",
            parser=nonempty_path,
        ),
    ],
    allow_large_moves: Annotated[
        bool,
        typer.Option(
            "--allow-large-moves", help="Store moves beyond 25 % in a day (real ones only)."
        ),
    ] = False,
) -> None:
    """Merge a file of US closes, checked like the source's (all of it or nothing).

    Example: taiex overnight import-csv tests/data/us_closes.csv
    """
    from taiex.overnight_load import import_overnight_csv
    from taiex.overnight_source import last_closed_day
    from taiex.store import Store

    settings = load_settings()
    store = Store.from_settings(settings)
    load = import_overnight_csv(
        store, path, settings.symbols, last_closed_day(), allow_large_moves=allow_large_moves
    )
    _print_load(load, "stored with --allow-large-moves")


@app.command("list")
def overnight_list(as_json: JsonFlag = False) -> None:
    """Each symbol's stored closes: how many, the first and last US date.

    Example: taiex overnight list --json
    """
    from taiex.store import Store

    settings = load_settings()
    store = Store.existing(settings)  # a database that does not exist is not created ...
    store.upgrade()  # ... but one from before revision 0007 gets its table, as in every command
    closes = store.overnight.closes(settings.symbols)
    rows = [
        {
            "symbol": symbol,
            "closes": len(days),
            "first": min(days).isoformat() if days else None,
            "last": max(days).isoformat() if days else None,
        }
        for symbol, days in closes.items()
    ]
    if as_json:
        console.print_json(rows)
        return
    for row in rows:
        span = f"{row['first']} … {row['last']}" if row["closes"] else "none stored"
        console.say(f"{row['symbol']}: {row['closes']} closes, {span}")


def _print_load(load: OvernightLoad, stored_as: str) -> None:
    """The load's counts on stdout, and a note on stderr for each large move it stored (how it
    was let in: ``stored_as``)."""
    result = load.result
    console.say(
        f"{result.rows} US closes from {load.source}: {result.inserted} new, "
        f"{result.updated} revised, {result.unchanged} unchanged"
    )
    for move in load.confirmed:
        console.note(f"note: {move} ({stored_as})")
