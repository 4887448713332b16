"""Outer evaluation splits and the inner validation split used for early stopping.

Every method of a comparison gets the same folds from :func:`make_splits`, which wraps
scikit-learn's splitters so a given ``seed`` reproduces scikit-learn's own folds exactly
(positions are returned sorted). Classification splits are stratified.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
)

from biozoo.errors import BiozooError

__all__ = ["Split", "inner_split", "make_splits"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Split:
    """One outer split: integer positions (sorted) of its training and test samples.

    Attributes:
        name: ``r<repeat>-f<fold>`` for k-fold, ``h<i>`` for hold-out.
        train: int64 positions of the training samples.
        test: int64 positions of the test samples.
    """

    name: str
    train: np.ndarray
    test: np.ndarray


def make_splits(
    y: np.ndarray,
    *,
    stratify: np.ndarray | None = None,
    kind: str = "kfold",
    folds: int = 5,
    repeats: int = 1,
    test_size: float = 0.3,
    seed: int = 0,
) -> list[Split]:
    """Outer splits of the samples, the same for every method compared.

    ``kfold`` uses ``RepeatedStratifiedKFold`` (with ``stratify`` labels) or ``RepeatedKFold``
    (without) with ``n_splits=folds, n_repeats=repeats, random_state=seed``; ``holdout``
    uses ``StratifiedShuffleSplit`` or ``ShuffleSplit`` with ``n_splits=repeats``,
    ``test_size`` and ``random_state=seed``, so ``repeats=5`` gives exactly the splits of
    ``StratifiedShuffleSplit(5, test_size=0.3, random_state=0)`` for the defaults.

    Args:
        y: targets ``[n]`` or ``[n, t]`` (only their number is used).
        stratify: labels ``[n]`` to stratify on (the task's
            :meth:`~biozoo.tasks.base.Task.stratify_labels`: classes, or survival's event),
            or None for plain shuffled splits.
        kind: ``kfold`` or ``holdout``.
        folds: number of folds (``kfold``).
        repeats: repetitions of the k-fold, or number of hold-out splits.
        test_size: fraction of samples held out (``holdout``).
        seed: random state of the splitter.

    Returns:
        ``folds * repeats`` (k-fold) or ``repeats`` (hold-out) splits, in scikit-learn's order.

    Raises:
        BiozooError: too few samples, or a class too small to stratify.
    """
    n = len(y)
    classify = stratify is not None
    if classify:
        y = np.asarray(stratify)
    if kind == "kfold":
        if folds < 2 or folds > n:
            raise BiozooError(f"a {folds}-fold split needs at least 2 folds and {folds} samples.")
        if classify:
            _check_class_sizes(y, folds, f"a stratified {folds}-fold split")
            splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        else:
            splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        names = [f"r{r}-f{f}" for r in range(repeats) for f in range(folds)]
    elif kind == "holdout":
        if not 0.0 < test_size < 1.0:
            raise BiozooError(f"test_size must lie between 0 and 1, got {test_size}.")
        if classify:
            _check_stratified_shuffle(y, test_size, "the stratified hold-out split")
            splitter = StratifiedShuffleSplit(
                n_splits=repeats, test_size=test_size, random_state=seed
            )
        else:
            _check_shuffle(n, test_size, "the hold-out split")
            splitter = ShuffleSplit(n_splits=repeats, test_size=test_size, random_state=seed)
        names = [f"h{i}" for i in range(repeats)]
    else:
        raise ValueError(f"kind must be 'kfold' or 'holdout', got {kind!r}")
    return [
        Split(name, np.sort(train).astype(np.int64), np.sort(test).astype(np.int64))
        for name, (train, test) in zip(
            names, splitter.split(np.zeros((n, 1)), stratify), strict=True
        )
    ]


def inner_split(
    y: np.ndarray,
    *,
    stratify: np.ndarray | None = None,
    val_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Split training samples into a fit part and a validation part for early stopping.

    Stratified on ``stratify`` when given; when a label is too rare to stratify, it logs a
    warning and falls back to a plain shuffle split. Deterministic given ``seed``.

    Args:
        y: targets of the training samples ``[n]`` or ``[n, t]`` (only their number is used).
        stratify: labels ``[n]`` to stratify on, or None.
        val_fraction: fraction of samples for validation, in ``(0, 1)``.
        seed: random state.

    Returns:
        Sorted int64 positions into ``y`` of the fit part and of the validation part; neither
        is empty.

    Raises:
        BiozooError: fewer than two samples.
    """
    n = len(y)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie between 0 and 1, got {val_fraction}")
    where = "the inner validation split"
    _check_shuffle(n, val_fraction, where)
    splitter: StratifiedShuffleSplit | ShuffleSplit
    if stratify is not None:
        try:
            _check_stratified_shuffle(np.asarray(stratify), val_fraction, where)
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
        except BiozooError as err:
            stratify = None
            log.warning("%s is not stratified: %s", where, err)
            splitter = ShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    else:
        splitter = ShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    fit, val = next(splitter.split(np.zeros((n, 1)), stratify))
    return np.sort(fit).astype(np.int64), np.sort(val).astype(np.int64)


def _check_class_sizes(y: np.ndarray, need: int, what: str) -> None:
    classes, counts = np.unique(y, return_counts=True)
    small = np.flatnonzero(counts < need)
    if len(small):
        c, k = classes[small[0]].item(), int(counts[small[0]])
        raise BiozooError(
            f"class {c!r} has only {k} sample{'s' if k != 1 else ''}, fewer than the {need} "
            f"needed for {what}."
        )


def _split_sizes(n: int, test_size: float) -> tuple[int, int]:
    """Train and test sizes as scikit-learn's shuffle splitters compute them."""
    n_test = math.ceil(test_size * n)
    return math.floor((1.0 - test_size) * n), n_test


def _check_shuffle(n: int, test_size: float, what: str) -> None:
    n_train, n_test = _split_sizes(n, test_size)
    if n_train < 1 or n_test < 1 or n_train + n_test > n:
        raise BiozooError(
            f"{what} with a fraction of {test_size} of {n} samples leaves a part empty."
        )


def _check_stratified_shuffle(y: np.ndarray, test_size: float, what: str) -> None:
    _check_class_sizes(y, 2, what)
    n_classes = len(np.unique(y))
    n_train, n_test = _split_sizes(len(y), test_size)
    if min(n_train, n_test) < n_classes:
        raise BiozooError(
            f"{what} with a fraction of {test_size} of {len(y)} samples gives {n_train} "
            f"training and {n_test} held-out samples, too few for {n_classes} classes."
        )
