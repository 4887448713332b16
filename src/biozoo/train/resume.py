"""Checks before ``biozoo train --resume RUN`` takes over an unfinished run folder.

A run that was interrupted or killed leaves its hidden partial folder
(``<out>/.<name>-<time>-<host>-<pid>-<random>.partial``) with its finished units in it. It
can be resumed when its writer is no longer running and it was made by the same config: the
recorded units are then exactly those the config would train.
"""

from __future__ import annotations

import json
from pathlib import Path

from biozoo._atomic import PARTIAL, stale_partials
from biozoo._yaml import read_yaml
from biozoo.config import RunConfig
from biozoo.errors import BiozooError
from biozoo.resolved import resolved_config
from biozoo.train.runfolder import RunLayout

__all__ = ["check_resumable", "config_differences", "resolved_dict"]

_IGNORED = ("output.dir",)  # where run folders go: the resumed run finishes beside RUN


def resolved_dict(cfg: RunConfig) -> dict[str, object]:
    """``cfg`` with every part's options filled in, as plain data (what config.yaml holds)."""
    return json.loads(resolved_config(cfg).model_dump_json())


def check_resumable(run: Path, cfg: RunConfig | None) -> None:
    """Refuse ``run`` unless it is an unfinished run, no longer written, made by ``cfg``.

    Args:
        run: the hidden partial folder a killed or interrupted run left.
        cfg: the config to finish it with; None to take the run's own.

    Raises:
        BiozooError: ``run`` is not a folder, a finished run, not a run, still being
            written, or made by another config (naming the keys that differ).
    """
    run = Path(run)
    layout = RunLayout(run)
    if not run.is_dir():
        raise BiozooError(f"--resume {run}: no such folder.")
    if not run.name.endswith(PARTIAL):
        if layout.config.is_file() and layout.metrics.is_file():
            raise BiozooError(f"--resume {run} is a finished run: there is nothing to resume.")
        raise BiozooError(f"--resume {run} is not an unfinished biozoo run folder.")
    if not layout.config.is_file():
        raise BiozooError(
            f"--resume {run} is not an unfinished biozoo run folder (no config.yaml in it)."
        )
    if run.resolve() not in {p.resolve() for p in stale_partials(run.parent)}:
        raise BiozooError(f"--resume {run} is still being written by a running process.")
    if cfg is None:
        return
    saved = read_yaml(layout.config, "run config") or {}
    differ = config_differences(saved, resolved_dict(cfg))
    if differ:
        shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
        raise BiozooError(
            f"--resume {run} was made by a different config: {shown} "
            f"{'differs' if len(differ) == 1 else 'differ'}."
        )


def config_differences(a: dict[str, object], b: dict[str, object]) -> list[str]:
    """The dotted keys whose values differ between two configs (plain data), sorted."""
    fa, fb = _flatten(a), _flatten(b)
    keys = sorted(k for k in set(fa) | set(fb) if k not in _IGNORED and fa.get(k) != fb.get(k))
    return keys


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}
