"""What may import what: the store package is the only way into the database."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "src" / "taiex" / "store"


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
    assert offenders == set(), sorted(offenders)
    assert imported_modules(STORE / "engine.py") >= {"sqlalchemy"}  # the check sees imports


def test_no_code_outside_the_kind_specs_names_a_kind() -> None:
    """What differs between kinds lives in their specs: elsewhere, no string literal is a
    kind's name (a kind is found through ``taiex.kinds``; tests and docstrings may name one)."""
    from taiex.kinds import KIND_NAMES

    kinds = ROOT / "src" / "taiex" / "kinds"
    modules = [*(ROOT / "src").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]
    offenders = []
    for path in modules:
        if kinds in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in KIND_NAMES
                and id(node) not in docstrings
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []
