"""What may import what: the store package is the only way into the database."""

from __future__ import annotations

import ast
import os
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


# ---------------------------------------------------------------- kinds and models

KINDS = ROOT / "src" / "taiex" / "kinds"
MODELS = ROOT / "src" / "taiex" / "models"
# The kinds' light contract: what a model is in each role (typing only) and what an evaluation
# gives. The model code plays it and imports nothing else of the kinds.
CONTRACT = ("taiex.kinds.protocols", "taiex.kinds.evaluation")


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """The modules ``path`` imports when it is imported (its top level, outside ``if
    TYPE_CHECKING:``), and those its functions import when they run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    inside: set[str] = set()

    def visit(node: ast.AST, into: set[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, inside)
            elif isinstance(child, ast.Import):
                into.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                into.add(child.module)
            else:
                visit(child, into)

    visit(tree, top)
    return top, inside


def _standard(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def test_a_kind_spec_reaches_its_model_code_only_through_its_loaders() -> None:
    """Importing the kinds package is light (the DAG file and `taiex status` do it): at import
    time a kinds module imports the standard library, other kinds modules and the names of the
    rounds; a spec's model, evaluation, backtest and plots only inside its loaders."""
    light = ("taiex.kinds", "taiex.errors", "taiex.rounds")
    for path in KINDS.glob("*.py"):
        top, inside = _imports(path)
        heavy = sorted(m for m in top if not (_standard(m) or m.startswith(light)))
        assert heavy == [], f"{path.name} imports {heavy} when imported"
        loaded = ("taiex.kinds", "taiex.models.", "taiex.plots")
        elsewhere = sorted(m for m in inside if not (_standard(m) or m.startswith(loaded)))
        assert elsewhere == [], f"{path.name} loads {elsewhere}"


def test_model_code_knows_the_kinds_contract_only() -> None:
    """One direction: the kind specs reach the models through their loaders; the models play the
    protocols and give the evaluations of the contract, and know no spec."""
    offenders = {
        path.name: sorted(
            m
            for m in set().union(*_imports(path))
            if m.startswith("taiex.kinds") and m not in CONTRACT
        )
        for path in MODELS.glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_contract_imports_the_standard_library_only() -> None:
    for module in CONTRACT:
        top, inside = _imports(KINDS / f"{module.rsplit('.', 1)[1]}.py")
        assert sorted(m for m in top | inside if not _standard(m)) == [], module


def test_importing_the_kinds_loads_no_model_code() -> None:
    code = (
        "import sys, taiex.kinds; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas') "
        "or m.startswith('taiex.models'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert found == ""
