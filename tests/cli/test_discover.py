"""``--version``, ``check``, ``parts`` and ``datasets``: the commands that run nothing."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from biozoo.cli import app
from biozoo.cli.parts import part_options, registries

runner = CliRunner()


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        res = runner.invoke(app, [flag])
        assert res.exit_code == 0
        assert res.stdout.strip() == f"biozoo {version('biozoo')}"


def test_check_prints_the_config_with_every_default(tiny_config):
    res = runner.invoke(app, ["check", str(tiny_config)])
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load(res.stdout)
    model = next(iter(cfg["models"].values()))
    assert model["default_encoder"] == {"name": "mlp", **part_options("encoders", "mlp")}
    assert cfg["training"]["epochs"] > 0 and "patience" in cfg["training"]
    # what check prints is itself a valid config
    from biozoo.api import parse_config

    parse_config(cfg)


def test_check_refuses_a_bad_config_with_one_line(tiny_config, tmp_path):
    raw = yaml.safe_load(tiny_config.read_text())
    raw["training"] = {"epocs": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    res = runner.invoke(app, ["check", str(bad)])
    assert res.exit_code == 2
    assert "training.epocs" in res.output and res.output.count("\n") == 1


def test_parts_lists_every_registry_with_defaults():
    res = runner.invoke(app, ["parts"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for title, registry, _ in registries():
        assert title in res.stdout
        for name in registry:
            assert name in res.stdout
    assert "out_dim=16" in res.stdout  # the mlp encoder's default
    res = runner.invoke(app, ["parts", "fusions"])
    assert res.exit_code == 0 and "encoders" not in res.stdout and "early" in res.stdout
    res = runner.invoke(app, ["parts", "encoder"])
    assert res.exit_code == 2 and "known: encoders" in res.output


def test_datasets_keeps_descriptions_and_config_syntax_at_80_columns():
    res = runner.invoke(app, ["datasets"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert all(len(line) <= 80 for line in res.stdout.splitlines())
    assert "gse7390/gex" in res.stdout and "distant" in res.stdout


def test_the_terminal_leaderboard_shows_each_tasks_main_metrics(capsys, monkeypatch):
    from types import SimpleNamespace

    import pandas as pd

    from biozoo.cli.app import _print_leaderboard, out_console
    from biozoo.tasks import TASKS

    cases = (
        ("multiclass", "macro-F1", "PR AUC"),
        ("binary", "PR AUC", "macro-F1"),
        ("regression", "R2", "ROC AUC"),
        ("survival", "C-index", "UNO_C_INDEX"),
    )
    for name, shown, hidden in cases:
        task = TASKS.get(name)()
        board = pd.DataFrame(
            {"method": ["m"], "kind": ["deep"], "n_splits": [5]}
            | {f"{m}_{s}": [0.5] for m in task.metric_names for s in ("mean", "sd")}
        )
        cohort = type("Cohort", (), {"task": task, "__len__": lambda self: 10})()
        monkeypatch.setattr(out_console, "width", 200)
        _print_leaderboard(board, task.primary, cohort, SimpleNamespace(name="x"))
        out = capsys.readouterr().out
        assert shown in out and hidden not in out
