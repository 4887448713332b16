"""No module imports a floor above its own (module-level and local imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "biozoo"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] == "biozoo"}


def _files(pattern: str) -> list[Path]:
    return sorted(SRC.glob(pattern))


RULES = [
    # (files, forbidden module prefixes)
    ("train/**/*.py", ("biozoo.api", "biozoo.cli", "biozoo.explain", "biozoo.report")),
    ("layers/*.py", ("biozoo.activations", "biozoo.registry", "biozoo.encoders", "biozoo.train")),
    ("config.py", ("biozoo.train", "biozoo.encoders", "biozoo.fusion", "biozoo.api")),
    # the tasks sit on the ground floor beside heads and evaluate: data, config and train
    # import them, never the other way round
    (
        "tasks/*.py",
        (
            "biozoo.data",
            "biozoo.train",
            "biozoo.model",
            "biozoo.config",
            "biozoo.encoders",
            "biozoo.explain",
            "biozoo.report",
            "biozoo.api",
            "biozoo.cli",
        ),
    ),
    ("explain/attention_run.py", ("biozoo.explain.explain_run",)),
    ("explain/graph_run.py", ("biozoo.explain.explain_run",)),
    ("report/html.py", ("biozoo.report",)),  # the package, not its modules
]


@pytest.mark.parametrize(("pattern", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_no_upward_import(pattern: str, forbidden: tuple[str, ...]) -> None:
    files = _files(pattern)
    assert files
    for path in files:
        for module in _imports(path):
            bad = [f for f in forbidden if module == f or module.startswith(f + ".")]
            if pattern == "report/html.py":
                bad = [f for f in bad if module == f]
            assert not bad, f"{path.relative_to(SRC)} imports {module}"
