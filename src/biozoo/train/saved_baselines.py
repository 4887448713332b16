"""Fitted classical baselines in a run folder: written with skops, read with trusted types only.

A run with ``output.save_models`` keeps each split's fitted baseline as
``models/baselines/<name>/<split>.skops`` (:meth:`~biozoo.train.runfolder.RunLayout.baseline`),
so that ``biozoo predict RUN --method linear`` can score new samples with the baseline that
won. skops (https://skops.readthedocs.io/en/stable/persistence.html) stores an object's
state without pickle, and loading it builds only the types it is told to trust.

Trusted are skops' own defaults (builtins, numpy, scikit-learn's estimators) and the types a
biozoo baseline is made of: :data:`BASELINE_TYPES` and the registered tasks (the patient
GCN keeps its task). A file that holds any other type was not written by a biozoo run, and
is refused unread with one sentence.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import skops.io as sio

from biozoo.errors import BiozooError
from biozoo.tasks import TASKS, BaselineModel

__all__ = ["BASELINE_TYPES", "baseline_bytes", "load_baseline", "save_baseline", "trusted_types"]

BASELINE_TYPES = (
    "biozoo.tasks.estimators.FittedClassifier",
    "biozoo.tasks.estimators.FittedEstimator",
    "biozoo.tasks.survival_estimators.CoxnetCV",
    "biozoo.tasks.survival_estimators.SurvivalModel",
    "biozoo.tasks.survival_estimators._LogRisk",
    "biozoo.train.baselines.patient_gcn.PatientGCN",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.forest.RandomSurvivalForest",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.tree.tree.SurvivalTree",
)
"""Types beyond skops' defaults that the fitted baselines are made of (their wrappers, and
the scikit-learn and scikit-survival parts skops does not trust by default)."""


def trusted_types() -> set[str]:
    """:data:`BASELINE_TYPES` and every registered task class."""
    tasks = {f"{cls.__module__}.{cls.__qualname__}" for cls in map(TASKS.get, TASKS.names())}
    return set(BASELINE_TYPES) | tasks


_WRITTEN: dict[int, tuple[weakref.ref, bytes]] = {}
"""id(model) -> (the model, its file's bytes): a model written once (its run unit's record)
or read from a file is not serialised again when the run folder is saved (about 1 s for a
random forest). Entries leave with their model."""


def baseline_bytes(model: BaselineModel) -> bytes:
    """A fitted baseline's model in the file format of :func:`save_baseline` (the bytes it
    was last written or read as, when it has not been replaced since)."""
    known = _WRITTEN.get(id(model))
    if known is not None and known[0]() is model:
        return known[1]
    data = sio.dumps(model)
    _remember(model, data)
    return data


def _remember(model: BaselineModel, data: bytes) -> None:
    key = id(model)
    try:
        ref = weakref.ref(model, lambda _, key=key: _WRITTEN.pop(key, None))
    except TypeError:  # a type without weak references is serialised each time
        return
    _WRITTEN[key] = (ref, data)


def save_baseline(path: Path, model: BaselineModel) -> None:
    """Write a fitted baseline's model (skops format; no pickle)."""
    Path(path).write_bytes(baseline_bytes(model))


def load_baseline(path: Path) -> BaselineModel:
    """Read a baseline written by :func:`save_baseline`, building trusted types only.

    Raises:
        BiozooError: the file is missing or damaged, or holds a type that no biozoo
            baseline is made of (it is then not loaded at all).
    """
    path = Path(path)
    if not path.is_file():
        raise BiozooError(f"{path} does not exist; the run saved no such baseline.")
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as err:  # zip, json and skops each have their own errors
        why = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise BiozooError(f"{path} is damaged ({why}); it cannot be read.") from None
    untrusted = sorted(set(found) - trusted_types())
    if untrusted:
        raise BiozooError(
            f"{path} holds the untrusted type {untrusted[0]!r}, which no biozoo baseline is "
            "made of, so it was not loaded (was the file replaced?)."
        )
    data = path.read_bytes()
    model = sio.loads(data, trusted=list(found))
    _remember(model, data)
    return model
