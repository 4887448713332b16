"""Regression: one float per sample, learnt on the fold's standardized scale (MSE)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from biozoo.errors import BiozooError
from biozoo.evaluate import regression_metrics
from biozoo.heads import RegressionHead
from biozoo.tasks.base import (
    BaselineModel,
    EncodedTarget,
    RankingTarget,
    Reference,
    TargetOptions,
    Task,
    register_task,
)
from biozoo.tasks.estimators import fit_regressor

__all__ = ["RegressionTask", "TargetScaler"]


@register_task
class RegressionTask(Task):
    """A numeric target; predictions on the target's own scale; RMSE ranks methods."""

    name = "regression"
    metric_names = ("rmse", "mae", "r2")
    primary = "rmse"
    shown_metrics = ("rmse", "mae", "r2")
    higher_is_better = {"rmse": False, "mae": False, "r2": True}
    baseline_labels = {
        "linear": "ridge (CV)",
        "random_forest": "random forest",
        "gradient_boosting": "gradient boosting",
    }

    def encode_target(
        self, labels: pd.DataFrame, options: TargetOptions, source: str
    ) -> EncodedTarget:
        column = options.columns()[0]
        values = labels[column]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            raise BiozooError(
                f"regression target {column!r} of {source} must be numeric, but sample "
                f"{values.index[bad.to_numpy()][0]!r} has {values[bad].iloc[0]!r}."
            )
        return EncodedTarget(numbers.to_numpy(dtype=np.float32))

    def n_outputs(self, n_classes: int | None) -> int:
        return 1

    def head(self, n_classes: int | None) -> nn.Module:
        return RegressionHead()

    def explained(self, classes: list[str]) -> str:
        return "the prediction, in the target's units"

    def fit_target(self, target: np.ndarray) -> TargetScaler:
        return TargetScaler().fit(target)

    def load_target(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TargetScaler:
        return TargetScaler.from_state(arrays, meta)

    def stratify_labels(self, target: np.ndarray) -> np.ndarray | None:
        return None

    def ranking_target(self, target: np.ndarray) -> RankingTarget:
        y = np.asarray(target, dtype=np.float64)
        if not np.isfinite(y).all():
            raise BiozooError("the regression target has missing or infinite values.")
        return RankingTarget(y - y.mean(), grouped=False)

    def metrics(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        n_classes: int | None = None,
        reference: Reference | None = None,
    ) -> dict[str, float]:
        return regression_metrics(y_true, prediction)

    def prediction_columns(
        self,
        y_true: np.ndarray | None,
        prediction: np.ndarray,
        *,
        classes: list[str] | None = None,
        reference: Reference | None = None,
    ) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        if y_true is not None:
            columns["y_true"] = y_true
        columns["prediction"] = prediction
        return columns

    def baseline(
        self,
        family: str,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> BaselineModel:
        self.baseline_label(family)
        return fit_regressor(family, X, y, seed=seed, n_jobs=n_jobs)


class TargetScaler:
    """Standardizes a regression target with the mean and sd of the training part of a fold."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.sd: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"TargetScaler(mean={self.mean}, sd={self.sd})"

    def fit(self, y: np.ndarray) -> TargetScaler:
        """Learn mean and sd (over axis 0) from the training targets ``y`` ``[n]`` or ``[n, t]``."""
        y = np.asarray(y, dtype=np.float64)
        if len(y) == 0 or not np.isfinite(y).all():
            raise BiozooError("the regression target is empty or has missing or infinite values.")
        sd = y.std(axis=0)
        self.mean, self.sd = np.asarray(y.mean(axis=0)), np.asarray(np.where(sd > 0, sd, 1.0))
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        """``(y - mean) / sd`` as float32."""
        mean, sd = self._fitted()
        return ((np.asarray(y, dtype=np.float64) - mean) / sd).astype(np.float32)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """``z * sd + mean`` as float32: predictions back on the target's scale."""
        mean, sd = self._fitted()
        return (np.asarray(z, dtype=np.float64) * sd + mean).astype(np.float32)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays ``mean`` and ``sd`` (shape ``[1]`` for a 1-D target) and a small meta dict."""
        mean, sd = self._fitted()
        arrays = {"mean": np.atleast_1d(mean).copy(), "sd": np.atleast_1d(sd).copy()}
        return arrays, {"kind": "TargetScaler", "ndim": int(mean.ndim)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TargetScaler:
        """Rebuild from :meth:`state`'s output."""
        if meta.get("kind") != "TargetScaler":
            raise ValueError("not the saved state of a TargetScaler")
        ts = cls()
        mean, sd = np.asarray(arrays["mean"]), np.asarray(arrays["sd"])
        if meta["ndim"] == 0:
            mean, sd = mean.reshape(()), sd.reshape(())
        ts.mean, ts.sd = mean, sd
        return ts

    @property
    def output_scale(self) -> float:
        """The target's sd: one unit of the standardized output in target units."""
        return float(np.atleast_1d(self._fitted()[1])[0])

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.sd is None:
            raise RuntimeError("TargetScaler is not fitted; call fit() first")
        return self.mean, self.sd
