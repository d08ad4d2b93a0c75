"""What may import what: the store package is the only way into the database."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "src" / "taiex" / "store"
# Modules still moving to the store's API (issue 13); empty this set when they are done.
PENDING = {"src/taiex/report.py", "dags/taiex_daily.py"}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_store_package_imports_sqlalchemy() -> None:
    modules = [*(ROOT / "src").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]
    offenders = {
        str(path.relative_to(ROOT))
        for path in modules
        if STORE not in path.parents
        and any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in imported_modules(path))
    }
    assert offenders <= PENDING, sorted(offenders - PENDING)
    assert imported_modules(STORE / "engine.py") >= {"sqlalchemy"}  # the check sees imports
