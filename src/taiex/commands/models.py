"""``taiex models``: the model registry (versions, champions, rollback)."""

from __future__ import annotations

from typing import Annotated

import typer

from taiex import console
from taiex.commands.common import KindArg, TableJsonFlag, context

app = typer.Typer(
    help="The model registry: versions, champions, rollback.\n\nExample: taiex models list"
)


@app.command("list")
def models_list(as_json: TableJsonFlag = False) -> None:
    """List every registered model with its status, training range and trial.

    Example: taiex models list --json
    """
    with context() as ctx:
        versions = ctx.registry().versions()
    console.print_versions(versions, as_json)


@app.command("rollback")
def models_rollback(kind: KindArg) -> None:
    """Give the championship back to the version that held it before the current champion.

    Example: taiex models rollback lstm
    """
    from taiex.notify import by_hand
    from taiex.pipeline import rollback

    with context() as ctx:
        version = rollback(ctx, kind)
        by_hand(ctx.settings, version, "rolled back")
    console.say(f"{version.version} is the {version.kind} champion again")


@app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. lstm-v3")],
) -> None:
    """Make a registered version the champion by hand (recorded as a manual decision); its
    artifact must load in full first.

    Example: taiex models promote lstm-v3
    """
    from taiex.notify import by_hand
    from taiex.pipeline import promote

    with context() as ctx:
        promoted = promote(ctx, version)
        by_hand(ctx.settings, promoted, "promoted")
    console.say(f"{promoted.version} is the {promoted.kind} champion")
