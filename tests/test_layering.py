"""The floors of the house: every import runs down (or along) a floor, and no modules form a cycle.

A module may import modules of its own floor or of a lower one. An import that runs up a
floor, or any import cycle between modules, fails here. Every import counts, function-local
ones included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "biozoo"

FLOORS: list[tuple[str, ...]] = [
    ("errors", "registry", "_atomic", "_yaml", "inputs", "compare", "alphabets"),
    ("evaluate", "layers", "heads"),
    ("tasks", "data"),
    ("activations", "encoders", "decoders", "fusion", "config", "presets"),
    ("model", "latent"),
    ("train", "resolved"),
    ("explain", "report", "pipelines", "search"),
    ("api", "sklearn"),
    ("cli",),
]
"""Top-level names under ``biozoo`` (packages or modules) on each floor, ground floor first.
The package's own ``__init__`` (the lazy public API) stands above them all."""


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    found = {}
    for f in root.rglob("*.py"):
        parts = f.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return found


def floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return len(FLOORS)
    return next((i for i, names in enumerate(FLOORS) if parts[1] in names), None)


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (annotations, never run)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return found


def import_graph(mods: dict[str, Path], *, runtime: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports (absolute and relative imports).

    ``runtime=True`` leaves out imports under ``if TYPE_CHECKING:``: they name types for
    annotations and never run, so they cannot close an import cycle.
    """
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        package = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        tree = ast.parse(f.read_text())
        skip = _type_only(tree) if runtime else set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t in mods and t != m:
                    # a module importing its own package's __init__ is not an edge
                    if not (mods[t].name == "__init__.py" and m.startswith(t + ".")):
                        graph[m].add(t)
                    break
    return graph


def upward(graph: dict[str, set[str]], module: str) -> list[str]:
    here = floor(module) or 0
    return sorted(t for t in graph[module] if (floor(t) or 0) > here)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                on_stack.discard(w)
                component.append(w)
            on_stack.discard(v)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


GRAPH = import_graph(modules(SRC))
RUNTIME = import_graph(modules(SRC), runtime=True)


def test_every_module_has_a_floor() -> None:
    unplaced = sorted(m for m in GRAPH if floor(m) is None)
    assert not unplaced, f"modules on no floor (add them to FLOORS): {unplaced}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_down_the_floors(module: str) -> None:
    assert not upward(GRAPH, module), f"{module} imports a higher floor: {upward(GRAPH, module)}"


def test_no_import_cycles() -> None:
    assert not cycles(RUNTIME), f"import cycles between modules: {cycles(RUNTIME)}"


@pytest.mark.parametrize("package", ["biozoo.report", "biozoo.data"])
def test_no_cycles_even_through_type_only_imports(package: str) -> None:
    """In these packages not even the imports under ``if TYPE_CHECKING:`` close a cycle: the
    types that several modules annotate with live in a module below them all."""
    ours = (package, f"{package}.")
    inside = [c for c in cycles(GRAPH) if any(m == package or m.startswith(ours) for m in c)]
    assert not inside, f"import cycles through {package}, type-only imports counted: {inside}"


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "biozoo"
    for name, text in {
        "__init__.py": "",
        "data/__init__.py": "",
        "data/load.py": "def f():\n    from biozoo.train.run import g\n",
        "train/__init__.py": "",
        "train/run.py": "from .fold import h\ndef g(): ...\n",
        "train/fold.py": "from biozoo.train import run\ndef h(): ...\n",
        "train/plan.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from biozoo.train.ensemble import E\n",
        "train/ensemble.py": "from biozoo.train.plan import P\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    graph = import_graph(modules(pkg))
    assert upward(graph, "biozoo.data.load") == ["biozoo.train.run"]
    assert cycles(graph) == [
        ["biozoo.train.ensemble", "biozoo.train.plan"],
        ["biozoo.train.fold", "biozoo.train.run"],
    ]
    assert cycles(import_graph(modules(pkg), runtime=True)) == [
        ["biozoo.train.fold", "biozoo.train.run"]
    ]
