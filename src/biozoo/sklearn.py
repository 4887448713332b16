"""scikit-learn estimators over a biozoo model: :class:`BiozooClassifier`, :class:`BiozooRegressor`.

An estimator is a model spec (the ``models.<name>`` section of a run config: encoders,
fusion, head, its own ``training`` keys) plus the run's ``training`` keys. ``fit(X, y)``
fits the modalities' fold transforms on ``X`` and trains one ensemble on it, as one split of
a run does; no run folder is written.

``X`` is one table (a DataFrame or an array: one modality named ``x``), or several: a dict
of DataFrames (modality name -> table; rows follow the first table's index, the others are
aligned to it by index), or equivalently one DataFrame whose columns have two levels
(modality, feature), such as ``pd.concat(tables, axis=1)``. Use the latter in
``cross_val_score`` and ``GridSearchCV``, which split ``X`` by rows and cannot index a dict. A
sample whose values of a modality are all missing lacks that modality; other missing values
are imputed by the modality's transforms.

Nested parameters of ``training`` are set like those of a pipeline step:
``set_params(training__lr=0.01)``, or ``{"training__lr": [...]}`` in a parameter grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from biozoo.api import parse_config
from biozoo.config import ModelConfig, RunConfig, TrainingConfig
from biozoo.data.cohort import Cohort, TableModality
from biozoo.errors import BiozooError
from biozoo.tasks import TASKS, Task
from biozoo.train.experiment import FittedModel, fit_model

__all__ = ["BiozooClassifier", "BiozooRegressor", "EstimatorInputError"]

MODEL = "model"
"""The estimator's model in its run config (error messages name ``models.model...``)."""

TABLE = "x"
"""The modality name of an ``X`` that is a single table."""


class EstimatorInputError(BiozooError, ValueError):
    """Bad ``X``, ``y`` or parameters of an estimator: a :class:`BiozooError` that
    scikit-learn's tools, which expect a ValueError, recognise."""


class _BiozooEstimator(BaseEstimator):
    """What the classifier and the regressor share: ``X`` to a cohort, the config, the fit.

    Args:
        model: the model spec, a :class:`~biozoo.config.ModelConfig` or its mapping (default:
            an MLP per modality, concatenated).
        training: the run's ``training`` keys, a :class:`~biozoo.config.TrainingConfig` or
            its mapping (default: its defaults; the model's own ``training`` keys win).
        modalities: modality name -> the keys of a table modality of a run config other than
            its source (``transforms``, ``tokenizer``, ``graph``); default: a standardised
            matrix of every table.
    """

    def __init__(
        self,
        model: ModelConfig | Mapping[str, Any] | None = None,
        *,
        training: TrainingConfig | Mapping[str, Any] | None = None,
        modalities: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.model = model
        self.training = training
        self.modalities = modalities

    # -- scikit-learn protocol -----------------------------------------------------------

    def set_params(self, **params: Any) -> Self:
        """Set parameters; ``training__<key>`` sets one key of ``training``."""
        nested = {k: v for k, v in params.items() if k.startswith("training__")}
        if nested:
            training = self.training
            if isinstance(training, BaseModel):
                training = training.model_dump(exclude_unset=True)
            # a new mapping: the old one may be shared with clones of this estimator
            self.training = {
                **dict(training or {}),
                **{k.removeprefix("training__"): v for k, v in nested.items()},
            }
        return super().set_params(**{k: v for k, v in params.items() if k not in nested})

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed by the fold transforms
        return tags

    def fit(self, X: Any, y: Any) -> Self:
        """Fit the transforms on ``X`` and train the model's ensemble.

        Args:
            X: one table or several (see the module docstring).
            y: the target, one value per row of ``X``.

        Returns:
            The fitted estimator, with ``config_`` (the run config it was trained as),
            ``model_`` (the :class:`~biozoo.train.experiment.FittedModel`), ``modalities_``
            (modality name -> its features) and ``n_features_in_``.

        Raises:
            BiozooError: a bad model spec, training key or modality option, naming it.
        """
        frames, y = self._frames(X, y, fitting=True)
        target, task, classes = self._target(y)
        self.modalities_ = {name: list(frame.columns) for name, frame in frames.items()}
        self.config_ = self._config(task)
        cohort = _cohort(frames, target, TASKS.get(task)(), classes)
        self.model_ = fit_model(self.config_, MODEL, cohort)
        return self

    # -- steps ----------------------------------------------------------------------------

    def _target(self, y: np.ndarray) -> tuple[np.ndarray, str, list[str] | None]:
        """The cohort's target, its task and its classes (as str)."""
        raise NotImplementedError

    def _predicted(self, X: Any) -> np.ndarray:
        """The ensemble's mean prediction for ``X``: ``[n, C]`` or ``[n]``."""
        check_is_fitted(self, "model_")
        frames, _ = self._frames(X, None, fitting=False)
        if list(frames) != list(self.modalities_):
            raise EstimatorInputError(
                f"X has modalities {', '.join(frames)}, but the estimator was fitted on "
                f"{', '.join(self.modalities_)}."
            )
        model: FittedModel = self.model_
        return model.predict(_cohort(frames, None, model.task, None))

    def _frames(self, X: Any, y: Any, *, fitting: bool) -> tuple[dict[str, pd.DataFrame], Any]:
        """``X`` as modality name -> table (float), checked as scikit-learn checks ``X``
        (and ``y`` when ``fitting``)."""
        if isinstance(X, Mapping) and not issparse(X):  # a dok matrix is a dict too
            X = _joined(X)
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        checks = {"ensure_all_finite": "allow-nan", "dtype": np.float64}
        if fitting:
            values, y = validate_data(
                self, X, y, y_numeric=self._numeric, ensure_min_samples=2, **checks
            )
        else:
            values = validate_data(self, X, reset=False, **checks)
        if isinstance(columns, pd.MultiIndex) and columns.nlevels == 2:
            names = columns.get_level_values(0)
            frames = {
                str(name): pd.DataFrame(
                    values[:, names == name],
                    columns=[str(c) for c in columns.get_level_values(1)[names == name]],
                )
                for name in names.unique()
            }
        else:
            labels = [str(c) for c in columns] if columns is not None else None
            frames = {TABLE: pd.DataFrame(values, columns=labels)}
            if labels is None:
                frames[TABLE].columns = [f"x{j}" for j in range(values.shape[1])]
        return frames, y

    _numeric = False

    def _config(self, task: str) -> RunConfig:
        """The run config this estimator trains as: its modalities, model and training."""
        modalities = {}
        for name in self.modalities_:
            options = dict((self.modalities or {}).get(name, {}))
            for key in ("path", "dataset", "kind"):
                if key in options:
                    raise EstimatorInputError(
                        f"modalities.{name}.{key} does not apply: the estimator's tables come "
                        f"from X."
                    )
            modalities[name] = {**options, "path": f"X[{name}]"}
        for name in self.modalities or {}:
            if name not in self.modalities_:
                raise EstimatorInputError(
                    f"modalities.{name} names no modality of X ({', '.join(self.modalities_)})."
                )
        raw = {
            "name": "estimator",
            "data": {
                "modalities": modalities,
                "target": {"path": "y", "column": "y", "task": task},
            },
            "models": {MODEL: ModelConfig() if self.model is None else self.model},
            "training": TrainingConfig() if self.training is None else self.training,
            "baselines": [],
            "output": {"latents": False, "save_models": False, "report": False},
        }
        return parse_config(raw, source=type(self).__name__)


class BiozooClassifier(ClassifierMixin, _BiozooEstimator):
    """A biozoo model as a scikit-learn classifier (binary or multiclass).

    See :class:`_BiozooEstimator` for the parameters. ``classes_`` are the sorted distinct
    values of ``y``; ``predict_proba`` has one column per class, in that order.
    """

    def _target(self, y: np.ndarray) -> tuple[np.ndarray, str, list[str] | None]:
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise EstimatorInputError(
                f"y has one class ({self.classes_[0]!r}); a classifier needs at least 2."
            )
        task = "binary" if len(self.classes_) == 2 else "multiclass"
        return codes.astype(np.int64), task, [str(c) for c in self.classes_]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[n, n_classes]``, the ensemble members' mean."""
        return self._predicted(X).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X``."""
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]


class BiozooRegressor(RegressorMixin, _BiozooEstimator):
    """A biozoo model as a scikit-learn regressor (one numeric target).

    See :class:`_BiozooEstimator` for the parameters.
    """

    _numeric = True

    def _target(self, y: np.ndarray) -> tuple[np.ndarray, str, list[str] | None]:
        return np.asarray(y, dtype=np.float32), "regression", None

    def predict(self, X: Any) -> np.ndarray:
        """The ensemble members' mean prediction for each row of ``X``."""
        return self._predicted(X).astype(np.float64)


def _joined(tables: Mapping[str, Any]) -> pd.DataFrame:
    """A dict of tables as one frame with (modality, feature) columns, rows of the first."""
    if not tables:
        raise EstimatorInputError("X is an empty dict; give one table per modality.")
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            raise EstimatorInputError(
                f"X[{name!r}] is a {type(table).__name__}; a dict X holds DataFrames, aligned "
                f"by index."
            )
    index = next(iter(tables.values())).index
    for name, table in tables.items():
        if not table.index.is_unique:
            raise EstimatorInputError(
                f"X[{name!r}] has duplicate index values; rows are matched by index."
            )
    return pd.concat({str(k): t.reindex(index) for k, t in tables.items()}, axis=1)


def _cohort(
    frames: dict[str, pd.DataFrame],
    target: np.ndarray | None,
    task: Task,
    classes: list[str] | None,
) -> Cohort:
    """An in-memory cohort: one table modality per frame, samples in row order."""
    n = len(next(iter(frames.values())))
    modalities = {}
    for name, frame in frames.items():
        values = frame.to_numpy(dtype=np.float32)
        modalities[name] = TableModality(
            name=name,
            values=values,
            features=list(frame.columns),
            present=~np.isnan(values).all(axis=1),
            source=f"X[{name}]",
        )
    ids = np.arange(n).astype(str).astype(object)
    return Cohort(ids=ids, modalities=modalities, target=target, task=task, classes=classes)
