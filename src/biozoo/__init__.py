"""biozoo: train, compare, ensemble and explain deep architectures on biomedical data.

The public API, imported lazily so that ``import biozoo`` (and the CLI) stays fast:

- :func:`load_config` / :class:`RunConfig` — the run schema, from YAML or Python
  (:func:`check_config` checks part names and options against the registries).
- :func:`run` — run a config end to end; returns the run folder and leaderboard.
- :func:`search` — nested architecture and hyperparameter search of a config's ``search:``
  section (:func:`load_search` reads one).
- :func:`predict` — score new samples with a finished run's ensembles (float or int8).
- :func:`explain_run`, :func:`write_report`, :func:`export` — explain a finished run, rewrite
  its report, export it to int8 (``biozoo.api.explain`` does the first two).
- :func:`demo_config` — the demo run (GSE7390).
- :func:`load_cohort`, :func:`load_dataset`, :func:`list_datasets`, :func:`simulate_cohort`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "RunConfig": "biozoo.config",
    "load_config": "biozoo.api",
    "parse_config": "biozoo.api",
    "check_config": "biozoo.api",
    "run": "biozoo.api",
    "search": "biozoo.api",
    "load_search": "biozoo.api",
    "predict": "biozoo.api",
    "export": "biozoo.api",
    "demo_config": "biozoo.presets",
    "load_cohort": "biozoo.data.align",
    "load_dataset": "biozoo.data.sources.datasets",
    "list_datasets": "biozoo.data.sources.datasets",
    "simulate_cohort": "biozoo.data.sources.simulate",
    "explain_run": "biozoo.explain.explain_run",
    "write_report": "biozoo.report",
    "BiozooError": "biozoo.errors",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'biozoo' has no attribute {name!r}")
