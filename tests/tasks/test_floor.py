"""The tasks package sits on the ground floor: it imports no data, training, model, config,
encoder, explain, report, api or CLI module (they import it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TASKS_DIR = Path(__file__).resolve().parents[2] / "src" / "biozoo" / "tasks"
ABOVE = ("data", "train", "model", "config", "encoders", "explain", "report", "api", "cli")


@pytest.mark.parametrize("path", sorted(TASKS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_tasks_import_nothing_above_them(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            assert not (parts[0] == "biozoo" and len(parts) > 1 and parts[1] in ABOVE), (
                f"tasks/{path.name} imports {name}"
            )
