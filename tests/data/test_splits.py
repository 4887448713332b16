"""Tests of the outer splits and the inner validation split."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
)

from biozoo.data.splits import (
    SPLIT_KINDS,
    Split,
    SplitConfig,
    cohort_splits,
    inner_split,
    make_splits,
)
from biozoo.errors import BiozooError

# the lecture's cohort: 80 without liver disease, 137 steatosis, 83 NASH
Y3 = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [80, 137, 83]))


def same(splits: list[Split], reference) -> bool:
    ref = list(reference)
    return len(ref) == len(splits) and all(
        np.array_equal(s.train, np.sort(tr)) and np.array_equal(s.test, np.sort(te))
        for s, (tr, te) in zip(splits, ref, strict=True)
    )


def test_holdout_equals_stratified_shuffle_split() -> None:
    splits = make_splits(Y3, stratify=Y3, kind="holdout", repeats=5, test_size=0.3)
    assert [s.name for s in splits] == ["h0", "h1", "h2", "h3", "h4"]
    ref = StratifiedShuffleSplit(5, test_size=0.3, random_state=0).split(np.zeros(300), Y3)
    assert same(splits, ref)


def test_kfold_equals_repeated_stratified_kfold() -> None:
    splits = make_splits(Y3, stratify=Y3, folds=5, repeats=2, seed=3)
    assert [s.name for s in splits[:6]] == ["r0-f0", "r0-f1", "r0-f2", "r0-f3", "r0-f4", "r1-f0"]
    ref = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=3).split(Y3, Y3)
    assert same(splits, ref)
    for r in range(2):  # each sample is tested exactly once per repeat
        tests = np.concatenate([s.test for s in splits[5 * r : 5 * r + 5]])
        assert np.array_equal(np.sort(tests), np.arange(300))
    for s in splits:
        assert s.train.dtype == np.int64 and np.all(np.diff(s.train) > 0)
        assert len(np.intersect1d(s.train, s.test)) == 0 and len(s.train) + len(s.test) == 300


def test_regression_uses_plain_splitters() -> None:
    y = np.linspace(0, 1, 23)
    kf = make_splits(y, folds=4, repeats=2, seed=1)
    assert same(kf, RepeatedKFold(n_splits=4, n_repeats=2, random_state=1).split(y))
    ho = make_splits(y, kind="holdout", repeats=3, test_size=0.25, seed=1)
    assert same(ho, ShuffleSplit(3, test_size=0.25, random_state=1).split(y))


@pytest.mark.parametrize("kind", ["kfold", "holdout"])
def test_splits_are_stratified_and_deterministic(kind) -> None:
    a = make_splits(Y3, stratify=Y3, kind=kind, repeats=2, seed=7)
    b = make_splits(Y3, stratify=Y3, kind=kind, repeats=2, seed=7)
    c = make_splits(Y3, stratify=Y3, kind=kind, repeats=2, seed=8)
    assert all(np.array_equal(x.test, z.test) for x, z in zip(a, b, strict=True))
    assert any(not np.array_equal(x.test, z.test) for x, z in zip(a, c, strict=True))
    share = np.bincount(Y3) / 300
    for s in a:
        got = np.bincount(Y3[s.test], minlength=3)
        assert np.all(np.abs(got - share * len(s.test)) <= 1)


def test_split_is_frozen() -> None:
    s = make_splits(Y3, stratify=Y3)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "x"  # type: ignore[misc]


def test_errors_name_the_class_and_its_count() -> None:
    y = np.array([0] * 10 + [1] * 3)
    with pytest.raises(BiozooError, match=r"^class 1 has only 3 samples, fewer than the 5 "):
        make_splits(y, stratify=y, folds=5)
    y1 = np.array([0] * 10 + [1])
    with pytest.raises(BiozooError, match=r"class 1 has only 1 sample, .*hold-out"):
        make_splits(y1, stratify=y1, kind="holdout")
    with pytest.raises(BiozooError, match="too few for 3 classes"):
        y12 = np.repeat([0, 1, 2], 4)
        make_splits(y12, stratify=y12, kind="holdout", test_size=0.1)
    with pytest.raises(BiozooError, match="5-fold split needs"):
        make_splits(np.arange(3.0), folds=5)
    with pytest.raises(BiozooError, match="unknown split kind 'loo'"):
        make_splits(Y3, stratify=Y3, kind="loo")
    with pytest.raises(ValueError, match="needs a cohort"):
        make_splits(Y3, stratify=Y3, kind="scaffold")


def test_inner_split_is_stratified_and_deterministic() -> None:
    fit, val = inner_split(Y3, stratify=Y3, val_fraction=0.2, seed=4)
    again = inner_split(Y3, stratify=Y3, val_fraction=0.2, seed=4)
    assert np.array_equal(fit, again[0]) and np.array_equal(val, again[1])
    assert np.array_equal(np.sort(np.r_[fit, val]), np.arange(300)) and len(val) == 60
    got = np.bincount(Y3[val], minlength=3)
    assert np.all(np.abs(got - np.bincount(Y3) * 0.2) <= 1)
    other = inner_split(Y3, stratify=Y3, val_fraction=0.2, seed=5)[1]
    assert not np.array_equal(val, other)


def test_inner_split_falls_back_with_a_warning(caplog) -> None:
    y = np.array([0] * 8 + [1])
    with caplog.at_level(logging.WARNING, logger="biozoo.data.splits"):
        fit, val = inner_split(y, stratify=y, val_fraction=0.25, seed=0)
    assert "not stratified" in caplog.text and "class 1" in caplog.text
    assert len(fit) and len(val) and len(fit) + len(val) == 9


def test_inner_split_regression_and_tiny_inputs() -> None:
    fit, val = inner_split(np.arange(2.0), val_fraction=0.2, seed=0)
    assert len(fit) == 1 and len(val) == 1
    with pytest.raises(BiozooError, match="leaves a part empty"):
        inner_split(np.arange(1.0), val_fraction=0.2, seed=0)


# ---------------------------------------------------------------- every registered kind

KIND_OPTIONS = {"predefined": {"column": "official"}}


@pytest.fixture(scope="module")
def molecules(tmp_path_factory):
    """A 24-molecule regression cohort whose labels carry a predefined split column."""
    from biozoo.api import parse_config
    from biozoo.data.align import load_cohort

    folder = tmp_path_factory.mktemp("kinds")
    rings = ["c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccc2ccccc2c1", "C1CCNCC1", "c1ccsc1"]
    smiles = [f"{'C' * (i // 6)}{rings[i % 6]}" if i < 18 else "C" * (i - 16) for i in range(24)]
    (folder / "mols.csv").write_text(
        "id,smiles\n" + "".join(f"m{i:02d},{s}\n" for i, s in enumerate(smiles))
    )
    side = ["test" if i % 4 == 0 else "val" if i % 4 == 1 else "train" for i in range(24)]
    (folder / "labels.csv").write_text(
        "id,y,official\n" + "".join(f"m{i:02d},{i / 3},{side[i]}\n" for i in range(24))
    )
    data = {
        "modalities": {"mol": {"kind": "molecule", "path": str(folder / "mols.csv")}},
        "target": {"path": str(folder / "labels.csv"), "column": "y", "task": "regression"},
    }
    cfg = parse_config({"data": data})
    return load_cohort(cfg.data), cfg.data.target


@pytest.mark.parametrize("kind", SPLIT_KINDS.names())
def test_every_kind_keeps_each_sample_on_one_side(kind, molecules) -> None:
    cohort, target = molecules
    cfg = SplitConfig(kind=kind, folds=3, repeats=2, **KIND_OPTIONS.get(kind, {}))
    splits = cohort_splits(cohort, cfg, seed=5, target=target)
    again = cohort_splits(cohort, cfg, seed=5, target=target)
    assert len(splits) == cfg.n_splits and len({s.name for s in splits}) == len(splits)
    n = len(cohort)
    for s, t in zip(splits, again, strict=True):
        assert np.array_equal(s.train, t.train) and np.array_equal(s.test, t.test)
        for part in (s.train, s.test):
            assert part.dtype == np.int64 and np.all(np.diff(part) > 0) and len(part)
            assert part.min() >= 0 and part.max() < n
        assert len(np.intersect1d(s.train, s.test)) == 0
        if s.val is not None:
            assert np.all(np.isin(s.val, s.train)) and len(s.val) < len(s.train)
