"""What may import what: the store package is the only way into the database."""

from __future__ import annotations

import ast
import subprocess
import sys
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


# The modules that run the same loop for every kind: they find a kind through taiex.kinds.
GENERIC = (
    "pipeline.py",
    "monitor.py",
    "cli.py",
    "commands",
    "console.py",
    "progress.py",
    "plots.py",
    "report",
)


def _code_constants(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of ``tree`` that are not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_code_outside_the_kind_specs_branches_on_a_kind() -> None:
    """What differs between kinds lives in their specs. No module compares anything with a
    kind's name, and the modules that run the loop for every kind do not even spell one (a model
    class may still stamp its own artifacts with its kind)."""
    from taiex.kinds import KIND_NAMES

    package = ROOT / "src" / "taiex"
    offenders = []
    for path in [*package.rglob("*.py"), *(ROOT / "dags").rglob("*.py")]:
        if package / "kinds" in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        generic = (
            path.parent == ROOT / "dags"
            or any(part in GENERIC for part in path.relative_to(package).parts)
            if package in path.parents
            else True
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                named = [
                    c.value
                    for c in (node.left, *node.comparators)
                    if isinstance(c, ast.Constant) and c.value in KIND_NAMES
                ]
                if named:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} compares {named}")
        if generic:
            offenders += [
                f"{path.relative_to(ROOT)}:{c.lineno} names {c.value!r}"
                for c in _code_constants(tree)
                if c.value in KIND_NAMES
            ]
    assert offenders == []


def test_what_the_command_prints_with_imports_no_data_or_model_library() -> None:
    """`taiex status` imports the console and the progress bars: they render what the library
    returned (Rich and the standard library), and import pandas, numpy, SQLAlchemy or model code
    only inside the function that needs it."""
    heavy = ("pandas", "numpy", "sqlalchemy", "torch", "sklearn", "matplotlib", "jinja2")
    code = (
        "import sys, taiex.console, taiex.progress; "
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))))"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == ""
