"""Optional experiment tracking: a finished run folder logged to MLflow (``output.mlflow``).

With ``output.mlflow: URI`` in a config, :func:`biozoo.api.run` opens the tracking server
*before* training (a wrong URI, or mlflow missing, fails at once with one sentence, not after
an hour of training) and logs the finished run folder to it:

* **params**: the run's resolved ``config.yaml``, flattened (``training.epochs``);
* **metrics**: every method's metric on every split, with the split's position as the step
  (``<method>/<metric>``), and the mean over splits (``<method>/<metric>_mean``);
* **training curves**: each deep model's per-epoch training and validation loss, averaged
  over the members, with the epoch as the step (``history/<model>/<split>/val_loss``);
* **artifacts**: ``report.html``, ``metrics.json``, ``leaderboard.csv``, ``config.yaml``,
  ``predictions.csv`` and the ``history`` tables (every member).

The MLflow experiment is the config's ``name``; the MLflow run is named after the run
folder, whose path is kept as the ``biozoo.run_folder`` tag. mlflow is an optional extra
(``pip install 'biozoo[track]'``; mlflow-skinny suffices).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

from biozoo.errors import BiozooError
from biozoo.train.runfolder import RunLayout

__all__ = ["MlflowTracker", "flatten", "metric_key"]

_ARTIFACTS = ("report", "metrics", "leaderboard", "config", "predictions")
_BATCH = 100  # MLflow takes at most 100 params and 1000 metrics in one request


def metric_key(*parts: str) -> str:
    """An MLflow metric name: the parts joined by ``/``, with characters MLflow does not allow
    in a name (``logistic (CV)``'s parentheses) replaced by ``_``."""
    return "/".join(re.sub(r"[^A-Za-z0-9_\-. ]", "_", str(p)) for p in parts)


def flatten(tree: object, prefix: str = "") -> dict[str, str]:
    """A nested mapping as ``{"a.b.c": "value"}`` (lists kept whole, as text)."""
    if not isinstance(tree, dict):
        return {prefix: json.dumps(tree) if isinstance(tree, list) else str(tree)}
    flat: dict[str, str] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


class MlflowTracker:
    """An MLflow tracking server, opened before a run trains; :meth:`log` logs the run.

    Args:
        uri: the tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``, ``file:///...``).
        experiment: the MLflow experiment (created if new).

    Raises:
        BiozooError: mlflow is not installed, or the server refuses the URI.
    """

    def __init__(self, uri: str, experiment: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise BiozooError(
                f"output.mlflow is set ({uri}) but mlflow is not installed; install it with "
                "pip install 'biozoo[track]' or remove output.mlflow."
            ) from None
        self.uri = uri
        with _refused(self.uri):
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(experiment)
            self.experiment_id = (
                found.experiment_id if found else self.client.create_experiment(experiment)
            )

    def log(self, run_dir: Path) -> str:
        """Log a finished run folder (see the module's docstring); returns the MLflow run id."""
        from mlflow.entities import Metric, Param, RunStatus

        layout = RunLayout(Path(run_dir))
        with _refused(self.uri):
            run = self.client.create_run(
                self.experiment_id,
                run_name=layout.root.name,
                tags={"biozoo.run_folder": str(layout.root)},
            )
            run_id = run.info.run_id
            config = yaml.safe_load(layout.config.read_text())
            params = [Param(k, v[:6000]) for k, v in flatten(config).items()]
            stamp = int(time.time() * 1000)
            metrics = [Metric(k, v, stamp, step) for k, v, step in _metrics(layout)]
            for i in range(0, len(params), _BATCH):
                self.client.log_batch(run_id, params=params[i : i + _BATCH])
            for i in range(0, len(metrics), 10 * _BATCH):
                self.client.log_batch(run_id, metrics=metrics[i : i + 10 * _BATCH])
            for name in _ARTIFACTS:
                path = getattr(layout, name)
                if path.is_file():
                    self.client.log_artifact(run_id, str(path))
            if layout.history_dir.is_dir():
                self.client.log_artifacts(run_id, str(layout.history_dir), "history")
            self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        return run_id


@contextmanager
def _refused(uri: str) -> Iterator[None]:
    """Turn MLflow's exceptions into one sentence naming ``output.mlflow``."""
    try:
        yield
    except Exception as err:  # MlflowException, and the store's own OSErrors
        why = (str(err) or type(err).__name__).splitlines()[0].split(". ")[0][:200]
        raise BiozooError(f"output.mlflow {uri}: {why.rstrip('.')}.") from None


def _metrics(layout: RunLayout) -> Iterator[tuple[str, float, int]]:
    """``(key, value, step)`` of the per-split metrics, their means and the training curves."""
    info = json.loads(layout.metrics.read_text())
    for method, per_split in info.get("per_split", {}).items():
        for step, values in enumerate(per_split):
            for name, value in values.items():
                if _number(value):
                    yield metric_key(method, name), float(value), step
        for name, stats in info.get("summary", {}).get(method, {}).items():
            mean = stats.get("mean") if isinstance(stats, dict) else None
            if _number(mean):
                yield metric_key(method, f"{name}_mean"), float(mean), 0
    for table in sorted(layout.history_dir.glob("*/*.csv")):
        frame = pd.read_csv(table)
        curves = frame.drop(columns="member").groupby("epoch").mean(numeric_only=True)
        for column in curves.columns:
            for epoch, value in curves[column].items():
                key = metric_key("history", table.parent.name, table.stem, column)
                yield key, float(value), int(epoch)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
