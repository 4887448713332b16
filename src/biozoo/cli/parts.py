"""``biozoo check | parts``: what a config resolves to and which parts there are, without
running anything."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich import box
from rich.table import Table

from biozoo.cli.app import _friendly, app, out_console

__all__ = ["part_options", "registries"]


def registries() -> list[tuple[str, Any, Callable[[str], dict[str, Any]]]]:
    """(title, registry, name -> options with defaults) for every kind of registered part.

    Adding a kind of part is one more entry here.
    """
    from biozoo.activations import ACTIVATIONS
    from biozoo.encoders import ENCODERS
    from biozoo.fusion import FUSIONS
    from biozoo.tasks import TASKS
    from biozoo.train.baselines import BASELINES
    from biozoo.train.optim import OPTIMIZERS
    from biozoo.train.schedules import SCHEDULES

    kinds: list[tuple[str, Any, Callable[[str], dict[str, Any]]]] = [
        ("encoders", ENCODERS, _config_defaults(ENCODERS)),
        ("fusions", FUSIONS, _config_defaults(FUSIONS)),
        ("optimizers", OPTIMIZERS, _optimizer_defaults),
        ("schedules", SCHEDULES, _config_defaults(SCHEDULES)),
        ("activations", ACTIVATIONS, _no_options),
        ("baselines", BASELINES, _baseline_labels),
        ("tasks", TASKS, _no_options),
    ]
    return kinds


def part_options(kind: str, name: str) -> dict[str, Any]:
    """The options and their defaults of the part ``name`` of ``kind`` (e.g. ``encoders``)."""
    for title, registry, options in registries():
        if title == kind:
            registry.get(name)
            return options(name)
    raise ValueError(f"unknown kind of part {kind!r}")


def _config_defaults(registry: Any) -> Callable[[str], dict[str, Any]]:
    def options(name: str) -> dict[str, Any]:
        return registry.get(name).Config().model_dump(mode="json")

    return options


def _optimizer_defaults(name: str) -> dict[str, Any]:
    from biozoo.train.optim import OPTIMIZERS, optimizer_options

    spec = OPTIMIZERS.get(name)
    params = inspect.signature(spec.load().__init__).parameters
    out = {}
    for key in optimizer_options(name):
        default = params[key].default
        out[key] = None if default is inspect.Parameter.empty else default
    out.update(spec.defaults or {})
    return out


def _no_options(name: str) -> dict[str, Any]:
    return {}


def _baseline_labels(name: str) -> dict[str, Any]:
    """Task -> the baseline's name in that task's leaderboard, for the tasks it serves."""
    from biozoo.errors import BiozooError
    from biozoo.tasks import TASKS
    from biozoo.train.baselines import BASELINES

    cls = BASELINES.get(name)
    labels: dict[str, Any] = {}
    for task in TASKS:
        try:
            labels[task] = cls.label_for(TASKS.get(task)())
        except BiozooError:
            continue  # the family has no estimator for this task
    return labels


def _show(value: Any) -> str:
    if callable(value):
        return "(a function)"
    return json.dumps(value, default=str) if not isinstance(value, str) else value


@app.command()
@_friendly
def parts(
    kind: Annotated[
        str | None, typer.Argument(help="Only this kind: encoders, fusions, optimizers...")
    ] = None,
) -> None:
    """List every registered part with its options and their defaults."""
    from biozoo.errors import BiozooError

    kinds = registries()
    if kind is not None:
        kinds = [k for k in kinds if k[0] == kind]
        if not kinds:
            known = ", ".join(t for t, _, _ in registries())
            raise BiozooError(f"unknown kind of part {kind!r}; known: {known}.")
    for title, registry, options in kinds:
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("options (defaults)", overflow="fold")
        for name in registry:
            opts = options(name)
            table.add_row(name, ", ".join(f"{k}={_show(v)}" for k, v in opts.items()) or "-")
        out_console.print(table, highlight=False)


@app.command()
@_friendly
def check(config: Annotated[Path, typer.Argument(help="Run config (YAML).")]) -> None:
    """Validate CONFIG without running it; print it with every default filled in."""
    from biozoo.api import load_config
    from biozoo.resolved import resolved_config

    cfg = resolved_config(load_config(config))
    text = yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False)
    typer.echo(text, nl=False)
    typer.echo(f"# {config}: valid", err=True)
