"""Outer evaluation splits and the inner validation split used for early stopping.

Every method of a comparison gets the same splits from :func:`cohort_splits`. The split
``kind`` of a run config is looked up in :data:`SPLIT_KINDS`; each kind validates the keys it
uses and makes the splits of a cohort:

- ``kfold`` and ``holdout`` wrap scikit-learn's splitters, so a given ``seed`` reproduces
  scikit-learn's own folds exactly (:func:`make_splits`); classification splits are stratified;
- ``predefined`` reads a data set's official split from a column of the target file
  (:mod:`biozoo.data.predefined_split`);
- ``scaffold`` keeps molecules of one Bemis-Murcko scaffold on one side
  (:mod:`biozoo.data.molecule.scaffold`).

Positions in a :class:`Split` are sorted. Adding a kind is one class registered with
``@SPLIT_KINDS.register(name)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

import numpy as np
from pydantic import Field, PositiveInt, field_validator, model_validator
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
)

from biozoo.data.spec import Strict, check_names
from biozoo.errors import BiozooError
from biozoo.registry import Registry

if TYPE_CHECKING:
    from biozoo.data.cohort import Cohort
    from biozoo.data.spec import TargetConfig

__all__ = [
    "SPLIT_KINDS",
    "LabelSplitKind",
    "Split",
    "SplitConfig",
    "SplitKind",
    "check_split",
    "cohort_splits",
    "inner_split",
    "make_splits",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One outer split: integer positions (sorted) of its training and test samples.

    Attributes:
        name: ``r<repeat>-f<fold>`` for k-fold, ``h<i>`` for hold-out, the column's name for
            a predefined split.
        train: int64 positions of the training samples.
        test: int64 positions of the test samples.
        val: int64 positions (a subset of ``train``) of the training samples that early
            stopping validates on, when the split prescribes them (a predefined ``val``);
            None lets :func:`inner_split` draw them.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray | None = None

    def val_in_train(self) -> np.ndarray | None:
        """Positions of :attr:`val` within :attr:`train` (both sorted), or None."""
        return None if self.val is None else np.searchsorted(self.train, self.val)


class SplitConfig(Strict):
    """Outer evaluation splits: ``training.split`` of a run config.

    ``kind`` names a :data:`SPLIT_KINDS` entry; each kind reads the keys it needs and
    rejects the ones that are not for it: ``folds`` and ``repeats`` (``kfold``,
    ``scaffold``), ``repeats`` and ``test_size`` (``holdout``), ``column`` (``predefined``:
    one column, or a list of columns for several splits), ``modality`` (``scaffold``: the
    molecule modality, needed only when the data has several).
    """

    kind: str = "kfold"
    folds: int = Field(5, ge=2)
    repeats: PositiveInt = 1
    test_size: float = Field(0.3, gt=0.0, lt=1.0)
    column: str | list[str] | None = None
    modality: str | None = None

    @field_validator("column")
    @classmethod
    def _columns_name_splits(cls, value: str | list[str] | None) -> str | list[str] | None:
        columns = [value] if isinstance(value, str) else value or []
        check_names(columns, "split column")
        if len(set(columns)) < len(columns):
            raise ValueError("a split column is listed twice")
        if isinstance(value, list) and not value:
            raise ValueError("give at least one split column")
        return value

    @model_validator(mode="after")
    def _kind_takes_these_keys(self) -> Self:
        if self.kind not in SPLIT_KINDS:
            raise ValueError(SPLIT_KINDS.unknown_message(self.kind, where="kind"))
        self.splitter()
        return self

    def splitter(self) -> SplitKind:
        """The kind's splitter for these options.

        Raises:
            ValueError: a key the kind needs is missing, or one it does not use is set.
        """
        return SPLIT_KINDS.get(self.kind)(self)

    @property
    def n_splits(self) -> int:
        """How many splits this config makes."""
        return self.splitter().count

    @property
    def columns(self) -> list[str]:
        """``column`` as a list (empty when unset)."""
        return [self.column] if isinstance(self.column, str) else list(self.column or [])


@runtime_checkable
class SplitKind(Protocol):
    """One kind of outer split.

    A kind is a class built from a :class:`SplitConfig`; its constructor raises
    ``ValueError`` for a key the kind needs but lacks, or one it does not use.
    """

    @property
    def count(self) -> int:
        """How many splits :meth:`make` returns."""
        ...

    def make(self, cohort: Cohort, *, seed: int, target: TargetConfig | None = None) -> list[Split]:
        """The splits of ``cohort`` (``target`` is where its labels were read from)."""
        ...


@runtime_checkable
class LabelSplitKind(SplitKind, Protocol):
    """A kind that needs nothing but the number of samples and the labels to stratify on."""

    def from_labels(self, n: int, stratify: np.ndarray | None, *, seed: int) -> list[Split]:
        """The splits of ``n`` samples, stratified on ``stratify`` when given."""
        ...


SPLIT_KINDS: Registry[type[SplitKind]] = Registry("split kind")


def check_split(cfg: SplitConfig, kind: str, used: set[str]) -> None:
    """Raise ``ValueError`` for a key that ``kind`` does not use but the config sets.

    Only the keys without a default (``column``, ``modality``) can be told apart from their
    defaults, so only they are checked.
    """
    for key in ("column", "modality"):
        if key not in used and getattr(cfg, key) is not None:
            raise ValueError(f"split kind {kind!r} does not use {key!r}")


def cohort_splits(
    cohort: Cohort, cfg: SplitConfig, *, seed: int, target: TargetConfig | None = None
) -> list[Split]:
    """The outer splits of ``cohort`` that ``cfg`` asks for.

    Args:
        cohort: the aligned cohort (with its target).
        cfg: ``training.split`` of the run config.
        seed: the run seed.
        target: the ``data.target`` section the cohort's labels were read from (the
            ``predefined`` kind reads its column from the same file).

    Returns:
        The splits, in the kind's order; no sample is on both sides of one.

    Raises:
        BiozooError: the cohort cannot be split so (one sentence naming the problem).
    """
    return cfg.splitter().make(cohort, seed=seed, target=target)


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
    """Splits of samples known only by their number and labels (``kfold``, ``holdout``).

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
        kind: a :data:`SPLIT_KINDS` entry that needs only labels (:class:`LabelSplitKind`).
        folds: number of folds (``kfold``).
        repeats: repetitions of the k-fold, or number of hold-out splits.
        test_size: fraction of samples held out (``holdout``).
        seed: random state of the splitter.

    Returns:
        ``folds * repeats`` (k-fold) or ``repeats`` (hold-out) splits, in scikit-learn's order.

    Raises:
        BiozooError: an unknown kind, too few samples, or a class too small to stratify.
        ValueError: ``kind`` needs more than labels (use :func:`cohort_splits`).
    """
    if kind not in SPLIT_KINDS:
        raise BiozooError(SPLIT_KINDS.unknown_message(kind))
    cfg = SplitConfig.model_construct(
        kind=kind, folds=folds, repeats=repeats, test_size=test_size, column=None, modality=None
    )
    splitter = cfg.splitter()
    if not isinstance(splitter, LabelSplitKind):
        raise ValueError(f"split kind {kind!r} needs a cohort; use cohort_splits")
    return splitter.from_labels(len(y), stratify, seed=seed)


class _LabelSplits:
    """Shared by the kinds that split on labels alone: :meth:`make` reads the cohort's."""

    def from_labels(self, n: int, stratify: np.ndarray | None, *, seed: int) -> list[Split]:
        raise NotImplementedError

    def make(self, cohort: Cohort, *, seed: int, target: TargetConfig | None = None) -> list[Split]:
        return self.from_labels(len(cohort), cohort.stratify_labels, seed=seed)


@SPLIT_KINDS.register("kfold")
class KFoldSplits(_LabelSplits):
    """Repeated (stratified) k-fold: ``folds * repeats`` splits named ``r<i>-f<j>``."""

    def __init__(self, cfg: SplitConfig) -> None:
        check_split(cfg, "kfold", set())
        self.folds, self.repeats = cfg.folds, cfg.repeats

    @property
    def count(self) -> int:
        return self.folds * self.repeats

    def from_labels(self, n: int, stratify: np.ndarray | None, *, seed: int) -> list[Split]:
        folds, repeats = self.folds, self.repeats
        if folds < 2 or folds > n:
            raise BiozooError(f"a {folds}-fold split needs at least 2 folds and {folds} samples.")
        splitter: RepeatedStratifiedKFold | RepeatedKFold
        if stratify is not None:
            _check_class_sizes(np.asarray(stratify), folds, f"a stratified {folds}-fold split")
            splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        else:
            splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        names = [f"r{r}-f{f}" for r in range(repeats) for f in range(folds)]
        return _sorted_splits(names, splitter.split(np.zeros((n, 1)), stratify))


@SPLIT_KINDS.register("holdout")
class HoldoutSplits(_LabelSplits):
    """Repeated (stratified) hold-out: ``repeats`` splits named ``h<i>``."""

    def __init__(self, cfg: SplitConfig) -> None:
        check_split(cfg, "holdout", set())
        self.repeats, self.test_size = cfg.repeats, cfg.test_size

    @property
    def count(self) -> int:
        return self.repeats

    def from_labels(self, n: int, stratify: np.ndarray | None, *, seed: int) -> list[Split]:
        test_size = self.test_size
        if not 0.0 < test_size < 1.0:
            raise BiozooError(f"test_size must lie between 0 and 1, got {test_size}.")
        splitter: StratifiedShuffleSplit | ShuffleSplit
        if stratify is not None:
            where = "the stratified hold-out split"
            _check_stratified_shuffle(np.asarray(stratify), test_size, where)
            splitter = StratifiedShuffleSplit(
                n_splits=self.repeats, test_size=test_size, random_state=seed
            )
        else:
            _check_shuffle(n, test_size, "the hold-out split")
            splitter = ShuffleSplit(n_splits=self.repeats, test_size=test_size, random_state=seed)
        names = [f"h{i}" for i in range(self.repeats)]
        return _sorted_splits(names, splitter.split(np.zeros((n, 1)), stratify))


def _sorted_splits(names: list[str], pairs) -> list[Split]:
    return [
        Split(name, np.sort(train).astype(np.int64), np.sort(test).astype(np.int64))
        for name, (train, test) in zip(names, pairs, strict=True)
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
