"""``taiex db``: the database schema's revision, and upgrades."""

from __future__ import annotations

import typer

from taiex import console
from taiex.commands.common import load_settings

app = typer.Typer(
    help="The database schema: its migration revision, and upgrades.\n\nExample: taiex db upgrade"
)


@app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest revision (on an empty database: create it).

    A database made before migrations existed is checked and adopted; other commands upgrade
    on their own when needed, this one does nothing else.

    Example: taiex db upgrade
    """
    from taiex.store import Store

    store = Store(load_settings().database_url)
    try:
        before = store.revision()
        after = store.upgrade()
    finally:
        store.dispose()
    change = "unchanged" if before == after else f"was {before or 'none'}"
    console.say(f"database schema at revision {after} ({change})")


@app.command("current")
def db_current() -> None:
    """Print the database schema's revision ("none" before the first upgrade).

    Example: taiex db current
    """
    from taiex.store import Store

    store = Store(load_settings().database_url)
    try:
        revision = store.revision()
    finally:
        store.dispose()
    console.say(revision or "none")
